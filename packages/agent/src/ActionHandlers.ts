/**
 * The registry of action handlers the agent's executor looks types up in
 * (SPEC §4 "Action states"). Built-in handlers and plugins' handlers have the
 * same shape: a `type` and a `run` that answers the result JSON or fails with
 * `ActionFailed`. A registry is built from a list of handlers, a later handler
 * of the same type replacing an earlier one, so a plugin can add a type or
 * replace a built-in by being listed (or layered with `extend`) after it.
 */
import type * as Action from "@sluice/core/Action"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"

/**
 * A handler failed; `message` becomes the action's `error`, `output` (when
 * there is one, e.g. a command's output) is reported beside it.
 */
export class ActionFailed extends Schema.TaggedError<ActionFailed>()("ActionFailed", {
  message: Schema.String,
  output: Schema.optional(Schema.String)
}) {}

/**
 * What a handler answers when the action only ends after the agent restarts
 * (an upgrade whose install succeeded): the executor reports nothing more now
 * and keeps the action in flight in its journal; the next start resolves it.
 */
export class AwaitingRestart {
  readonly _tag = "AwaitingRestart"
}

/** Runs one action type. `run` answers the result JSON reported with `done`. */
export interface ActionHandler<R = never> {
  readonly type: string
  readonly run: (action: Action.PendingAction) => Effect.Effect<unknown, ActionFailed, R>
}

/** The handlers the executor can run, by action type. */
export class ActionHandlers extends Context.Tag("@sluice/agent/ActionHandlers")<ActionHandlers, {
  /** The handler of `type`, with its requirements already provided. */
  readonly get: (type: string) => Option.Option<ActionHandler>
}>() {}

/** A registry over handlers that need nothing more; a later handler of the same type wins. */
export const fromHandlers = (handlers: Iterable<ActionHandler>): ActionHandlers["Type"] => {
  const byType = new Map<string, ActionHandler>()
  for (const handler of handlers) byType.set(handler.type, handler)
  return ActionHandlers.of({ get: (type) => Option.fromNullable(byType.get(type)) })
}

/** Provides a handler's requirements once, so the registry holds `ActionHandler<never>`. */
const provided = <R>(handler: ActionHandler<R>, context: Context.Context<R>): ActionHandler => ({
  type: handler.type,
  run: (action) => Effect.provide(handler.run(action), context)
})

/** Builds a registry from `handlers`, capturing their requirements from the context. */
export const make = <R>(handlers: ReadonlyArray<ActionHandler<R>>): Effect.Effect<ActionHandlers["Type"], never, R> =>
  Effect.map(Effect.context<R>(), (context) => fromHandlers(handlers.map((h) => provided(h, context))))

/** A registry of exactly `handlers` (later ones win on a shared type). */
export const layer = <R>(handlers: ReadonlyArray<ActionHandler<R>>): Layer.Layer<ActionHandlers, never, R> =>
  Layer.effect(ActionHandlers, make(handlers))

/**
 * The registry below plus `handlers`, which win over it on a shared type:
 * how a plugin adds its types to the built-ins,
 * `ActionHandlers.extend([shell]).pipe(Layer.provide(Builtins.layer(options)))`.
 */
export const extend = <R>(
  handlers: ReadonlyArray<ActionHandler<R>>
): Layer.Layer<ActionHandlers, never, R | ActionHandlers> =>
  Layer.effect(
    ActionHandlers,
    Effect.gen(function*() {
      const below = yield* ActionHandlers
      const added = yield* make(handlers)
      return ActionHandlers.of({
        get: (type) => Option.orElse(added.get(type), () => below.get(type))
      })
    })
  )
