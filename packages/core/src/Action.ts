/**
 * Remote actions (SPEC §4): the one state machine both sides follow, and the
 * wire shapes agents and the control plane exchange in heartbeats.
 *
 * `pending` (created) → `running` (agent) → `done` | `failed` (agent);
 * `pending` → `cancelled` (operator); `pending` | `running` → `expired`
 * (sweep, past the deadline). No other move: `transition` answers `None` for
 * an illegal one, and the caller ignores it (and logs it).
 */
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"

/** Where an action is in its life. */
export const ActionStatus = Schema.Literal("pending", "running", "done", "failed", "cancelled", "expired")
export type ActionStatus = typeof ActionStatus.Type

/** Who asks for a move. */
export type Actor = "agent" | "operator" | "sweep"

/** The built-in action types (plugins add their own). */
export const builtinTypes = ["upgrade_agent", "shell", "restart_pipeline", "reload_config", "rotate_token"] as const

/** An action type: a builtin or a plugin's, `[a-z0-9_]`, 1–64 chars. */
export const ActionType = Schema.String.pipe(
  Schema.pattern(/^[a-z][a-z0-9_]{0,63}$/, {
    message: () => "must be 1-64 characters of a-z, 0-9 and _, starting with a letter"
  })
)

const moves: Readonly<Record<Actor, ReadonlyArray<readonly [ActionStatus, ActionStatus]>>> = {
  agent: [["pending", "running"], ["running", "done"], ["running", "failed"]],
  operator: [["pending", "cancelled"]],
  sweep: [["pending", "expired"], ["running", "expired"]]
}

/** Whether `actor` may move an action from `from` to `to`. */
export const canMove = (from: ActionStatus, to: ActionStatus, actor: Actor): boolean =>
  moves[actor].some(([f, t]) => f === from && t === to)

/** The status after the move, or `None` when the move is illegal. */
export const transition = (from: ActionStatus, to: ActionStatus, actor: Actor): Option.Option<ActionStatus> =>
  canMove(from, to, actor) ? Option.some(to) : Option.none()

/** A terminal status never moves again. */
export const isTerminal = (status: ActionStatus): boolean =>
  status === "done" || status === "failed" || status === "cancelled" || status === "expired"

/** An action offered to an agent in a heartbeat answer. */
export const PendingAction = Schema.Struct({
  id: Schema.String,
  type: Schema.String,
  payload: Schema.Unknown
}).annotations({ identifier: "PendingAction" })
export type PendingAction = typeof PendingAction.Type

/**
 * What an agent reports about an action in a heartbeat. Results are applied
 * in order, so one heartbeat may carry `running` then `done` for the same
 * action.
 */
export const ActionReport = Schema.Struct({
  actionId: Schema.String,
  status: Schema.Literal("running", "done", "failed"),
  result: Schema.optional(Schema.Unknown),
  error: Schema.optional(Schema.NullOr(Schema.String))
}).annotations({ identifier: "ActionReport" })
export type ActionReport = typeof ActionReport.Type
