/**
 * The SQLite store on real files: commits, every query filter, pagination
 * and order, stats, idempotency keys, retention, and survival of a restart.
 */
import { assert, describe, it } from "@effect/vitest"
import { EventStore } from "@sluice/core/EventStore"
import type { LogEvent } from "@sluice/core/LogEvent"
import { Spool } from "@sluice/core/Spool"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as TestClock from "effect/TestClock"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
// The package build: the indexer runs from its compiled worker file.
import { SqliteEventStore } from "@sluice/store-sql"
import { searchable } from "./searchable.js"

const tempDir = () => fs.mkdtempSync(path.join(os.tmpdir(), "sluice-store-"))

const storeLayer = (dir: string) =>
  SqliteEventStore.layer({ commitFile: path.join(dir, "sluice.db"), searchFile: path.join(dir, "search.db") }).pipe(
    Layer.provide(SqliteEventStore.clientLayer(path.join(dir, "sluice.db")))
  )

const t0 = Date.UTC(2025, 7, 31, 10, 0, 0)

const event = (i: number, overrides: Partial<LogEvent> = {}): LogEvent => ({
  timestamp: t0 + i * 1000,
  receivedAt: t0 + i * 1000 + 5,
  level: (i % 8) + 1,
  source: i % 2 === 0 ? "auth-service" : "billing",
  message: `event number ${i} ${i % 3 === 0 ? "payment declined" : "login ok"}`,
  entryType: 1,
  payloadType: "generic",
  projectId: i % 4 === 0 ? "proj-a" : null,
  agentId: i % 5 === 0 ? "agent-1" : null,
  index: i % 2 === 0 ? "main" : "audit",
  sourcetype: "unix",
  transport: i % 2 === 0 ? "unix" : "http",
  metadata: { seq: String(i), host: "web-1" },
  ...overrides
})

describe("SqliteEventStore", () => {
  it.live("commits batches and finds them with every filter, newest first", () =>
    Effect.gen(function*() {
      const store = yield* EventStore
      const events = Array.from({ length: 40 }, (_, i) => event(i))
      const first = yield* store.append(events.slice(0, 25), [])
      const second = yield* store.append(events.slice(25), [])
      assert.strictEqual(second.seq, first.seq + 1)
      yield* searchable

      const all = yield* store.query({ offset: 0, limit: 100 })
      assert.strictEqual(all.total, 40)
      assert.deepStrictEqual(all.items.map((e) => e.message), events.map((e) => e.message).reverse())
      assert.deepStrictEqual(all.items[39]!.metadata, { seq: "0", host: "web-1" })
      assert.strictEqual(all.items[39]!.id, first.firstId)

      const page2 = yield* store.query({ offset: 10, limit: 10 })
      assert.deepStrictEqual(page2.items.map((e) => e.message), all.items.slice(10, 20).map((e) => e.message))
      assert.strictEqual(page2.total, 40)

      const count = (q: Parameters<typeof store.query>[0]) => store.query(q).pipe(Effect.map((p) => p.total))
      const expected = (f: (e: LogEvent) => boolean) => events.filter(f).length
      assert.strictEqual(yield* count({ offset: 0, limit: 1, from: t0 + 10_000 }), 30)
      assert.strictEqual(yield* count({ offset: 0, limit: 1, to: t0 + 9_000 }), 10)
      assert.strictEqual(yield* count({ offset: 0, limit: 1, level: 3 }), expected((e) => e.level <= 3))
      assert.strictEqual(yield* count({ offset: 0, limit: 1, source: "billing" }), 20)
      assert.strictEqual(yield* count({ offset: 0, limit: 1, agentId: "agent-1" }), 8)
      assert.strictEqual(yield* count({ offset: 0, limit: 1, projectId: "proj-a" }), 10)
      assert.strictEqual(yield* count({ offset: 0, limit: 1, index: "audit" }), 20)
      assert.strictEqual(
        yield* count({ offset: 0, limit: 1, q: "declined" }),
        expected((e) => e.message.includes("declined"))
      )
      assert.strictEqual(yield* count({ offset: 0, limit: 1, q: "PAYMENT Declined" }), 14)
      assert.strictEqual(yield* count({ offset: 0, limit: 1, q: "declined", source: "billing" }), 7)
      assert.strictEqual(yield* count({ offset: 0, limit: 1, q: "nowhere" }), 0)
      // User input with FTS operators is taken literally, never a syntax error.
      assert.strictEqual(yield* count({ offset: 0, limit: 1, q: "\"login AND (ok" }), 0)
    }).pipe(Effect.provide(storeLayer(tempDir()))))

  it.live("counts by level, source and transport", () =>
    Effect.gen(function*() {
      const store = yield* EventStore
      yield* store.append(Array.from({ length: 16 }, (_, i) => event(i)), [])
      yield* searchable
      const stats = yield* store.stats({ from: t0, to: t0 + 7_000 })
      assert.strictEqual(stats.total, 8)
      assert.deepStrictEqual(stats.bySource, { "auth-service": 4, billing: 4 })
      assert.deepStrictEqual(stats.byTransport, { unix: 4, http: 4 })
      assert.strictEqual(Object.keys(stats.byLevel).length, 8)
    }).pipe(Effect.provide(storeLayer(tempDir()))))

  it.effect("keeps idempotency keys for 24 hours", () =>
    Effect.gen(function*() {
      const store = yield* EventStore
      yield* TestClock.setTime(t0)
      yield* store.append([event(1)], ["key-a"])
      assert.isTrue(yield* store.hasIdempotencyKey("key-a"))
      assert.isFalse(yield* store.hasIdempotencyKey("key-b"))
      yield* TestClock.adjust("23 hours")
      assert.isTrue(yield* store.hasIdempotencyKey("key-a"))
      yield* TestClock.adjust("2 hours")
      assert.isFalse(yield* store.hasIdempotencyKey("key-a"))
    }).pipe(Effect.provide(storeLayer(tempDir()))))

  it.live("events survive closing and reopening the store, and the index resumes", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      yield* Effect.gen(function*() {
        const store = yield* EventStore
        for (let i = 0; i < 20; i++) yield* store.append([event(i * 2), event(i * 2 + 1)], [])
      }).pipe(Effect.provide(storeLayer(dir)))
      yield* Effect.gen(function*() {
        const store = yield* EventStore
        yield* searchable
        const page = yield* store.query({ offset: 0, limit: 100 })
        assert.strictEqual(page.total, 40)
        assert.strictEqual(new Set(page.items.map((e) => e.id)).size, 40)
        const next = yield* store.append([event(40)], [])
        assert.strictEqual(next.seq, 21)
        yield* searchable
        assert.strictEqual((yield* store.query({ offset: 0, limit: 1 })).total, 41)
      }).pipe(Effect.provide(storeLayer(dir)))
    }))

  it.live("retention removes commits older than the age limit, and over the size limit", () =>
    Effect.gen(function*() {
      const store = yield* EventStore
      yield* store.append([event(0), event(1)], [])
      yield* store.append([event(2)], [])
      yield* store.append([event(3)], [])
      yield* searchable
      const none = yield* store.retain({ maxAgeMs: 3600_000, maxBytes: 1024 ** 3 })
      assert.deepStrictEqual(none, { deletedCommits: 0, deletedEvents: 0 })

      // Size: keep only what fits in a little more than one commit's bytes.
      const bySize = yield* store.retain({ maxAgeMs: 3600_000, maxBytes: 300 })
      assert.isTrue(bySize.deletedCommits >= 1 && bySize.deletedEvents >= 2 && bySize.deletedEvents < 4)
      yield* Effect.retry(
        store.query({ offset: 0, limit: 10 }).pipe(
          Effect.flatMap((p) => p.total === 4 - bySize.deletedEvents ? Effect.succeed(p) : Effect.fail("not yet"))
        ),
        Schedule.spaced("10 millis").pipe(Schedule.intersect(Schedule.recurs(500)))
      )

      // Age: everything is older than 0 ms.
      const byAge = yield* store.retain({ maxAgeMs: -1, maxBytes: 1024 ** 3 })
      assert.strictEqual(byAge.deletedEvents, 4 - bySize.deletedEvents)
      yield* Effect.retry(
        store.query({ offset: 0, limit: 10, q: "event" }).pipe(
          Effect.flatMap((p) => p.total === 0 ? Effect.void : Effect.fail("not yet"))
        ),
        Schedule.spaced("10 millis").pipe(Schedule.intersect(Schedule.recurs(500)))
      )
    }).pipe(Effect.provide(storeLayer(tempDir()))))

  it.live("a gateway's store has no spool, so nothing it commits counts against a forwarding quota", () =>
    Effect.gen(function*() {
      assert.isTrue(Option.isNone(yield* Effect.serviceOption(Spool)))
    }).pipe(Effect.provide(storeLayer(tempDir()))))

  it.live("the total is exact up to the count limit and stops there", () =>
    Effect.gen(function*() {
      const store = yield* EventStore
      yield* store.append(Array.from({ length: SqliteEventStore.countLimit + 50 }, (_, i) => event(i)), [])
      yield* searchable
      const page = yield* store.query({ offset: 0, limit: 5 })
      assert.strictEqual(page.total, SqliteEventStore.countLimit)
      assert.strictEqual(page.items.length, 5)
      assert.strictEqual((yield* store.query({ offset: 0, limit: 5, source: "billing" })).total, 5025)
      assert.strictEqual((yield* store.query({ offset: 0, limit: 5, q: "declined", index: "audit" })).total, 1675)
    }).pipe(Effect.provide(storeLayer(tempDir()))))
})
