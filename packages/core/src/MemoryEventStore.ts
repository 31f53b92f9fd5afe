/**
 * An `EventStore` held in memory: the reference implementation of the
 * contract, for tests and for embedding Sluice where nothing must persist.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as EventBatch from "./EventBatch.js"
import { type EventStats, EventStore, idsPerCommit, matches } from "./EventStore.js"
import type { StoredEvent } from "./LogEvent.js"

/** Re-exported for callers of the reference store. */
export { idsPerCommit, matches }

/** Builds the in-memory store. */
export const make = Effect.sync(() => {
  const events: Array<StoredEvent> = []
  const keys = new Map<string, number>()
  let seq = 0
  return EventStore.of({
    append: (batch, idempotencyKeys) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        seq++
        const firstId = seq * idsPerCommit
        EventBatch.events(batch).forEach((e, i) => events.push({ ...e, id: firstId + i }))
        for (const key of idempotencyKeys) keys.set(key, now)
        return { seq, firstId }
      }),
    hasIdempotencyKey: (key) =>
      Clock.currentTimeMillis.pipe(Effect.map((now) => (keys.get(key) ?? -Infinity) > now - 24 * 3600_000)),
    query: (query) =>
      Effect.sync(() => {
        const found = events.filter((e) => matches(query, e))
          .sort((a, b) => b.timestamp - a.timestamp || b.id - a.id)
        return { items: found.slice(query.offset, query.offset + query.limit), total: found.length }
      }),
    stats: (range) =>
      Effect.sync(() => {
        const byLevel: Record<string, number> = {}
        const bySource: Record<string, number> = {}
        const byTransport: Record<string, number> = {}
        let total = 0
        for (const e of events) {
          if (!matches({ from: range.from, to: range.to }, e)) continue
          total++
          byLevel[e.level] = (byLevel[e.level] ?? 0) + 1
          bySource[e.source] = (bySource[e.source] ?? 0) + 1
          byTransport[e.transport] = (byTransport[e.transport] ?? 0) + 1
        }
        return { total, byLevel, bySource, byTransport } satisfies EventStats
      }),
    progress: Effect.sync(() => ({
      committedSeq: seq,
      indexedSeq: seq,
      lagEvents: 0
    })),
    retain: (policy) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const before = events.length
        const kept = events.filter((e) => e.receivedAt >= now - policy.maxAgeMs)
        events.length = 0
        events.push(...kept)
        return { deletedCommits: 0, deletedEvents: before - kept.length }
      }),
    ping: Effect.void
  })
})

/** The in-memory store as a layer. */
export const layer: Layer.Layer<EventStore> = Layer.effect(EventStore, make)
