/**
 * The agent-side source contract for plugin authors (SPEC §4 "input").
 *
 * An input is a `type`, a settings `Schema`, the platforms it runs on, and a
 * `build` that validates its settings against the host (paths, globs,
 * permissions) and answers a `run` without starting anything. The agent
 * builds every input of a new config first, and only when all of them build
 * does it stop the old runs and start the new ones, so a broken config never
 * replaces a working one.
 *
 * A run hands records to `context.emit`, which stamps the input's routing
 * (`index`, `sourcetype`, `source`), its type as the transport, and the time,
 * and answers once they are durable. An input that keeps a position (a file
 * offset, a journal cursor) saves it only after `emit` answers, and passes an
 * `idempotencyKey` naming the exact range it emits, so replaying that range
 * after a crash is stored once.
 *
 * ```ts
 * export const StdinInput = Input.make({
 *   type: "stdin",
 *   platforms: ["linux"],
 *   settings: Schema.Struct({ prefix: Schema.optional(Schema.String) }),
 *   build: (settings, context) => Effect.succeed({ run: readLines(settings, context.emit) })
 * })
 * ```
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type { LogEvent } from "./LogEvent.js"

/** Where an agent runs. */
export const Platform = Schema.Literal("linux", "kubernetes")
export type Platform = typeof Platform.Type

/** Routing stamped on every event an input produces (SPEC §4 defaults in `defaultRouting`). */
export interface Routing {
  readonly index: string
  readonly sourcetype: string
  readonly source: string
}

/** `main`, `agent_<type>`, `sluice-agent`. */
export const defaultRouting = (type: string): Routing => ({
  index: "main",
  sourcetype: `agent_${type}`,
  source: "sluice-agent"
})

/** One record an input read: the message and what it knows about it. */
export interface InputRecord {
  readonly message: string
  /** Epoch milliseconds; the time of reading when absent. */
  readonly timestamp?: number | undefined
  /** 1–8 (SPEC levels); `info` (7) when absent. */
  readonly level?: number | undefined
  readonly metadata?: Readonly<Record<string, unknown>> | undefined
}

/** An input cannot be built or failed while running. */
export class InputError extends Schema.TaggedError<InputError>()("InputError", {
  /** The input's name in the config. */
  input: Schema.String,
  message: Schema.String
}) {}

/** Options of one emit. */
export interface EmitOptions {
  /** Names the exact range emitted, so a replay after a crash is stored once. */
  readonly idempotencyKey?: string | undefined
}

/** What an input is given when it is built. */
export interface InputContext {
  /** The input's id in the config (stable across versions). */
  readonly id: string
  /** The input's name in the config. */
  readonly name: string
  /** A directory of its own for positions and checkpoints (created by the agent). */
  readonly stateDir: string
  /** Directories the agent may read (SPEC `SLUICE_ALLOWED_PATHS`). */
  readonly allowedPaths: ReadonlyArray<string>
  /** Hands records to the pipeline; answers once they are durable. */
  readonly emit: (
    records: ReadonlyArray<InputRecord>,
    options?: EmitOptions
  ) => Effect.Effect<void, InputError>
}

/** A built input, not yet started. */
export interface InputRun {
  /** Runs until interrupted; its scope closes files and watchers. */
  readonly run: Effect.Effect<void, InputError, Scope.Scope>
}

/** An input type, with its settings schema hidden behind `prepare`. */
export interface Input {
  readonly type: string
  readonly platforms: ReadonlyArray<Platform>
  /** Decodes the settings and builds the run without starting it. */
  readonly prepare: (settings: unknown, context: InputContext) => Effect.Effect<InputRun, InputError>
}

/** Makes an input type from its settings schema and its builder. */
export const make = <S, I>(spec: {
  readonly type: string
  readonly platforms: ReadonlyArray<Platform>
  readonly settings: Schema.Schema<S, I>
  readonly build: (settings: S, context: InputContext) => Effect.Effect<InputRun, InputError>
}): Input => {
  const decode = Schema.decodeUnknown(spec.settings, { errors: "all", onExcessProperty: "error" })
  return {
    type: spec.type,
    platforms: spec.platforms,
    prepare: (settings, context) =>
      decode(settings ?? {}).pipe(
        Effect.mapError((error) =>
          new InputError({
            input: context.name,
            message: ParseResult.ArrayFormatter.formatErrorSync(error)
              .map((issue) => `settings${issue.path.map((p) => `.${String(p)}`).join("")}: ${issue.message}`)
              .join("; ")
          })
        ),
        Effect.flatMap((decoded) => spec.build(decoded, context))
      )
  }
}

/** Builds the events of one emit: routing, transport, agent id and defaults stamped. */
export const toEvents = (
  records: ReadonlyArray<InputRecord>,
  stamp: { readonly type: string; readonly routing: Routing; readonly agentId: string | null; readonly now: number }
): Array<LogEvent> => {
  const events = new Array<LogEvent>(records.length)
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!
    events[i] = {
      timestamp: r.timestamp ?? stamp.now,
      receivedAt: stamp.now,
      level: r.level ?? 7,
      source: stamp.routing.source,
      message: r.message,
      entryType: 1,
      payloadType: "generic",
      projectId: null,
      agentId: stamp.agentId,
      index: stamp.routing.index,
      sourcetype: stamp.routing.sourcetype,
      transport: stamp.type,
      metadata: r.metadata ?? {}
    }
  }
  return events
}

/** The input types an agent knows, by type. */
export class InputRegistry extends Context.Tag("@sluice/core/InputRegistry")<InputRegistry, {
  readonly get: (type: string) => Input | undefined
  readonly types: ReadonlyArray<string>
}>() {}

/** A registry of these inputs (a later one of the same type wins). */
export const registry = (inputs: ReadonlyArray<Input>): Layer.Layer<InputRegistry> => {
  const byType = new Map(inputs.map((input) => [input.type, input]))
  return Layer.succeed(InputRegistry, InputRegistry.of({ get: (type) => byType.get(type), types: [...byType.keys()] }))
}
