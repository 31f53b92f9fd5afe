import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import * as EventBatch from "../src/EventBatch.js"
import * as EventQueue from "../src/EventQueue.js"
import { entry, eventually, failureOf, isDone, messagesOf } from "./fixtures.js"

const make = (options: Partial<EventQueue.EventQueueOptions>) =>
  EventQueue.make({
    maxEvents: 1_000_000,
    maxBytes: 1_000_000_000,
    fullPolicy: "reject",
    blockTimeout: Duration.seconds(5),
    ...options
  })

describe("EventQueue bounds", () => {
  it.effect("admits events up to exactly the event bound, and refuses one more", () =>
    Effect.gen(function*() {
      const queue = yield* make({ maxEvents: 10 })
      yield* queue.offer(entry("a", 4))
      yield* queue.offer(entry("b", 6))
      expect(queue.stats()).toMatchObject({ events: 10, maxEvents: 10 })
      const error = yield* Effect.flip(queue.offer(entry("c", 1)))
      expect(error).toBeInstanceOf(EventQueue.Backpressure)
      expect(error).toMatchObject({ _tag: "Backpressure", queuedEvents: 10, queuedBytes: 1000 })
      expect(queue.stats().events).toBe(10)
      expect(messagesOf(queue.poll(100))).toEqual([
        "a-0",
        "a-1",
        "a-2",
        "a-3",
        "b-0",
        "b-1",
        "b-2",
        "b-3",
        "b-4",
        "b-5"
      ])
    }))

  it.effect("admits bytes up to exactly the byte bound, and refuses one byte more", () =>
    Effect.gen(function*() {
      const queue = yield* make({ maxBytes: 1000 })
      yield* queue.offer(entry("a", 1, 600))
      yield* queue.offer(entry("b", 1, 400))
      expect(queue.stats()).toMatchObject({ events: 2, bytes: 1000 })
      const error = yield* Effect.flip(queue.offer(entry("c", 1, 1)))
      expect(error).toMatchObject({ _tag: "Backpressure", queuedEvents: 2, queuedBytes: 1000 })
      expect(queue.stats().bytes).toBe(1000)
    }))

  it.effect("bounds bytes independently of events", () =>
    Effect.gen(function*() {
      const queue = yield* make({ maxEvents: 100, maxBytes: 1000 })
      yield* queue.offer(entry("a", 2, 999))
      // Plenty of room in events, none in bytes.
      const error = yield* Effect.flip(queue.offer(entry("b", 1, 2)))
      expect(error._tag).toBe("Backpressure")
    }))

  it.effect("lets a batch larger than the whole bound into an empty queue, whole", () =>
    Effect.gen(function*() {
      const queue = yield* make({ maxEvents: 10, maxBytes: 1000 })
      yield* queue.offer(entry("big", 25, 5000))
      expect(queue.stats()).toMatchObject({ events: 25, bytes: 5000 })
      // The queue is over its bound now: the next offer is refused.
      expect((yield* Effect.flip(queue.offer(entry("x", 1))))._tag).toBe("Backpressure")
      // And a big batch is refused while anything else is queued.
      const other = yield* make({ maxEvents: 10 })
      yield* other.offer(entry("a", 1))
      expect((yield* Effect.flip(other.offer(entry("big", 25))))._tag).toBe("Backpressure")
      expect(other.stats().events).toBe(1)
    }))

  it.effect("takes an empty barrier entry even when full", () =>
    Effect.gen(function*() {
      const queue = yield* make({ maxEvents: 2 })
      yield* queue.offer(entry("a", 2))
      yield* queue.offer(entry("barrier", 0, 0))
      expect(queue.stats()).toMatchObject({ events: 2, bytes: 200 })
      expect(queue.poll(100)).toHaveLength(2)
    }))
})

describe("EventQueue full policies", () => {
  it.effect("reject fails at once, without waiting for time to pass", () =>
    Effect.gen(function*() {
      const queue = yield* make({ maxEvents: 1, fullPolicy: "reject" })
      yield* queue.offer(entry("a", 1))
      const fiber = yield* Effect.fork(queue.offer(entry("b", 1)))
      // No clock adjustment: a rejection must not depend on the block timeout.
      const exit = yield* Fiber.await(fiber)
      expect(failureOf(exit)).toMatchObject({ _tag: "Backpressure", queuedEvents: 1 })
      expect(queue.stats().waitingOffers).toBe(0)
    }))

  it.effect("block waits for room and is admitted when the writer takes", () =>
    Effect.gen(function*() {
      const queue = yield* make({ maxEvents: 10, fullPolicy: "block" })
      yield* queue.offer(entry("a", 10))
      const fiber = yield* Effect.fork(queue.offer(entry("b", 3)))
      yield* TestClock.adjust("1 second")
      expect(yield* isDone(fiber)).toBe(false)
      expect(queue.stats()).toMatchObject({ events: 10, waitingOffers: 1 })

      expect(messagesOf(yield* queue.take(10))).toHaveLength(10)
      yield* Fiber.join(fiber)
      expect(queue.stats()).toMatchObject({ events: 3, waitingOffers: 0 })
      expect(messagesOf(yield* queue.take(10))).toEqual(["b-0", "b-1", "b-2"])
    }))

  it.effect("block fails with Backpressure once the block timeout passes", () =>
    Effect.gen(function*() {
      const queue = yield* make({ maxEvents: 10, fullPolicy: "block", blockTimeout: Duration.seconds(5) })
      yield* queue.offer(entry("a", 10))
      const fiber = yield* Effect.fork(queue.offer(entry("b", 1)))
      yield* TestClock.adjust("4999 millis")
      expect(yield* isDone(fiber)).toBe(false)
      yield* TestClock.adjust("1 millis")
      const exit = yield* Fiber.await(fiber)
      expect(failureOf(exit)).toMatchObject({ _tag: "Backpressure", queuedEvents: 10, queuedBytes: 1000 })
      // The timed-out offer left nothing behind: freeing room admits nobody.
      expect(queue.stats().waitingOffers).toBe(0)
      yield* queue.take(10)
      expect(queue.stats().events).toBe(0)
    }))

  it.effect("a big batch under block waits until the queue is empty, then enters whole", () =>
    Effect.gen(function*() {
      const queue = yield* make({ maxEvents: 10, fullPolicy: "block" })
      yield* queue.offer(entry("a", 3))
      yield* queue.offer(entry("b", 3))
      const fiber = yield* Effect.fork(queue.offer(entry("big", 25)))
      yield* TestClock.adjust("1 second")
      expect(yield* isDone(fiber)).toBe(false)
      yield* queue.take(3)
      yield* TestClock.adjust("1 second")
      expect(yield* isDone(fiber)).toBe(false)
      yield* queue.take(3)
      yield* Fiber.join(fiber)
      expect(queue.stats().events).toBe(25)
    }))

  it.effect("admits waiting offers in arrival order; a later small offer does not overtake", () =>
    Effect.gen(function*() {
      const queue = yield* make({ maxEvents: 10, fullPolicy: "block" })
      for (const p of ["q1", "q2", "q3", "q4", "q5"]) yield* queue.offer(entry(p, 2))
      const first = yield* Effect.fork(queue.offer(entry("first", 5)))
      yield* eventually(() => queue.stats().waitingOffers === 1, "first offer waits")
      const second = yield* Effect.fork(queue.offer(entry("second", 1)))
      yield* eventually(() => queue.stats().waitingOffers === 2, "second offer waits")

      // Room for 2: the 1-event offer would fit, but it arrived after the 5-event one.
      yield* queue.take(2)
      yield* TestClock.adjust("1 second")
      expect(yield* isDone(first)).toBe(false)
      expect(yield* isDone(second)).toBe(false)
      expect(queue.stats()).toMatchObject({ events: 8, waitingOffers: 2 })
      // A new offer that fits must queue behind the waiters too.
      const third = yield* Effect.fork(queue.offer(entry("third", 1)))
      yield* eventually(() => queue.stats().waitingOffers === 3, "third offer waits")

      // Room for 6: all three fit (8 - 6 + 5 + 1 + 1 = 9), admitted in order.
      yield* queue.take(6)
      yield* Fiber.join(first)
      yield* Fiber.join(second)
      yield* Fiber.join(third)
      expect(messagesOf(queue.poll(100))).toEqual([
        "q5-0",
        "q5-1",
        "first-0",
        "first-1",
        "first-2",
        "first-3",
        "first-4",
        "second-0",
        "third-0"
      ])
    }))

  it.effect("an offer that starts waiting while the writer takes is not stranded behind free room", () =>
    Effect.gen(function*() {
      // The take can land anywhere while the second offer sets itself up to
      // wait; whatever the interleaving, it must be admitted once room frees
      // (not left waiting until its timeout and then refused with room free).
      for (let yields = 0; yields < 5; yields++) {
        const queue = yield* make({ maxEvents: 10, fullPolicy: "block" })
        yield* queue.offer(entry("a", 10))
        const first = yield* Effect.fork(queue.offer(entry("first", 5)))
        yield* eventually(() => queue.stats().waitingOffers === 1, "first offer waits")
        const second = yield* Effect.fork(queue.offer(entry("second", 1)))
        for (let i = 0; i < yields; i++) yield* Effect.yieldNow()
        queue.poll(100)
        yield* Fiber.join(first)
        yield* eventually(() => queue.stats().events === 6, `second offer admitted (after ${yields} yields)`)
        yield* Fiber.join(second)
        expect(messagesOf(queue.poll(100))).toEqual(["first-0", "first-1", "first-2", "first-3", "first-4", "second-0"])
      }
    }))

  it.effect("a waiter that times out at the head lets the smaller ones behind it in", () =>
    Effect.gen(function*() {
      const queue = yield* make({ maxEvents: 10, fullPolicy: "block", blockTimeout: Duration.seconds(5) })
      yield* queue.offer(entry("a", 8))
      const big = yield* Effect.fork(queue.offer(entry("big", 5)))
      yield* TestClock.adjust("3 seconds")
      const small = yield* Effect.fork(queue.offer(entry("small", 1)))
      yield* TestClock.adjust("1 second")
      expect(yield* isDone(small)).toBe(false)
      // The big offer times out at 5 s; the small one fits and must not wait for its own timeout.
      yield* TestClock.adjust("1 second")
      expect(failureOf(yield* Fiber.await(big))?._tag).toBe("Backpressure")
      yield* Fiber.join(small)
      expect(queue.stats()).toMatchObject({ events: 9, waitingOffers: 0 })
    }))
})

describe("EventQueue take and close", () => {
  it.effect("take waits for an entry, and takes whole entries up to the limit", () =>
    Effect.gen(function*() {
      const queue = yield* make({})
      const taker = yield* Effect.fork(queue.take(7))
      yield* TestClock.adjust("1 second")
      expect(yield* isDone(taker)).toBe(false)
      yield* queue.offer(entry("a", 3))
      expect(messagesOf(yield* Fiber.join(taker))).toEqual(["a-0", "a-1", "a-2"])

      yield* queue.offer(entry("b", 3))
      yield* queue.offer(entry("c", 3))
      yield* queue.offer(entry("d", 3))
      // 7 events: two whole entries, never a split one.
      expect(messagesOf(yield* queue.take(7)).map((m) => m[0])).toEqual(["b", "b", "b", "c", "c", "c"])
      // An entry bigger than the limit is taken alone rather than never.
      yield* queue.offer(entry("e", 20))
      expect((yield* queue.take(7)).map((e) => EventBatch.events(e.events)[0]!.message)).toEqual(["d-0"])
      expect(messagesOf(yield* queue.take(7))).toHaveLength(20)
      // poll never waits and never takes an entry over the limit.
      yield* queue.offer(entry("f", 20))
      expect(queue.poll(7)).toEqual([])
      expect(queue.stats().events).toBe(20)
    }))

  it.effect("close refuses new offers with QueueClosed and keeps what is queued", () =>
    Effect.gen(function*() {
      const queue = yield* make({})
      yield* queue.offer(entry("a", 2))
      yield* queue.close
      const error = yield* Effect.flip(queue.offer(entry("b", 1)))
      expect(error).toBeInstanceOf(EventQueue.QueueClosed)
      expect(queue.stats().closed).toBe(true)
      // Entries accepted before the close are still handed to the writer, then it sees the end.
      expect(messagesOf(yield* queue.take(100))).toEqual(["a-0", "a-1"])
      expect(yield* queue.take(100)).toEqual([])
    }))

  it.effect("close releases waiting offers with QueueClosed, before their timeout", () =>
    Effect.gen(function*() {
      const queue = yield* make({ maxEvents: 1, fullPolicy: "block", blockTimeout: Duration.seconds(5) })
      yield* queue.offer(entry("a", 1))
      const waiting = yield* Effect.fork(queue.offer(entry("b", 1)))
      yield* eventually(() => queue.stats().waitingOffers === 1, "offer waits")
      yield* queue.close
      // No time passes: the waiter is released by the close, not by the timeout.
      const exit = yield* Fiber.await(waiting)
      expect(failureOf(exit)?._tag).toBe("QueueClosed")
      expect(queue.stats()).toMatchObject({ events: 1, waitingOffers: 0 })
    }))

  it.effect("close wakes a waiting take with the end", () =>
    Effect.gen(function*() {
      const queue = yield* make({})
      const taker = yield* Effect.fork(queue.take(10))
      yield* TestClock.adjust("1 second")
      yield* queue.close
      expect(yield* Fiber.join(taker)).toEqual([])
    }))
})

describe("EventQueue helpers", () => {
  it("saturation names the bound that is above the watermark", () => {
    const stats = { events: 10, bytes: 10, maxEvents: 100, maxBytes: 100, waitingOffers: 0, closed: false }
    expect(EventQueue.saturation(stats, 0.8)).toEqual(Option.none())
    expect(Option.getOrThrow(EventQueue.saturation({ ...stats, events: 80 }, 0.8))).toContain("80/100 events")
    expect(Option.getOrThrow(EventQueue.saturation({ ...stats, bytes: 90 }, 0.8))).toContain("90/100 bytes")
  })
})
