/**
 * Shared test fixtures: events, queue entries, and a recording store that
 * wraps the reference `MemoryEventStore` and can be held or made to fail.
 */
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import { CommitFeed } from "../src/CommitFeed.js"
import * as EventBatch from "../src/EventBatch.js"
import type { QueueEntry } from "../src/EventQueue.js"
import { EventQueue } from "../src/EventQueue.js"
import { EventStore, StoreError } from "../src/EventStore.js"
import { Ingest } from "../src/Ingest.js"
import type { LogEvent } from "../src/LogEvent.js"
import * as MemoryEventStore from "../src/MemoryEventStore.js"
import * as Pipeline from "../src/Pipeline.js"

/** A valid event; `message` tells events apart. */
export const event = (message: string, overrides: Partial<LogEvent> = {}): LogEvent => ({
  timestamp: Date.UTC(2025, 7, 31, 10, 30),
  receivedAt: Date.UTC(2025, 7, 31, 10, 30, 1),
  level: 7,
  source: "auth-service",
  message,
  entryType: 1,
  payloadType: "generic",
  projectId: null,
  agentId: null,
  index: "main",
  sourcetype: "generic",
  transport: "test",
  metadata: {},
  ...overrides
})

/** `n` events named `${prefix}-0` … `${prefix}-(n-1)`. */
export const events = (prefix: string, n: number): ReadonlyArray<LogEvent> =>
  Array.from({ length: n }, (_, i) => event(`${prefix}-${i}`))

/** A queue entry of `n` events with an explicit byte size. */
export const entry = (prefix: string, n: number, bytes = n * 100): QueueEntry => ({
  events: events(prefix, n),
  bytes,
  committed: undefined,
  idempotencyKey: undefined
})

/** The messages of a list of entries, in order. */
export const messagesOf = (entries: ReadonlyArray<QueueEntry>): ReadonlyArray<string> =>
  entries.flatMap((e) => EventBatch.events(e.events).map((ev) => ev.message))

/** A store that records every successful append and can be held or made to fail. */
export interface RecordingStore {
  readonly store: EventStore["Type"]
  /** The batches of the successful appends, in order. */
  readonly appends: Array<ReadonlyArray<LogEvent>>
  /** How many times `append` was called (failed attempts included). */
  readonly attempts: () => number
  /** While closed, `append` waits (after counting the attempt). */
  readonly gate: Effect.Latch
  /** Makes the next `n` appends fail with a `StoreError`. */
  readonly failNext: (n: number) => void
  /** Every event committed, in commit order. */
  readonly committed: () => ReadonlyArray<string>
}

export const makeRecordingStore: Effect.Effect<RecordingStore> = Effect.gen(function*() {
  const inner = yield* MemoryEventStore.make
  const gate = yield* Effect.makeLatch(true)
  const appends: Array<ReadonlyArray<LogEvent>> = []
  let attempts = 0
  let failures = 0
  const store = EventStore.of({
    ...inner,
    append: (batch, keys) =>
      Effect.gen(function*() {
        attempts++
        yield* gate.await
        if (failures > 0) {
          failures--
          return yield* Effect.fail(new StoreError({ operation: "append", reason: "disk unavailable" }))
        }
        const receipt = yield* inner.append(batch, keys)
        appends.push(EventBatch.events(batch))
        return receipt
      })
  })
  return {
    store,
    appends,
    attempts: () => attempts,
    gate,
    failNext: (n) => {
      failures = n
    },
    committed: () => appends.flatMap((b) => b.map((e) => e.message))
  }
})

/** A running pipeline over a recording store, with its own scope to release. */
export interface RunningPipeline {
  readonly ingest: Ingest["Type"]
  readonly queue: EventQueue["Type"]
  readonly feed: CommitFeed["Type"]
  /** Releases the pipeline layer (what a graceful stop does). */
  readonly release: Effect.Effect<void>
}

export const startPipeline = (
  store: RecordingStore,
  options: Partial<{ [K in keyof Pipeline.PipelineOptions]: Partial<Pipeline.PipelineOptions[K]> }> = {}
): Effect.Effect<RunningPipeline> =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const layer = Pipeline.layer({
      queue: { ...Pipeline.defaultOptions.queue, ...options.queue },
      writer: { ...Pipeline.defaultOptions.writer, ...options.writer }
    }).pipe(Layer.provide(Layer.succeed(EventStore, store.store)))
    const context = yield* Layer.buildWithScope(layer, scope)
    return {
      ingest: Context.get(context, Ingest),
      queue: Context.get(context, EventQueue),
      feed: Context.get(context, CommitFeed),
      release: Scope.close(scope, Exit.void)
    }
  })

/**
 * One turn of the event loop (not time: no clock is read or advanced). The
 * commit writer lets one turn pass before it cuts a group that a sender waits
 * on, so the bounded polls below let turns pass as well as fibers run.
 */
const turn: Effect.Effect<void> = Effect.async<void>((resume) => {
  const handle = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(handle))
})

/** Lets other fibers run, and every few rounds the event loop turn once. */
const pass = (round: number) => round % 8 === 7 ? turn : Effect.yieldNow()

/**
 * Lets other fibers run until `condition` holds, up to a bound; fails the
 * test if it never does. No real time passes.
 */
export const eventually = (condition: () => boolean, what: string, rounds = 200): Effect.Effect<void> =>
  Effect.gen(function*() {
    for (let i = 0; i < rounds; i++) {
      if (condition()) return
      yield* pass(i)
    }
    return yield* Effect.die(new Error(`never happened: ${what}`))
  })

/**
 * Runs `effect` and expects it to finish without any clock adjustment, by
 * letting other fibers run up to a bound; a hang fails the test at once
 * instead of at the test timeout.
 */
export const settles = <A, E>(effect: Effect.Effect<A, E>, what: string, rounds = 200): Effect.Effect<A, E> =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(effect)
    for (let i = 0; i < rounds; i++) {
      const exit = yield* Fiber.poll(fiber)
      if (Option.isSome(exit)) return yield* exit.value
      yield* pass(i)
    }
    yield* Fiber.interruptFork(fiber)
    return yield* Effect.die(new Error(`did not finish: ${what}`))
  })

/** Whether a forked fiber has finished (without waiting for it). */
export const isDone = <A, E>(fiber: Fiber.Fiber<A, E>): Effect.Effect<boolean> =>
  Effect.map(Fiber.poll(fiber), Option.isSome)

/** The typed error an effect failed with, if it failed. */
export const failureOf = <A, E>(exit: Exit.Exit<A, E>): E | undefined =>
  Exit.isFailure(exit) ? Option.getOrUndefined(Cause.failureOption(exit.cause)) : undefined
