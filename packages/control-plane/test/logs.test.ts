/**
 * Logs: search over the real SQLite store (filters, newest first, the
 * stored-event shape, pagination), stats, and the SSE live tail fed by the
 * commit feed (an event offered through `Ingest` after subscribing arrives;
 * filters apply; keep-alive comments; a slow or skipped tail gets a notice).
 */
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import { assert, describe, it } from "@effect/vitest"
import { CommitFeed, type CommittedBatch } from "@sluice/core/CommitFeed"
import { Ingest } from "@sluice/core/Ingest"
import { idsPerCommit } from "@sluice/core/MemoryEventStore"
import * as Chunk from "effect/Chunk"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as LogStream from "../src/LogStream.js"
import * as Tail from "../src/Tail.js"
import {
  adminToken,
  baseUrl,
  call,
  event,
  eventually,
  field,
  openStream,
  serve,
  tempDir,
  userWithRole
} from "./harness.js"

const t = (iso: string) => Date.parse(iso)

const fixtures = [
  event({
    timestamp: t("2025-08-31T10:00:00Z"),
    level: 3,
    source: "db",
    message: "disk almost full on /var",
    projectId: "p1"
  }),
  event({
    timestamp: t("2025-08-31T11:00:00Z"),
    level: 6,
    source: "auth",
    message: "user alice logged in",
    agentId: "a1"
  }),
  event({
    timestamp: t("2025-08-31T12:00:00Z"),
    level: 4,
    source: "auth",
    message: "user bob failed login",
    projectId: "p1"
  }),
  event({
    timestamp: t("2025-08-31T13:00:00Z"),
    level: 8,
    source: "web",
    message: "GET /index.html",
    index: "web",
    transport: "http"
  })
]

const messages = (json: unknown): Array<unknown> => {
  const items = field(json, "items")
  return Array.isArray(items) ? items.map((i) => field(i, "message")) : []
}

describe("logs", () => {
  it.scoped("search: filters, full text, newest first, the stored-event shape, pages", () =>
    Effect.gen(function*() {
      const token = yield* adminToken
      const viewer = yield* userWithRole(token, "viewer")
      const ingest = yield* Ingest
      yield* ingest.offer(fixtures, { durable: true })
      const all = () => call("GET", "/api/v1/logs", { token: viewer.token })
      // The index is built behind the commit: wait for it, bounded.
      assert.isTrue(yield* eventually(Effect.map(all(), (r) => field(r.json, "total") === 4)))
      const reply = yield* all()
      assert.deepStrictEqual(messages(reply.json), [
        "GET /index.html",
        "user bob failed login",
        "user alice logged in",
        "disk almost full on /var"
      ])
      const first = field(reply.json, "items", 0)
      assert.deepStrictEqual(Object.keys(first as object).sort(), [
        "agent_id",
        "entry_type",
        "id",
        "index",
        "level",
        "level_name",
        "message",
        "metadata",
        "payload_type",
        "project_id",
        "received_at",
        "source",
        "sourcetype",
        "timestamp",
        "transport"
      ])
      assert.strictEqual(field(first, "timestamp"), "2025-08-31T13:00:00.000Z")
      assert.strictEqual(field(first, "level_name"), "DEBUG")
      const search = (query: string) =>
        Effect.map(call("GET", `/api/v1/logs?${query}`, { token: viewer.token }), (r) => {
          assert.strictEqual(r.status, 200, r.text)
          return messages(r.json)
        })
      assert.deepStrictEqual(yield* search("level=4"), ["user bob failed login", "disk almost full on /var"])
      assert.deepStrictEqual(yield* search("level=error"), ["user bob failed login", "disk almost full on /var"])
      assert.deepStrictEqual(yield* search("source=auth"), ["user bob failed login", "user alice logged in"])
      assert.deepStrictEqual(yield* search("q=login"), ["user bob failed login"])
      assert.deepStrictEqual(yield* search("q=user%20alice"), ["user alice logged in"])
      assert.deepStrictEqual(yield* search("project_id=p1&level=3"), ["disk almost full on /var"])
      assert.deepStrictEqual(yield* search("agent_id=a1"), ["user alice logged in"])
      assert.deepStrictEqual(yield* search("index=web"), ["GET /index.html"])
      assert.deepStrictEqual(yield* search("from=2025-08-31T10:30:00Z&to=2025-08-31T12:00:00Z"), [
        "user bob failed login",
        "user alice logged in"
      ])
      assert.deepStrictEqual(yield* search("source=nobody"), [])
      const page = yield* call("GET", "/api/v1/logs?page=2&page_size=3", { token: viewer.token })
      assert.deepStrictEqual(messages(page.json), ["disk almost full on /var"])
      assert.strictEqual(field(page.json, "total"), 4)

      const stats = yield* call("GET", "/api/v1/stats?from=2025-08-31T10:30:00Z", { token: viewer.token })
      assert.strictEqual(stats.status, 200, stats.text)
      assert.deepStrictEqual(stats.json, {
        total: 3,
        from: "2025-08-31T10:30:00.000Z",
        to: null,
        by_level: { NOTICE: 1, ERROR: 1, DEBUG: 1 },
        by_source: { auth: 2, web: 1 },
        by_transport: { unix: 2, http: 1 }
      })
    }).pipe(
      Effect.provide(Layer.unwrapScoped(Effect.map(tempDir, (dir) => serve(dir, { sqliteStore: true }))))
    ))

  it.scoped("the live tail receives events offered after subscribing, filtered, with keep-alives", () =>
    Effect.gen(function*() {
      const token = yield* adminToken
      const ingest = yield* Ingest
      const tail = yield* openStream("/api/v1/logs/stream?source=auth&level=4", { authorization: `Bearer ${token}` })
      assert.strictEqual(tail.status, 200)
      assert.strictEqual(tail.headers["content-type"], "text/event-stream")
      assert.isString(tail.headers["x-ratelimit-limit"])
      yield* tail.until((text) => text.includes(": subscribed"))
      yield* ingest.offer([
        event({ source: "auth", level: 6, message: "not severe enough" }),
        event({ source: "web", level: 3, message: "other source" }),
        event({ source: "auth", level: 3, message: "wanted event" })
      ], { durable: true })
      const text = yield* tail.until((text) => text.includes("wanted event"))
      const events = text.split("\n\n").filter((block) => block.includes("event: log"))
      assert.strictEqual(events.length, 1, text)
      const [idLine, kindLine, dataLine] = events[0]!.split("\n")
      const data: unknown = JSON.parse(dataLine!.slice("data: ".length))
      assert.strictEqual(kindLine, "event: log")
      assert.strictEqual(idLine, `id: ${String(field(data, "id"))}`)
      assert.strictEqual(field(data, "message"), "wanted event")
      assert.strictEqual(field(data, "level_name"), "CRITICAL")
      assert.strictEqual(Number(field(data, "id")) % idsPerCommit, 2)
      assert.notInclude(text, "keep-alive")
      yield* TestClock.adjust(Duration.seconds(15))
      const later = yield* tail.until((text) => text.includes(": keep-alive"), 3000)
      assert.include(later, ": keep-alive")
    }).pipe(
      Effect.scoped,
      Effect.provide(Layer.unwrapScoped(Effect.map(tempDir, (dir) => serve(dir))))
    ))

  it.scoped("the live tail takes ?token= (EventSource sends no headers); the subscription ends with the client", () =>
    Effect.gen(function*() {
      const token = yield* adminToken
      const feed = yield* CommitFeed
      const tail = yield* openStream(`/api/v1/logs/stream?token=${token}`, {})
      assert.strictEqual(tail.status, 200)
      yield* tail.until((text) => text.includes(": subscribed"))
      const open = (yield* Metric.value(LogStream.tailsOpen)).value
      assert.isAtLeast(open, 1)
      yield* tail.close
      // The client went away: the stream is interrupted and its subscription closed.
      assert.isTrue(yield* eventually(Effect.map(Metric.value(LogStream.tailsOpen), (g) => g.value === open - 1)))
      // After the client goes, publishing still never waits (sliding) and the server stays up.
      for (let i = 0; i < 5000; i++) {
        yield* PubSub.publish(feed, { seq: i + 1, firstId: (i + 1) * idsPerCommit, events: [event()] })
      }
      assert.strictEqual((yield* call("GET", "/api/v1/auth/me", { token })).status, 200)
      const refused = yield* openStream("/api/v1/logs/stream?token=bad", {})
      assert.strictEqual(refused.status, 401)
    }).pipe(Effect.scoped, Effect.provide(Layer.unwrapScoped(Effect.map(tempDir, (dir) => serve(dir))))))

  it.scoped("a tail that falls behind skips events and says how many", () =>
    Effect.gen(function*() {
      const feed = yield* PubSub.sliding<CommittedBatch>(16)
      const pull = yield* LogStream.events({}, { maxBufferedEvents: 1000, keepAlive: Duration.hours(1) }).pipe(
        Stream.provideService(CommitFeed, feed),
        Stream.toPull
      )
      const first = yield* pull
      assert.deepStrictEqual(Chunk.toArray(first), [": subscribed\n\n"])
      // 10 commits of 500 events while the client reads nothing: the tail keeps at most 1000.
      for (let seq = 1; seq <= 10; seq++) {
        yield* PubSub.publish(feed, {
          seq,
          firstId: seq * idsPerCommit,
          events: Array.from({ length: 500 }, () => event())
        })
        yield* Effect.yieldNow()
      }
      let text = ""
      while (!text.includes(`id: ${10 * idsPerCommit + 499}\n`)) {
        const chunk = yield* pull.pipe(Effect.option)
        if (Option.isNone(chunk)) break
        text += Chunk.toArray(chunk.value).join("")
      }
      const notice = text.split("\n\n").find((block) => block.startsWith("event: notice"))
      assert.isDefined(notice, text.slice(0, 200))
      const data: unknown = JSON.parse(notice!.split("\n")[1]!.slice("data: ".length))
      assert.strictEqual(field(data, "skipped_events"), 4000)
      assert.strictEqual(text.split("event: log").length - 1, 1000)
      // A gap in commit sequences (the feed itself dropped batches) is reported too.
      yield* PubSub.publish(feed, { seq: 14, firstId: 14 * idsPerCommit, events: [event({ message: "after a gap" })] })
      const after = Chunk.toArray(yield* pull).join("")
      assert.include(after, "\"skipped_commits\":3")
      assert.include(after, "after a gap")
    }))

  it.scoped("Tail (sluice tail) follows the stream with filters and prints lines; a bad token fails with the server's message", () =>
    Effect.gen(function*() {
      const token = yield* adminToken
      const ingest = yield* Ingest
      const base = yield* baseUrl
      const first = yield* Tail.lines({ baseUrl: base, token: Redacted.make(token), filters: { q: "tailed" } }).pipe(
        Stream.runHead,
        Effect.provide(FetchHttpClient.layer),
        Effect.fork
      )
      // Offer until the tail (subscribing concurrently) prints one, bounded.
      for (let i = 0; i < 100 && Option.isNone(yield* Fiber.poll(first)); i++) {
        yield* ingest.offer([event({ message: "skipped" }), event({ message: "a tailed line", level: 4 })], {
          durable: true
        })
        yield* Effect.promise(() => new Promise((r) => setTimeout(r, 50)))
      }
      const line = yield* Fiber.join(first)
      assert.deepStrictEqual(line, Option.some("2025-08-31T10:30:00.000Z ERROR     auth-service: a tailed line"))
      const refused = yield* Tail.lines({ baseUrl: base, token: Redacted.make("bad") }).pipe(
        Stream.runHead,
        Effect.provide(FetchHttpClient.layer),
        Effect.flip
      )
      assert.strictEqual(refused.status, 401)
      assert.strictEqual(refused.message, "invalid token")
    }).pipe(Effect.provide(Layer.unwrapScoped(Effect.map(tempDir, (dir) => serve(dir))))))
})
