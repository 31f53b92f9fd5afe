/**
 * Test harness of the file input: a temp dir per test (allowed `logs/`, the
 * input's `state/`, and an `outside/` the input may not read), a collecting
 * `emit`, an `emit` over the real pipeline and in-memory store that dedupes
 * by idempotency key (what the agent's emit must do), and bounded waits on
 * real time for the files being read (never a sleep a test relies on).
 */
import * as EventQueue from "@sluice/core/EventQueue"
import { EventStore } from "@sluice/core/EventStore"
import { Ingest } from "@sluice/core/Ingest"
import * as Input from "@sluice/core/Input"
import * as MemoryEventStore from "@sluice/core/MemoryEventStore"
import * as Pipeline from "@sluice/core/Pipeline"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

/** The directories of one test. */
export interface Dirs {
  readonly root: string
  /** The one allowed directory. */
  readonly logs: string
  /** The input's state directory. */
  readonly state: string
  /** Not allowed. */
  readonly outside: string
}

/** A temp dir with `logs/`, `state/` and `outside/`, removed when the scope closes. */
export const dirs: Effect.Effect<Dirs, never, Scope.Scope> = Effect.acquireRelease(
  Effect.sync(() => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-input-file-"))
    const made = {
      root,
      logs: path.join(root, "logs"),
      state: path.join(root, "state"),
      outside: path.join(root, "outside")
    }
    for (const dir of [made.logs, made.state, made.outside]) fs.mkdirSync(dir)
    return made
  }),
  (d) => Effect.sync(() => fs.rmSync(d.root, { recursive: true, force: true }))
)

/** One record as the input emitted it, with its emit's key. */
export interface Emitted {
  readonly message: string
  readonly metadata: Readonly<Record<string, unknown>>
  readonly timestamp: number | undefined
  readonly key: string | undefined
}

/** An `emit` that keeps what it is given. */
export interface Collector {
  readonly emit: Input.InputContext["emit"]
  readonly emitted: Array<Emitted>
  /** The idempotency key of each emit, in order. */
  readonly keys: Array<string | undefined>
  readonly messages: () => Array<string>
}

export const collector = (): Collector => {
  const emitted: Array<Emitted> = []
  const keys: Array<string | undefined> = []
  return {
    emitted,
    keys,
    messages: () => emitted.map((e) => e.message),
    emit: (records, options) =>
      Effect.sync(() => {
        keys.push(options?.idempotencyKey)
        for (const r of records) {
          emitted.push({
            message: r.message,
            metadata: r.metadata ?? {},
            timestamp: r.timestamp,
            key: options?.idempotencyKey
          })
        }
      })
  }
}

/** The context of the input `app-logs` (id `in-1`), allowed to read `logs/`. */
export const contextOf = (d: Dirs, emit: Input.InputContext["emit"]): Input.InputContext => ({
  id: "in-1",
  name: "app-logs",
  stateDir: d.state,
  allowedPaths: [d.logs],
  emit
})

/** Builds the input and runs it in the scope (interrupted when the scope closes). */
export const start = (
  input: Input.Input,
  settings: unknown,
  context: Input.InputContext
): Effect.Effect<Fiber.RuntimeFiber<void, Input.InputError>, Input.InputError, Scope.Scope> =>
  input.prepare(settings, context).pipe(Effect.flatMap((built) => Effect.forkScoped(built.run)))

/** Lets real time pass (for file I/O), not test time. */
export const realTick = (ms: number) =>
  Effect.async<void>((resume) => {
    const timer = setTimeout(() => resume(Effect.void), ms)
    return Effect.sync(() => clearTimeout(timer))
  })

/** Polls `check` until it holds, for at most `ms` of real time; then fails naming `what`. */
export const eventually = <E, R>(
  check: Effect.Effect<boolean, E, R>,
  what: () => string,
  ms = 10_000
): Effect.Effect<void, E, R> =>
  Effect.gen(function*() {
    const deadline = Date.now() + ms
    while (!(yield* check)) {
      if (Date.now() > deadline) return yield* Effect.dieMessage(`gave up after ${ms} ms waiting for ${what()}`)
      yield* realTick(3)
    }
  })

/** Waits until the collector holds at least `n` records. */
export const collected = (c: Collector, n: number) =>
  eventually(Effect.sync(() => c.emitted.length >= n), () => `${n} records, have ${JSON.stringify(c.messages())}`)

/** Appends text to a file (creating it). */
export const append = (file: string, text: string) => Effect.sync(() => fs.appendFileSync(file, text))

/** `n` numbered lines `prefix-0 … prefix-(n-1)`, each with its newline. */
export const numbered = (prefix: string, n: number, from = 0) =>
  Array.from({ length: n }, (_, i) => `${prefix}-${from + i}\n`).join("")

/**
 * The pipeline over the in-memory store: queue, group-commit writer (no
 * window, so commits never wait on the test clock) and `Ingest`.
 */
export const pipeline = Pipeline.layer({
  queue: EventQueue.defaultOptions,
  writer: { window: 0, maxBatchEvents: 20_000 }
}).pipe(Layer.provideMerge(MemoryEventStore.layer))

/**
 * The agent's `emit` as the contract asks: a batch whose key is committed is
 * acknowledged without being stored again; otherwise it is offered durably
 * with its key, and answers after the commit.
 */
export const pipelineEmit: Effect.Effect<Input.InputContext["emit"], never, Ingest | EventStore> = Effect.gen(
  function*() {
    const ingest = yield* Ingest
    const store = yield* EventStore
    return (records, options) =>
      Effect.gen(function*() {
        const key = options?.idempotencyKey
        if (key !== undefined && (yield* store.hasIdempotencyKey(key))) return
        const now = yield* Clock.currentTimeMillis
        const events = Input.toEvents(records, {
          type: "file",
          routing: Input.defaultRouting("file"),
          agentId: null,
          now
        })
        yield* ingest.offer(events, { durable: true, idempotencyKey: key })
      }).pipe(Effect.mapError((e) => new Input.InputError({ input: "app-logs", message: e._tag })))
  }
)

/** Every stored message, oldest commit first. */
export const storedMessages = Effect.gen(function*() {
  const store = yield* EventStore
  const page = yield* store.query({ offset: 0, limit: 1_000_000 })
  return [...page.items].sort((a, b) => a.id - b.id).map((e) => e.message)
})
