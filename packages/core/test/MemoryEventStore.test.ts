import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as TestClock from "effect/TestClock"
import * as MemoryEventStore from "../src/MemoryEventStore.js"
import { event } from "./fixtures.js"

const base = event("Payment declined for order 42", {
  timestamp: 1_000,
  level: 4,
  source: "billing",
  agentId: "agent-1",
  projectId: "shop",
  index: "main"
})

describe("matches", () => {
  it("matches everything with no filter", () => {
    expect(MemoryEventStore.matches({}, base)).toBe(true)
  })

  it("filters by time range, inclusive at both ends", () => {
    expect(MemoryEventStore.matches({ from: 1_000, to: 1_000 }, base)).toBe(true)
    expect(MemoryEventStore.matches({ from: 1_001 }, base)).toBe(false)
    expect(MemoryEventStore.matches({ to: 999 }, base)).toBe(false)
  })

  it("filters by level as 'this severe or worse'", () => {
    expect(MemoryEventStore.matches({ level: 4 }, base)).toBe(true)
    expect(MemoryEventStore.matches({ level: 7 }, base)).toBe(true)
    expect(MemoryEventStore.matches({ level: 3 }, base)).toBe(false)
  })

  it("filters by source, agent, project and index exactly", () => {
    expect(MemoryEventStore.matches({ source: "billing" }, base)).toBe(true)
    expect(MemoryEventStore.matches({ source: "bill" }, base)).toBe(false)
    expect(MemoryEventStore.matches({ agentId: "agent-1" }, base)).toBe(true)
    expect(MemoryEventStore.matches({ agentId: "agent-2" }, base)).toBe(false)
    expect(MemoryEventStore.matches({ projectId: "shop" }, base)).toBe(true)
    expect(MemoryEventStore.matches({ projectId: "other" }, base)).toBe(false)
    expect(MemoryEventStore.matches({ index: "main" }, base)).toBe(true)
    expect(MemoryEventStore.matches({ index: "audit" }, base)).toBe(false)
  })

  it("full text: every word must appear, case-insensitively", () => {
    expect(MemoryEventStore.matches({ q: "payment" }, base)).toBe(true)
    expect(MemoryEventStore.matches({ q: "DECLINED order" }, base)).toBe(true)
    expect(MemoryEventStore.matches({ q: "  declined   42 " }, base)).toBe(true)
    expect(MemoryEventStore.matches({ q: "declined refund" }, base)).toBe(false)
    expect(MemoryEventStore.matches({ q: "" }, base)).toBe(true)
  })

  it("combines filters with AND", () => {
    expect(MemoryEventStore.matches({ source: "billing", level: 4, q: "order" }, base)).toBe(true)
    expect(MemoryEventStore.matches({ source: "billing", level: 3, q: "order" }, base)).toBe(false)
  })
})

describe("MemoryEventStore", () => {
  it.effect("append gives each commit a sequence and each event an id in commit order", () =>
    Effect.gen(function*() {
      const store = yield* MemoryEventStore.make
      const r1 = yield* store.append([event("a"), event("b")], [])
      const r2 = yield* store.append([event("c")], [])
      expect(r1).toEqual({ seq: 1, firstId: MemoryEventStore.idsPerCommit })
      expect(r2).toEqual({ seq: 2, firstId: 2 * MemoryEventStore.idsPerCommit })
      const page = yield* store.query({ offset: 0, limit: 10 })
      expect(page.items.map((e) => [e.message, e.id])).toEqual([
        ["c", r2.firstId],
        ["b", r1.firstId + 1],
        ["a", r1.firstId]
      ])
      expect((yield* store.progress).committedSeq).toBe(2)
    }))

  it.effect("query answers newest first, filtered, paged, with the total", () =>
    Effect.gen(function*() {
      const store = yield* MemoryEventStore.make
      yield* store.append(
        [1, 2, 3, 4, 5].map((i) => event(`m${i}`, { timestamp: i * 1000, source: i % 2 === 0 ? "even" : "odd" })),
        []
      )
      const page = yield* store.query({ source: "odd", offset: 1, limit: 1 })
      expect(page.total).toBe(3)
      expect(page.items.map((e) => e.message)).toEqual(["m3"])
      expect((yield* store.query({ offset: 0, limit: 2 })).items.map((e) => e.message)).toEqual(["m5", "m4"])
    }))

  it.effect("stats count by level, source and transport within the range", () =>
    Effect.gen(function*() {
      const store = yield* MemoryEventStore.make
      yield* store.append([
        event("a", { timestamp: 1, level: 4, source: "x", transport: "http" }),
        event("b", { timestamp: 2, level: 4, source: "y", transport: "unix" }),
        event("c", { timestamp: 3, level: 7, source: "x", transport: "unix" })
      ], [])
      expect(yield* store.stats({ from: 2 })).toEqual({
        total: 2,
        byLevel: { 4: 1, 7: 1 },
        bySource: { x: 1, y: 1 },
        byTransport: { unix: 2 }
      })
    }))

  it.effect("remembers idempotency keys for 24 hours", () =>
    Effect.gen(function*() {
      const store = yield* MemoryEventStore.make
      yield* store.append([event("a")], ["key-1"])
      expect(yield* store.hasIdempotencyKey("key-1")).toBe(true)
      expect(yield* store.hasIdempotencyKey("key-2")).toBe(false)
      yield* TestClock.adjust("23 hours")
      expect(yield* store.hasIdempotencyKey("key-1")).toBe(true)
      yield* TestClock.adjust("1 hour")
      expect(yield* store.hasIdempotencyKey("key-1")).toBe(false)
    }))

  it.effect("retention removes events received before the age limit", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(10_000)
      const store = yield* MemoryEventStore.make
      yield* store.append([event("old", { receivedAt: 1_000 }), event("new", { receivedAt: 9_000 })], [])
      const result = yield* store.retain({ maxAgeMs: 5_000, maxBytes: Number.MAX_SAFE_INTEGER })
      expect(result.deletedEvents).toBe(1)
      expect((yield* store.query({ offset: 0, limit: 10 })).items.map((e) => e.message)).toEqual(["new"])
    }))
})
