/**
 * SPEC §1 over both transports, row by row: each message and field rule with
 * its exact answer, every limit at its boundary (at the limit passes, one
 * over fails), batch atomicity, how entries are stored, and flush.
 */
import { describe, expect, it, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as TestClock from "effect/TestClock"
import {
  batch,
  connectTo,
  entry,
  eventually,
  exchange,
  flush,
  harness,
  line,
  metadataOfSize,
  ping,
  pong,
  stored,
  StoreGate,
  transports
} from "./harness.js"

const MiB = 1_048_576
const emoji = "😀" // one character, two UTF-16 units, four bytes of UTF-8

const many = (n: number, overrides: Record<string, unknown> = {}) =>
  Array.from({ length: n }, (_, i) => entry({ payload: `entry ${i}`, ...overrides }))

interface Case {
  readonly name: string
  readonly line: string
  /** The exact `error` answered, or a pattern; absent: no answer, and `entries` are stored. */
  readonly error?: string | RegExp
  readonly entries?: number
}

const invalidEntry = (field: string, rule: string) => `Invalid log entry format: ${field}: ${rule}`
const missing = (field: string) => `Invalid log entry format: missing required field '${field}'`
const telemetry = (n: number) =>
  invalidEntry(
    "entryType",
    `${n} is a telemetry entry type, which the agent socket does not accept: send it to the ingestion API (POST /v1/drain)`
  )
const levelRule = (got: string) => `must be an integer from 1 (EMERGENCY) to 8 (DEBUG), got ${got}`
const payloadTypeRule = (got: string) =>
  `must be generic, generic_json, generic_xml, systemd_journal, syslog, metrics, application, container or another [a-z0-9_]{1,64} identifier, got ${got}`
const timestampRule = (got: string) =>
  `must be an RFC 3339 date-time with an offset (e.g. 2025-08-31T10:30:00Z), got ${got}`
const without = (field: string) => {
  const e = entry()
  delete e[field]
  return JSON.stringify(e)
}

const cases: ReadonlyArray<Case> = [
  // Messages
  { name: "one entry (the SPEC example)", line: line(), entries: 1 },
  { name: "a batch of 1", line: batch(many(1)), entries: 1 },
  { name: "a batch of 100 (the limit)", line: batch(many(100)), entries: 100 },
  { name: "a batch without version", line: JSON.stringify({ entries: many(2) }), entries: 2 },
  { name: "a batch of 101", line: batch(many(101)), error: "entries: must hold 1 to 100 entries, got 101" },
  { name: "a batch of 0", line: batch([]), error: "entries: must hold 1 to 100 entries, got 0" },
  {
    name: "a batch whose entries are not an array",
    line: JSON.stringify({ entries: { a: 1 } }),
    error: "entries: must be an array of entries"
  },
  {
    name: "a batch holding a non-object",
    line: batch([entry(), 5 as never]),
    error: "entries[1]: must be a JSON object"
  },
  {
    name: "a batch with a bad field names the entry and field",
    line: batch([...many(3), entry({ logLevel: 9 })]),
    error: `entries[3].logLevel: ${levelRule("9")}`
  },
  {
    name: "a batch entry missing a field",
    line: batch([entry(), { ...entry(), payload: undefined }]),
    error: "entries[1].payload: missing required field 'payload'"
  },
  {
    name: "a batch with telemetry entry type",
    line: batch([entry(), entry({ entryType: 6 })]),
    error: /^entries\[1\]\.entryType: 6 is a telemetry entry type.*ingestion API/
  },
  {
    name: "a batch of the wrong version",
    line: JSON.stringify({ version: "2.0", entries: many(1) }),
    error: "version: must be \"1.0\", got \"2.0\""
  },
  // version
  { name: "version absent defaults to 1.0", line: without("version"), entries: 1 },
  {
    name: "version 2.0",
    line: line({ version: "2.0" }),
    error: invalidEntry("version", "must be \"1.0\", got \"2.0\"")
  },
  { name: "version as a number", line: line({ version: 1 }), error: invalidEntry("version", "must be \"1.0\", got 1") },
  // payload
  { name: "payload missing", line: without("payload"), error: missing("payload") },
  { name: "payload not a string", line: line({ payload: 42 }), error: invalidEntry("payload", "must be a string") },
  { name: "payload empty", line: line({ payload: "" }), entries: 1 },
  { name: "payload of exactly 1 MiB", line: line({ payload: "p".repeat(MiB) }), entries: 1 },
  {
    name: "payload of 1 MiB + 1 byte",
    line: line({ payload: "p".repeat(MiB + 1) }),
    error: invalidEntry("payload", `must be at most ${MiB} bytes of UTF-8, got ${MiB + 1}`)
  },
  { name: "payload of exactly 1 MiB in 2-byte characters", line: line({ payload: "é".repeat(MiB / 2) }), entries: 1 },
  {
    name: "payload of 1 MiB + 1 byte in 2-byte characters",
    line: line({ payload: "é".repeat(MiB / 2) + "p" }),
    error: invalidEntry("payload", `must be at most ${MiB} bytes of UTF-8, got ${MiB + 1}`)
  },
  // entryType
  ...[1, 2, 3, 4, 5].map((n): Case => ({ name: `entryType ${n}`, line: line({ entryType: n }), entries: 1 })),
  { name: "entryType missing", line: without("entryType"), error: missing("entryType") },
  {
    name: "entryType 0",
    line: line({ entryType: 0 }),
    error: invalidEntry("entryType", "must be an integer from 1 to 5, got 0")
  },
  { name: "entryType 6 (telemetry)", line: line({ entryType: 6 }), error: telemetry(6) },
  { name: "entryType 7 (telemetry)", line: line({ entryType: 7 }), error: telemetry(7) },
  {
    name: "entryType 8",
    line: line({ entryType: 8 }),
    error: invalidEntry("entryType", "must be an integer from 1 to 5, got 8")
  },
  {
    name: "entryType 1.5",
    line: line({ entryType: 1.5 }),
    error: invalidEntry("entryType", "must be an integer from 1 to 5, got 1.5")
  },
  {
    name: "entryType as a string",
    line: line({ entryType: "1" }),
    error: invalidEntry("entryType", "must be an integer from 1 to 5")
  },
  // source
  { name: "source missing", line: without("source"), error: missing("source") },
  { name: "source of 1 character", line: line({ source: "a" }), entries: 1 },
  { name: "source of 256 characters", line: line({ source: "s".repeat(256) }), entries: 1 },
  { name: "source of 256 four-byte characters", line: line({ source: emoji.repeat(256) }), entries: 1 },
  {
    name: "source of 257 characters",
    line: line({ source: "s".repeat(257) }),
    error: invalidEntry("source", "must be 1 to 256 characters, got 257")
  },
  {
    name: "source empty",
    line: line({ source: "" }),
    error: invalidEntry("source", "must be 1 to 256 characters, got 0")
  },
  { name: "source not a string", line: line({ source: 7 }), error: invalidEntry("source", "must be a string") },
  // logLevel
  ...[1, 2, 3, 4, 5, 6, 7, 8].map((n): Case => ({ name: `logLevel ${n}`, line: line({ logLevel: n }), entries: 1 })),
  { name: "logLevel missing", line: without("logLevel"), error: missing("logLevel") },
  { name: "logLevel 0", line: line({ logLevel: 0 }), error: invalidEntry("logLevel", levelRule("0")) },
  { name: "logLevel 9", line: line({ logLevel: 9 }), error: invalidEntry("logLevel", levelRule("9")) },
  { name: "logLevel 2.5", line: line({ logLevel: 2.5 }), error: invalidEntry("logLevel", levelRule("2.5")) },
  {
    name: "logLevel as a string",
    line: line({ logLevel: "6" }),
    error: invalidEntry("logLevel", "must be an integer from 1 (EMERGENCY) to 8 (DEBUG)")
  },
  // timestamp
  { name: "timestamp absent", line: without("timestamp"), entries: 1 },
  { name: "timestamp with an offset", line: line({ timestamp: "2025-08-31T12:30:00.250+02:00" }), entries: 1 },
  {
    name: "timestamp without offset",
    line: line({ timestamp: "2025-08-31T10:30:00" }),
    error: invalidEntry("timestamp", timestampRule("\"2025-08-31T10:30:00\""))
  },
  {
    name: "timestamp on a day that does not exist",
    line: line({ timestamp: "2025-02-30T10:30:00Z" }),
    error: invalidEntry("timestamp", timestampRule("\"2025-02-30T10:30:00Z\""))
  },
  {
    name: "timestamp as a word",
    line: line({ timestamp: "yesterday" }),
    error: invalidEntry("timestamp", timestampRule("\"yesterday\""))
  },
  {
    name: "timestamp as a number",
    line: line({ timestamp: 1756636200 }),
    error: invalidEntry("timestamp", "must be an RFC 3339 date-time string")
  },
  // payloadType
  { name: "payloadType absent", line: without("payloadType"), entries: 1 },
  ...["generic", "generic_json", "generic_xml", "systemd_journal", "syslog", "metrics", "application", "container"].map(
    (t): Case => ({ name: `payloadType ${t}`, line: line({ payloadType: t }), entries: 1 })
  ),
  { name: "payloadType of another identifier", line: line({ payloadType: "my_format_2" }), entries: 1 },
  { name: "payloadType of 64 characters", line: line({ payloadType: "t".repeat(64) }), entries: 1 },
  {
    name: "payloadType of 65 characters",
    line: line({ payloadType: "t".repeat(65) }),
    error: invalidEntry("payloadType", payloadTypeRule(`"${"t".repeat(39)}…`))
  },
  {
    name: "payloadType with capitals",
    line: line({ payloadType: "Generic" }),
    error: invalidEntry("payloadType", payloadTypeRule("\"Generic\""))
  },
  {
    name: "payloadType with a dash",
    line: line({ payloadType: "my-format" }),
    error: invalidEntry("payloadType", payloadTypeRule("\"my-format\""))
  },
  {
    name: "payloadType empty",
    line: line({ payloadType: "" }),
    error: invalidEntry("payloadType", payloadTypeRule("\"\""))
  },
  // metadata
  { name: "metadata absent", line: without("metadata"), entries: 1 },
  { name: "metadata empty", line: line({ metadata: {} }), entries: 1 },
  { name: "metadata value of 1024 characters", line: line({ metadata: { k: "m".repeat(1024) } }), entries: 1 },
  {
    name: "metadata value of 1024 four-byte characters",
    line: line({ metadata: { k: emoji.repeat(1024) } }),
    entries: 1
  },
  {
    name: "metadata value of 1025 characters",
    line: line({ metadata: { k: "m".repeat(1025) } }),
    error: invalidEntry("metadata.k", "must be at most 1024 characters, got 1025")
  },
  {
    name: "metadata value not a string",
    line: line({ metadata: { k: 1 } }),
    error: invalidEntry("metadata.k", "must be a string")
  },
  {
    name: "metadata key that is not an identifier",
    line: line({ metadata: { "a b": true } }),
    error: invalidEntry("metadata[\"a b\"]", "must be a string")
  },
  {
    name: "metadata as an array",
    line: line({ metadata: ["v"] }),
    error: invalidEntry("metadata", "must be an object of string values")
  },
  {
    name: "metadata null",
    line: line({ metadata: null }),
    error: invalidEntry("metadata", "must be an object of string values")
  },
  { name: "metadata of exactly 1 MiB as JSON", line: line({ metadata: metadataOfSize(MiB) }), entries: 1 },
  {
    name: "metadata of 1 MiB + 1 byte as JSON",
    line: line({ metadata: metadataOfSize(MiB + 1) }),
    error: invalidEntry("metadata", `must be at most ${MiB} bytes as JSON, got ${MiB + 1}`)
  },
  // not an entry at all
  { name: "invalid JSON", line: "{\"payload\": ", error: /^Invalid JSON: / },
  { name: "plain text", line: "hello world", error: /^Invalid JSON: / },
  { name: "a JSON array", line: "[1,2]", error: "Invalid message: expected a JSON object, got an array" },
  { name: "a JSON string", line: "\"text\"", error: "Invalid message: expected a JSON object, got a string" },
  { name: "JSON null", line: "null", error: "Invalid message: expected a JSON object, got null" },
  // actions
  {
    name: "unknown action",
    line: JSON.stringify({ version: "1.0", action: "reboot" }),
    error: "Unknown action \"reboot\": expected one of authenticate, ping, flush"
  },
  {
    name: "action not a string",
    line: JSON.stringify({ action: 1 }),
    error: "Invalid action: action: must be a string"
  },
  {
    name: "action of the wrong version",
    line: JSON.stringify({ version: "0.9", action: "ping" }),
    error: "Invalid action: version: must be \"1.0\", got \"0.9\""
  },
  {
    name: "authenticate without a secret",
    line: JSON.stringify({ version: "1.0", action: "authenticate" }),
    error: "Invalid authenticate message: missing required field 'shared_secret'"
  }
]

describe.each(transports)("over %s", (transport) => {
  // One listener for all rows (each row on its own connection), so the rows also
  // show that nothing a connection sent disturbs the next.
  layer(harness())("every row of SPEC §1: the answer, and the connection stays open", (it) => {
    for (const c of cases) {
      it.effect(c.name, () =>
        Effect.gen(function*() {
          const before = (yield* stored).length
          const { answers, flushed } = yield* exchange(transport, [c.line])
          const added = (yield* stored).length - before
          if (c.error === undefined) {
            expect(answers).toEqual([])
            expect(flushed).toEqual({ status: "flushed", accepted: c.entries })
            expect(added).toBe(c.entries)
          } else {
            expect(answers).toHaveLength(1)
            const error = (answers[0] as { error: unknown }).error
            if (typeof c.error === "string") expect(error).toBe(c.error)
            else expect(error).toMatch(c.error)
            expect(flushed).toEqual({ status: "flushed", accepted: 0 })
            expect(added).toBe(0)
          }
        }))
    }
  })

  it.scoped("ping answers pong", () =>
    Effect.gen(function*() {
      const client = yield* connectTo(transport)
      yield* client.send(ping, ping)
      expect(yield* client.replies(2)).toEqual([pong, pong])
    }).pipe(Effect.provide(harness())))

  it.scoped("an entry is stored as the LogEvent of its fields, in UTC, stamped with the transport", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(Date.UTC(2026, 0, 2, 3, 4, 5, 6))
      const { flushed } = yield* exchange(transport, [
        line({ timestamp: "2025-08-31T12:30:00.250+02:00", metadata: { a: "1", b: "2" }, payloadType: "syslog" }),
        line({ timestamp: undefined, payloadType: undefined, metadata: undefined, logLevel: 3, entryType: 2 })
      ])
      expect(flushed).toEqual({ status: "flushed", accepted: 2 })
      const events = (yield* stored).map(({ id: _, ...event }) => event)
      const common = {
        receivedAt: Date.UTC(2026, 0, 2, 3, 4, 5, 6),
        source: "auth-service",
        message: "User login successful",
        projectId: null,
        agentId: null,
        index: "main",
        sourcetype: transport,
        transport
      }
      expect(events).toEqual([
        {
          ...common,
          timestamp: Date.UTC(2025, 7, 31, 10, 30, 0, 250),
          level: 6,
          entryType: 1,
          payloadType: "syslog",
          metadata: { a: "1", b: "2" }
        },
        // No timestamp: the receive time, from the Clock. No payloadType: generic.
        {
          ...common,
          timestamp: Date.UTC(2026, 0, 2, 3, 4, 5, 6),
          level: 3,
          entryType: 2,
          payloadType: "generic",
          metadata: {}
        }
      ])
    }).pipe(Effect.provide(harness())))

  it.scoped("an invalid batch keeps nothing; its corrected retry is stored once", () =>
    Effect.gen(function*() {
      const entries = many(5)
      const broken = entries.map((e, i) => i === 3 ? { ...e, logLevel: 0 } : e)
      const first = yield* exchange(transport, [batch(broken)])
      expect(first.answers).toEqual([{ error: `entries[3].logLevel: ${levelRule("0")}` }])
      expect(yield* stored).toEqual([])
      const retry = yield* exchange(transport, [batch(entries)])
      expect(retry.answers).toEqual([])
      expect((yield* stored).map((e) => e.message)).toEqual(entries.map((e) => e.payload))
    }).pipe(Effect.provide(harness())))

  it.scoped("a bad line does not stop the lines after it", () =>
    Effect.gen(function*() {
      const { answers, flushed } = yield* exchange(transport, [
        line({ payload: "one" }),
        "not json",
        line({ payload: "two", logLevel: 0 }),
        batch([entry({ payload: "three" }), entry({ payload: "four" })]),
        JSON.stringify({ action: "nope" }),
        line({ payload: "five" })
      ])
      expect(answers).toHaveLength(3)
      expect(flushed).toEqual({ status: "flushed", accepted: 4 })
      expect((yield* stored).map((e) => e.message)).toEqual(["one", "three", "four", "five"])
    }).pipe(Effect.provide(harness())))

  it.scoped("flush counts every entry accepted on the connection so far", () =>
    Effect.gen(function*() {
      const client = yield* connectTo(transport)
      yield* client.send(line(), batch(many(4)), flush)
      expect(yield* client.reply).toEqual({ status: "flushed", accepted: 5 })
      yield* client.send(line({ logLevel: 0 }), line(), flush)
      expect(yield* client.replies(2)).toEqual([
        { error: invalidEntry("logLevel", levelRule("0")) },
        { status: "flushed", accepted: 6 }
      ])
      // Another connection counts its own.
      const other = yield* connectTo(transport)
      yield* other.send(flush)
      expect(yield* other.reply).toEqual({ status: "flushed", accepted: 0 })
      expect(yield* stored).toHaveLength(6)
    }).pipe(Effect.provide(harness())))

  it.scoped("flush answers only once the entries are committed to the store", () =>
    Effect.gen(function*() {
      const gate = yield* StoreGate
      const client = yield* connectTo(transport)
      yield* client.send(batch(many(3)), flush)
      // Wait until the writer is held in the store's append, then make a
      // round trip on another connection: the flush must still be unanswered.
      yield* eventually(Effect.sync(() => gate.appendsStarted() > 0), "the writer to reach the store")
      const other = yield* connectTo(transport)
      yield* other.send(ping)
      expect(yield* other.reply).toEqual(pong)
      expect(yield* client.unread).toBe(0)
      expect(yield* stored).toEqual([])
      yield* gate.open
      expect(yield* client.reply).toEqual({ status: "flushed", accepted: 3 })
      expect(yield* stored).toHaveLength(3)
    }).pipe(Effect.provide(harness({ gateOpen: false }))))
})
