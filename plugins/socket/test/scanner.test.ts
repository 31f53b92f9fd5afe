/**
 * The byte scanner (`EntryScanner`) against its oracle, the full decoder
 * (`makeDecoder` of `Message.ts`), on the same line:
 * - when the scanner accepts a line, the decoder accepts it with as many
 *   entries, and the scanner wrote, byte for byte, the rows of the decoder's
 *   events (`encodeRow`), joined by commas, after a comma when the writer
 *   already held rows;
 * - when it steps aside (`fallback`), it wrote nothing;
 * - so does a new scanner, and one that has scanned other lines before;
 * - the same bytes inside a larger buffer get the same answer;
 * - the common shape (ASCII strings, known keys, one-digit numbers, JSON
 *   whitespace, any key order) never steps aside.
 * Lines are built from tokens so that the mutations the scanner must notice
 * (repeated, unknown and odd keys, escapes, broken UTF-8, numbers it does not
 * read, limits ± 1, trailing garbage, truncation) are frequent, under the
 * default limits and under small ones whose boundaries random lines reach.
 */
import { describe, expect, it } from "@effect/vitest"
import { ByteWriter } from "@sluice/core/ByteWriter"
import { encodeRow } from "@sluice/core/EventRow"
import type { LogEvent } from "@sluice/core/LogEvent"
import { EntryScanner, fallback } from "@sluice/socket/EntryScanner"
import { type Decoder, defaultEntryLimits, type EntryLimits, makeDecoder } from "@sluice/socket/Message"
import * as fc from "effect/FastCheck"
import {
  arr,
  bytes,
  COMMA,
  controls,
  type Damage,
  damages,
  key,
  mixedBody,
  type Node,
  obj,
  pick,
  plainText,
  raw,
  renderTokens,
  show,
  str,
  utf8,
  whitespace
} from "../../../test/support/JsonTokens.js"

const receivedAt = 1_756_636_200_123
const transport = "unix"

const smallLimits: EntryLimits = {
  maxPayloadBytes: 10,
  maxSourceLength: 5,
  maxMetadataValueLength: 4,
  maxMetadataBytes: 40,
  maxBatchEntries: 3
}

/** The smallest limits that still let a line through (`{}` is 2 bytes of metadata). */
const tinyLimits: EntryLimits = {
  maxPayloadBytes: 0,
  maxSourceLength: 1,
  maxMetadataValueLength: 0,
  maxMetadataBytes: 2,
  maxBatchEntries: 1
}

interface Subject {
  readonly limits: EntryLimits
  readonly scanner: EntryScanner
  readonly decoder: Decoder
}

/** The same limits and decoder with a scanner that has seen nothing yet. */
const fresh = (subject: Subject): Subject => ({ ...subject, scanner: new EntryScanner(transport, subject.limits) })

/** One scanner per limits, reused across runs, as a connection reuses its own. */
const subjectOf = (limits: EntryLimits): Subject => ({
  limits,
  scanner: new EntryScanner(transport, limits),
  decoder: makeDecoder(transport, limits)
})

// --- the contract -------------------------------------------------------------

/** What the decoder makes of the line, as the framer hands it over (one UTF-8 string). */
const decode = (subject: Subject, line: Buffer) => {
  const events: Array<LogEvent> = []
  const message = subject.decoder.decode(line.toString("utf8"), { events, receivedAt })
  return { message, rows: events.map(encodeRow).join(",") }
}

/**
 * Scans `line[start, end)` of `buf` into `writer`, which may hold rows already,
 * and checks the contract against the decoder; answers the count.
 */
const scanInto = (
  subject: Subject,
  writer: ByteWriter,
  buf: Buffer,
  start = 0,
  end = buf.length,
  shown = show(buf.subarray(start, end))
): number => {
  const line = buf.subarray(start, end)
  const before = Buffer.from(writer.buffer.subarray(0, writer.length))
  const count = subject.scanner.scan(buf, start, end, receivedAt, writer)
  if (count === fallback) {
    expect(writer.length, `fallback wrote bytes for ${shown}`).toBe(before.length)
  } else {
    const { message, rows } = decode(subject, line)
    expect(message, `the scanner accepted ${count} entries of ${shown}`).toEqual({ _tag: "Entries", count })
    const expected = Buffer.from(`${before.length > 0 ? "," : ""}${rows}`, "utf8")
    const written = writer.buffer.subarray(before.length, writer.length)
    expect(written.toString("utf8"), `the rows of ${shown}`).toBe(expected.toString("utf8"))
    expect(written.toString("hex"), `the row bytes of ${shown}`).toBe(expected.toString("hex"))
  }
  expect(writer.buffer.subarray(0, before.length).equals(before), `the earlier rows, scanning ${shown}`).toBe(true)
  return count
}

/** Surroundings of a line in the framer's buffer that would complete a line read past its end. */
const surroundings: ReadonlyArray<readonly [Buffer, Buffer]> = [
  [Buffer.from("{\"entries\":[", "latin1"), Buffer.from("}]}\"}", "latin1")],
  [Buffer.from("\xff\"", "latin1"), Buffer.from("\"}]}", "latin1")],
  [Buffer.from("\n", "latin1"), Buffer.from(" 1}", "latin1")]
]

/**
 * The contract on one line, by a scanner that has seen earlier lines and by a
 * new one, alone and inside a larger buffer (where it must answer as alone);
 * answers the count.
 */
const check = (subject: Subject, line: Buffer): number => {
  const shown = show(line)
  const count = scanInto(subject, new ByteWriter(16), line, 0, line.length, shown)
  scanInto(fresh(subject), new ByteWriter(16), line, 0, line.length, `${shown} (a new scanner)`)
  for (const [before, after] of surroundings) {
    const framed = Buffer.concat([before, line, after])
    const where = `${shown} between ${show(before)} and ${show(after)}`
    const inside = scanInto(subject, new ByteWriter(16), framed, before.length, before.length + line.length, where)
    expect(inside, where).toBe(count)
  }
  return count
}

// --- lines as tokens ----------------------------------------------------------

// --- generators ---------------------------------------------------------------

/*
 * The token generators take `odd`, the weight of what breaks a line (0: lines
 * the decoder mostly accepts, 4: mostly broken ones), per area of the line
 * (`tokenLines`), and `unusual`, the weight of what the decoder accepts but
 * the scanner may leave to it (`1.0`, repeated, unknown and escaped keys,
 * array-index keys). Escapes, non-ASCII and broken UTF-8 in values,
 * whitespace, key order and limits ± 1 come at every level.
 */

/** One character each, with its UTF-8 size once decoded (a lone surrogate or a broken byte becomes U+FFFD). */
const units: ReadonlyArray<readonly [body: Buffer, utf8Bytes: number]> = [
  [utf8("a"), 1],
  [utf8("é"), 2],
  [utf8("中"), 3],
  [utf8("😀"), 4],
  [utf8("\\u00e9"), 2],
  [utf8("\\ud83d\\ude00"), 4],
  [utf8("\\ud800"), 3],
  [utf8("\\n"), 1],
  [bytes(0xff), 3]
]

/** Bodies right around a limit of bytes or characters (none for limits too large to build every run). */
const sizedBody = (limit: number, measure: "bytes" | "characters"): fc.Arbitrary<Buffer> =>
  fc.tuple(fc.constantFrom(...units), fc.integer({ min: 0, max: 2 }), fc.integer({ min: -1, max: 1 })).map((
    [[unit, size], pad, delta]
  ) => {
    const n = Math.max(0, Math.floor((limit - pad) / (measure === "bytes" ? size : 1)) + delta)
    return Buffer.concat([utf8("a".repeat(pad)), ...Array.from({ length: n }, () => unit)])
  })

/** String bodies for a field of at most `limit` bytes or characters. */
const body = (limit: number, measure: "bytes" | "characters", odd: number, minLength = 0) =>
  pick<Buffer>(
    [10, plainText(minLength, Math.min(limit + 2, 12)).map(utf8)],
    [4, mixedBody(odd)],
    [
      odd,
      fc.tuple(plainText(0, 3), fc.constantFrom(...controls), plainText(0, 3)).map(([a, c, b]) =>
        Buffer.concat([utf8(a), c, utf8(b)])
      )
    ],
    [limit > 4096 ? 0 : 1, sizedBody(limit, measure)]
  )

/** Values of the wrong kind for any field. */
const weird: fc.Arbitrary<Node> = fc.oneof(
  fc.constantFrom(
    "null",
    "true",
    "false",
    "0",
    "1",
    "-1",
    "1.5",
    "[]",
    "{}",
    "[1]",
    "[\"a\"]",
    "\"\"",
    "\"1\"",
    "{\"a\":\"b\"}",
    "{\"a\":{\"b\":\"c\"}}",
    "1e400",
    "-0"
  ).map(raw),
  fc.jsonValue({ maxDepth: 2 }).map((value) => raw(JSON.stringify(value) ?? "null"))
)

/** A number field of `1`…`max`: mostly a digit, else other spellings of one, else anything. */
const numberNode = (max: number, odd: number, unusual: number): fc.Arbitrary<Node> =>
  pick<Node>(
    [14, fc.integer({ min: 1, max }).map((n) => raw(String(n)))],
    [
      unusual,
      fc.constantFrom("1.0", "1.00", "1e0", "1E0", "1e+0", "10e-1", "0.1e1", "3.0e0", "5.0000000000000001").map(raw)
    ],
    [2 * odd, fc.constantFrom("0", String(max + 1), "9").map(raw)],
    [
      3 * odd,
      fc.constantFrom(
        "0",
        String(max + 1),
        "6",
        "7",
        "9",
        "10",
        "12",
        "-0",
        "-1",
        "01",
        "1.5",
        "1 2",
        "+1",
        "1.",
        ".5",
        "0x1",
        "NaN",
        "Infinity",
        "1-",
        "1\"",
        "\"1\"",
        "\"\\u0031\"",
        "null",
        "true",
        "[1]",
        "{}"
      ).map(raw)
    ],
    [odd, weird]
  )

const isoDate = fc.date({
  min: new Date("0001-01-01T00:00:00.000Z"),
  max: new Date("9999-12-31T23:59:59.999Z"),
  noInvalidDate: true
}).map((d) => d.toISOString())

/** A date-time re-dressed: separator, fraction and offset, valid or not. */
const dressedDate = (valid: boolean) =>
  fc.tuple(
    isoDate,
    fc.constantFrom("T", "t", " ", ...(valid ? [] : ["_", "TT", ""])),
    fc.constantFrom(
      "keep",
      "",
      ".1",
      ".12",
      ".123456",
      ".123456789",
      ".1234567891",
      ".999999",
      ...(valid ? [] : [".", ".1a", ",1"])
    ),
    fc.constantFrom(
      "Z",
      "z",
      "+00:00",
      "-00:00",
      "+05:30",
      "-23:59",
      "+23:00",
      ...(valid ? [] : ["+24:00", "+05:60", "+0530", "+05", "", "UTC", "Z "])
    )
  ).map(([iso, separator, fraction, zone]) =>
    `${iso.slice(0, 10)}${separator}${iso.slice(11, 19)}${fraction === "keep" ? iso.slice(19, 23) : fraction}${zone}`
  )

/** Unusual date-times, leap days and seconds, small years, escapes. */
const edgeDates = [
  "2025-08-31T10:30:00Z",
  "2024-02-29T00:00:00Z",
  "2000-02-29T12:00:00Z",
  "2016-12-31T23:59:60Z",
  "2016-12-31T23:59:60.5+01:00",
  "0050-01-01T00:00:00Z",
  "0000-01-01T00:00:00Z",
  "0099-12-31T23:59:59.999Z",
  "0100-01-01T00:00:00-00:01",
  "1970-01-01T00:00:00Z",
  "1969-12-31T23:59:59.999-00:01",
  "9999-12-31T23:59:59.999999999-23:59",
  "2025-08-31t10:30:00z",
  "2025-08-31 10:30:00+05:30"
]
const badDates = [
  "2023-02-29T00:00:00Z",
  "1900-02-29T12:00:00Z",
  "2016-12-31T23:59:61Z",
  "2025-04-31T00:00:00Z",
  "2025-08-31T24:00:00Z",
  "2025-08-31T23:60:00Z",
  "2025-13-01T00:00:00Z",
  "2025-00-10T00:00:00Z",
  "2025-08-00T00:00:00Z",
  "2025-08-31T10:30:00",
  "2025-08-31",
  "2025-08-31T10:30Z",
  "2025-8-31T10:30:00Z",
  "+2025-08-31T10:30:00Z",
  "99999-01-01T00:00:00Z",
  " 2025-08-31T10:30:00Z",
  "2025-08-31T10:30:00Z ",
  "2025-08-31T10:30:00Ｚ",
  "2025-08-31T10:30:00Z\\n",
  ""
]

/** Date-times that share a start, so that a scanner that remembers the last one must tell them apart. */
const nearDates = [
  "2025-08-31T10:30:00Z",
  "2025-08-31T10:30:00.5Z",
  "2025-08-31T10:30:00+01:00",
  "2025-08-31T10:30:01Z",
  "2025-08-31T10:30:00z",
  `2025-08-31T10:30:00.${"1".repeat(43)}Z`, // 64 characters
  `2025-08-31T10:30:00.${"1".repeat(44)}Z`,
  `2025-08-31T10:30:00.${"1".repeat(60)}Z`
]
const nearBadDates = [
  "2025-08-31T10:30:00Z ",
  "2025-08-31T10:30:00Zx",
  "2025-08-31T10:30:00",
  "2025-08-31T10:30:00Z0",
  "2025-08-31T10:30:00+01:00:00",
  "2025-08-31T10:30:0",
  `2025-08-31T10:30:00.${"1".repeat(43)}Z `,
  `2025-08-31T10:30:00.${"1".repeat(60)}Zx`
]

const timestampNode = (odd: number, unusual: number): fc.Arbitrary<Node> =>
  pick<Node>(
    [6, fc.oneof(isoDate, dressedDate(true)).map((s) => str(utf8(s)))],
    [3, fc.constantFrom(...nearDates).map((s) => str(utf8(s)))],
    [2 * odd, fc.constantFrom(...nearBadDates).map((s) => str(utf8(s)))],
    [2, fc.constantFrom(...edgeDates).map((s) => str(utf8(s)))],
    [unusual, fc.constantFrom("2025-08-31T10:30:00\\u005a", "\\u0032025-08-31T10:30:00Z").map((s) => str(utf8(s)))],
    [3 * odd, fc.oneof(dressedDate(false), fc.constantFrom(...badDates)).map((s) => str(utf8(s)))],
    [2 * odd, fc.constantFrom("", "", "Z", "2025").map((s) => str(utf8(s)))],
    [odd, fc.oneof(weird, fc.constant(raw("1756636200000")))]
  )

const knownPayloadTypes = [
  "generic",
  "generic_json",
  "generic_xml",
  "systemd_journal",
  "syslog",
  "metrics",
  "application",
  "container"
]

const payloadTypeNode = (odd: number, unusual: number): fc.Arbitrary<Node> =>
  pick<Node>(
    [6, fc.constantFrom(...knownPayloadTypes).map((s) => str(utf8(s)))],
    [3, fc.stringMatching(/^[a-z0-9_]{1,64}$/).map((s) => str(utf8(s)))],
    [1, fc.constantFrom("a".repeat(64), "_", "0").map((s) => str(utf8(s)))],
    [unusual, fc.constantFrom("gen\\u0065ric", "\\u0067").map((s) => str(utf8(s)))],
    [
      3 * odd,
      fc.constantFrom(
        "a".repeat(65),
        "Generic",
        "GENERIC",
        "",
        "gen-eric",
        "generic ",
        "génèric",
        "generic\\n",
        "generic\u0000"
      ).map((s) => str(utf8(s)))
    ],
    [odd, weird]
  )

const versionNode = (odd: number, unusual: number): fc.Arbitrary<Node> =>
  pick<Node>(
    [8, fc.constant(raw("\"1.0\""))],
    [unusual, fc.constant(raw("\"1\\u002e0\""))],
    [
      3 * odd,
      fc.constantFrom(
        "\"1.1\"",
        "\"1.00\"",
        "\"1\"",
        "\"2.0\"",
        "1.0",
        "1",
        "\"\"",
        "null",
        "\"1.0 \"",
        "\" 1.0\"",
        "\"1.0\\u0000\""
      ).map(raw)
    ]
  )

/** Metadata keys: a small pool (so keys repeat), and every kind the decoder's object treats apart. */
const metadataKey = (odd: number, unusual: number): fc.Arbitrary<Buffer> =>
  pick<Buffer>(
    [8, fc.constantFrom("k", "a", "b", "host", "env", "", "k k", "K", "x-y", "a.b", "{", "}", ",", ":").map(key)],
    [2, fc.stringMatching(/^[a-z_][a-z0-9_]{0,6}$/).map(key)],
    [
      2 * unusual,
      fc.constantFrom(
        "0",
        "17",
        "01",
        "4294967294",
        "4294967295",
        "-1",
        "1a",
        "1.5",
        "__proto__",
        "constructor",
        "toString",
        "hasOwnProperty",
        "valueOf",
        "é",
        "k\\u0041",
        "\\u006b",
        "\\u005f_proto__",
        "__proto__ ",
        "k\\\"",
        "k\\\\",
        "k\\n"
      ).map(key)
    ],
    [unusual, mixedBody(odd).map(key)]
  )

/**
 * Metadata of `maxMetadataBytes` - 1, + 0 or + 1 bytes of JSON (small limits
 * only): values of one unit up to the value limit, then a last key long
 * enough to make up the size exactly.
 */
const sizedMetadata = (limits: EntryLimits): fc.Arbitrary<Node> =>
  fc.tuple(
    fc.integer({ min: -1, max: 1 }),
    fc.constantFrom("a", "a", "é", "\u0001", "😀"),
    fc.integer({ min: 0, max: 3 })
  ).map(([delta, unit, shortBy]) => {
    const target = limits.maxMetadataBytes + delta
    const size = (m: Record<string, string>) => Buffer.byteLength(JSON.stringify(m), "utf8")
    const metadata: Record<string, string> = {}
    const full = unit.repeat(Math.max(0, limits.maxMetadataValueLength - shortBy))
    let i = 0
    // Full pairs while a full one and a last one with an empty value still fit.
    while (size({ ...metadata, [`k${i}`]: full, [`k${i + 1}`]: "" }) <= target) metadata[`k${i++}`] = full
    const last = `k${i}`
    const rest = target - size({ ...metadata, [last]: "" })
    if (rest >= 0) metadata[last + "x".repeat(rest)] = ""
    return raw(JSON.stringify(metadata))
  })

const fieldNames = [
  "version",
  "payload",
  "entryType",
  "source",
  "logLevel",
  "timestamp",
  "payloadType",
  "metadata"
] as const

/** Where a line may break: each has its own weight of what breaks it. */
const areas = [
  "strings",
  "fields",
  "numbers",
  "version",
  "timestamp",
  "payloadType",
  "metadata",
  "batch",
  "whitespace",
  "damage"
] as const
type Area = (typeof areas)[number]

/**
 * Lines built from tokens, with `odd(area)` the weight of what breaks them
 * there, `unusual` the weight of what the scanner may not read.
 */
const tokenLines = (limits: EntryLimits, odd: (area: Area) => number, unusual: number): fc.Arbitrary<Buffer> => {
  const strings = odd("strings")
  const metadataValue = pick(
    [10, body(limits.maxMetadataValueLength, "characters", strings).map(str)],
    [odd("metadata"), weird]
  )
  const pairs = fc.tuple(metadataKey(strings, unusual + odd("metadata")), metadataValue)
  const fields: Record<(typeof fieldNames)[number], fc.Arbitrary<Node>> = {
    version: versionNode(odd("version"), unusual),
    payload: pick([12, body(limits.maxPayloadBytes, "bytes", strings).map(str)], [odd("fields"), weird]),
    entryType: numberNode(5, odd("numbers"), unusual),
    source: pick(
      [12, body(limits.maxSourceLength, "characters", strings, 1).map(str)],
      [odd("fields"), fc.oneof(weird, fc.constant(raw("\"\"")))]
    ),
    logLevel: numberNode(8, odd("numbers"), unusual),
    timestamp: timestampNode(odd("timestamp"), unusual),
    payloadType: payloadTypeNode(odd("payloadType"), unusual),
    metadata: pick<Node>(
      // Keys repeat in a small pool (the decoder keeps the first place and the last value).
      [10 * (unusual + odd("metadata")), fc.array(pairs, { maxLength: 5 }).map(obj)],
      [10, fc.uniqueArray(pairs, { maxLength: 5, selector: ([k]) => k.toString("hex") }).map(obj)],
      [2, fc.constantFrom(...["{}", "{ }", "{\n}", "{\t\r\n }"].map(raw))],
      [limits.maxMetadataBytes > 200 ? 0 : 3, sizedMetadata(limits)],
      [odd("metadata"), weird]
    )
  }

  /** Any value a field may hold. */
  const anyValue = fc.oneof(...Object.values(fields), weird)

  /** A member to slip in: a known key again (with a value for it), an unknown one, or one that changes the message. */
  const extra = pick<readonly [Buffer, Node]>(
    [
      4,
      fc.tuple(
        fc.constantFrom("extra", "__proto__", "Payload", "payload ", "", "shared_secret", "payload\\u0000").map(key),
        anyValue
      )
    ],
    [
      4,
      fc.oneof(
        ...fieldNames.map((name) => ({
          // Repeated strings: the scanner must not keep the first one's decoding.
          weight: name === "payload" || name === "source" ? 4 : 1,
          arbitrary: fields[name].map((value) => [key(name), value] as const)
        }))
      )
    ],
    [1, fields.payload.map((value) => [key("pay\\u006coad"), value] as const)],
    [odd("batch"), fc.tuple(fc.constantFrom("entries", "action").map(key), anyValue)]
  )

  /** Members to slip into an object, each at a position (taken modulo its size). */
  const extras = pick<ReadonlyArray<readonly [readonly [Buffer, Node], number]>>(
    [12, fc.constant([])],
    [2 * unusual + odd("batch"), fc.array(fc.tuple(extra, fc.nat()), { minLength: 1, maxLength: 2 })]
  )
  const insert = (
    members: ReadonlyArray<readonly [Buffer, Node]>,
    more: ReadonlyArray<readonly [readonly [Buffer, Node], number]>
  ): ReadonlyArray<readonly [Buffer, Node]> => {
    const out = [...members]
    for (const [member, at] of more) out.splice(at % (out.length + 1), 0, member)
    return out
  }

  const order = pick(
    [1, fc.constant([...fieldNames])],
    [2, fc.shuffledSubarray([...fieldNames], { minLength: 8, maxLength: 8 })]
  )
  /** A required field: always there, but once in a while when lines break. */
  const required = (value: fc.Arbitrary<Node>) =>
    odd("fields") === 0 ? value : fc.option(value, { freq: Math.max(2, Math.round(40 / odd("fields"))) })
  const optional = (value: fc.Arbitrary<Node>) => fc.option(value, { freq: 2 })

  const entry: fc.Arbitrary<Node> = fc.record({
    version: optional(fields.version),
    payload: required(fields.payload),
    entryType: required(fields.entryType),
    source: required(fields.source),
    logLevel: required(fields.logLevel),
    timestamp: optional(fields.timestamp),
    payloadType: optional(fields.payloadType),
    metadata: optional(fields.metadata),
    order,
    extras
  }).map((e) => {
    const members: Array<readonly [Buffer, Node]> = []
    for (const name of e.order) {
      const value = e[name]
      if (value !== null) members.push([key(name), value])
    }
    return obj(insert(members, e.extras))
  })

  const max = limits.maxBatchEntries
  const entries = pick<Node>(
    [12, fc.array(entry, { minLength: 1, maxLength: Math.min(max + 1, 4) }).map(arr)],
    [
      2,
      fc.tuple(entry, fc.integer({ min: -1, max: 1 })).map(([e, delta]) =>
        arr(Array.from({ length: Math.max(1, max + delta) }, () => e))
      )
    ],
    [odd("batch"), fc.constant(arr([]))],
    [odd("batch"), weird]
  )

  /** The batch's own version, and members after its entries that change what it is. */
  const batchVersion = versionNode(odd("batch"), unusual)
  const batchExtras = pick<ReadonlyArray<readonly [readonly [Buffer, Node], number]>>(
    [1, extras],
    [
      odd("batch"),
      fc.tuple(
        fc.constantFrom("action", "entries", "version", "extra", "payload").map(key),
        fc.oneof(batchVersion, fc.constant(raw("\"ping\""))),
        fc.nat()
      ).map(([name, value, at]) => [[[name, value] as const, at]])
    ]
  )
  /** A member where the scanner expects only `"version":"1.0"`, after the entries. */
  const last = pick<ReadonlyArray<readonly [Buffer, Node]>>(
    [4, fc.constant([])],
    [
      odd("batch"),
      fc.tuple(
        fc.constantFrom("action", "entries", "version", "extra", "payload", "__proto__").map(key),
        fc.oneof(fc.constant(raw("\"1.0\"")), batchVersion)
      ).map((member) => [member])
    ]
  )
  const batch: fc.Arbitrary<Node> = fc.record({
    entries,
    version: fc.constantFrom("none", "none", "before", "before", "after", "after", "both"),
    first: batchVersion,
    second: batchVersion,
    extras: batchExtras,
    last
  }).map((b) => {
    const members: Array<readonly [Buffer, Node]> = []
    if (b.version === "before" || b.version === "both") members.push([key("version"), b.first])
    members.push([key("entries"), b.entries])
    if (b.version === "after" || b.version === "both") members.push([key("version"), b.second])
    return obj([...insert(members, b.extras), ...b.last])
  })

  const action: fc.Arbitrary<Node> = fc.constantFrom(
    "{\"action\":\"ping\"}",
    "{\"version\":\"1.0\",\"action\":\"flush\"}",
    "{\"action\":\"authenticate\",\"shared_secret\":\"x\"}",
    "{\"action\":null}",
    "{\"action\":\"ping\",\"entries\":[{\"payload\":\"p\",\"entryType\":1,\"source\":\"s\",\"logLevel\":1}]}",
    "{\"entries\":[{\"payload\":\"p\",\"entryType\":1,\"source\":\"s\",\"logLevel\":1}],\"action\":\"ping\"}",
    "{\"payload\":\"p\",\"entryType\":1,\"source\":\"s\",\"logLevel\":1,\"action\":\"ping\"}"
  ).map(raw)

  const structured = pick([6, entry], [4 + 4 * odd("batch"), batch], [odd("batch"), action])

  /** Damage done to a whole line's bytes. */
  const damage = pick<Damage>(...damages(odd("damage")))

  return fc.tuple(structured, whitespace(odd("whitespace")), damage).map(([node, spaces, harm]) =>
    harm(renderTokens(node, spaces))
  )
}

/** JSON objects shaped like entries and batches, from fast-check's own values. */
const entryLike = fc.dictionary(
  fc.constantFrom(...fieldNames, "entries", "action", "x"),
  fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.integer({ min: 0, max: 9 }), fc.string()),
  { maxKeys: 6 }
).map((value) => utf8(JSON.stringify(value)))

/**
 * Every kind of line: from tokens, valid ones, ones broken in one area (so
 * that nothing else masks the break), broken anywhere, and arbitrary bytes
 * and JSON.
 */
const anyLine = (limits: EntryLimits): fc.Arbitrary<Buffer> =>
  pick<Buffer>(
    [4, tokenLines(limits, () => 0, 0)],
    [4, tokenLines(limits, () => 0, 1)],
    ...areas.map((area) => [2, tokenLines(limits, (a) => a === area ? 4 : 0, 0)] as const),
    [4, tokenLines(limits, () => 1, 1)],
    [2, tokenLines(limits, () => 4, 1)],
    [1, fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a))],
    [1, fc.json().map(utf8)],
    [1, fc.jsonValue().map((value) => utf8(JSON.stringify(value) ?? "null"))],
    [1, fc.string({ unit: "binary", maxLength: 40 }).map(utf8)],
    [2, entryLike]
  )

/** The common shape, which the scanner must take itself: plain ASCII, known keys once, digits. */
const cleanGens = (limits: EntryLimits) => {
  const cleanKey = fc.oneof(
    fc.stringMatching(/^[A-Za-z_ .-][A-Za-z0-9_ .-]{0,7}$/).filter((k) => k !== "__proto__"),
    fc.constantFrom("", "k", "host", "env")
  )
  const metadata = fc.uniqueArray(
    fc.tuple(cleanKey, plainText(0, Math.min(limits.maxMetadataValueLength, 8))),
    { selector: ([k]) => k, maxLength: 6 }
  ).map((pairs) => {
    const kept = [...pairs]
    const size = () => kept.reduce((n, [k, v], i) => n + k.length + v.length + 5 + (i > 0 ? 1 : 0), 2)
    while (size() > limits.maxMetadataBytes) kept.pop()
    return kept
  })
  const timestamp = fc.oneof(isoDate, dressedDate(true))
  const entry = fc.record({
    version: fc.constant("1.0"),
    payload: plainText(0, Math.min(limits.maxPayloadBytes, 20)),
    entryType: fc.integer({ min: 1, max: 5 }),
    source: plainText(1, Math.min(limits.maxSourceLength, 12)),
    logLevel: fc.integer({ min: 1, max: 8 }),
    timestamp,
    payloadType: fc.oneof(fc.constantFrom(...knownPayloadTypes), fc.stringMatching(/^[a-z0-9_]{1,64}$/)),
    metadata
  }, { requiredKeys: ["payload", "entryType", "source", "logLevel"] }).chain((e) =>
    fc.shuffledSubarray(Object.entries(e), { minLength: Object.keys(e).length }).map((fields) =>
      obj(fields.map(([name, value]) => [
        key(name),
        Array.isArray(value)
          ? obj(value.map(([k, v]) => [key(k), str(utf8(v))]))
          : typeof value === "number"
          ? raw(String(value))
          : str(utf8(value))
      ]))
    )
  )
  const batch = fc.tuple(
    fc.array(entry, { minLength: 1, maxLength: Math.min(limits.maxBatchEntries, 4) }),
    fc.constantFrom("none", "before", "after")
  ).map(([items, version]) =>
    obj([
      ...(version === "before" ? [[key("version"), raw("\"1.0\"")] as const] : []),
      [key("entries"), arr(items)],
      ...(version === "after" ? [[key("version"), raw("\"1.0\"")] as const] : [])
    ])
  )
  return fc.tuple(fc.oneof(entry, batch), whitespace(0)).map(([node, spaces]) => renderTokens(node, spaces))
}

// --- the properties -----------------------------------------------------------

const settings = [
  { name: "default limits", limits: defaultEntryLimits, numRuns: 6000 },
  { name: "small limits", limits: smallLimits, numRuns: 6000 },
  { name: "tiny limits", limits: tinyLimits, numRuns: 2000 }
] as const

for (const { limits, name, numRuns } of settings) {
  describe(`the scanner agrees with the decoder, ${name}`, () => {
    const subject = subjectOf(limits)
    const adversarial = anyLine(limits)
    const clean = cleanGens(limits)

    it.prop("on adversarial lines: it accepts what the decoder accepts, with its rows, or writes nothing", [
      adversarial
    ], ([line]) => {
      check(subject, line)
    }, { fastCheck: { numRuns } })

    it.prop("never steps aside on the common shape", [clean], ([line]) => {
      expect(decode(subject, line).message._tag, `the decoder on ${show(line)}`).toBe("Entries")
      expect(check(subject, line), `the scanner on ${show(line)}`).not.toBe(fallback)
    }, { fastCheck: { numRuns: Math.round(numRuns / 3) } })

    it.prop("appends after earlier rows with a comma, and keeps them when it steps aside", [
      fc.array(fc.oneof(clean, adversarial), { minLength: 2, maxLength: 4 })
    ], ([lines]) => {
      const writer = new ByteWriter(16)
      const alone: Array<string> = []
      for (const line of lines) {
        scanInto(subject, writer, line)
        const own = new ByteWriter(16)
        if (subject.scanner.scan(line, 0, line.length, receivedAt, own) !== fallback) {
          alone.push(own.take().toString("hex"))
        }
      }
      expect(writer.take().toString("hex")).toBe(alone.join(COMMA.toString("hex")))
    }, { fastCheck: { numRuns: Math.round(numRuns / 5) } })
  })
}

// --- examples -----------------------------------------------------------------

const specEntry =
  "{\"version\":\"1.0\",\"payload\":\"User login failed\",\"entryType\":1,\"source\":\"auth-service\",\"logLevel\":6,\"timestamp\":\"2025-08-31T10:30:00Z\",\"payloadType\":\"generic\",\"metadata\":{\"k\":\"v\"}}"
const minimal = "{\"payload\":\"p\",\"entryType\":2,\"source\":\"s\",\"logLevel\":3}"

describe("the scanner takes the common shape itself", () => {
  const subject = subjectOf(defaultEntryLimits)
  const fast = [
    specEntry,
    minimal,
    `{"entries":[${specEntry},${minimal}]}`,
    `{"version":"1.0","entries":[${specEntry},${minimal},${specEntry}]}`,
    `{"entries":[${minimal}],"version":"1.0"}`,
    ` \t{ "payload" : "a b" ,\r\n "entryType" :5 ,"source":"s" ,\n"logLevel": 8 } \r`,
    `{ "entries" : [ ${minimal} ,\n ${specEntry} ] , "version" : "1.0" }`,
    "{\"logLevel\":1,\"metadata\":{},\"source\":\"src\",\"payloadType\":\"syslog\",\"payload\":\"\",\"entryType\":3}",
    "{\"payload\":\"p\",\"entryType\":1,\"source\":\"s\",\"logLevel\":1,\"metadata\":{ }}",
    "{\"payload\":\"p\",\"entryType\":1,\"source\":\"s\",\"logLevel\":1,\"metadata\":{ \"a b\" : \"{ x , y }\" ,\"c\":\"\"}}",
    "{\"payload\":\"p\",\"entryType\":1,\"source\":\"s\",\"logLevel\":1,\"timestamp\":\"2025-08-31T12:30:00.123456+02:00\"}",
    "{\"payload\":\"caf\\u00e9 \\\"quoted\\\" \\/ é 😀\",\"entryType\":1,\"source\":\"sé\",\"logLevel\":1,\"metadata\":{\"k\":\"\\n\"}}"
  ]
  for (const line of fast) {
    it(`takes ${JSON.stringify(line).slice(1, 70)}`, () => {
      expect(check(subject, utf8(line))).not.toBe(fallback)
    })
  }

  it("writes the SPEC example's row", () => {
    const writer = new ByteWriter(16)
    expect(subject.scanner.scan(utf8(specEntry), 0, utf8(specEntry).length, receivedAt, writer)).toBe(1)
    expect(JSON.parse(writer.take().toString("utf8"))).toEqual([
      Date.UTC(2025, 7, 31, 10, 30),
      receivedAt,
      6,
      "auth-service",
      "User login failed",
      1,
      "generic",
      null,
      null,
      "main",
      transport,
      transport,
      { k: "v" }
    ])
  })

  it("writes the receive time for a missing timestamp and generic for a missing payloadType", () => {
    const writer = new ByteWriter(16)
    expect(subject.scanner.scan(utf8(minimal), 0, minimal.length, receivedAt, writer)).toBe(1)
    expect(JSON.parse(writer.take().toString("utf8"))).toEqual([
      receivedAt,
      receivedAt,
      3,
      "s",
      "p",
      2,
      "generic",
      null,
      null,
      "main",
      transport,
      transport,
      {}
    ])
  })

  it("writes row1,row2 for two lines into one writer", () => {
    const one = new ByteWriter(16)
    const two = new ByteWriter(16)
    const writer = new ByteWriter(16)
    subject.scanner.scan(utf8(specEntry), 0, utf8(specEntry).length, receivedAt, one)
    subject.scanner.scan(utf8(minimal), 0, minimal.length, receivedAt, two)
    expect(scanInto(subject, writer, utf8(specEntry))).toBe(1)
    expect(scanInto(subject, writer, utf8(minimal))).toBe(1)
    expect(writer.take().toString("utf8")).toBe(`${one.take().toString("utf8")},${two.take().toString("utf8")}`)
  })
})

describe("the scanner on edge lines agrees with the decoder", () => {
  const base = "\"payload\":\"p\",\"entryType\":1,\"source\":\"s\",\"logLevel\":1"
  const lines: ReadonlyArray<string | Buffer> = [
    `{${base},"timestamp":""}`,
    `{${base},"timestamp":"Z"}`,
    `{${base},"timestamp":"2025-08-31T10:30:00Z"}`,
    `{${base},"timestamp":"2025-08-31T10:30:00\\u005a"}`,
    `{${base},"timestamp":"2023-02-29T00:00:00Z"}`,
    `{${base},"timestamp":"2016-12-31T23:59:60Z"}`,
    `{${base},"timestamp":"0050-01-01T00:00:00+01:00"}`,
    `{${base},"metadata":{"k":"a","k":"b"}}`,
    `{${base},"metadata":{"k":"a","k":"\\u00e9"}}`,
    `{${base},"metadata":{"__proto__":"x"}}`,
    `{${base},"metadata":{"b":"x","1":"y","01":"z"}}`,
    `{${base},"metadata":{"k":{"a":"b"}}}`,
    `{${base},"metadata":{"k":null}}`,
    `{${base},"metadata":null}`,
    `{${base},"metadata":{"a b":"{ \\"x\\" : 1 }","\\u0041":"\\ud800"}}`,
    `{${base},"payload":"\\u00e9"}`,
    `{"payload":"\\u00e9",${base}}`,
    `{"source":"\\u00e9",${base}}`,
    `{${base},"source":"\\u00e9"}`,
    `{${base},"entryType":2}`,
    `{${base},"entries":[]}`,
    `{${base},"action":"ping"}`,
    `{${base},"version":"1.1"}`,
    `{${base},"payloadType":"Generic"}`,
    `{${base},"payloadType":"${"a".repeat(65)}"}`,
    `{"payload":"p","entryType":1.0,"source":"s","logLevel":1}`,
    `{"payload":"p","entryType":1,"source":"s","logLevel":1e0}`,
    `{"payload":"p","entryType":1,"source":"s","logLevel":-0}`,
    `{"payload":"p","entryType":6,"source":"s","logLevel":1}`,
    `{"payload":"p","entryType":1,"source":"s","logLevel":9}`,
    `{"payload":"p","entryType":"1","source":"s","logLevel":1}`,
    `{"payload":1,"entryType":1,"source":"s","logLevel":1}`,
    `{"payload":"p","entryType":1,"source":"","logLevel":1}`,
    `{"payload":"p","entryType":1,"source":"s","logLevel":1`,
    `{"payload":"p","entryType":1,"source":"s","logLevel":1}}`,
    `{"payload":"p","entryType":1,"source":"s","logLevel":1} x`,
    `{"payload":"a\tb","entryType":1,"source":"s","logLevel":1}`,
    `{"payload":"a\\","entryType":1,"source":"s","logLevel":1}`,
    `{"entries":[{${base}}],"entries":[{${base}}]}`,
    `{"entries":[{${base}}],"version":"1.0","version":"1.0"}`,
    `{"version":"1.0","entries":[{${base}}],"version":"1.1"}`,
    `{"version":"1.1","entries":[{${base}}]}`,
    `{"version":"1.0","payload":"p","entries":[{${base}}]}`,
    `{"entries":[{${base}},]}`,
    `{"entries":[{${base}}],"action":"ping"}`,
    `{"entries":[{${base}}],"action":"1.0"}`,
    `{"entries":[{${base}}],"entries":"1.0"}`,
    `{"entries":[{${base}}],"extra":"1.0"}`,
    `{"version":"1.0","entries":[{${base}}],"action":"1.0"}`,
    `{"entries":{}}`,
    `[{${base}}]`,
    Buffer.concat([utf8(`{${base},"payload":"`), bytes(0xff, 0xc3), utf8(`"}`)]),
    Buffer.concat([
      utf8(`{${base},"payload":"`),
      bytes(0xe2, 0x82),
      utf8(`","metadata":{"k":"`),
      bytes(0xf0),
      utf8(`"}}`)
    ]),
    Buffer.concat([utf8(`{${base},"metadata":{"`), bytes(0xc3), utf8(`":"v"}}`)]),
    Buffer.concat([utf8(`{${base}}`), bytes(0x0c)])
  ]
  /** The line as it stands in `show`, without the quoting around it and with `…` for the common fields. */
  const name = (line: Buffer) => show(line).slice(13, -11).replace(show(utf8(base)).slice(13, -11), "…")
  for (const line of lines) {
    const input = typeof line === "string" ? utf8(line) : line
    it(name(input), () => {
      // A new scanner (nothing cached), then one that has seen the others.
      check(subjectOf(defaultEntryLimits), input)
      check(subjectOf(smallLimits), input)
    })
  }

  it("after a line with a timestamp", () => {
    const subject = subjectOf(defaultEntryLimits)
    for (
      const timestamp of [
        "2025-08-31T10:30:00Z",
        "",
        "2025-08-31T10:30:00Z",
        "2025-08-31T10:30:00Z ",
        "2025-08-31T10:30:00Zx",
        "2025-08-31T10:30:00",
        "2025-08-31T10:30:00Z",
        "x",
        ...nearDates,
        ...nearBadDates
      ]
    ) check(subject, utf8(`{${base},"timestamp":"${timestamp}"}`))
  })

  it.prop("on lines of near timestamps in a row", [
    fc.array(fc.constantFrom(...nearDates, ...nearBadDates, "", "Z", "2025-08-31T10:30:00\\u005a"), {
      minLength: 2,
      maxLength: 8
    })
  ], ([timestamps]) => {
    const subject = subjectOf(defaultEntryLimits)
    for (const timestamp of timestamps) check(subject, utf8(`{${base},"timestamp":"${timestamp}"}`))
  }, { fastCheck: { numRuns: 300 } })

  it("under a metadata limit below 2 bytes, where even {} is too large", () => {
    const subject = subjectOf({ ...defaultEntryLimits, maxMetadataBytes: 1 })
    check(subject, utf8(`{${base},"metadata":{}}`))
    check(subject, utf8(`{${base},"metadata":{ }}`))
  })
})

describe("the scanner at every limit", () => {
  const entry = (fields: Record<string, unknown>) =>
    JSON.stringify({ payload: "p", entryType: 1, source: "s", logLevel: 1, ...fields })
  /** Metadata of exactly `size` bytes of JSON: full values, then a last key that takes up the rest. */
  const metadataOfSize = (size: number, maxValue: number): Record<string, string> => {
    const metadata: Record<string, string> = {}
    let used = 2
    let i = 0
    const name = () => `k${String(i).padStart(4, "0")}`
    const pair = (keyLength: number, valueLength: number) => keyLength + valueLength + 5 + (i > 0 ? 1 : 0)
    while (used + pair(5, maxValue) + pair(5, 0) + 1 <= size) {
      metadata[name()] = "v".repeat(maxValue)
      used += pair(5, maxValue)
      i++
    }
    metadata[name() + "x".repeat(size - used - pair(5, 0))] = ""
    expect(Buffer.byteLength(JSON.stringify(metadata), "utf8")).toBe(size)
    return metadata
  }
  const emoji = "😀"

  /** [line, whether it is within the limits]. */
  const cases = (limits: EntryLimits): ReadonlyArray<readonly [string, boolean]> => [
    [entry({ payload: "p".repeat(limits.maxPayloadBytes) }), true],
    [entry({ payload: "p".repeat(limits.maxPayloadBytes + 1) }), false],
    [entry({ payload: "é".repeat(Math.floor(limits.maxPayloadBytes / 2)) }), true],
    [entry({ payload: "é".repeat(Math.floor(limits.maxPayloadBytes / 2)) + "pp" }), false],
    [entry({ payload: emoji.repeat(Math.floor(limits.maxPayloadBytes / 4)) }), true],
    [entry({ payload: emoji.repeat(Math.floor(limits.maxPayloadBytes / 4)) + "ppppp" }), false],
    [entry({ source: "s".repeat(limits.maxSourceLength) }), true],
    [entry({ source: "s".repeat(limits.maxSourceLength + 1) }), false],
    [entry({ source: emoji.repeat(limits.maxSourceLength) }), true],
    [entry({ source: emoji.repeat(limits.maxSourceLength + 1) }), false],
    [entry({ source: "\ud800".repeat(limits.maxSourceLength) }), true],
    [entry({ source: "\ud800".repeat(limits.maxSourceLength + 1) }), false],
    [entry({ source: "" }), false],
    [entry({ metadata: { k: "m".repeat(limits.maxMetadataValueLength) } }), true],
    [entry({ metadata: { k: "m".repeat(limits.maxMetadataValueLength + 1) } }), false],
    [entry({ metadata: { k: emoji.repeat(limits.maxMetadataValueLength) } }), true],
    [entry({ metadata: { k: emoji.repeat(limits.maxMetadataValueLength + 1) } }), false],
    [entry({ metadata: metadataOfSize(limits.maxMetadataBytes, limits.maxMetadataValueLength) }), true],
    [entry({ metadata: metadataOfSize(limits.maxMetadataBytes + 1, limits.maxMetadataValueLength) }), false],
    [JSON.stringify({ entries: Array.from({ length: limits.maxBatchEntries }, () => JSON.parse(entry({}))) }), true],
    [
      JSON.stringify({ entries: Array.from({ length: limits.maxBatchEntries + 1 }, () => JSON.parse(entry({}))) }),
      false
    ],
    [entry({ payloadType: "t".repeat(64) }), true],
    [entry({ payloadType: "t".repeat(65) }), false]
  ]

  for (const [name, limits] of [["default", defaultEntryLimits], ["small", smallLimits]] as const) {
    it(`${name} limits: at a limit it agrees with the decoder, one over it never accepts`, () => {
      const subject = subjectOf(limits)
      for (const [line, within] of cases(limits)) {
        const input = utf8(line)
        const count = check(subject, input)
        const verdict = decode(subject, input).message._tag
        const shown = `${line.slice(0, 70)}… (${input.length} bytes)`
        expect(verdict, shown).toBe(within ? "Entries" : "Invalid")
        if (!within) expect(count, shown).toBe(fallback)
        // Plain ASCII at the limit is the common shape, which the scanner takes (but for more than its 64 metadata keys).
        const keys = (line.match(/"k\d{4}/g) ?? []).length
        if (within && /^[\x20-\x7e]*$/.test(line) && keys <= 64) expect(count, shown).not.toBe(fallback)
      }
    })
  }
})
