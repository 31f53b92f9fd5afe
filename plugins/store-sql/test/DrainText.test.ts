/**
 * The forward hot path (DrainText): a drain body written from a commit
 * row's bytes must be byte for byte what decoding it and encoding the events
 * with `toDrainEvent` gives, for any events (quotes, backslashes, braces and
 * brackets inside strings, non-ASCII, lone surrogates, nested metadata,
 * missing project ids) and any slice; text it does not recognise falls back.
 * Then through the spool on a real SQLite file: batches are lazy, `drainBody`
 * matches their events, acking counts per transport, the page cache setting
 * applies.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import { type DrainShape, toDrainEvent } from "@sluice/core/DrainEvent"
import { EventStore } from "@sluice/core/EventStore"
import type { LogEvent } from "@sluice/core/LogEvent"
import { Spool } from "@sluice/core/Spool"
import { SqliteEventStore } from "@sluice/store-sql"
import * as Effect from "effect/Effect"
import * as fc from "effect/FastCheck"
import * as Layer from "effect/Layer"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { drainSlice } from "../src/DrainText.js"
import { encodeBatch } from "../src/EventRow.js"

const tricky = fc.oneof(
  fc.string(),
  fc.string({ unit: "grapheme" }),
  fc.string({ unit: "binary" }),
  fc.constantFrom(
    "\"",
    "\\",
    "\\\"",
    "\"]",
    "}],[",
    "{\"a\":[1,\"]\"]}",
    "\\\\\"",
    "\n\r\t",
    "\u0000",
    "\ud800",
    "é✓🚀"
  )
)
const json = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small" },
    tricky,
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie("value"), { maxLength: 3 }),
    fc.dictionary(tricky, tie("value"), { maxKeys: 3 })
  )
})).value

const logEvent: fc.Arbitrary<LogEvent> = fc.record({
  timestamp: fc.integer({ min: -62_000_000_000_000, max: 250_000_000_000_000 }),
  receivedAt: fc.integer({ min: 0, max: 4_000_000_000_000 }),
  level: fc.integer({ min: 0, max: 9 }),
  source: tricky,
  message: tricky,
  entryType: fc.integer({ min: 1, max: 7 }),
  payloadType: tricky,
  projectId: fc.option(tricky, { nil: null }),
  agentId: fc.option(tricky, { nil: null }),
  index: tricky,
  sourcetype: tricky,
  transport: fc.constantFrom("unix", "tcp", "http", "file", "ed\"ge"),
  metadata: fc.dictionary(tricky, json, { maxKeys: 4 })
})

const shapes: ReadonlyArray<DrainShape> = [
  { defaultProjectId: "default", routing: false },
  { defaultProjectId: "p\"\\x", routing: true }
]

const viaObjects = (events: ReadonlyArray<LogEvent>, shape: DrainShape) =>
  JSON.stringify({ events: events.map((e) => toDrainEvent(e, shape)) })

const text = (body: Uint8Array) => Buffer.from(body).toString("utf8")
const bytes = (s: string) => Buffer.from(s, "utf8")

const counts = (events: ReadonlyArray<LogEvent>) => {
  const m = new Map<string, number>()
  for (const e of events) m.set(e.transport, (m.get(e.transport) ?? 0) + 1)
  return m
}

describe("drainSlice", () => {
  it("says what decoding and toDrainEvent say, for any events and any slice", () => {
    fc.assert(
      fc.property(
        fc.array(logEvent, { minLength: 1, maxLength: 12 }),
        fc.nat(),
        fc.nat(),
        fc.boolean(),
        (events, a, b, routing) => {
          const offset = a % events.length
          const count = b % (events.length - offset + 1)
          const shape = shapes[routing ? 1 : 0]!
          const slice = events.slice(offset, offset + count)
          const cut = drainSlice(bytes(encodeBatch(events)), events.length, offset, count, shape)
          assert.isDefined(cut)
          // Byte for byte: the same JSON, in the same order.
          assert.strictEqual(text(cut!.body), viaObjects(slice, shape))
          assert.deepStrictEqual([...cut!.transports].sort(), [...counts(slice)].sort())
        }
      ),
      { numRuns: 400 }
    )
  })

  it("answers undefined for text encodeBatch does not write (the caller decodes instead)", () => {
    const events = [{
      timestamp: 1,
      receivedAt: 2,
      level: 6,
      source: "s",
      message: "m",
      entryType: 1,
      payloadType: "generic",
      projectId: null,
      agentId: null,
      index: "main",
      sourcetype: "json",
      transport: "unix",
      metadata: {}
    }]
    const row = encodeBatch(events)
    const shape = shapes[0]!
    assert.isDefined(drainSlice(bytes(row), 1, 0, 1, shape))
    for (
      const bad of [
        " " + row, // whitespace
        row.replace("[[", "[ ["),
        row.replace("\"s\"", "\"s"), // unterminated string
        row.replace("[1,", "[\"1\","), // a string where the timestamp is
        row.replace("[1,", "[1.5,"), // a timestamp that is no integer
        row.replace(",{}]", "]"), // a field short
        row.replace(",{}]", ",{},1]"), // a field too many
        row.slice(0, -1), // cut short
        "{}"
      ]
    ) {
      assert.isUndefined(drainSlice(bytes(bad), 1, 0, 1, shape), bad)
    }
    // A slice past the end is refused too.
    assert.isUndefined(drainSlice(bytes(row), 1, 0, 2, shape))
    assert.isUndefined(drainSlice(bytes(row), 1, 1, 1, shape))
  })
})

const tempDir = () => fs.mkdtempSync(path.join(os.tmpdir(), "sluice-drain-text-"))

const spoolLayer = (dir: string) =>
  SqliteEventStore.layerWithSpool({
    commitFile: path.join(dir, "sluice.db"),
    searchFile: path.join(dir, "search.db"),
    searchIndex: false,
    cacheKib: 1024
  }).pipe(Layer.provideMerge(SqliteEventStore.clientLayer(path.join(dir, "sluice.db"))))

describe("the spool's batches", () => {
  it.live("are cut from the commit text, decode their events only when read, and ack per transport", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const [pragma] = yield* sql<{ cache_size: number }>`PRAGMA cache_size`
      assert.strictEqual(pragma!.cache_size, -1024)

      const events = fc.sample(logEvent, { numRuns: 30, seed: 7 })
      const store = yield* EventStore
      yield* store.append(events, [])
      const spool = yield* Spool
      const shape = shapes[1]!

      const first = yield* spool.next(20)
      assert.isDefined(first)
      assert.strictEqual(first!.count, 20)
      assert.strictEqual(text(first!.drainBody!(shape)), viaObjects(events.slice(0, 20), shape))
      // The events, when read, are the stored ones.
      assert.deepStrictEqual(first!.events.map((e) => e.message), events.slice(0, 20).map((e) => e.message))

      // Read ahead: the rest of the commit, without moving the cursor.
      const ahead = yield* spool.next(20, first)
      assert.strictEqual(ahead!.offset, 20)
      assert.strictEqual(ahead!.count, 10)
      assert.strictEqual(text(ahead!.drainBody!(shape)), viaObjects(events.slice(20), shape))

      yield* spool.ack(first!)
      const second = yield* spool.next(20)
      assert.strictEqual(second!.idempotencyKey, ahead!.idempotencyKey)
      // Acked without reading its events: counted from the cut.
      assert.strictEqual(text(second!.drainBody!(shape)), viaObjects(events.slice(20), shape))
      yield* spool.ack(second!)
      assert.isUndefined(yield* spool.next(20))

      const report = yield* spool.accounting
      const expected = counts(events)
      for (const [transport, n] of expected) {
        assert.strictEqual(report.byTransport[transport]!.forwarded, n, transport)
      }
      assert.strictEqual(report.total.forwarded, events.length)
    }).pipe(Effect.provide(spoolLayer(tempDir()))))
})
