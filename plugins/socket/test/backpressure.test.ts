/**
 * Queue full (SPEC §1, §6): with the `block` policy the agent stops reading
 * (the client's writes block, nothing is lost) until the block timeout, then
 * answers `queue full`; with `reject` it answers at once. The store is held
 * back by a gate so the queue fills deterministically; time is the test
 * clock, so the block timeout fires only when the test moves it.
 */
import { describe, expect, it } from "@effect/vitest"
import { EventQueue } from "@sluice/core/EventQueue"
import * as Effect from "effect/Effect"
import * as TestClock from "effect/TestClock"
import {
  authenticateLine,
  bytesRead,
  type Client,
  connectTo,
  eventually,
  flush,
  harness,
  line,
  ping,
  pong,
  sleepingUntil,
  stored,
  StoreGate,
  transports
} from "./harness.js"

const backpressure = { error: "queue full", code: "backpressure" }

/** Waits until an offer is waiting for room in the queue. */
const offerWaiting = EventQueue.pipe(
  Effect.flatMap((queue) => eventually(Effect.sync(() => queue.stats().waitingOffers > 0), "an offer to wait for room"))
)

const writerHeld = StoreGate.pipe(
  Effect.flatMap((gate) => eventually(Effect.sync(() => gate.appendsStarted() > 0), "the writer to reach the store"))
)

/** Fills a one-event queue: "one" is taken by the writer and held at the store, "two" waits in the queue. */
const fillQueue = (client: Client) =>
  Effect.gen(function*() {
    yield* client.send(line({ payload: "one" }), ping)
    expect(yield* client.reply).toEqual(pong)
    yield* writerHeld
    yield* client.send(line({ payload: "two" }), ping)
    expect(yield* client.reply).toEqual(pong)
  })

describe.each(transports)("backpressure over %s", (transport) => {
  it.scoped("block: the agent stops reading while the queue is full, and loses nothing", () =>
    Effect.gen(function*() {
      const gate = yield* StoreGate
      const client = yield* connectTo(transport)
      const count = 80_000
      const text = Array.from({ length: count }, (_, i) => line({ payload: `event ${i}` })).join("\n") + "\n"
      const total = Buffer.byteLength(text)
      const before = yield* bytesRead(transport)
      yield* client.write(text + flush + "\n")
      yield* offerWaiting
      const readWhileFull = (yield* bytesRead(transport)) - before
      // A round trip elsewhere lets the event loop run: nothing more is read
      // than that other connection's lines.
      const other = yield* connectTo(transport)
      yield* other.send(ping)
      expect(yield* other.reply).toEqual(pong)
      const otherBytes = (transport === "tcp" ? authenticateLine.length + 1 : 0) + ping.length + 1
      expect((yield* bytesRead(transport)) - before).toBe(readWhileFull + otherBytes)
      expect(readWhileFull).toBeLessThan(total / 10)
      // The rest waits on the client's side: its writes are blocked.
      expect(client.socket.writableLength).toBeGreaterThan(0)
      expect(yield* client.unread).toBe(0)
      yield* gate.open
      expect(yield* client.reply).toEqual({ status: "flushed", accepted: count })
      const events = yield* stored
      expect(events).toHaveLength(count)
      expect(events[count - 1]!.message).toBe(`event ${count - 1}`)
    }).pipe(Effect.provide(harness({ gateOpen: false, queue: { maxEvents: 100 } }))))

  it.scoped("block: still full after the block timeout, the agent answers queue full and carries on", () =>
    Effect.gen(function*() {
      const gate = yield* StoreGate
      const client = yield* connectTo(transport)
      yield* fillQueue(client)
      const start = yield* TestClock.currentTimeMillis
      yield* client.send(line({ payload: "three" }), ping)
      yield* offerWaiting
      yield* sleepingUntil(start + 5_000)
      yield* TestClock.adjust(4_999)
      expect(yield* client.unread).toBe(0)
      yield* TestClock.adjust(1)
      expect(yield* client.replies(2)).toEqual([backpressure, pong])
      yield* gate.open
      yield* client.send(line({ payload: "four" }), flush)
      expect(yield* client.reply).toEqual({ status: "flushed", accepted: 3 })
      expect((yield* stored).map((e) => e.message)).toEqual(["one", "two", "four"])
    }).pipe(Effect.provide(harness({ gateOpen: false, queue: { maxEvents: 1, blockTimeout: "5 seconds" } }))))

  it.scoped("reject: a full queue is answered at once, once per refused message", () =>
    Effect.gen(function*() {
      const gate = yield* StoreGate
      const client = yield* connectTo(transport)
      yield* fillQueue(client)
      // No clock moves: the answer does not wait for any timeout.
      yield* client.send(line({ payload: "three" }), line({ payload: "four" }), ping)
      expect(yield* client.replies(3)).toEqual([backpressure, backpressure, pong])
      yield* gate.open
      yield* client.send(line({ payload: "five" }), flush)
      expect(yield* client.reply).toEqual({ status: "flushed", accepted: 3 })
      expect((yield* stored).map((e) => e.message)).toEqual(["one", "two", "five"])
    }).pipe(Effect.provide(harness({ gateOpen: false, queue: { maxEvents: 1, fullPolicy: "reject" } }))))
})
