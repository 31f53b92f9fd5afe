import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as PubSub from "effect/PubSub"
import * as Queue from "effect/Queue"
import * as Runtime from "effect/Runtime"
import * as TestClock from "effect/TestClock"
import type { CommittedBatch } from "../src/CommitFeed.js"
import * as MemoryEventStore from "../src/MemoryEventStore.js"
import { event, events, eventually, failureOf, isDone, makeRecordingStore, settles, startPipeline } from "./fixtures.js"

describe("group commit", () => {
  it.effect("offers inside the window land in one append, and not before the window ends", () =>
    Effect.gen(function*() {
      const rec = yield* makeRecordingStore
      const { ingest, release } = yield* startPipeline(rec)
      yield* ingest.offer(events("a", 3))
      yield* TestClock.adjust("10 millis")
      yield* ingest.offer(events("b", 2))
      yield* TestClock.adjust("20 millis")
      yield* ingest.offer(events("c", 1))
      yield* TestClock.adjust("19 millis")
      // 49 ms after the first offer: still gathering.
      expect(rec.attempts()).toBe(0)
      yield* TestClock.adjust("1 millis")
      yield* eventually(() => rec.appends.length === 1, "the group is committed")
      expect(rec.appends).toHaveLength(1)
      expect(rec.committed()).toEqual(["a-0", "a-1", "a-2", "b-0", "b-1", "c-0"])
      yield* release
    }))

  it.effect("honours a configured window", () =>
    Effect.gen(function*() {
      const rec = yield* makeRecordingStore
      const { ingest, release } = yield* startPipeline(rec, { writer: { window: "200 millis" } })
      yield* ingest.offer(events("a", 1))
      yield* TestClock.adjust("199 millis")
      expect(rec.attempts()).toBe(0)
      yield* TestClock.adjust("1 millis")
      yield* eventually(() => rec.appends.length === 1, "committed at 200 ms")
      yield* release
    }))

  it.effect("offers after the window go into the next group", () =>
    Effect.gen(function*() {
      const rec = yield* makeRecordingStore
      const { ingest, release } = yield* startPipeline(rec)
      yield* ingest.offer(events("a", 2))
      yield* TestClock.adjust("50 millis")
      yield* eventually(() => rec.appends.length === 1, "first group")
      yield* ingest.offer(events("b", 2))
      yield* TestClock.adjust("50 millis")
      yield* eventually(() => rec.appends.length === 2, "second group")
      expect(rec.appends.map((batch) => batch.map((e) => e.message))).toEqual([["a-0", "a-1"], ["b-0", "b-1"]])
      yield* release
    }))

  it.effect("a full group commits at once, without waiting for the window", () =>
    Effect.gen(function*() {
      const rec = yield* makeRecordingStore
      const { ingest, release } = yield* startPipeline(rec, { writer: { maxBatchEvents: 10 } })
      yield* ingest.offer(events("full", 10))
      // No clock adjustment at all: only a commit that skips the window can happen.
      yield* eventually(() => rec.appends.length === 1, "the full group is committed")
      expect(rec.appends[0]).toHaveLength(10)
      yield* release
    }))

  it.effect("a group that fills during the window commits at once", () =>
    Effect.gen(function*() {
      const rec = yield* makeRecordingStore
      const { ingest, release } = yield* startPipeline(rec, { writer: { maxBatchEvents: 10 } })
      yield* ingest.offer(events("a", 4))
      yield* TestClock.adjust("10 millis")
      yield* ingest.offer(events("b", 6))
      // 10 ms into the window, the group is full: waiting the other 40 ms gains nothing.
      yield* eventually(() => rec.appends.length === 1, "the group committed as soon as it was full")
      expect(rec.appends[0]).toHaveLength(10)
      yield* release
    }))

  it.effect("a group never exceeds maxBatchEvents: an entry that does not fit starts the next group", () =>
    Effect.gen(function*() {
      const rec = yield* makeRecordingStore
      const { ingest, release } = yield* startPipeline(rec, { writer: { maxBatchEvents: 10 } })
      yield* ingest.offer(events("a", 6))
      yield* ingest.offer(events("b", 6))
      // b cannot join a's group (12 > 10), so a's group is as full as it gets: committed now.
      yield* eventually(() => rec.appends.length === 1, "first group")
      expect(rec.committed()).toEqual(events("a", 6).map((e) => e.message))
      // b then gathers for its own window.
      yield* TestClock.adjust("49 millis")
      expect(rec.appends).toHaveLength(1)
      yield* TestClock.adjust("1 millis")
      yield* eventually(() => rec.appends.length === 2, "second group")
      expect(rec.appends.map((b) => b.length)).toEqual([6, 6])
      expect(rec.committed()).toEqual([...events("a", 6), ...events("b", 6)].map((e) => e.message))
      yield* release
    }))
})

describe("durable offers", () => {
  it.effect("a durable offer commits without waiting for the window", () =>
    Effect.gen(function*() {
      const rec = yield* makeRecordingStore
      const { ingest, release } = yield* startPipeline(rec)
      yield* settles(ingest.offer(events("d", 2), { durable: true }), "the durable offer")
      expect(rec.committed()).toEqual(["d-0", "d-1"])
      yield* release
    }))

  it.effect("a durable offer arriving during the window ends the wait, in the same group", () =>
    Effect.gen(function*() {
      const rec = yield* makeRecordingStore
      const { ingest, release } = yield* startPipeline(rec)
      yield* ingest.offer(events("a", 2))
      yield* TestClock.adjust("10 millis")
      // The sender waits on the commit: the writer stops gathering and commits now.
      yield* settles(
        ingest.offer(events("d", 1), { durable: true }),
        "the durable offer, without waiting out the window"
      )
      expect(rec.appends).toHaveLength(1)
      expect(rec.committed()).toEqual(["a-0", "a-1", "d-0"])
      yield* release
    }))

  it.effect("durable offers from senders that arrive in one turn of the event loop share one commit", () =>
    Effect.gen(function*() {
      const rec = yield* makeRecordingStore
      const { ingest, release } = yield* startPipeline(rec)
      const run = Runtime.runCallback(yield* Effect.runtime<never>())
      const names = ["a", "b", "c", "d", "e", "f", "g", "h"]
      // Eight senders, each from its own I/O callback of one turn (as eight requests
      // read together); each waits on its commit.
      yield* Effect.async<void>((resume) => {
        let answered = 0
        for (const name of names) {
          setImmediate(() =>
            run(ingest.offer(events(name, 1), { durable: true }), {
              onExit: () => ++answered === names.length && resume(Effect.void)
            })
          )
        }
      })
      expect(rec.appends).toHaveLength(1)
      expect(rec.committed()).toEqual(names.map((name) => `${name}-0`))
      yield* release
    }))

  it.effect("a barrier during the window ends the wait and covers the group", () =>
    Effect.gen(function*() {
      const rec = yield* makeRecordingStore
      const { ingest, release } = yield* startPipeline(rec)
      yield* ingest.offer(events("a", 2))
      yield* TestClock.adjust("10 millis")
      yield* settles(ingest.barrier, "the barrier, without waiting out the window")
      expect(rec.committed()).toEqual(["a-0", "a-1"])
      yield* release
    }))

  it.effect("a durable offer answers only after the append completes", () =>
    Effect.gen(function*() {
      const rec = yield* makeRecordingStore
      const { ingest, release } = yield* startPipeline(rec)
      yield* rec.gate.close
      const fiber = yield* Effect.fork(ingest.offer(events("d", 3), { durable: true }))
      yield* eventually(() => rec.attempts() === 1, "the writer calls append")
      yield* TestClock.adjust("10 seconds")
      // The store holds the commit: the sender must still be waiting.
      expect(yield* isDone(fiber)).toBe(false)
      expect(rec.appends).toHaveLength(0)
      yield* rec.gate.open
      yield* Fiber.join(fiber)
      expect(rec.committed()).toEqual(["d-0", "d-1", "d-2"])
      yield* release
    }))

  it.effect("a non-durable offer answers once queued, even while the store holds a commit", () =>
    Effect.gen(function*() {
      const rec = yield* makeRecordingStore
      const { ingest, release } = yield* startPipeline(rec)
      yield* rec.gate.close
      const held = yield* Effect.fork(ingest.offer(events("d", 1), { durable: true }))
      yield* eventually(() => rec.attempts() === 1, "the store holds a commit")
      yield* settles(ingest.offer(events("n", 2)), "the non-durable offer")
      expect(rec.appends).toHaveLength(0)
      yield* rec.gate.open
      yield* Fiber.join(held)
      yield* TestClock.adjust("50 millis")
      yield* eventually(() => rec.appends.length === 2, "the later batch is committed too")
      expect(rec.committed()).toEqual(["d-0", "n-0", "n-1"])
      yield* release
    }))

  it.effect("a failing store is retried with backoff: committed once, the durable sender then answered", () =>
    Effect.gen(function*() {
      const rec = yield* makeRecordingStore
      const { ingest, release } = yield* startPipeline(rec)
      rec.failNext(2)
      const fiber = yield* Effect.fork(ingest.offer(events("r", 4), { durable: true }))
      yield* eventually(() => rec.attempts() === 1, "first attempt")
      // The retry waits (backoff from 100 ms, jittered): nothing happens at once.
      yield* TestClock.adjust("50 millis")
      expect(rec.attempts()).toBe(1)
      expect(yield* isDone(fiber)).toBe(false)
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(fiber)
      expect(rec.attempts()).toBe(3)
      expect(rec.appends).toHaveLength(1)
      const page = yield* rec.store.query({ offset: 0, limit: 100 })
      expect(page.total).toBe(4)
      expect(page.items.map((e) => e.message).sort()).toEqual(["r-0", "r-1", "r-2", "r-3"])
      yield* release
    }))

  it.effect("keeps retrying while the store is down, and keeps the order of later batches", () =>
    Effect.gen(function*() {
      const rec = yield* makeRecordingStore
      const { ingest, release } = yield* startPipeline(rec)
      rec.failNext(8)
      const first = yield* Effect.fork(ingest.offer(events("a", 1), { durable: true }))
      yield* TestClock.adjust("5 seconds")
      const second = yield* Effect.fork(ingest.offer(events("b", 1), { durable: true }))
      yield* TestClock.adjust("5 seconds")
      expect(yield* isDone(first)).toBe(false)
      expect(yield* isDone(second)).toBe(false)
      yield* TestClock.adjust("1 minute")
      yield* Fiber.join(first)
      yield* Fiber.join(second)
      expect(rec.committed()).toEqual(["a-0", "b-0"])
      yield* release
    }))
})

describe("CommitFeed", () => {
  it.scoped("subscribers receive each committed batch with the ids the store gave", () =>
    Effect.gen(function*() {
      const rec = yield* makeRecordingStore
      const { feed, ingest, release } = yield* startPipeline(rec)
      const subscription = yield* PubSub.subscribe(feed)
      yield* ingest.offer(events("a", 2), { durable: true })
      yield* ingest.offer(events("b", 3), { durable: true })
      const first: CommittedBatch = yield* Queue.take(subscription)
      const second: CommittedBatch = yield* Queue.take(subscription)
      expect(first.events.map((e) => e.message)).toEqual(["a-0", "a-1"])
      expect(second.events.map((e) => e.message)).toEqual(["b-0", "b-1", "b-2"])
      expect(second.firstId).toBeGreaterThan(first.firstId)
      // Event i of a batch has id firstId + i, as stored.
      const page = yield* rec.store.query({ offset: 0, limit: 100 })
      const idOf = new Map(page.items.map((e) => [e.message, e.id]))
      expect([0, 1].map((i) => idOf.get(`a-${i}`))).toEqual([first.firstId, first.firstId + 1])
      expect([0, 1, 2].map((i) => idOf.get(`b-${i}`))).toEqual([0, 1, 2].map((i) => second.firstId + i))
      expect(first.firstId).toBe(1 * MemoryEventStore.idsPerCommit)
      yield* release
    }))

  it.scoped("nothing is published for a batch before it is committed", () =>
    Effect.gen(function*() {
      const rec = yield* makeRecordingStore
      const { feed, ingest, release } = yield* startPipeline(rec)
      const subscription = yield* PubSub.subscribe(feed)
      yield* rec.gate.close
      const offer = yield* Effect.fork(ingest.offer([event("held")], { durable: true }))
      yield* eventually(() => rec.attempts() === 1, "append called")
      yield* TestClock.adjust("1 second")
      expect(yield* Queue.size(subscription)).toBe(0)
      yield* rec.gate.open
      yield* Fiber.join(offer)
      expect((yield* Queue.take(subscription)).events.map((e) => e.message)).toEqual(["held"])
      yield* release
    }))
})

describe("shutdown", () => {
  it.effect("releasing the pipeline persists everything queued", () =>
    Effect.gen(function*() {
      const rec = yield* makeRecordingStore
      const { ingest, release } = yield* startPipeline(rec, { writer: { maxBatchEvents: 250 } })
      for (let i = 0; i < 10; i++) yield* ingest.offer(events(`b${i}`, 100))
      expect(rec.appends).toHaveLength(0)
      const closing = yield* Effect.fork(release)
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(closing)
      expect(rec.committed()).toHaveLength(1000)
      expect(new Set(rec.committed()).size).toBe(1000)
      expect((yield* rec.store.query({ offset: 0, limit: 1 })).total).toBe(1000)
      // Every group respected the bound while draining.
      expect(rec.appends.every((b) => b.length <= 250)).toBe(true)
    }))

  it.effect("release waits for the store to take the last commit", () =>
    Effect.gen(function*() {
      const rec = yield* makeRecordingStore
      const { ingest, release } = yield* startPipeline(rec)
      yield* rec.gate.close
      yield* ingest.offer(events("a", 5))
      yield* ingest.offer(events("b", 5))
      const closing = yield* Effect.fork(release)
      yield* TestClock.adjust("1 second")
      expect(yield* isDone(closing)).toBe(false)
      yield* rec.gate.open
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(closing)
      expect(rec.committed()).toHaveLength(10)
    }))

  it.effect("release drains at once, without waiting out the commit window", () =>
    Effect.gen(function*() {
      const rec = yield* makeRecordingStore
      const { ingest, release } = yield* startPipeline(rec, { writer: { window: "10 seconds", maxBatchEvents: 4 } })
      for (let i = 0; i < 5; i++) yield* ingest.offer(events(`b${i}`, 3))
      // No clock adjustment: nothing more can arrive once closed, so waiting is pointless.
      yield* settles(release, "release, without waiting out the window")
      expect(rec.committed()).toHaveLength(15)
    }))

  it.effect("after release, offers fail with QueueClosed", () =>
    Effect.gen(function*() {
      const rec = yield* makeRecordingStore
      const { ingest, release } = yield* startPipeline(rec)
      yield* ingest.offer(events("a", 1), { durable: true })
      yield* release
      const exit = yield* Effect.exit(ingest.offer(events("late", 1)))
      expect(failureOf(exit)?._tag).toBe("QueueClosed")
      expect(rec.committed()).toEqual(["a-0"])
    }))
})
