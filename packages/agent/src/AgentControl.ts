/**
 * What the agent's action handlers may ask of the running agent, as small
 * services the runtime provides: restart its inputs, reload its config, rotate
 * its token, and know its version and state dir. Handlers (built-in and
 * plugins') depend on these tags only, never on the runtime's modules.
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"

/** Asking the runtime for something failed; `message` is shown to the operator. */
export class AgentControlError extends Schema.TaggedError<AgentControlError>()("AgentControlError", {
  message: Schema.String
}) {}

/** Controls of the running pipeline. */
export class PipelineControl extends Context.Tag("@sluice/agent/PipelineControl")<PipelineControl, {
  /** Stops and starts the current config's inputs again (buffered events are kept). */
  readonly restartInputs: Effect.Effect<void, AgentControlError>
  /** Fetches the config now (ignoring the applied version) and applies it. */
  readonly reloadConfig: Effect.Effect<void, AgentControlError>
  /** Asks the control plane for a new agent token and stores it; the old one stops working. */
  readonly rotateToken: Effect.Effect<void, AgentControlError>
}>() {}

/** Facts about this agent. */
export class AgentInfo extends Context.Tag("@sluice/agent/AgentInfo")<AgentInfo, {
  /** The version this process reports. */
  readonly version: string
  /** The agent's state dir (token, applied config, spool, action journal). */
  readonly stateDir: string
}>() {}
