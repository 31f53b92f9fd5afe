/**
 * The enrolled agent's runtime (SPEC §4), in two parts because the action
 * executor sits between them: `layer` builds the agent's services (state dir,
 * control-plane client, input supervisor, config poller, host metrics) and
 * provides the `PipelineControl` and `AgentInfo` that action handlers need;
 * `run` resumes the saved config and then runs the config poll loop and the
 * heartbeat loop, handing offered actions to the `ActionExecutor`.
 *
 * `run` never succeeds: it runs until interrupted (the process's scope then
 * stops the inputs) or fails with `AgentRevoked` as soon as the control plane
 * refuses the agent's token (401/403), which ends the agent. Network errors,
 * 5xx and 429 never end it; the loops try again on their next tick.
 *
 * ```ts
 * const agent = Agent.layer(options)                       // needs Ingest, InputRegistry, HttpClient
 * const executor = ActionExecutor.layer().pipe(Layer.provide(handlers), Layer.provideMerge(agent))
 * Agent.run(options).pipe(Effect.provide(executor))        // Effect<never, AgentRevoked>
 * ```
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import type { EventStore } from "@sluice/core/EventStore"
import type { Ingest } from "@sluice/core/Ingest"
import type * as Input from "@sluice/core/Input"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Schedule from "effect/Schedule"
import type { ActionExecutor } from "./ActionExecutor.js"
import type { AgentInfo, PipelineControl } from "./AgentControl.js"
import * as AgentState from "./AgentState.js"
import * as ConfigPoller from "./ConfigPoller.js"
import * as ControlPlaneClient from "./ControlPlaneClient.js"
import * as Controls from "./Controls.js"
import { hostFacts } from "./Enrol.js"
import * as Heartbeat from "./Heartbeat.js"
import * as HostMetrics from "./HostMetrics.js"
import * as InputSupervisor from "./InputSupervisor.js"

/** Settings of an enrolled agent. */
export interface AgentOptions {
  /** The state dir holding the identity and token `sluice agent enrol` wrote. */
  readonly stateDir: string
  /** The control plane's base URL; default: the one saved at enrolment. */
  readonly apiUrl?: string | undefined
  /** The version this process reports. */
  readonly version: string
  /** Directories inputs may read (SPEC `SLUICE_ALLOWED_PATHS`). */
  readonly allowedPaths: ReadonlyArray<string>
  /** Between config polls (default 10 s). */
  readonly pollInterval?: Duration.DurationInput | undefined
  /** Between heartbeats (default 30 s). */
  readonly heartbeatInterval?: Duration.DurationInput | undefined
  /** Per call to the control plane (default 10 s). */
  readonly requestTimeout?: Duration.DurationInput | undefined
  /** Default: `kubernetes` when `KUBERNETES_SERVICE_HOST` is set, else `linux`. */
  readonly platform?: Input.Platform | undefined
  /** Between restarts of a failing input (default: 1 s doubling, at most 1 min). */
  readonly restartSchedule?: Schedule.Schedule<unknown, Input.InputError> | undefined
}

/** What `layer` provides. */
export type AgentServices =
  | AgentState.AgentState
  | ControlPlaneClient.ControlPlaneClient
  | InputSupervisor.InputSupervisor
  | ConfigPoller.ConfigPoller
  | HostMetrics.HostMetrics
  | PipelineControl
  | AgentInfo

/** The agent's services over the state dir; reading the identity or token may fail (not enrolled). */
export const layer = (
  options: AgentOptions
): Layer.Layer<
  AgentServices,
  AgentState.AgentStateError,
  Ingest | EventStore | Input.InputRegistry | HttpClient.HttpClient
> =>
  Layer.unwrapEffect(Effect.gen(function*() {
    const state = yield* AgentState.make(options.stateDir)
    const identity = yield* state.readIdentity
    const platform = options.platform ?? (yield* hostFacts).platform
    const stateLayer = Layer.succeed(AgentState.AgentState, state)
    const client = ControlPlaneClient.layer({ apiUrl: options.apiUrl, requestTimeout: options.requestTimeout })
    const supervisor = InputSupervisor.layer({
      agentId: identity.agentId,
      platform,
      allowedPaths: options.allowedPaths,
      restartSchedule: options.restartSchedule
    })
    const core = Layer.mergeAll(client, supervisor, HostMetrics.layer(state.dir)).pipe(
      Layer.provideMerge(stateLayer)
    )
    const poller = ConfigPoller.layer.pipe(Layer.provideMerge(core))
    return Layer.mergeAll(
      Controls.pipelineControlLayer,
      Controls.agentInfoLayer({ version: options.version, stateDir: state.dir })
    ).pipe(Layer.provideMerge(poller))
  }))

/**
 * Resumes the saved config, then runs the config loop and the heartbeat loop
 * until interrupted; fails with `AgentRevoked` when the control plane refuses
 * the token (the other loop is interrupted).
 */
export const run = (
  options: AgentOptions
): Effect.Effect<never, ControlPlaneClient.AgentRevoked, AgentServices | ActionExecutor> =>
  Effect.gen(function*() {
    const poller = yield* ConfigPoller.ConfigPoller
    yield* poller.resume
    const heartbeat = yield* Heartbeat.make(options.version)
    return yield* Effect.raceFirst(
      ConfigPoller.loop(options.pollInterval ?? Duration.seconds(10)),
      Heartbeat.run(options.heartbeatInterval ?? Duration.seconds(30)).pipe(
        Effect.provideService(Heartbeat.Heartbeat, heartbeat)
      )
    )
  })
