/**
 * Properties over arbitrary input. The oracle is the message Schema alone:
 * - the decoder (fast path + Schema fallback) gives the Schema's verdict on
 *   every line: the same events when valid, the same error when not;
 * - over a real socket, garbage lines interleaved with valid entries never
 *   break the listener: every bad line gets one error, every valid entry
 *   (also after a bad line) is stored, in order.
 */
import { describe, expect, it, layer } from "@effect/vitest"
import type { LogEvent } from "@sluice/core/LogEvent"
import { type Entry, makeDecoder, Schemas } from "@sluice/socket/Message"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as fc from "effect/FastCheck"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { connectTo, flush, harness, metadataOfSize, ping, pong, stored, transports } from "./harness.js"

// --- generators -------------------------------------------------------------

const text = (maxLength: number) => fc.string({ unit: "grapheme", maxLength })

const validEntry = fc.record(
  {
    version: fc.constant("1.0"),
    payload: text(40),
    entryType: fc.integer({ min: 1, max: 5 }),
    source: text(20).filter((s) => s.length > 0),
    logLevel: fc.integer({ min: 1, max: 8 }),
    timestamp: fc.date({ min: new Date(0), max: new Date(4_000_000_000_000), noInvalidDate: true }).map((d) =>
      d.toISOString()
    ),
    payloadType: fc.oneof(
      fc.constantFrom("generic", "generic_json", "syslog", "container"),
      fc.stringMatching(/^[a-z0-9_]{1,64}$/)
    ),
    metadata: fc.dictionary(text(10), text(30), { maxKeys: 4 })
  },
  { requiredKeys: ["payload", "entryType", "source", "logLevel"] }
)

const fields = [
  "version",
  "payload",
  "entryType",
  "source",
  "logLevel",
  "timestamp",
  "payloadType",
  "metadata"
] as const

/** A valid entry with one field replaced by anything, or removed. */
const mutatedEntry = fc.tuple(validEntry, fc.constantFrom(...fields), fc.option(fc.jsonValue(), { nil: undefined }))
  .map(
    ([entry, field, value]) => ({ ...entry, [field]: value })
  )

const anyEntry = fc.oneof(validEntry, mutatedEntry)

const batchLine = fc.record({
  version: fc.constantFrom("1.0", "1.0", "2.0"),
  entries: fc.array(anyEntry, { minLength: 0, maxLength: 4 })
}).map((b) => JSON.stringify(b))

/** Text that is not one line of anything in particular (no newline in it). */
const garbage = fc.oneof(
  fc.string({ unit: "binary", maxLength: 60 }),
  fc.json().filter((json) => !json.includes("\"action\"")),
  fc.constantFrom("{", "}", "[]", "null", "\"\"", "{\"entries\":null}", "\r", "  ")
).map((s) => s.replace(/[\r\n]/g, " "))

const anyLine = fc.oneof(
  { arbitrary: validEntry.map((e) => JSON.stringify(e)), weight: 3 },
  { arbitrary: mutatedEntry.map((e) => JSON.stringify(e)), weight: 3 },
  { arbitrary: batchLine, weight: 2 },
  { arbitrary: garbage, weight: 3 }
)

// --- the oracle: the Schema alone --------------------------------------------

type Verdict = { readonly _tag: "Entries"; readonly entries: ReadonlyArray<Entry> } | { readonly _tag: "Error" }

/** What the Schema makes of a line, as the agent reads it (UTF-8 round trip). */
const oracle = (line: string): Verdict | undefined => {
  const seen = Buffer.from(line, "utf8").toString("utf8")
  if (seen.length === 0) return undefined
  let value: unknown
  try {
    value = JSON.parse(seen)
  } catch {
    return { _tag: "Error" }
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return { _tag: "Error" }
  if ("entries" in value && value.entries !== undefined) {
    const batch = Schema.decodeUnknownEither(Schemas.Batch)(value)
    return Either.isRight(batch) ? { _tag: "Entries", entries: batch.right.entries } : { _tag: "Error" }
  }
  const entry = Schema.decodeUnknownEither(Schemas.Entry)(value)
  return Either.isRight(entry) ? { _tag: "Entries", entries: [entry.right] } : { _tag: "Error" }
}

const toEvent = (entry: Entry, receivedAt: number, transport: string): LogEvent => ({
  timestamp: entry.timestamp ?? receivedAt,
  receivedAt,
  level: entry.logLevel,
  source: entry.source,
  message: entry.payload,
  entryType: entry.entryType,
  payloadType: entry.payloadType ?? "generic",
  projectId: null,
  agentId: null,
  index: "main",
  sourcetype: transport,
  transport,
  metadata: entry.metadata ?? {}
})

describe("the decoder agrees with the Schema", () => {
  const decoder = makeDecoder("unix")

  it.prop("on entries, batches and garbage", [anyLine], ([line]) => {
    const events: Array<LogEvent> = []
    const message = decoder.decode(line, { events, receivedAt: 1234 })
    const verdict = oracle(line)
    if (verdict?._tag === "Entries") {
      expect(message).toEqual({ _tag: "Entries", count: verdict.entries.length })
      expect(events).toEqual(verdict.entries.map((e) => toEvent(e, 1234, "unix")))
    } else {
      expect(message._tag).toBe("Invalid")
      expect(events).toEqual([])
    }
  }, { fastCheck: { numRuns: 2000 } })

  it.prop("and answers with the Schema's own words for an invalid entry", [mutatedEntry], ([entry]) => {
    const line = JSON.stringify(entry)
    const decoded = Schema.decodeUnknownEither(Schemas.Entry)(JSON.parse(line))
    const message = decoder.decode(line, { events: [], receivedAt: 0 })
    if (Either.isRight(decoded)) expect(message._tag).toBe("Entries")
    else {
      const issue = ParseResult.ArrayFormatter.formatErrorSync(decoded.left)[0]!
      expect(message._tag).toBe("Invalid")
      if (message._tag === "Invalid") expect(message.error).toContain(issue.message)
    }
  }, { fastCheck: { numRuns: 1000 } })
})

describe("the decoder agrees with the Schema at every limit", () => {
  const decoder = makeDecoder("tcp")
  const MiB = 1_048_576
  const emoji = "😀"
  const entry = (overrides: Record<string, unknown>) =>
    JSON.stringify({ payload: "p", entryType: 1, source: "s", logLevel: 1, ...overrides })
  const lines = [
    entry({ payload: "p".repeat(MiB) }),
    entry({ payload: "p".repeat(MiB + 1) }),
    entry({ payload: "é".repeat(MiB / 2) }),
    entry({ payload: "é".repeat(MiB / 2) + "p" }),
    entry({ payload: emoji.repeat(MiB / 4) }),
    entry({ payload: emoji.repeat(MiB / 4) + "p" }),
    entry({ source: "s".repeat(256) }),
    entry({ source: "s".repeat(257) }),
    entry({ source: emoji.repeat(256) }),
    entry({ source: emoji.repeat(257) }),
    entry({ source: "" }),
    entry({ payloadType: "t".repeat(64) }),
    entry({ payloadType: "t".repeat(65) }),
    entry({ metadata: { k: "m".repeat(1024) } }),
    entry({ metadata: { k: "m".repeat(1025) } }),
    entry({ metadata: { k: emoji.repeat(1024) } }),
    entry({ metadata: { k: emoji.repeat(1025) } }),
    entry({ metadata: metadataOfSize(MiB) }),
    entry({ metadata: metadataOfSize(MiB + 1) }),
    entry({ metadata: Object.fromEntries(Array.from({ length: 2000 }, (_, i) => [`k${i}`, "\u0001".repeat(100)])) }),
    JSON.stringify({ entries: Array.from({ length: 100 }, () => JSON.parse(entry({}))) }),
    JSON.stringify({ entries: Array.from({ length: 101 }, () => JSON.parse(entry({}))) }),
    ...[0, 1, 5, 6, 7, 8, 1.5].map((n) => entry({ entryType: n })),
    ...[0, 1, 8, 9, 2.5].map((n) => entry({ logLevel: n }))
  ]
  it("for each boundary line", () => {
    for (const line of lines) {
      const verdict = oracle(line)
      const message = decoder.decode(line, { events: [], receivedAt: 0 })
      expect({ line: line.slice(0, 80), tag: message._tag }).toEqual({
        line: line.slice(0, 80),
        tag: verdict?._tag === "Entries" ? "Entries" : "Invalid"
      })
    }
  })
})

layer(harness())("over a real listener", (it) => {
  for (const transport of transports) {
    it.effect.prop(
      `${transport}: garbage never breaks the listener; every bad line is answered, every valid entry stored`,
      [fc.array(anyLine, { minLength: 1, maxLength: 30 })],
      ([lines]) =>
        Effect.gen(function*() {
          const before = (yield* stored).length
          const client = yield* connectTo(transport)
          // A ping after each line ties the answers to their line.
          yield* client.send(...lines.flatMap((line) => [line, ping]), flush)
          const expected: Array<string> = []
          for (const line of lines) {
            const verdict = oracle(line)
            if (verdict?._tag === "Error") {
              const answer = yield* client.reply
              expect(answer).toEqual({ error: expect.any(String) })
            } else if (verdict?._tag === "Entries") {
              for (const entry of verdict.entries) expected.push(entry.payload)
            }
            expect(yield* client.reply).toEqual(pong)
          }
          expect(yield* client.reply).toEqual({ status: "flushed", accepted: expected.length })
          expect((yield* stored).slice(before).map((e) => e.message)).toEqual(expected)
        }).pipe(Effect.scoped),
      { fastCheck: { numRuns: 40 } }
    )
  }
})
