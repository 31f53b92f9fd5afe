/**
 * At-least-once forwarding against a scripted upstream: a real HTTP server on
 * loopback that fails, answers 429 with Retry-After, 500, resets connections
 * and flaps. Every accepted event arrives, the backoff is observed on the
 * TestClock, 400s land in the dead letters and replay once the upstream is
 * fixed, and the loss-accounting equation holds after each scenario.
 */
import { assert, describe, it } from "@effect/vitest"
import { EventStore } from "@sluice/core/EventStore"
import { type ForwardBatch, Forwarder } from "@sluice/core/Forwarder"
import * as ForwardLoop from "@sluice/core/ForwardLoop"
import { Ingest } from "@sluice/core/Ingest"
import type { LogEvent } from "@sluice/core/LogEvent"
import * as Pipeline from "@sluice/core/Pipeline"
import { type AccountingReport, Spool } from "@sluice/core/Spool"
import { HttpForwarder } from "@sluice/forward-http"
import { SqliteEventStore } from "@sluice/store-sql"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as TestClock from "effect/TestClock"
import * as TestServices from "effect/TestServices"
import * as http from "node:http"
import type * as net from "node:net"
import * as path from "node:path"
import * as zlib from "node:zlib"
import { tempDir } from "./harness.js"

type Answer = { status: number; headers?: Record<string, string>; body?: string } | "reset"

/** A scripted upstream drain: answers from the script, then 202; records what it received. */
const upstream = Effect.acquireRelease(
  Effect.async<{
    url: string
    script: Array<Answer>
    received: Array<{ key: string; messages: Array<string>; authorization: string; events: Array<unknown> }>
    attempts: () => number
  }>((resume) => {
    const script: Array<Answer> = []
    const received: Array<{ key: string; messages: Array<string>; authorization: string; events: Array<unknown> }> = []
    let attempts = 0
    const server = http.createServer((req, res) => {
      const chunks: Array<Buffer> = []
      req.on("data", (c: Buffer) => chunks.push(c))
      req.on("end", () => {
        attempts++
        const answer = script.shift() ?? { status: 202, body: "{\"status\":\"accepted\"}" }
        if (answer === "reset") {
          req.socket.destroy()
          return
        }
        if (answer.status === 202) {
          const raw = Buffer.concat(chunks)
          const text = req.headers["content-encoding"] === "gzip" ? zlib.gunzipSync(raw).toString() : raw.toString()
          const body = JSON.parse(text) as { events: Array<{ message: string }> }
          received.push({
            key: String(req.headers["idempotency-key"]),
            messages: body.events.map((e) => e.message),
            authorization: String(req.headers["authorization"]),
            events: body.events
          })
        }
        res.writeHead(answer.status, { "content-type": "application/json", ...answer.headers })
        res.end(answer.body ?? "{}")
      })
    })
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as net.AddressInfo).port
      resume(
        Effect.succeed({ url: `http://127.0.0.1:${port}/v1/drain`, script, received, attempts: () => attempts, server })
      )
    })
  }),
  (u) => Effect.sync(() => (u as unknown as { server: http.Server }).server.close())
)

const event = (i: number, transport = "unix"): LogEvent => ({
  timestamp: Date.UTC(2025, 7, 31, 10, 0, i),
  receivedAt: Date.UTC(2025, 7, 31, 10, 0, i),
  level: 6,
  source: "app",
  message: `m${i}`,
  entryType: 1,
  payloadType: "generic",
  projectId: null,
  agentId: null,
  index: "main",
  sourcetype: transport,
  transport,
  metadata: {}
})

const spoolLayer = (options: { quotaBytes?: number; policy?: "backpressure" | "drop_oldest" } = {}) => {
  const dir = tempDir("sluice-spool-")
  const file = path.join(dir, "sluice.db")
  return SqliteEventStore.layerWithSpool({
    commitFile: file,
    searchFile: path.join(dir, "search.db"),
    spool: { quotaBytes: options.quotaBytes ?? 1024 ** 3, policy: options.policy ?? "backpressure" }
  }).pipe(Layer.provide(SqliteEventStore.clientLayer(file)))
}

/** The equation of SPEC §6, in total and per transport. */
const assertEquation = (report: AccountingReport) => {
  const t = report.total
  assert.strictEqual(t.received, t.forwarded + t.buffered + t.dropped + t.deadLettered, JSON.stringify(t))
  for (const [name, a] of Object.entries(report.byTransport)) {
    assert.strictEqual(a.received, a.forwarded + a.buffered + a.dropped + a.deadLettered, name)
  }
}

const fast: ForwardLoop.ForwardLoopOptions = {
  maxEvents: 3,
  idlePoll: "5 millis",
  baseBackoff: "5 millis",
  maxBackoff: "20 millis"
}

/** Runs the loop until the spool is drained (the real clock, bounded). */
const drain = (options = fast) =>
  Effect.gen(function*() {
    const spool = yield* Spool
    for (let i = 0; i < 2000; i++) {
      const report = yield* spool.accounting
      if (report.total.buffered === 0) return report
      yield* ForwardLoop.step(options)
    }
    return yield* Effect.die("the spool did not drain")
  })

describe("forwarding", () => {
  it.scopedLive("a flapping upstream still gets every event, in order, each batch once", () =>
    Effect.gen(function*() {
      const up = yield* upstream
      up.script.push({ status: 500 }, "reset", { status: 503 }, { status: 202 }, { status: 502 }, "reset", {
        status: 429,
        headers: { "retry-after": "0" }
      })
      const store = yield* EventStore
      yield* store.append([event(1), event(2), event(3), event(4)], [])
      yield* store.append([event(5)], [])
      yield* store.append([event(6, "tcp"), event(7, "tcp")], [])
      const report = yield* drain().pipe(
        Effect.provide(HttpForwarder.layer({ url: up.url, token: Redacted.make("t") }))
      )
      assert.deepStrictEqual(up.received.flatMap((r) => r.messages), ["m1", "m2", "m3", "m4", "m5", "m6", "m7"])
      assert.strictEqual(new Set(up.received.map((r) => r.key)).size, up.received.length)
      assert.strictEqual(report.total.forwarded, 7)
      assert.strictEqual(report.byTransport.tcp!.forwarded, 2)
      assertEquation(report)
    }).pipe(Effect.provide(spoolLayer())))

  it.scopedLive("the running loop reads and prepares the next batch ahead: still in order, each batch once", () =>
    Effect.gen(function*() {
      const up = yield* upstream
      up.script.push({ status: 202 }, { status: 500 }, "reset", { status: 202 }, { status: 503 })
      const store = yield* EventStore
      const spool = yield* Spool
      yield* store.append([event(1), event(2), event(3), event(4)], [])
      yield* store.append([event(5)], [])
      yield* store.append([event(6, "tcp"), event(7, "tcp"), event(8, "tcp")], [])
      // Reading ahead never moves the cursor, and crosses commits.
      const first = (yield* spool.next(3))!
      const ahead = (yield* spool.next(3, first))!
      const afterThat = (yield* spool.next(3, ahead))!
      assert.deepStrictEqual([ahead.events.map((e) => e.message), afterThat.events.map((e) => e.message)], [["m4"], [
        "m5"
      ]])
      assert.strictEqual((yield* spool.next(3))!.idempotencyKey, first.idempotencyKey)
      yield* Effect.forkScoped(
        ForwardLoop.run(fast).pipe(Effect.provide(HttpForwarder.layer({ url: up.url, token: Redacted.make("t") })))
      )
      const report = yield* spool.accounting.pipe(
        Effect.filterOrFail((r) => r.total.buffered === 0),
        Effect.retry(Schedule.spaced("10 millis").pipe(Schedule.intersect(Schedule.recurs(1000))))
      )
      const delivered = up.received
      assert.deepStrictEqual(delivered.flatMap((r) => r.messages), ["m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8"])
      assert.strictEqual(new Set(delivered.map((r) => r.key)).size, delivered.length)
      assert.strictEqual(report.total.forwarded, 8)
      assertEquation(report)
    }).pipe(Effect.provide(spoolLayer())))

  it.scopedLive("401 and 403 are retried, never dead-lettered; a rotated token is used at once; edge routing sent", () =>
    Effect.gen(function*() {
      const up = yield* upstream
      up.script.push({ status: 401 }, { status: 403 })
      const store = yield* EventStore
      yield* store.append([{ ...event(1, "file"), index: "web", sourcetype: "nginx" }], [])
      let token = "AGT_old"
      let reads = 0
      const current = Effect.sync(() => {
        // The token is rotated after the first refused attempt.
        if (++reads > 1) token = "AGT_new"
        return Redacted.make(token)
      })
      const report = yield* drain().pipe(
        Effect.provide(HttpForwarder.layer({ url: up.url, token: current, routing: true }))
      )
      assert.strictEqual(up.attempts(), 3)
      assert.strictEqual(report.total.deadLettered, 0)
      assert.strictEqual(report.total.forwarded, 1)
      assert.deepStrictEqual(up.received.map((r) => r.authorization), ["Bearer AGT_new"])
      assert.deepStrictEqual(up.received[0]!.events[0], {
        project_id: "default",
        timestamp: "2025-08-31T10:00:01.000Z",
        level: "notice",
        service: "app",
        message: "m1",
        metadata: {},
        index: "web",
        sourcetype: "nginx",
        transport: "file"
      })
      assertEquation(report)
    }).pipe(Effect.provide(spoolLayer())))

  it.scoped("backs off exponentially and honours Retry-After (TestClock)", () =>
    Effect.gen(function*() {
      const up = yield* upstream
      up.script.push({ status: 500 }, { status: 500 }, { status: 429, headers: { "retry-after": "9" } })
      const times: Array<number> = []
      const recording = Layer.effect(
        Forwarder,
        Effect.gen(function*() {
          const inner = yield* Forwarder
          return Forwarder.of({
            target: inner.target,
            send: (batch: ForwardBatch) =>
              Clock.currentTimeMillis.pipe(Effect.tap((t) => times.push(t)), Effect.zipRight(inner.send(batch)))
          })
        })
      ).pipe(Layer.provide(HttpForwarder.layer({ url: up.url, token: Redacted.make("t") })))
      const batch: ForwardBatch = { seq: 1, offset: 0, events: [event(1)], idempotencyKey: "k" }
      const fiber = yield* ForwardLoop.deliver(batch, {
        ...ForwardLoop.defaultOptions,
        baseBackoff: "1 second",
        maxBackoff: "30 seconds"
      }).pipe(Effect.provide(recording), Effect.fork)
      // Drive the clock in small steps while real I/O happens, until delivered.
      for (let i = 0; i < 600 && fiber.unsafePoll() === null; i++) {
        yield* TestServices.provideLive(Effect.sleep("2 millis"))
        yield* TestClock.adjust("50 millis")
      }
      const outcome = yield* Fiber.join(fiber)
      assert.strictEqual(outcome._tag, "Right")
      assert.strictEqual(times.length, 4)
      const gaps = times.slice(1).map((t, i) => t - times[i]!)
      // Jittered exponential: ~1 s, then ~2 s; after the 429 its 9 s Retry-After outweighs the ~4 s backoff.
      assert.isAtLeast(gaps[0]!, 800)
      assert.isAtMost(gaps[0]!, 1300)
      assert.isAtLeast(gaps[1]!, 1600)
      assert.isAtMost(gaps[1]!, 2500)
      assert.isAtLeast(gaps[2]!, 9000)
      assert.isAtMost(gaps[2]!, 9200)
    }))

  it.scopedLive("a 400 becomes a dead letter with the upstream's answer; replay delivers it once fixed", () =>
    Effect.gen(function*() {
      const up = yield* upstream
      up.script.push({ status: 400, body: "{\"error\":\"validation_error\"}" })
      const store = yield* EventStore
      const spool = yield* Spool
      yield* store.append([event(1), event(2)], [])
      yield* store.append([event(3)], [])
      const forwarder = HttpForwarder.layer({ url: up.url, token: Redacted.make("t") })
      const report = yield* drain().pipe(Effect.provide(forwarder))
      assert.strictEqual(report.total.deadLettered, 2)
      assert.strictEqual(report.total.forwarded, 1)
      assertEquation(report)
      const dead = yield* spool.deadLetters({ offset: 0, limit: 10 })
      assert.strictEqual(dead.total, 1)
      assert.strictEqual(dead.items[0]!.status, 400)
      assert.include(dead.items[0]!.response, "validation_error")
      assert.deepStrictEqual(dead.items[0]!.events.map((e) => e.message), ["m1", "m2"])

      // The upstream is fixed: replay.
      const replayed = yield* ForwardLoop.replayDeadLetters(fast).pipe(Effect.provide(forwarder))
      assert.strictEqual(replayed, 1)
      assert.deepStrictEqual(up.received.flatMap((r) => r.messages).sort(), ["m1", "m2", "m3"])
      const after = yield* spool.accounting
      assert.strictEqual(after.total.deadLettered, 0)
      assert.strictEqual(after.total.forwarded, 3)
      assertEquation(after)
      assert.strictEqual((yield* spool.deadLetters({ offset: 0, limit: 10 })).total, 0)
    }).pipe(Effect.provide(spoolLayer())))

  it.scopedLive("at the quota, drop_oldest drops the oldest unsent events and counts them", () =>
    Effect.gen(function*() {
      const store = yield* EventStore
      const spool = yield* Spool
      for (let i = 0; i < 5; i++) {
        const batch = [event(i * 2), event(i * 2 + 1)]
        yield* spool.admit(300)
        yield* store.append(batch, [])
      }
      const report = yield* spool.accounting
      // Each commit is ~190 bytes: the two oldest commits had to go.
      assert.strictEqual(report.total.dropped, 4)
      assert.strictEqual(report.total.buffered, 6)
      assert.isAtMost(report.spoolBytes, 700)
      assertEquation(report)
      // What is left is the newest, oldest first.
      const next = yield* spool.next(100)
      assert.deepStrictEqual(next!.events.map((e) => e.message), ["m4", "m5"])
    }).pipe(Effect.provide(spoolLayer({ quotaBytes: 700, policy: "drop_oldest" }))))

  it.scopedLive("a batch dropped while in flight, then delivered, counts as forwarded once; the cursor stays", () =>
    Effect.gen(function*() {
      const store = yield* EventStore
      const spool = yield* Spool
      const commit = (i: number) =>
        Effect.zipRight(spool.admit(300), store.append([event(i * 2), event(i * 2 + 1)], []))
      yield* commit(0)
      yield* commit(1)
      // m0 and m1 go upstream; while they are in flight the writer needs room.
      const inFlight = yield* spool.next(100)
      assert.deepStrictEqual(inFlight!.events.map((e) => e.message), ["m0", "m1"])
      for (let i = 2; i < 5; i++) yield* commit(i)
      const dropped = yield* spool.accounting
      assert.strictEqual(dropped.total.dropped, 4)
      assertEquation(dropped)
      // The upstream took them after all: forwarded, no longer dropped.
      yield* spool.ack(inFlight!)
      const after = yield* spool.accounting
      assert.strictEqual(after.total.forwarded, 2)
      assert.strictEqual(after.total.dropped, 2)
      assert.strictEqual(after.total.buffered, 6)
      assertEquation(after)
      // The cursor did not go back to the dropped m2, m3.
      const next = yield* spool.next(100)
      assert.deepStrictEqual(next!.events.map((e) => e.message), ["m4", "m5"])
      // A refused batch dropped in flight becomes a dead letter, once, the same way.
      for (let i = 5; i < 7; i++) yield* commit(i)
      const refused = next!
      for (let i = 7; i < 10; i++) yield* commit(i)
      const before = yield* spool.accounting
      yield* spool.deadLetter(refused, 400, "bad")
      const lettered = yield* spool.accounting
      assert.strictEqual(lettered.total.deadLettered, 2)
      assert.strictEqual(lettered.total.dropped, before.total.dropped - 2)
      assertEquation(lettered)
      assert.strictEqual((yield* spool.deadLetters({ offset: 0, limit: 10 })).total, 1)
    }).pipe(Effect.provide(spoolLayer({ quotaBytes: 700, policy: "drop_oldest" }))))

  it.scoped("at the quota, backpressure holds the writer until the upstream takes events", () =>
    Effect.gen(function*() {
      const up = yield* upstream
      const store = yield* EventStore
      const spool = yield* Spool
      yield* spool.admit(300)
      yield* store.append([event(1), event(2)], [])
      yield* spool.admit(300)
      yield* store.append([event(3), event(4)], [])
      // Over the quota: the writer's admission waits (on the TestClock, so it cannot slip through).
      const blocked = yield* Effect.fork(spool.admit(400))
      yield* TestClock.adjust("1 second")
      assert.isNull(blocked.unsafePoll())
      yield* drain().pipe(Effect.provide(HttpForwarder.layer({ url: up.url, token: Redacted.make("t") })))
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(blocked)
      const report = yield* spool.accounting
      assert.strictEqual(report.total.dropped, 0)
      assertEquation(report)
    }).pipe(Effect.provide(spoolLayer({ quotaBytes: 700, policy: "backpressure" }))))

  it.scoped("a spool at its quota holds the writer, so a durable offer waits until the upstream drains it", () =>
    Effect.gen(function*() {
      const up = yield* upstream
      const ingest = yield* Ingest
      yield* ingest.offer([event(1), event(2)], { durable: true })
      yield* ingest.offer([event(3), event(4)], { durable: true })
      yield* ingest.offer([event(5), event(6)], { durable: true })
      const waiting = yield* Effect.fork(ingest.offer([event(7), event(8)], { durable: true }))
      // Time passes (on the TestClock): the writer stays held at the spool's admission.
      yield* TestClock.adjust("1 second")
      assert.isNull(waiting.unsafePoll(), "the writer must hold the commit while the spool is full")
      assert.strictEqual((yield* (yield* EventStore).progress).committedSeq, 3)
      const report = yield* drain().pipe(
        Effect.provide(HttpForwarder.layer({ url: up.url, token: Redacted.make("t") }))
      )
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(waiting)
      assert.strictEqual(report.total.dropped, 0)
      assert.deepStrictEqual(up.received.flatMap((r) => r.messages).slice(0, 6), ["m1", "m2", "m3", "m4", "m5", "m6"])
    }).pipe(
      Effect.provide(
        Pipeline.layer({ ...Pipeline.defaultOptions, writer: { window: "1 millis", maxBatchEvents: 100 } })
          .pipe(Layer.provideMerge(spoolLayer({ quotaBytes: 700, policy: "backpressure" })))
      )
    ))
})
