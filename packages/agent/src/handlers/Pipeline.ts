/**
 * The built-in actions that drive the running pipeline (SPEC §4):
 * `restart_pipeline`, `reload_config` and `rotate_token`. Each one asks the
 * runtime through `PipelineControl` and ends `done` with a small result, or
 * `failed` with the runtime's message. Their payloads are ignored.
 */
import * as Effect from "effect/Effect"
import { ActionFailed, type ActionHandler } from "../ActionHandlers.js"
import { type AgentControlError, PipelineControl } from "../AgentControl.js"

const control = (
  type: string,
  pick: (control: PipelineControl["Type"]) => Effect.Effect<void, AgentControlError>,
  result: Record<string, string>
): ActionHandler<PipelineControl> => ({
  type,
  run: () =>
    Effect.flatMap(PipelineControl, pick).pipe(
      Effect.mapError((e) => new ActionFailed({ message: e.message })),
      Effect.as(result)
    )
})

/** `restart_pipeline`: stops and starts the current config's inputs (buffered events are kept). */
export const restartPipeline: ActionHandler<PipelineControl> = control(
  "restart_pipeline",
  (c) => c.restartInputs,
  { pipeline: "restarted" }
)

/** `reload_config`: fetches the config now and applies it. */
export const reloadConfig: ActionHandler<PipelineControl> = control(
  "reload_config",
  (c) => c.reloadConfig,
  { config: "reloaded" }
)

/** `rotate_token`: asks the control plane for a new agent token and stores it. */
export const rotateToken: ActionHandler<PipelineControl> = control(
  "rotate_token",
  (c) => c.rotateToken,
  { token: "rotated" }
)

/** The three pipeline controls. */
export const handlers: ReadonlyArray<ActionHandler<PipelineControl>> = [restartPipeline, reloadConfig, rotateToken]
