/**
 * Runs the inputs of the applied config (SPEC §4 "swaps its running inputs on
 * success without losing buffered events").
 *
 * `apply` builds every input of a new config first (type looked up in the
 * `InputRegistry`, settings decoded, host checked, nothing started); only when
 * all of them build does it stop the old runs (closing their scope, so files
 * and watchers close) and start the new ones in a fresh scope. A config that
 * does not build fails with a `ConfigError` naming each bad input, and the old
 * runs go on untouched. Events already emitted are in the pipeline's queue or
 * spool, which a swap never touches, so nothing buffered is lost.
 *
 * Each run is restarted with a capped exponential backoff when it fails; its
 * last error is kept for the status. Applies and restarts are serialized.
 */
import type * as AgentConfig from "@sluice/core/AgentConfig"
import { EventStore } from "@sluice/core/EventStore"
import { Ingest } from "@sluice/core/Ingest"
import * as Input from "@sluice/core/Input"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import { AgentState } from "./AgentState.js"

/** A config that cannot be decoded or built; `message` names the version and what is wrong. */
export class ConfigError extends Schema.TaggedError<ConfigError>()("ConfigError", {
  /** The config version it concerns, when known. */
  version: Schema.NullOr(Schema.Number),
  reason: Schema.String
}) {
  override get message() {
    return this.version === null ? `config: ${this.reason}` : `config version ${this.version}: ${this.reason}`
  }
}

/** Where one input of the running config is. */
export interface InputStatus {
  readonly id: string
  readonly name: string
  readonly type: string
  /** `running`, `restarting` (failed, waiting for its backoff), or `stopped` (its run ended). */
  readonly state: "running" | "restarting" | "stopped"
  readonly lastError: string | null
}

/** The supervisor's state, as heartbeats report it. */
export interface SupervisorStatus {
  /** At least one input is running. */
  readonly running: boolean
  /** When the current runs started (epoch ms), `null` when nothing runs. */
  readonly startedAt: number | null
  readonly inputs: ReadonlyArray<InputStatus>
}

/** Runs the applied config's inputs. */
export class InputSupervisor extends Context.Tag("@sluice/agent/InputSupervisor")<InputSupervisor, {
  /** Builds every input, then swaps the runs; on failure the old runs go on. */
  readonly apply: (config: AgentConfig.AgentConfig) => Effect.Effect<void, ConfigError>
  /** Stops and starts the current runs again. */
  readonly restart: Effect.Effect<void>
  readonly status: Effect.Effect<SupervisorStatus>
}>() {}

/** Settings of the supervisor. */
export interface InputSupervisorOptions {
  /** Stamped on every event the inputs emit. */
  readonly agentId: string
  /** This host's platform; an input type that does not run on it is a config error. */
  readonly platform: Input.Platform
  /** Directories inputs may read (SPEC `SLUICE_ALLOWED_PATHS`). */
  readonly allowedPaths: ReadonlyArray<string>
  /** Between restarts of a failing run (default: 1 s doubling, at most 1 min). */
  readonly restartSchedule?: Schedule.Schedule<unknown, Input.InputError> | undefined
}

/** 1 s, 2 s, 4 s … capped at one minute, forever. */
export const defaultRestartSchedule: Schedule.Schedule<unknown, Input.InputError> = Schedule.exponential("1 second")
  .pipe(Schedule.either(Schedule.spaced("1 minute")))

interface Prepared {
  readonly config: AgentConfig.ConfigInput
  readonly run: Input.InputRun["run"]
}

interface Generation {
  readonly scope: Scope.CloseableScope
  readonly prepared: ReadonlyArray<Prepared>
  readonly statuses: ReadonlyArray<Ref.Ref<InputStatus>>
  readonly startedAt: number
}

const describe = (input: AgentConfig.ConfigInput) => `input '${input.name}' (${input.type})`

/** Builds the supervisor; its scope's end stops every run. */
export const make = (
  options: InputSupervisorOptions
): Effect.Effect<
  InputSupervisor["Type"],
  never,
  Ingest | EventStore | Input.InputRegistry | AgentState | Scope.Scope
> =>
  Effect.gen(function*() {
    const ingest = yield* Ingest
    const store = yield* EventStore
    const registry = yield* Input.InputRegistry
    const state = yield* AgentState
    const lock = yield* Effect.makeSemaphore(1)
    const current = yield* Ref.make<Generation | undefined>(undefined)
    const restartSchedule = options.restartSchedule ?? defaultRestartSchedule

    const emitFor = (input: AgentConfig.ConfigInput): Input.InputContext["emit"] => {
      const routing: Input.Routing = { index: input.index, sourcetype: input.sourcetype, source: input.source }
      return (records, emitOptions) =>
        Effect.gen(function*() {
          const key = emitOptions?.idempotencyKey
          // A range already committed (emitted, then the agent crashed before the input saved its
          // position) is acknowledged without storing it twice. An input emits one batch at a time,
          // so checking before offering cannot race with itself.
          if (key !== undefined && (yield* store.hasIdempotencyKey(key))) return
          const now = yield* Clock.currentTimeMillis
          const events = Input.toEvents(records, { type: input.type, routing, agentId: options.agentId, now })
          yield* ingest.offer(events, {
            durable: true,
            transport: input.type,
            idempotencyKey: emitOptions?.idempotencyKey
          })
        }).pipe(Effect.mapError((error) => new Input.InputError({ input: input.name, message: error.message })))
    }

    const prepareOne = (input: AgentConfig.ConfigInput): Effect.Effect<Prepared, string> =>
      Effect.gen(function*() {
        const type = registry.get(input.type)
        if (type === undefined) {
          const known = registry.types.length === 0 ? "none" : registry.types.join(", ")
          return yield* Effect.fail(`${describe(input)}: unknown input type '${input.type}' (known: ${known})`)
        }
        if (!type.platforms.includes(options.platform)) {
          return yield* Effect.fail(`${describe(input)}: does not run on ${options.platform}`)
        }
        const stateDir = yield* state.inputDir(input.id).pipe(
          Effect.mapError((error) => `${describe(input)}: ${error.message}`)
        )
        const built = yield* type.prepare(input.settings, {
          id: input.id,
          name: input.name,
          stateDir,
          allowedPaths: options.allowedPaths,
          emit: emitFor(input)
        }).pipe(
          Effect.mapError((error) => `${describe(input)}: ${error.message}`),
          // A plugin's bug must not take the agent down with it.
          Effect.catchAllDefect((defect) =>
            Effect.fail(`${describe(input)}: crashed while building: ${Cause.pretty(Cause.die(defect))}`)
          )
        )
        return { config: input, run: built.run }
      })

    const prepareAll = (config: AgentConfig.AgentConfig) =>
      Effect.gen(function*() {
        const seen = new Set<string>()
        const duplicates = config.inputs.filter((i) => seen.has(i.id) || !seen.add(i.id))
        if (duplicates.length > 0) {
          return yield* new ConfigError({
            version: config.version ?? null,
            reason: duplicates.map((i) => `${describe(i)}: id '${i.id}' is used twice`).join("; ")
          })
        }
        return yield* Effect.validateAll(config.inputs, prepareOne).pipe(
          Effect.mapError((reasons) => new ConfigError({ version: config.version ?? null, reason: reasons.join("; ") }))
        )
      })

    /** One input's run, restarted with the backoff; its state kept in `status`. */
    const supervise = (prepared: Prepared, status: Ref.Ref<InputStatus>) =>
      Ref.update(status, (s): InputStatus => ({ ...s, state: "running" })).pipe(
        Effect.zipRight(Effect.scoped(prepared.run)),
        // A defect of a run is a failure like any other: it is restarted.
        Effect.catchAllCause((cause) =>
          Cause.isInterruptedOnly(cause)
            ? Effect.failCause(cause)
            : Effect.fail(
              Option.getOrElse(
                Cause.failureOption(cause),
                () => new Input.InputError({ input: prepared.config.name, message: Cause.pretty(cause) })
              )
            )
        ),
        Effect.tapError((error) =>
          Effect.zipRight(
            Ref.update(status, (s): InputStatus => ({ ...s, state: "restarting", lastError: error.message })),
            Effect.logWarning(`${describe(prepared.config)} failed; restarting: ${error.message}`)
          )
        ),
        Effect.retry(restartSchedule),
        Effect.zipRight(Ref.update(status, (s): InputStatus => ({ ...s, state: "stopped" }))),
        Effect.catchAll(() => Ref.update(status, (s): InputStatus => ({ ...s, state: "stopped" })))
      )

    /** Stops the current runs (if any) and starts these in a fresh scope. */
    const swap = (prepared: ReadonlyArray<Prepared>) =>
      Effect.gen(function*() {
        const old = yield* Ref.get(current)
        if (old !== undefined) yield* Scope.close(old.scope, Exit.void)
        const scope = yield* Scope.make()
        const statuses = yield* Effect.forEach(prepared, (p) =>
          Ref.make<InputStatus>({
            id: p.config.id,
            name: p.config.name,
            type: p.config.type,
            state: "running",
            lastError: null
          }))
        const startedAt = yield* Clock.currentTimeMillis
        // The swap is uninterruptible; the runs it forks must not inherit that.
        yield* Effect.forEach(
          prepared,
          (p, i) => Effect.forkIn(Effect.interruptible(supervise(p, statuses[i]!)), scope),
          { discard: true }
        )
        yield* Ref.set(current, { scope, prepared, statuses, startedAt })
      }).pipe(Effect.uninterruptible)

    yield* Effect.addFinalizer(() =>
      Effect.flatMap(Ref.get(current), (g) => g === undefined ? Effect.void : Scope.close(g.scope, Exit.void))
    )

    const apply = (config: AgentConfig.AgentConfig) => lock.withPermits(1)(Effect.flatMap(prepareAll(config), swap))

    const restart = lock.withPermits(1)(
      Effect.flatMap(Ref.get(current), (g) => g === undefined ? Effect.void : swap(g.prepared))
    )

    const status = Effect.gen(function*() {
      const g = yield* Ref.get(current)
      if (g === undefined) return { running: false, startedAt: null, inputs: [] }
      const inputs = yield* Effect.forEach(g.statuses, Ref.get)
      const running = inputs.some((i) => i.state === "running")
      return { running, startedAt: running ? g.startedAt : null, inputs }
    })

    return InputSupervisor.of({ apply, restart, status })
  })

/** The supervisor as a scoped layer. */
export const layer = (
  options: InputSupervisorOptions
): Layer.Layer<InputSupervisor, never, Ingest | EventStore | Input.InputRegistry | AgentState> =>
  Layer.scoped(InputSupervisor, make(options))
