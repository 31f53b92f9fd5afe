import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Metric from "effect/Metric"
import * as TestClock from "effect/TestClock"
import * as Metrics from "../src/Metrics.js"
import { event, events, eventually, failureOf, isDone, makeRecordingStore, settles, startPipeline } from "./fixtures.js"

describe("Ingest.barrier", () => {
  it.effect("completes at once when nothing is pending", () =>
    Effect.gen(function*() {
      const rec = yield* makeRecordingStore
      const { ingest, release } = yield* startPipeline(rec)
      yield* settles(ingest.barrier, "an idle barrier")
      expect(rec.attempts()).toBe(0)
      yield* release
    }))

  it.effect("waits until every earlier offer is committed", () =>
    Effect.gen(function*() {
      const rec = yield* makeRecordingStore
      const { ingest, release } = yield* startPipeline(rec)
      yield* rec.gate.close
      yield* ingest.offer(events("a", 3))
      yield* TestClock.adjust("50 millis")
      yield* eventually(() => rec.attempts() === 1, "a's commit reaches the store")
      yield* ingest.offer(events("b", 2))
      const barrier = yield* Effect.fork(ingest.barrier)
      yield* TestClock.adjust("1 second")
      expect(yield* isDone(barrier)).toBe(false)
      yield* rec.gate.open
      yield* Fiber.join(barrier)
      expect(rec.committed()).toEqual(["a-0", "a-1", "a-2", "b-0", "b-1"])
      yield* release
    }))

  it.effect("a durable offer of no events acts as a barrier", () =>
    Effect.gen(function*() {
      const rec = yield* makeRecordingStore
      const { ingest, release } = yield* startPipeline(rec)
      yield* rec.gate.close
      yield* ingest.offer(events("a", 2))
      const flush = yield* Effect.fork(ingest.offer([], { durable: true }))
      yield* TestClock.adjust("1 second")
      expect(yield* isDone(flush)).toBe(false)
      yield* rec.gate.open
      yield* Fiber.join(flush)
      expect(rec.committed()).toEqual(["a-0", "a-1"])
      yield* release
    }))

  it.effect("fails with QueueClosed once the pipeline is released", () =>
    Effect.gen(function*() {
      const rec = yield* makeRecordingStore
      const { ingest, release } = yield* startPipeline(rec)
      yield* release
      expect(failureOf(yield* Effect.exit(ingest.barrier))?._tag).toBe("QueueClosed")
    }))
})

describe("Ingest.offer under backpressure", () => {
  it.effect("reject: refuses at once while a slow store keeps the queue full, and counts the refusal", () =>
    Effect.gen(function*() {
      const rec = yield* makeRecordingStore
      const { ingest, release } = yield* startPipeline(rec, { queue: { maxEvents: 5, fullPolicy: "reject" } })
      const rejected = Metrics.eventsRejected.pipe(
        Metric.tagged("transport", "ingest-reject-test"),
        Metric.tagged("reason", "backpressure")
      )
      const before = (yield* Metric.value(rejected)).count
      yield* rec.gate.close
      // A durable batch makes the writer commit at once, and the store holds it.
      const held = yield* Effect.fork(ingest.offer(events("held", 1), { durable: true }))
      yield* eventually(() => rec.attempts() === 1, "the store holds a commit")
      yield* ingest.offer(events("q", 5), { transport: "ingest-reject-test" })
      const error = yield* Effect.flip(ingest.offer(events("over", 2), { transport: "ingest-reject-test" }))
      expect(error).toMatchObject({ _tag: "Backpressure", queuedEvents: 5 })
      expect((yield* Metric.value(rejected)).count - before).toBe(2)
      yield* rec.gate.open
      yield* Fiber.join(held)
      yield* release
      // Nothing refused was stored; everything accepted was.
      expect(rec.committed()).toEqual(["held-0", "q-0", "q-1", "q-2", "q-3", "q-4"])
    }))

  it.effect("block: waits while the store is slow, proceeds when it recovers", () =>
    Effect.gen(function*() {
      const rec = yield* makeRecordingStore
      const { ingest, release } = yield* startPipeline(rec, { queue: { maxEvents: 5, fullPolicy: "block" } })
      yield* rec.gate.close
      const held = yield* Effect.fork(ingest.offer(events("held", 1), { durable: true }))
      yield* eventually(() => rec.attempts() === 1, "the store holds a commit")
      yield* ingest.offer(events("q", 5))
      const blocked = yield* Effect.fork(ingest.offer(events("late", 2), { durable: true }))
      yield* TestClock.adjust("4 seconds")
      expect(yield* isDone(blocked)).toBe(false)
      yield* rec.gate.open
      yield* Fiber.join(held)
      yield* TestClock.adjust("100 millis")
      yield* Fiber.join(blocked)
      expect(rec.committed()).toContain("late-1")
      yield* release
    }))

  it.effect("block: refuses with Backpressure after the block timeout when the store stays stuck", () =>
    Effect.gen(function*() {
      const rec = yield* makeRecordingStore
      const { ingest, release } = yield* startPipeline(rec, {
        queue: { maxEvents: 5, fullPolicy: "block", blockTimeout: "5 seconds" }
      })
      yield* rec.gate.close
      const held = yield* Effect.fork(ingest.offer(events("held", 1), { durable: true }))
      yield* eventually(() => rec.attempts() === 1, "the store holds a commit")
      yield* ingest.offer(events("q", 5))
      const blocked = yield* Effect.fork(ingest.offer(events("late", 1)))
      yield* TestClock.adjust("5 seconds")
      expect(failureOf(yield* Fiber.await(blocked))).toMatchObject({ _tag: "Backpressure", queuedEvents: 5 })
      yield* rec.gate.open
      yield* Fiber.join(held)
      yield* release
      expect(rec.committed()).not.toContain("late-0")
    }))

  it.effect("bounds bytes with the size the caller gives, else an estimate", () =>
    Effect.gen(function*() {
      const rec = yield* makeRecordingStore
      const { ingest, queue, release } = yield* startPipeline(rec, {
        queue: { maxBytes: 10_000, fullPolicy: "reject" }
      })
      yield* rec.gate.close
      const held = yield* Effect.fork(ingest.offer(events("held", 1), { durable: true }))
      yield* eventually(() => rec.attempts() === 1, "the store holds a commit")
      yield* ingest.offer(events("a", 1), { bytes: 9_000 })
      expect(queue.stats().bytes).toBe(9_000)
      expect((yield* Effect.flip(ingest.offer(events("b", 1), { bytes: 1_001 })))._tag).toBe("Backpressure")
      // Without a size, a 2 KB message is estimated at more than the 1,000 bytes left.
      const big = event("x".repeat(2_000))
      expect((yield* Effect.flip(ingest.offer([big])))._tag).toBe("Backpressure")
      yield* ingest.offer([event("small")])
      expect(queue.stats().bytes).toBeGreaterThan(9_000)
      yield* rec.gate.open
      yield* Fiber.join(held)
      yield* release
    }))
})

describe("Ingest.offer", () => {
  it.effect("records the idempotency key in the same commit as the batch", () =>
    Effect.gen(function*() {
      const rec = yield* makeRecordingStore
      const { ingest, release } = yield* startPipeline(rec)
      expect(yield* rec.store.hasIdempotencyKey("req-1")).toBe(false)
      yield* ingest.offer(events("a", 2), { durable: true, idempotencyKey: "req-1" })
      expect(yield* rec.store.hasIdempotencyKey("req-1")).toBe(true)
      yield* release
    }))

  it.effect("counts accepted events per transport", () =>
    Effect.gen(function*() {
      const rec = yield* makeRecordingStore
      const { ingest, release } = yield* startPipeline(rec)
      const accepted = Metrics.eventsAccepted.pipe(Metric.tagged("transport", "ingest-count-test"))
      const before = (yield* Metric.value(accepted)).count
      yield* ingest.offer(events("a", 3).map((e) => ({ ...e, transport: "ingest-count-test" })))
      yield* ingest.offer(events("b", 4), { transport: "ingest-count-test" })
      expect((yield* Metric.value(accepted)).count - before).toBe(7)
      yield* release
    }))
})
