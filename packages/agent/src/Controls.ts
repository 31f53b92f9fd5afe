/**
 * The runtime's side of `AgentControl`: what action handlers may ask of the
 * running agent. `restartInputs` restarts the supervisor's current runs,
 * `reloadConfig` fetches the config since 0 and applies it (even one that
 * failed before), `rotateToken` asks for a new token, stores it, then uses
 * it. Failures come back as `AgentControlError` with a message for the
 * operator.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { AgentControlError, AgentInfo, PipelineControl } from "./AgentControl.js"
import { ConfigPoller } from "./ConfigPoller.js"
import { ControlPlaneClient } from "./ControlPlaneClient.js"
import { InputSupervisor } from "./InputSupervisor.js"

const asControlError = (error: { readonly message: string }) => new AgentControlError({ message: error.message })

/** `PipelineControl` over the supervisor, the poller and the client. */
export const pipelineControl: Effect.Effect<
  PipelineControl["Type"],
  never,
  InputSupervisor | ConfigPoller | ControlPlaneClient
> = Effect.gen(function*() {
  const supervisor = yield* InputSupervisor
  const poller = yield* ConfigPoller
  const client = yield* ControlPlaneClient
  return PipelineControl.of({
    restartInputs: supervisor.restart,
    reloadConfig: Effect.mapError(poller.reload, asControlError),
    rotateToken: Effect.mapError(client.rotateToken, asControlError)
  })
})

/** `PipelineControl` as a layer. */
export const pipelineControlLayer: Layer.Layer<
  PipelineControl,
  never,
  InputSupervisor | ConfigPoller | ControlPlaneClient
> = Layer.effect(PipelineControl, pipelineControl)

/** `AgentInfo` from the version this process reports and its state dir. */
export const agentInfoLayer = (info: { readonly version: string; readonly stateDir: string }): Layer.Layer<AgentInfo> =>
  Layer.succeed(AgentInfo, AgentInfo.of(info))
