/**
 * The search plans against a reference: every query's page and total must be
 * exactly what filtering and sorting all events in memory gives — with
 * timestamps out of commit order (a backfill of old events, events from the
 * future, ties), small and large commits, and plan sizes made small so every
 * plan and every batch step runs on a few thousand events.
 */
import { assert, describe, it } from "@effect/vitest"
import { type EventQuery, EventStore, matches } from "@sluice/core/EventStore"
import type { LogEvent } from "@sluice/core/LogEvent"
import { SqliteEventStore } from "@sluice/store-sql"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { searchable } from "./searchable.js"

const tempDir = () => fs.mkdtempSync(path.join(os.tmpdir(), "sluice-search-"))

const storeLayer = (dir: string) =>
  SqliteEventStore.layer({
    commitFile: path.join(dir, "sluice.db"),
    searchFile: path.join(dir, "search.db"),
    search: { candidateLimit: 300, firstBatch: 16, seekEvents: 1000 }
  }).pipe(Layer.provide(SqliteEventStore.clientLayer(path.join(dir, "sluice.db"))))

const t0 = Date.UTC(2026, 0, 1)
// Whole words only, none inside another, so substring matching (the
// reference) and token matching (FTS) agree.
const words = ["alpha", "bravo", "charlie", "delta", "echo"]

/** A small deterministic generator (mulberry32), so a failure reproduces. */
const random = (seed: number) => () => {
  seed = (seed + 0x6D2B79F5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

const makeEvent = (i: number, timestamp: number, rnd: () => number): LogEvent => ({
  timestamp,
  receivedAt: timestamp,
  level: 1 + Math.floor(rnd() * 8),
  source: `svc-${Math.floor(rnd() * 4)}`,
  message: `${words[i % 5]} ${rnd() < 0.2 ? words[(i + 2) % 5] : "xray"} ${rnd() < 0.01 ? "zulu" : "yankee"} n${i}`,
  entryType: 1,
  payloadType: "generic",
  projectId: rnd() < 0.3 ? null : `p${Math.floor(rnd() * 6)}`,
  agentId: rnd() < 0.9 ? null : `a${Math.floor(rnd() * 3)}`,
  index: rnd() < 0.5 ? "main" : "audit",
  sourcetype: "unix",
  transport: "unix",
  metadata: { i }
})

describe("Search", () => {
  it.live("every plan answers exactly what the reference answers", () =>
    Effect.gen(function*() {
      const store = yield* EventStore
      const rnd = random(7)
      const all: Array<{ id: number; event: LogEvent }> = []
      const commit = (events: Array<LogEvent>) =>
        Effect.map(store.append(events, []), (receipt) => {
          events.forEach((event, i) => all.push({ id: receipt.firstId + i, event }))
        })
      let i = 0
      const next = (ts: number) => makeEvent(i++, ts, rnd)
      // Live traffic in time order: small commits, then large ones.
      for (let c = 0; c < 60; c++) yield* commit(Array.from({ length: 1 + (c % 7) }, () => next(t0 + i * 1000)))
      for (let c = 0; c < 3; c++) yield* commit(Array.from({ length: 2500 }, () => next(t0 + i * 1000)))
      // A backfill: new ids, old timestamps (some equal to live ones: ties).
      yield* commit(Array.from({ length: 3000 }, (_, k) => next(t0 + (k % 4000) * 1000)))
      // Clocks from the future in the middle of the stream.
      yield* commit(Array.from({ length: 40 }, () => next(t0 + 10_000_000_000 + Math.floor(rnd() * 1e6))))
      for (let c = 0; c < 2; c++) yield* commit(Array.from({ length: 2000 }, () => next(t0 + i * 1000)))
      yield* searchable

      const reference = (query: EventQuery) => {
        const hits = all.filter((x) => matches(query, x.event))
          .sort((a, b) => b.event.timestamp - a.event.timestamp || b.id - a.id)
        return {
          ids: hits.slice(query.offset, query.offset + query.limit).map((x) => x.id),
          total: Math.min(hits.length, SqliteEventStore.countLimit)
        }
      }
      const span = i * 1000
      const queries: Array<Omit<EventQuery, "offset" | "limit">> = [
        {},
        { q: "alpha" },
        { q: "alpha charlie" },
        { q: "zulu" },
        { q: "nothing-here" },
        { q: "bravo", level: 3 },
        { q: "delta", source: "svc-1", index: "audit" },
        { q: "echo", projectId: "p2" },
        { q: "yankee", projectId: "p1" },
        { q: "alpha", agentId: "a1" },
        { q: "xray", agentId: "a0", level: 5 },
        { q: "charlie", from: t0 + span / 4, to: t0 + span / 2 },
        { q: "yankee", from: t0 + span / 3 },
        { q: "alpha", to: t0 + 500_000 },
        { q: "echo", projectId: "p3", from: t0, to: t0 + span / 2 },
        { projectId: "p4" },
        { agentId: "a2", level: 4 },
        { source: "svc-3", from: t0 + span / 5, to: t0 + span / 2 }
      ]
      for (const filters of queries) {
        for (const [offset, limit] of [[0, 50], [50, 50], [700, 100], [0, 1]] as const) {
          const query = { ...filters, offset, limit }
          const page = yield* store.query(query)
          const expected = reference(query)
          assert.deepStrictEqual(
            { ids: page.items.map((e) => e.id), total: page.total },
            expected,
            `query ${JSON.stringify(query)}`
          )
        }
      }
    }).pipe(Effect.provide(storeLayer(tempDir()))), 60_000)
})
