/**
 * The drain's byte scanner (`DrainScanner`) against its oracle, the slow path
 * (`JSON.parse` of the body, then `DrainBatch.decode`), on the same body:
 * - when the scanner accepts a body, the oracle accepts it with as many
 *   events, and the scanner wrote, byte for byte, the rows of the oracle's
 *   events (`encodeRow`), joined by commas, after a comma when the writer
 *   already held bytes;
 * - when it steps aside (`fallback`), it wrote nothing and left the earlier
 *   bytes alone; so whatever the oracle refuses, it steps aside from;
 * - a scanner that has scanned other bodies (its minute cache, its receive
 *   time text) answers as a new one;
 * - the common shape (plain ASCII strings, level words in any case, RFC 3339
 *   timestamps, canonical metadata and unknown values, JSON whitespace, any
 *   key order, 1 to the limit of events) never steps aside.
 * Bodies are built from tokens so that the mutations the scanner must notice
 * (repeated, unknown and odd keys, escapes, broken UTF-8, numbers it does not
 * read, limits ± 1, bad timestamps and levels, trailing garbage, truncation)
 * are frequent, under the default limits and under small ones whose
 * boundaries random bodies reach.
 */
import { describe, expect, it } from "@effect/vitest"
import { ByteWriter } from "@sluice/core/ByteWriter"
import { type TransportCounts, transports } from "@sluice/core/EventBatch"
import { encodeRow } from "@sluice/core/EventRow"
import { levelWords } from "@sluice/core/Level"
import * as Either from "effect/Either"
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
import { type BatchLimits, decode, defaultLimits, maxRoutingLength } from "../src/DrainBatch.js"
import { DrainScanner, fallback, type ScanRouting } from "../src/DrainScanner.js"
import { stamp } from "../src/EdgeRoutes.js"

const receivedAt = 1_764_021_600_123

const smallLimits: BatchLimits = { maxEvents: 3, maxMessageBytes: 10 }
/** The smallest limits that still let a body through: one event, an empty message. */
const tinyLimits: BatchLimits = { maxEvents: 1, maxMessageBytes: 0 }

/** The route a body is scanned for: the drain's, or the edge's for one agent. */
interface Route {
  readonly routing: ScanRouting
  readonly agentId: string | null
}
const drainRoute: Route = { routing: "drain", agentId: null }
const edgeRoute: Route = { routing: "edge", agentId: "agt-7f3a\"é" }

interface Subject {
  readonly limits: BatchLimits
  readonly route: Route
  /** Reused across bodies, as the drain's routes reuse theirs. */
  readonly scanner: DrainScanner
}

const subjectOf = (limits: BatchLimits, route = drainRoute): Subject => ({
  limits,
  route,
  scanner: new DrainScanner(limits, route.routing)
})

// --- the contract -------------------------------------------------------------

type Verdict =
  | {
    readonly _tag: "Accepted"
    readonly count: number
    readonly rows: string
    readonly transports: TransportCounts
  }
  | { readonly _tag: "Refused"; readonly why: string }

/**
 * What the slow path makes of the body: `JSON.parse` of its UTF-8 text, then
 * `DrainBatch.decode`, then on the edge route `EdgeRoutes.stamp`.
 */
const oracle = (limits: BatchLimits, body: Buffer, at: number, route = drainRoute): Verdict => {
  let input: unknown
  try {
    input = JSON.parse(body.toString("utf8"))
  } catch {
    return { _tag: "Refused", why: "not JSON" }
  }
  const decoded = decode(input, limits, at)
  if (Either.isLeft(decoded)) return { _tag: "Refused", why: decoded.left._tag }
  const events = route.routing === "drain"
    ? Either.right(decoded.right)
    : stamp(decoded.right, input, { kind: "agent", id: `agent:${route.agentId}`, agentId: route.agentId ?? undefined })
  return Either.isRight(events)
    ? {
      _tag: "Accepted",
      count: events.right.length,
      rows: events.right.map(encodeRow).join(","),
      transports: transports(events.right)
    }
    : { _tag: "Refused", why: events.left._tag }
}

/** The oracle's verdict, computed once per body. */
const lazyVerdict = (limits: BatchLimits, body: Buffer, at: number, route = drainRoute): () => Verdict => {
  let verdict: Verdict | undefined
  return () => (verdict ??= oracle(limits, body, at, route))
}

/**
 * Scans `body` into `writer`, which may hold bytes already, and checks the
 * contract against the oracle; answers the count.
 */
const scanInto = (
  scanner: DrainScanner,
  writer: ByteWriter,
  body: Buffer,
  at: number,
  verdict: () => Verdict,
  shown: string,
  agentId: string | null = null
): number => {
  const before = Buffer.from(writer.buffer.subarray(0, writer.length))
  const count = scanner.scan(body, at, writer, agentId)
  if (count === fallback) {
    expect(writer.length, `fallback wrote bytes for ${shown}`).toBe(before.length)
  } else {
    expect(count, `the count for ${shown}`).toBeGreaterThanOrEqual(0)
    const v = verdict()
    expect(v, `the scanner accepted ${count} events of ${shown}`).toMatchObject({ _tag: "Accepted", count })
    const rows = v._tag === "Accepted" ? v.rows : ""
    const expected = Buffer.from(`${before.length > 0 ? "," : ""}${rows}`, "utf8")
    const written = writer.buffer.subarray(before.length, writer.length)
    expect(written.toString("utf8"), `the rows of ${shown}`).toBe(expected.toString("utf8"))
    expect(written.toString("hex"), `the row bytes of ${shown}`).toBe(expected.toString("hex"))
    expect(scanner.transports(count), `the transports of ${shown}`).toEqual(v._tag === "Accepted" ? v.transports : [])
  }
  expect(writer.buffer.subarray(0, before.length).equals(before), `the earlier bytes, scanning ${shown}`).toBe(true)
  return count
}

/** A writer that holds an earlier row, in a buffer too small for what follows. */
const prefixedWriter = (): ByteWriter => {
  const writer = new ByteWriter(16)
  writer.ascii("[1,2,3,\"earlier\"]")
  return writer
}

/**
 * The contract on one body, by the scanner that has seen earlier bodies (into
 * an empty writer) and by a new one (into a writer holding an earlier row),
 * which must answer alike; answers the count.
 */
const check = (subject: Subject, body: Buffer, at = receivedAt): number => {
  const shown = show(body)
  const { agentId } = subject.route
  const verdict = lazyVerdict(subject.limits, body, at, subject.route)
  const count = scanInto(subject.scanner, new ByteWriter(16), body, at, verdict, shown, agentId)
  const again = scanInto(
    new DrainScanner(subject.limits, subject.route.routing),
    prefixedWriter(),
    body,
    at,
    verdict,
    `${shown} (a new scanner, after an earlier row)`,
    agentId
  )
  expect(again, `a new scanner on ${shown}`).toBe(count)
  return count
}

// --- bodies as tokens ---------------------------------------------------------

// --- generators ---------------------------------------------------------------

/*
 * The token generators take `odd`, the weight of what breaks a body (0: bodies
 * the oracle mostly accepts, 4: mostly broken ones), per area of the body
 * (`tokenBodies`), and `unusual`, the weight of what the oracle accepts but
 * the scanner may leave to it (repeated fields, escaped keys, unknown values
 * such as `1.0`, an empty batch). Escapes, non-ASCII and broken UTF-8 in
 * values, whitespace, key order and limits ± 1 come at every level.
 */

/** One character each: its body, its UTF-8 size once decoded and its UTF-16 length (broken bytes become U+FFFD). */
const units: ReadonlyArray<readonly [body: Buffer, utf8Bytes: number, utf16Units: number]> = [
  [utf8("a"), 1, 1],
  [utf8("a"), 1, 1],
  [utf8("é"), 2, 1],
  [utf8("中"), 3, 1],
  [utf8("😀"), 4, 2],
  [utf8("\\u00e9"), 2, 1],
  [utf8("\\ud83d\\ude00"), 4, 2],
  [utf8("\\ud800"), 3, 1],
  [utf8("\\n"), 1, 1],
  [bytes(0xff), 3, 1]
]

/** Bodies right around a limit of bytes or characters (UTF-16 units). */
const sizedBody = (limit: number, measure: "bytes" | "characters"): fc.Arbitrary<Buffer> =>
  fc.tuple(fc.constantFrom(...units), fc.integer({ min: 0, max: 2 }), fc.integer({ min: -1, max: 1 })).map((
    [[unit, byteSize, unitSize], pad, delta]
  ) => {
    const size = measure === "bytes" ? byteSize : unitSize
    const n = Math.max(0, Math.floor((limit - pad) / size) + delta)
    return Buffer.concat([utf8("a".repeat(pad)), ...Array.from({ length: n }, () => unit)])
  })

/** String bodies for a field of at most `limit` bytes or characters (limits too large to build every run left out). */
const stringBody = (limit: number, measure: "bytes" | "characters", odd: number, minLength = 0) =>
  pick<Buffer>(
    [10, plainText(minLength, Math.min(limit + 2, 12)).map(utf8)],
    [4, mixedBody(odd)],
    [
      odd,
      fc.tuple(plainText(0, 3), fc.constantFrom(...controls), plainText(0, 3)).map(([a, c, b]) =>
        Buffer.concat([utf8(a), c, utf8(b)])
      )
    ],
    [odd, fc.constant(Buffer.alloc(0))],
    [limit > 4096 ? 0 : 2, sizedBody(limit, measure)]
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
    "\"1\"",
    "{\"a\":\"b\"}",
    "1e400",
    "-0"
  ).map(raw),
  fc.jsonValue({ maxDepth: 2 }).map((value) => raw(JSON.stringify(value) ?? "null"))
)

/** Keys of canonical objects: plain, not starting with a digit, not `__proto__`. */
const cleanKey = fc.oneof(
  fc.stringMatching(/^[A-Za-z_ .$-][A-Za-z0-9_ .$-]{0,7}$/).filter((k) => k !== "__proto__"),
  fc.constantFrom("", "k", "a", "b", "host", "{", "}", ",", ":", "k k")
)

/** Values `JSON.stringify(JSON.parse(…))` writes as they are: plain strings, short integers, literals. */
const canonicalScalar = pick<Node>(
  [4, plainText(0, 6).map(str)],
  [2, fc.integer({ min: -1_000_000, max: 1_000_000 }).map((n) => raw(String(n)))],
  [1, fc.integer({ min: -(2 ** 48), max: 2 ** 48 }).map((n) => raw(String(n)))],
  [1, fc.constantFrom("123456789012345", "-123456789012345", "0", "true", "false", "null").map(raw)]
)

/** Canonical values nested up to `depth` (objects with unique clean keys, arrays). */
const canonicalOf = (depth: number): fc.Arbitrary<Node> => {
  if (depth === 0) return canonicalScalar
  const inner = canonicalOf(depth - 1)
  return pick<Node>(
    [6, canonicalScalar],
    [
      1,
      fc.uniqueArray(fc.tuple(cleanKey, inner), { maxLength: 3, selector: ([k]) => k }).map((pairs) =>
        obj(pairs.map(([k, v]) => [key(k), v]))
      )
    ],
    [1, fc.array(inner, { maxLength: 3 }).map(arr)]
  )
}
const canonical = canonicalOf(2)

/** Valid JSON that parses and prints differently (or that the scanner does not read as canonical). */
const otherValue: fc.Arbitrary<Node> = pick<Node>(
  [
    4,
    fc.constantFrom(
      "1.0",
      "1e2",
      "1E+2",
      "1e-2",
      "-0",
      "0.5",
      "-1.5e-3",
      "1234567890123456",
      "12345678901234567890",
      "-9007199254740993",
      "{\"a\":1,\"a\":2}",
      "{\"1\":1,\"b\":2}",
      "{\"b\":1,\"0\":2}",
      "{\"__proto__\":1}",
      "{\"__proto__\":{\"project_id\":\"x\"}}",
      "{\"\\u0061\":1}",
      "{\"é\":1}",
      "[1.0, {\"a\" : [ 2e0 ] }]",
      "\"\\u00e9\"",
      "\"\\ud800\"",
      "\"é\"",
      `${"[".repeat(40)}${"]".repeat(40)}`,
      `${"{\"a\":".repeat(33)}1${"}".repeat(33)}`
    ).map(raw)
  ],
  [2, mixedBody(0).map(str)]
)

/** Not JSON at all, where a value belongs. */
const brokenValue: fc.Arbitrary<Node> = fc.constantFrom(
  "01",
  "-",
  "1.",
  ".5",
  "+1",
  "NaN",
  "Infinity",
  "tru",
  "nul",
  "True",
  "'a'",
  "[1,]",
  "[,]",
  "{\"a\"}",
  "{\"a\":1,}",
  "{a:1}",
  "1e",
  "--1",
  "0x10",
  "1-2",
  "\"abc",
  "",
  "[",
  "{",
  "\"\\x\""
).map(raw)

/** The value of an unknown key: canonical mostly, then valid but not canonical, then broken. */
const unknownValue = (odd: number, unusual: number): fc.Arbitrary<Node> =>
  pick<Node>([8, canonical], [4 * unusual, otherValue], [odd, brokenValue], [odd, weird])

/** A level word in any ASCII case. */
const casedLevel = fc.tuple(
  fc.constantFrom(...levelWords),
  fc.array(fc.boolean(), { minLength: 9, maxLength: 9 })
).map(([word, upper]) => [...word].map((c, i) => upper[i] ? c.toUpperCase() : c).join(""))

const levelNode = (odd: number, unusual: number): fc.Arbitrary<Node> =>
  pick<Node>(
    [12, casedLevel.map(str)],
    [unusual, fc.constantFrom("inf\\u006f", "\\u0069nfo", "\\u0045RROR").map(str)],
    [
      3 * odd,
      fc.constantFrom(
        "infoo",
        "Info ",
        " info",
        "inf",
        "in fo",
        "constructor",
        "__proto__",
        "toString",
        "hasOwnProperty",
        "valueOf",
        "",
        "i",
        "warning2",
        "7",
        "INFO\\u0000",
        "info\\n",
        "ınfo",
        "İNFO",
        "ＩＮＦＯ",
        "informational",
        "warnings",
        "errors",
        "debu",
        "emergenc"
      ).map(str)
    ],
    [odd, fc.oneof(weird, fc.constant(raw("7")))]
  )

const isoDate = (min: string) =>
  fc.date({ min: new Date(min), max: new Date("9999-12-31T23:59:59.999Z"), noInvalidDate: true }).map((d) =>
    d.toISOString()
  )

/** An offset `±HH:MM` in range, or `Z`. */
const cleanZone = fc.oneof(
  fc.constantFrom("Z", "+00:00", "-00:00", "+05:30", "-23:59", "+23:59"),
  fc.tuple(fc.constantFrom("+", "-"), fc.integer({ min: 0, max: 23 }), fc.integer({ min: 0, max: 59 })).map((
    [sign, h, m]
  ) => `${sign}${String(h).padStart(2, "0")}:${String(m).padStart(2, "0")}`)
)
/** A fraction of 1 to 9 digits, or none. */
const cleanFraction = fc.oneof(
  fc.constant(""),
  fc.stringMatching(/^[0-9]{1,9}$/).map((digits) => `.${digits}`)
)
/** `YYYY-MM-DDTHH:MM:SS[.f{1,9}](Z|±HH:MM)`, years from 100: the shape the scanner must read itself. */
const cleanTimestamp = fc.tuple(isoDate("0100-01-01T00:00:00.000Z"), cleanFraction, cleanZone).map((
  [iso, fraction, zone]
) => `${iso.slice(0, 19)}${fraction}${zone}`)

/** A date-time re-dressed: separator, fraction and offset, valid or not. */
const dressedDate = (valid: boolean) =>
  fc.tuple(
    isoDate("0001-01-01T00:00:00.000Z"),
    fc.constantFrom("T", "t", " ", ...(valid ? [] : ["_", "TT", ""])),
    fc.constantFrom(
      "keep",
      "",
      ".1",
      ".12",
      ".123456",
      ".123456789",
      ".1234567891",
      ...(valid ? [] : [".", ".1a", ",1"])
    ),
    fc.constantFrom(
      "Z",
      "z",
      "+00:00",
      "-00:00",
      "+05:30",
      "-23:59",
      "",
      "+0530",
      "+05",
      ...(valid ? [] : ["+24:00", "+05:60", "+5:30", "UTC", "Z "])
    )
  ).map(([iso, separator, fraction, zone]) =>
    `${iso.slice(0, 10)}${separator}${iso.slice(11, 19)}${fraction === "keep" ? iso.slice(19, 23) : fraction}${zone}`
  )

/** Unusual date-times, all three drain formats, leap days and seconds, small years. */
const edgeDates = [
  "2025-01-01T00:00:00Z",
  "2024-02-29T00:00:00Z",
  "2000-02-29T12:00:00Z",
  "2016-12-31T23:59:60Z",
  "2016-12-31T23:59:60.5+01:00",
  "0050-01-01T00:00:00Z",
  "0000-01-01T00:00:00Z",
  "0099-12-31T23:59:59.999Z",
  "0100-01-01T00:00:00-00:01",
  "1970-01-01T00:00:00Z",
  "1970-01-01T00:00:00-00:00",
  "1969-12-31T23:59:59.999-00:01",
  "9999-12-31T23:59:59.999999999-23:59",
  "2025-08-31t10:30:00z",
  "2025-08-31 10:30:00+05:30",
  "2025-01-01T12:00:00",
  "2025-01-01T12:00",
  "2025-01-01T12:00:00.5",
  "2025-01-01 12:00:00",
  "2025-01-01 12:00:00.123456",
  "2025-01-01T12:00:00+0530",
  "2025-01-01T12:00:00+05",
  "2025-01-01T12:00+05:30",
  "2025-01-01T12:00:00.1234567891Z"
]
const badDates = [
  "2025-02-30T00:00:00Z",
  "2023-02-29T00:00:00Z",
  "1900-02-29T12:00:00Z",
  "2025-13-01T00:00:00Z",
  "2025-00-10T00:00:00Z",
  "2025-04-31T00:00:00Z",
  "2025-01-00T00:00:00Z",
  "2025-01-01T24:00:00Z",
  "2025-01-01T23:60:00Z",
  "2025-01-01T00:00:60Z",
  "2025-01-01T00:00:61Z",
  "2025-01-01T00:00:00+24:00",
  "2025-01-01T00:00:00+05:60",
  "2025-01-01T00:00:00.Z",
  "2025-01-01",
  "2025-01-01T",
  "2025-01-01T10Z",
  "2025-1-01T10:30:00Z",
  "+2025-01-01T10:30:00Z",
  "99999-01-01T00:00:00Z",
  " 2025-01-01T10:30:00Z",
  "2025-01-01T10:30:00Z ",
  "2025-01-01T10:30:00Ｚ",
  "2025-01-01 12:00:00Z0",
  "2025-01-01 12:00:00+0530",
  "12:00:00",
  "1764021600123",
  "Z",
  ""
]

/** Date-times that share a minute, so that a scanner that remembers the last one must tell them apart. */
const nearDates = [
  "2025-08-31T10:30:00Z",
  "2025-08-31T10:30:00.5Z",
  "2025-08-31T10:30:00+01:00",
  "2025-08-31T10:30:59.999999999-23:59",
  "2025-08-31T10:30:01Z",
  "2025-08-31T10:30:00z",
  "2025-08-31t10:30:00Z",
  "2025-08-31 10:30:00Z",
  "2025-08-31T10:31:00Z",
  "2025-08-31T10:30:00",
  "2025-08-31 10:30:00.123456",
  "2025-08-31T10:30:60Z",
  `2025-08-31T10:30:00.${"1".repeat(20)}Z`, // 40 characters
  `2025-08-31T10:30:00.${"1".repeat(21)}Z`
]
const nearBadDates = [
  "2025-08-31T10:30:00Z ",
  "2025-08-31T10:30:00Zx",
  "2025-08-31T10:30:00Z0",
  "2025-08-31T10:30:00+01:00:00",
  "2025-08-31T10:30:0",
  "2025-08-31T10:30:0xZ",
  "2025-08-31T10:30:61Z",
  "2025-08-31T10:30:00+24:00",
  "2025-08-31T10:30:00.1234567891Zx",
  "2025-08-31T10:3",
  "2025-08-31T10:30"
]

const timestampNode = (odd: number, unusual: number): fc.Arbitrary<Node> =>
  pick<Node>(
    [6, cleanTimestamp.map(str)],
    [3, dressedDate(true).map(str)],
    [3, fc.constantFrom(...nearDates).map(str)],
    [2, fc.constantFrom(...edgeDates).map(str)],
    [unusual, fc.constantFrom("2025-08-31T10:30:00\\u005a", "\\u0032025-08-31T10:30:00Z").map(str)],
    [2 * odd, fc.constantFrom(...nearBadDates).map(str)],
    [3 * odd, fc.oneof(dressedDate(false), fc.constantFrom(...badDates)).map(str)],
    [odd, fc.oneof(weird, fc.constant(raw("1764021600123")))]
  )

/** Metadata keys: a small pool (so keys repeat), and every kind the scanner treats apart. */
const metadataKey = (odd: number, unusual: number): fc.Arbitrary<Buffer> =>
  pick<Buffer>(
    [8, fc.constantFrom("k", "a", "b", "host", "seq", "", "k k", "K", "x-y", "a.b", "{", "}", ",", ":").map(key)],
    [2, cleanKey.map(key)],
    [
      2 * unusual,
      fc.constantFrom(
        "0",
        "17",
        "01",
        "4294967295",
        "-1",
        "1a",
        "__proto__",
        "constructor",
        "toString",
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

const eventFields = ["project_id", "timestamp", "level", "service", "message", "metadata"] as const
/** The edge's extension fields (unknown keys to the drain). */
const routingFields = ["index", "sourcetype", "transport"] as const

/** Routing values the scanner must take: plain, 1 to 64 characters, from a small pool so that transports repeat. */
const cleanRouting = pick<string>(
  [4, fc.constantFrom("main", "edge", "unix", "tcp", "file", "nginx")],
  [2, plainText(1, 12)],
  [1, fc.constantFrom("t".repeat(maxRoutingLength), "{", " ")]
)

/** Values of a routing field: clean ones, strings around the length limit and with escapes, other kinds. */
const routingValue = (odd: number): fc.Arbitrary<Node> =>
  pick<Node>(
    [8, cleanRouting.map(str)],
    [3, stringBody(maxRoutingLength, "characters", odd, 1).map(str)],
    [1, fc.constantFrom(0, maxRoutingLength + 1).map((n) => str("t".repeat(n)))],
    [1, fc.constantFrom("edg\\u0065", "\\u0065dge", "é").map(str)],
    [odd + 1, weird]
  )
type EventField = (typeof eventFields)[number]

/** Where a body may break: each has its own weight of what breaks it. */
const areas = [
  "strings",
  "fields",
  "level",
  "timestamp",
  "metadata",
  "unknown",
  "batch",
  "whitespace",
  "damage"
] as const
type Area = (typeof areas)[number]

/**
 * Bodies built from tokens, with `odd(area)` the weight of what breaks them
 * there, `unusual` the weight of what the scanner may leave to the oracle.
 */
const tokenBodies = (limits: BatchLimits, odd: (area: Area) => number, unusual: number): fc.Arbitrary<Buffer> => {
  const strings = odd("strings")
  const metadataValue = pick<Node>(
    [10, canonical],
    [3, stringBody(8, "characters", strings).map(str)],
    [2 * unusual + odd("metadata"), otherValue],
    [odd("metadata"), brokenValue]
  )
  const pairs = fc.tuple(metadataKey(strings, unusual + odd("metadata")), metadataValue)
  const name = pick<Node>(
    [12, stringBody(256, "characters", strings, 1).map(str)],
    [1, fc.constantFrom("p".repeat(256), "p".repeat(257), "p".repeat(255)).map(str)],
    [odd("fields"), fc.oneof(weird, fc.constant(str("")))]
  )
  const fields: Record<EventField, fc.Arbitrary<Node>> = {
    project_id: name,
    service: name,
    message: pick([12, stringBody(limits.maxMessageBytes, "bytes", strings).map(str)], [odd("fields"), weird]),
    level: levelNode(odd("level"), unusual),
    timestamp: timestampNode(odd("timestamp"), unusual),
    metadata: pick<Node>(
      // Keys repeat in a small pool (the oracle keeps the first place and the last value).
      [10 * (unusual + odd("metadata")), fc.array(pairs, { maxLength: 5 }).map(obj)],
      [10, fc.uniqueArray(pairs, { maxLength: 5, selector: ([k]) => k.toString("hex") }).map(obj)],
      [2, fc.constantFrom(...["{}", "{ }", "{\n}", "{\t\r\n }"].map(raw))],
      [2 * odd("metadata"), fc.constantFrom("null", "[]", "[{}]", "\"{}\"", "1", "true", "\"\"").map(raw)],
      [odd("metadata"), weird]
    )
  }

  /** Any value a field may hold. */
  const anyValue = fc.oneof(...Object.values(fields), weird)

  /** A member to slip in: a known key again, an unknown one, a known one spelt otherwise. */
  const extra = pick<readonly [Buffer, Node]>(
    [
      4,
      fc.tuple(
        fc.constantFrom("extra", "x", "__proto__", "0", "1a", "", "Project_id", "message ", "events", "metadata2")
          .map(key),
        unknownValue(odd("unknown"), unusual)
      )
    ],
    [3, fc.tuple(fc.constantFrom(...routingFields, "Index", "transport ").map(key), routingValue(odd("fields")))],
    [unusual, fc.tuple(fc.constantFrom("ind\\u0065x", "transp\\u006frt").map(key), cleanRouting.map(str))],
    [
      3,
      fc.oneof(
        ...eventFields.map((field) => ({
          // Repeated strings: the scanner must not keep the first one's decoding.
          weight: field === "metadata" ? 1 : 2,
          arbitrary: fields[field].map((value) => [key(field), value] as const)
        }))
      )
    ],
    [1, fields.project_id.map((value) => [key("project\\u005fid"), value] as const)],
    [1, fields.message.map((value) => [key("m\\u0065ssage"), value] as const)],
    [odd("unknown"), fc.tuple(mixedBody(strings).map(key), anyValue)]
  )

  /** Members to slip into an object, each at a position (taken modulo its size). */
  const extras = pick<ReadonlyArray<readonly [readonly [Buffer, Node], number]>>(
    [10, fc.constant([])],
    [4 * unusual + odd("unknown") + odd("fields"), fc.array(fc.tuple(extra, fc.nat()), { minLength: 1, maxLength: 2 })]
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
    [1, fc.constant([...eventFields])],
    [2, fc.shuffledSubarray([...eventFields], { minLength: 6, maxLength: 6 })]
  )
  /** A required field: always there, but once in a while when bodies break. */
  const required = (value: fc.Arbitrary<Node>) =>
    odd("fields") === 0 ? value : fc.option(value, { freq: Math.max(2, Math.round(40 / odd("fields"))) })

  const event: fc.Arbitrary<Node> = fc.record({
    project_id: required(fields.project_id),
    timestamp: required(fields.timestamp),
    level: required(fields.level),
    service: required(fields.service),
    message: required(fields.message),
    metadata: fc.option(fields.metadata, { freq: 2 }),
    // The edge's routing, each field at most once (repeats come with the extras).
    routing: pick<ReadonlyArray<readonly [string, Node]>>(
      [2, fc.constant([])],
      [
        1,
        fc.uniqueArray(fc.tuple(fc.constantFrom(...routingFields), routingValue(odd("fields"))), {
          maxLength: 3,
          selector: ([k]) => k
        })
      ]
    ),
    order,
    extras
  }).map((e) => {
    const members: Array<readonly [Buffer, Node]> = []
    for (const field of e.order) {
      const value = e[field]
      if (value !== null) members.push([key(field), value])
    }
    for (const [field, value] of e.routing) members.push([key(field), value])
    return obj(insert(members, e.extras))
  })

  const max = limits.maxEvents
  const batch = odd("batch")
  const events = pick<Node>(
    [12, fc.array(event, { minLength: 1, maxLength: Math.min(max + 1, 4) }).map(arr)],
    [
      max > 50 ? 0 : 2,
      fc.tuple(event, fc.integer({ min: -1, max: 1 })).map(([e, delta]) =>
        arr(Array.from({ length: Math.max(1, max + delta) }, () => e))
      )
    ],
    [unusual + batch, fc.constant(arr([]))],
    [batch, fc.oneof(weird, event, fc.array(fc.oneof(event, weird), { minLength: 1, maxLength: 3 }).map(arr))]
  )

  /** Members of the body beside its events: unknown ones, another `events`, a near name. */
  const topExtra = pick<readonly [Buffer, Node]>(
    [
      4,
      fc.tuple(
        fc.constantFrom("x", "version", "__proto__", "0", "", "Events", "event").map(key),
        unknownValue(odd("unknown"), unusual)
      )
    ],
    [unusual + batch, fc.tuple(fc.constantFrom("events", "ev\\u0065nts").map(key), events)],
    [batch, fc.tuple(mixedBody(strings).map(key), anyValue)]
  )
  const topExtras = pick<ReadonlyArray<readonly [readonly [Buffer, Node], number]>>(
    [10, fc.constant([])],
    [2 * unusual + batch + odd("unknown"), fc.array(fc.tuple(topExtra, fc.nat()), { minLength: 1, maxLength: 2 })]
  )
  const body = pick<Node>(
    [12, fc.tuple(events, topExtras).map(([items, more]) => obj(insert([[key("events"), items]], more)))],
    [batch, fc.oneof(event, events, fc.constant(obj([])), topExtras.map((more) => obj(insert([], more))))],
    [
      batch,
      fc.tuple(events, fc.constantFrom("Events", "event", "events ", "\\u0065vents").map(key)).map(([items, k]) =>
        obj([[k, items]])
      )
    ]
  )

  const hurt = odd("damage")
  /** Damage done to a whole body's bytes; also the body as an array's item. */
  const damage = pick<Damage>(
    ...damages(hurt),
    [hurt, fc.constant((body: Buffer) => Buffer.concat([utf8("["), body, utf8("]")]))]
  )

  return fc.tuple(body, whitespace(odd("whitespace")), damage).map(([node, spaces, harm]) =>
    harm(renderTokens(node, spaces))
  )
}

/** JSON shaped like events and batches, from fast-check's own values. */
const eventLike = fc.dictionary(
  fc.constantFrom(...eventFields, "events", "x"),
  fc.oneof(
    fc.jsonValue({ maxDepth: 2 }),
    fc.constantFrom(...levelWords, "2025-01-01T00:00:00Z", "2025-01-01 00:00:00"),
    fc.string()
  ),
  { maxKeys: 7 }
)
const batchLike = fc.oneof(
  eventLike.map((value) => utf8(JSON.stringify(value))),
  fc.array(eventLike, { maxLength: 3 }).map((events) => utf8(JSON.stringify({ events })))
)

/**
 * Every kind of body: from tokens, valid ones, ones broken in one area (so
 * that nothing else masks the break), broken anywhere, and arbitrary bytes
 * and JSON.
 */
const anyBody = (limits: BatchLimits): fc.Arbitrary<Buffer> =>
  pick<Buffer>(
    [4, tokenBodies(limits, () => 0, 0)],
    [4, tokenBodies(limits, () => 0, 1)],
    ...areas.map((area) => [2, tokenBodies(limits, (a) => a === area ? 4 : 0, 0)] as const),
    [4, tokenBodies(limits, () => 1, 1)],
    [2, tokenBodies(limits, () => 4, 1)],
    [1, fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a))],
    [1, fc.json().map(utf8)],
    [1, fc.jsonValue().map((value) => utf8(JSON.stringify(value) ?? "null"))],
    [1, fc.string({ unit: "binary", maxLength: 40 }).map(utf8)],
    [2, batchLike]
  )

/**
 * The common shape, which the scanner must take itself: `{"events":[…]}` of
 * 1 to the limit of events, plain ASCII strings within the limits, level
 * words in any case, RFC 3339 timestamps, canonical metadata and unknown
 * values, unknown keys anywhere but in the way of a known one, any key order,
 * JSON whitespace.
 */
const cleanBodies = (limits: BatchLimits): fc.Arbitrary<Buffer> => {
  const max = limits.maxEvents
  const name = pick<string>(
    [10, plainText(1, 12)],
    [1, fc.constantFrom("p".repeat(256), "{".repeat(255), " ")]
  )
  const message = pick<string>(
    [10, plainText(0, Math.min(limits.maxMessageBytes, 20))],
    [1, fc.constant("m".repeat(Math.min(limits.maxMessageBytes, 300)))]
  )
  const unknownKey = (taken: ReadonlyArray<string>) =>
    fc.oneof(
      fc.stringMatching(/^[A-Za-z0-9_ .$-]{0,10}$/),
      fc.constantFrom("__proto__", "0", "17", "", "Events", "Project_id", "version", "constructor")
    ).filter((k) => !taken.includes(k))
  const unknownMembers = (taken: ReadonlyArray<string>) =>
    fc.array(fc.tuple(unknownKey(taken).map(key), canonical), { maxLength: 2 })
  const metadata = pick<Node>(
    [
      4,
      fc.uniqueArray(fc.tuple(cleanKey, canonical), { maxLength: 5, selector: ([k]) => k }).map((pairs) =>
        obj(pairs.map(([k, v]) => [key(k), v]))
      )
    ],
    [1, fc.constant(obj([]))]
  )
  const event = fc.record({
    project_id: name.map(str),
    timestamp: cleanTimestamp.map(str),
    level: casedLevel.map(str),
    service: name.map(str),
    message: message.map(str),
    metadata: fc.option(metadata, { freq: 3 }),
    routing: fc.uniqueArray(fc.tuple(fc.constantFrom(...routingFields), cleanRouting), {
      maxLength: 3,
      selector: ([k]) => k
    }),
    unknown: unknownMembers([...eventFields, ...routingFields])
  }).chain(({ metadata: m, routing, unknown, ...known }) => {
    const members: Array<readonly [Buffer, Node]> = [
      ...Object.entries(known).map(([k, v]) => [key(k), v] as const),
      ...(m === null ? [] : [[key("metadata"), m] as const]),
      ...routing.map(([k, v]) => [key(k), str(v)] as const),
      ...unknown
    ]
    return fc.shuffledSubarray(members, { minLength: members.length }).map(obj)
  })
  const events = pick<ReadonlyArray<Node>>(
    [10, fc.array(event, { minLength: 1, maxLength: Math.min(max, 4) })],
    [max > 50 ? 0 : 1, event.map((e) => Array.from({ length: max }, () => e))]
  )
  const body = fc.tuple(events, unknownMembers(["events"]), fc.nat()).map(([items, unknown, at]) => {
    const members: Array<readonly [Buffer, Node]> = [...unknown]
    members.splice(at % (members.length + 1), 0, [key("events"), arr(items)])
    return obj(members)
  })
  return fc.tuple(body, whitespace(0)).map(([node, spaces]) => renderTokens(node, spaces))
}

/** Receive times: mostly one, so the scanner's text of it is reused, and then others. */
const receiveTime = fc.constantFrom(receivedAt, receivedAt, receivedAt, receivedAt + 1, 0, 1, 253_402_300_799_999)

// --- the properties -----------------------------------------------------------

const settings = [
  { name: "the drain, default limits", limits: defaultLimits, route: drainRoute, numRuns: 6000 },
  { name: "the drain, small limits", limits: smallLimits, route: drainRoute, numRuns: 6000 },
  { name: "the drain, tiny limits", limits: tinyLimits, route: drainRoute, numRuns: 1500 },
  { name: "the edge, default limits", limits: defaultLimits, route: edgeRoute, numRuns: 4000 },
  { name: "the edge, small limits", limits: smallLimits, route: edgeRoute, numRuns: 3000 }
] as const

for (const { limits, name, numRuns, route } of settings) {
  describe(`the scanner agrees with the oracle: ${name}`, () => {
    const subject = subjectOf(limits, route)
    const adversarial = anyBody(limits)
    const clean = cleanBodies(limits)

    it.prop("on adversarial bodies: it accepts what the oracle accepts, with its rows, or writes nothing", [
      adversarial,
      receiveTime
    ], ([body, at]) => {
      check(subject, body, at)
    }, { fastCheck: { numRuns } })

    it.prop("never steps aside on the common shape", [clean, receiveTime], ([body, at]) => {
      const verdict = oracle(limits, body, at, route)
      expect(verdict._tag, `the oracle on ${show(body)}`).toBe("Accepted")
      const count = check(subject, body, at)
      expect(count, `the scanner on ${show(body)}`).toBe(verdict._tag === "Accepted" ? verdict.count : fallback)
    }, { fastCheck: { numRuns: Math.round(numRuns / 4) } })

    it.prop("appends after earlier rows with a comma, and keeps them when it steps aside", [
      fc.array(fc.oneof(clean, adversarial), { minLength: 2, maxLength: 4 })
    ], ([bodies]) => {
      const writer = new ByteWriter(16)
      const alone: Array<string> = []
      for (const body of bodies) {
        const verdict = lazyVerdict(limits, body, receivedAt, route)
        scanInto(subject.scanner, writer, body, receivedAt, verdict, show(body), route.agentId)
        const own = new ByteWriter(16)
        if (subject.scanner.scan(body, receivedAt, own, route.agentId) !== fallback) {
          alone.push(own.take().toString("hex"))
        }
      }
      expect(writer.take().toString("hex")).toBe(alone.join(COMMA.toString("hex")))
    }, { fastCheck: { numRuns: Math.round(numRuns / 10) } })
  })
}

// --- examples -----------------------------------------------------------------

const bench =
  "{\"events\":[{\"project_id\":\"proj-1\",\"timestamp\":\"2026-11-24T22:00:00.123Z\",\"level\":\"info\",\"service\":\"auth-service\",\"message\":\"User login attempt from 10.0.0.1\",\"metadata\":{\"seq\":1,\"host\":\"web-1\",\"region\":\"eu-west-1\"}}]}"
const benchEvent = bench.slice("{\"events\":[".length, -2)
/** The required fields, for events that vary the rest. */
const base =
  "\"project_id\":\"p\",\"timestamp\":\"2025-01-01T00:00:00Z\",\"level\":\"info\",\"service\":\"s\",\"message\":\"m\""
const minimal = `{${base}}`
const batchOf = (...events: ReadonlyArray<string>) => `{"events":[${events.join(",")}]}`
/** An event with `fields` (JSON members) after the required ones: a known field there is a repeated one. */
const eventWith = (fields: string) => `{${base},${fields}}`

describe("the scanner takes the common shape itself", () => {
  const subject = subjectOf(defaultLimits)
  /** [body, count]. */
  const fast: ReadonlyArray<readonly [string, number]> = [
    [bench, 1],
    [batchOf(minimal), 1],
    [batchOf(benchEvent, minimal, benchEvent), 3],
    [` \t{ "events" : [ ${minimal} ,\n ${benchEvent} ] } \r\n`, 2],
    [
      "{\r\n  \"events\": [\r\n    {\r\n      \"message\": \"\",\r\n      \"metadata\": { },\r\n      \"service\": \"s\",\r\n      \"level\": \"WARN\",\r\n      \"timestamp\": \"2025-06-30T23:59:59.999999999+14:00\",\r\n      \"project_id\": \"p\"\r\n    }\r\n  ]\r\n}",
      1
    ],
    [`{"version":"1.0","events":[${minimal}],"extra":{"a":[1,true,null,{"b":"c"}],"n":-5}}`, 1],
    [`{"__proto__":{"x":1},"0":"y","events":[${minimal}]}`, 1],
    [
      batchOf(eventWith("\"extra\":\"x\",\"n\":123456789012345,\"t\":true,\"f\":false,\"z\":null,\"o\":{},\"a\":[]")),
      1
    ],
    [batchOf(eventWith("\"__proto__\":{\"project_id\":\"other\"},\"7\":1,\"Level\":\"nope\"")), 1],
    [batchOf(eventWith("\"metadata\":{ \"a b\" : \"{ x , y }\" , \"c\":\"\" ,\"d\" :{\"e\": [ 1 , -2 ]}}")), 1],
    ...[
      "INFO",
      "Info",
      "iNfO",
      "EMERG",
      "Emergency",
      "alert",
      "CRIT",
      "critical",
      "Fatal",
      "ERR",
      "error",
      "warn",
      "WARNING",
      "notice",
      "DEBUG",
      "trace"
    ].map((level) => [batchOf(`{${base.replace("\"info\"", `"${level}"`)}}`), 1] as const),
    ...[
      "2025-01-01T00:00:00Z",
      "2025-01-01T00:00:00.1Z",
      "2025-01-01T00:00:00.123456789Z",
      "2025-01-01T00:00:00+05:30",
      "2025-01-01T00:00:00-23:59",
      "0100-01-01T00:00:00Z",
      "2024-02-29T23:59:59.5+00:00",
      "9999-12-31T23:59:59.999-00:00"
    ].map((timestamp) => [batchOf(`{${base.replace("2025-01-01T00:00:00Z", timestamp)}}`), 1] as const),
    [batchOf(`{${base.replace("\"p\"", `"${"p".repeat(256)}"`).replace("\"s\"", `"${"s".repeat(256)}"`)}}`), 1]
  ]
  for (const [body, count] of fast) {
    it(`takes ${JSON.stringify(body).slice(1, 90)}`, () => {
      const input = utf8(body)
      const verdict = oracle(defaultLimits, input, receivedAt)
      expect(verdict).toMatchObject({ _tag: "Accepted", count })
      expect(check(subject, input)).toBe(count)
      expect(check(subjectOf(defaultLimits), input)).toBe(count)
    })
  }

  it("writes the bench body's row", () => {
    const writer = new ByteWriter(16)
    expect(new DrainScanner(defaultLimits).scan(utf8(bench), receivedAt, writer)).toBe(1)
    expect(JSON.parse(writer.take().toString("utf8"))).toEqual([
      Date.UTC(2026, 10, 24, 22, 0, 0, 123),
      receivedAt,
      7,
      "auth-service",
      "User login attempt from 10.0.0.1",
      1,
      "generic",
      "proj-1",
      null,
      "main",
      "http",
      "http",
      { seq: 1, host: "web-1", region: "eu-west-1" }
    ])
  })

  it("scanning A then B into one writer writes rows A, a comma, rows B", () => {
    const a = utf8(batchOf(benchEvent, minimal))
    const b = utf8(` {"events":[ ${minimal.replace("\"info\"", "\"DEBUG\"")} ]} `)
    const rowsOf = (body: Buffer, at: number) => {
      const verdict = oracle(defaultLimits, body, at)
      return verdict._tag === "Accepted" ? verdict.rows : "refused"
    }
    const scanner = new DrainScanner(defaultLimits)
    const writer = new ByteWriter(16)
    expect(scanner.scan(a, receivedAt, writer)).toBe(2)
    expect(scanner.scan(b, receivedAt + 5, writer)).toBe(1)
    expect(writer.take().toString("utf8")).toBe(`${rowsOf(a, receivedAt)},${rowsOf(b, receivedAt + 5)}`)
  })

  it("after stepping aside, the next body starts where the last accepted one ended", () => {
    const scanner = new DrainScanner(defaultLimits)
    const writer = new ByteWriter(16)
    const a = utf8(batchOf(minimal))
    expect(scanner.scan(a, receivedAt, writer)).toBe(1)
    const afterA = writer.length
    expect(scanner.scan(utf8(batchOf(minimal, "{\"project_id\":1}")), receivedAt, writer)).toBe(fallback)
    expect(writer.length).toBe(afterA)
    expect(scanner.scan(a, receivedAt, writer)).toBe(1)
    const one = oracle(defaultLimits, a, receivedAt)
    expect(writer.take().toString("utf8")).toBe(
      one._tag === "Accepted" ? `${one.rows},${one.rows}` : "refused"
    )
  })
})

describe("the scanner on edge bodies agrees with the oracle", () => {
  const bodies: ReadonlyArray<string | Buffer> = [
    // Not the common shape: the scanner may step aside.
    "{\"events\":[]}",
    "{\"events\":[ ]}",
    "{\"events\":{}}",
    "{\"events\":null}",
    "{\"events\":\"[]\"}",
    "{}",
    "[]",
    `[${minimal}]`,
    minimal,
    "null",
    "",
    " ",
    `{"events":[${minimal}],"events":[${minimal},${minimal}]}`,
    `{"events":[${minimal}],"events":[]}`,
    `{"events":[${minimal}],"events":null}`,
    `{"Events":[${minimal}]}`,
    `{"ev\\u0065nts":[${minimal}]}`,
    `{"events":[${minimal}],"x":1.0}`,
    `{"events":[${minimal}],"x":"\\u00e9"}`,
    `{"events":[${minimal}],"x":{"a":1,"a":2}}`,
    `{"events":[${minimal}],"x":01}`,
    `{"events":[${minimal}],}`,
    `{"events":[${minimal},]}`,
    `{"events":[${minimal}]}}`,
    `{"events":[${minimal}]`,
    `{"events":[${minimal}]} x`,
    `{"events":[${minimal}]}\u0000`,
    `{"events":[${minimal}]}\f`,
    `\ufeff{"events":[${minimal}]}`,
    `{"events":[${minimal}]}\ufeff`,
    batchOf("{}"),
    batchOf("[]"),
    batchOf("null"),
    batchOf(minimal, "{}"),
    // Missing and wrongly typed fields.
    batchOf(minimal.replace("\"project_id\":\"p\",", "")),
    batchOf(minimal.replace("\"timestamp\":\"2025-01-01T00:00:00Z\",", "")),
    batchOf(minimal.replace("\"level\":\"info\",", "")),
    batchOf(minimal.replace("\"service\":\"s\",", "")),
    batchOf(minimal.replace(",\"message\":\"m\"", "")),
    batchOf(minimal.replace("\"p\"", "1")),
    batchOf(minimal.replace("\"s\"", "null")),
    batchOf(minimal.replace("\"m\"", "[]")),
    batchOf(minimal.replace("\"info\"", "7")),
    batchOf(minimal.replace("\"2025-01-01T00:00:00Z\"", "1735689600000")),
    batchOf(minimal.replace("\"p\"", "\"\"")),
    batchOf(minimal.replace("\"s\"", "\"\"")),
    batchOf(minimal.replace("\"m\"", "\"\"")),
    // Repeated fields: the last one wins in the oracle.
    batchOf(eventWith("\"project_id\":\"q\"")),
    batchOf(eventWith("\"project_id\":\"\"")),
    batchOf(eventWith("\"project_id\":1")),
    batchOf(eventWith("\"message\":\"\\u00e9\"")),
    batchOf(`{"message":"\\u00e9",${base}}`),
    batchOf(eventWith("\"level\":\"nope\"")),
    batchOf(`{"level":"nope",${base}}`),
    batchOf(eventWith("\"timestamp\":\"x\"")),
    batchOf(`{"timestamp":"x",${base}}`),
    batchOf(eventWith("\"metadata\":{},\"metadata\":{\"a\":1}")),
    batchOf(eventWith("\"metadata\":{\"a\":1},\"metadata\":null")),
    // Known keys spelt otherwise, unknown keys of every kind.
    batchOf(eventWith("\"project\\u005fid\":\"x\"")),
    batchOf(`{"project\\u005fid":"p",${base.replace("\"project_id\":\"p\",", "")}}`),
    batchOf(eventWith("\"Project_id\":1")),
    batchOf(eventWith("\"__proto__\":1")),
    batchOf(eventWith("\"__proto__\":{\"project_id\":1}")),
    batchOf(eventWith("\"x\":1.0")),
    batchOf(eventWith("\"x\":1e2")),
    batchOf(eventWith("\"x\":-0")),
    batchOf(eventWith("\"x\":01")),
    batchOf(eventWith("\"x\":123456789012345")),
    batchOf(eventWith("\"x\":1234567890123456")),
    batchOf(eventWith("\"x\":-123456789012345678901234567890")),
    batchOf(eventWith("\"x\":{ \"a\" : [ 1 , { \"b\" : null } ] }")),
    batchOf(eventWith("\"x\":{\"a\":1,\"a\":1}")),
    batchOf(eventWith("\"x\":\"\\n\"")),
    batchOf(eventWith("\"x\":\"é\"")),
    batchOf(eventWith("\"é\":1")),
    batchOf(eventWith("\"x\\n\":1")),
    batchOf(eventWith("\"x\":tru")),
    batchOf(eventWith("\"x\":[1,]")),
    // Metadata of every kind.
    batchOf(eventWith("\"metadata\":null")),
    batchOf(eventWith("\"metadata\":[]")),
    batchOf(eventWith("\"metadata\":[{\"a\":1}]")),
    batchOf(eventWith("\"metadata\":\"{}\"")),
    batchOf(eventWith("\"metadata\":1")),
    batchOf(eventWith("\"metadata\":true")),
    batchOf(eventWith("\"metadata\":{\"__proto__\":\"x\"}")),
    batchOf(eventWith("\"metadata\":{\"__proto__\":{\"a\":1}}")),
    batchOf(eventWith("\"metadata\":{\"b\":\"x\",\"1\":\"y\",\"01\":\"z\"}")),
    batchOf(eventWith("\"metadata\":{\"k\":\"a\",\"k\":\"b\"}")),
    batchOf(eventWith("\"metadata\":{\"k\":\"a\",\"j\":{\"k\":1},\"k\":\"b\"}")),
    batchOf(eventWith("\"metadata\":{\"k\":1.0,\"m\":1e2,\"n\":-0,\"o\":12345678901234567890}")),
    batchOf(eventWith("\"metadata\":{\"k\":01}")),
    batchOf(eventWith("\"metadata\":{\"k\":\"\\ud800\",\"\\u006b\":\"\\u00e9\"}")),
    batchOf(eventWith("\"metadata\":{\"a b\":\"{ \\\"x\\\" : 1 }\"}")),
    batchOf(eventWith(`"metadata":${"{\"a\":".repeat(31)}1${"}".repeat(31)}`)),
    batchOf(eventWith(`"metadata":${"{\"a\":".repeat(32)}1${"}".repeat(32)}`)),
    batchOf(eventWith(`"metadata":${"{\"a\":".repeat(40)}1${"}".repeat(40)}`)),
    batchOf(eventWith(`"metadata":{"a":${"[".repeat(40)}${"]".repeat(40)}}`)),
    batchOf(eventWith(`"metadata":{${Array.from({ length: 130 }, (_, i) => `"k${i}":${i}`).join(",")}}`)),
    batchOf(eventWith(`"metadata":{${Array.from({ length: 130 }, (_, i) => `"k${i % 129}":${i}`).join(",")}}`)),
    // Levels.
    ...["infoo", "Info ", " info", "constructor", "__proto__", "toString", "", "INF", "inf\\u006f", "ınfo", "İNFO"].map(
      (
        level
      ) => batchOf(minimal.replace("\"info\"", `"${level}"`))
    ),
    // Timestamps.
    ...[...edgeDates, ...badDates, ...nearDates, ...nearBadDates, "2025-01-01T00:00:00\\u005a"].map((timestamp) =>
      batchOf(minimal.replace("2025-01-01T00:00:00Z", timestamp))
    ),
    // Strings with escapes, non-ASCII and broken UTF-8.
    batchOf(minimal.replace("\"m\"", "\"caf\\u00e9 \\\"q\\\" \\/ é 😀 \\ud800\"")),
    batchOf(minimal.replace("\"p\"", "\"\\u0070\"")),
    batchOf(minimal.replace("\"s\"", "\"\\n\"")),
    batchOf(minimal.replace("\"s\"", "\"\\x\"")),
    batchOf(minimal.replace("\"m\"", "\"a\tb\"")),
    batchOf(minimal.replace("\"m\"", "\"a\\\"")),
    Buffer.concat([utf8(batchOf(minimal).slice(0, -4)), bytes(0xff, 0xc3), utf8("\"}]}")]),
    Buffer.concat([utf8(batchOf(minimal).slice(0, -4)), bytes(0xe2, 0x82), utf8("\"}]}")]),
    Buffer.concat([utf8("{\"events\":[{\"project_id\":\""), bytes(0xed, 0xa0, 0x80), utf8(`",${base.slice(17)}}]}`)]),
    Buffer.concat([utf8(batchOf(eventWith("\"metadata\":{\"k\":\"")).slice(0, -7)), bytes(0xf0), utf8("\"}}]}")]),
    Buffer.concat([utf8(batchOf(eventWith("\"x\":\"")).slice(0, -4)), bytes(0xc3), utf8("\"}]}")]),
    Buffer.concat([utf8("{\"events\":[{\""), bytes(0xc3), utf8(`":1,${base}}]}`)]),
    Buffer.concat([utf8("{\""), bytes(0xc3), utf8(`":1,"events":[${minimal}]}`)])
  ]
  const name = (body: Buffer) => show(body).slice(13, -11).replace(show(utf8(base)).slice(13, -11), "…").slice(0, 120)
  for (const body of bodies) {
    const input = typeof body === "string" ? utf8(body) : body
    it(name(input), () => {
      check(subjectOf(defaultLimits), input)
      check(subjectOf(smallLimits), input)
      check(subjectOf(tinyLimits), input)
    })
  }

  it("one scanner through every edge body, in order and in reverse", () => {
    const inputs = bodies.map((body) => typeof body === "string" ? utf8(body) : body)
    const subject = subjectOf(defaultLimits)
    for (const input of [...inputs, ...inputs.reverse()]) check(subject, input)
  })

  it.prop("on bodies of near timestamps in a row, one scanner", [
    fc.array(
      fc.tuple(
        fc.constantFrom(...nearDates, ...nearBadDates, ...edgeDates, "", "2025-08-31T10:30:00\\u005a"),
        receiveTime
      ),
      { minLength: 2, maxLength: 8 }
    )
  ], ([timestamps]) => {
    const subject = subjectOf(defaultLimits)
    for (const [timestamp, at] of timestamps) {
      check(subject, utf8(batchOf(minimal.replace("2025-01-01T00:00:00Z", timestamp))), at)
    }
  }, { fastCheck: { numRuns: 300 } })
})

describe("the scanner at every limit", () => {
  const event = (fields: Record<string, unknown>) =>
    JSON.stringify({
      project_id: "p",
      timestamp: "2025-01-01T00:00:00Z",
      level: "info",
      service: "s",
      message: "",
      ...fields
    })
  const emoji = "😀"

  /** [body, whether it is within the limits]. */
  const cases = (limits: BatchLimits): ReadonlyArray<readonly [string, boolean]> => {
    const bytes = limits.maxMessageBytes
    return [
      [batchOf(event({ message: "m".repeat(bytes) })), true],
      [batchOf(event({ message: "m".repeat(bytes + 1) })), false],
      [batchOf(event({ message: "m".repeat(Math.max(0, bytes - 1)) })), true],
      [batchOf(event({ message: "é".repeat(Math.floor(bytes / 2)) })), true],
      [batchOf(event({ message: "é".repeat(Math.floor(bytes / 2)) + "mm" })), false],
      [batchOf(event({ message: emoji.repeat(Math.floor(bytes / 4)) })), true],
      [batchOf(event({ message: emoji.repeat(Math.floor(bytes / 4)) + "mmmmm" })), false],
      [batchOf(event({ message: "\ud800".repeat(Math.floor(bytes / 3)) })), true],
      [batchOf(event({ message: "\ud800".repeat(Math.floor(bytes / 3) + 1) })), false],
      [batchOf(event({ project_id: "p".repeat(256) })), true],
      [batchOf(event({ project_id: "p".repeat(257) })), false],
      [batchOf(event({ service: "s".repeat(256) })), true],
      [batchOf(event({ service: "s".repeat(257) })), false],
      [batchOf(event({ project_id: "é".repeat(256) })), true],
      [batchOf(event({ project_id: "é".repeat(257) })), false],
      [batchOf(event({ service: emoji.repeat(128) })), true],
      [batchOf(event({ service: emoji.repeat(129) })), false],
      [batchOf(event({ service: "\ud800".repeat(256) })), true],
      [batchOf(event({ service: "\ud800".repeat(257) })), false],
      [batchOf(event({ project_id: "" })), false],
      [batchOf(event({ service: "" })), false],
      [batchOf(...Array.from({ length: limits.maxEvents }, () => event({}))), true],
      [batchOf(...Array.from({ length: limits.maxEvents + 1 }, () => event({}))), false]
    ]
  }

  for (const [name, limits] of [["default", defaultLimits], ["small", smallLimits], ["tiny", tinyLimits]] as const) {
    it(`${name} limits: at a limit it agrees with the oracle, one over it never accepts`, () => {
      const subject = subjectOf(limits)
      for (const [body, within] of cases(limits)) {
        const input = utf8(body)
        const count = check(subject, input)
        const verdict = oracle(limits, input, receivedAt)
        const shown = `${body.slice(0, 90)}… (${input.length} bytes)`
        expect(verdict._tag, shown).toBe(within ? "Accepted" : "Refused")
        if (!within) expect(count, shown).toBe(fallback)
        // Plain ASCII within the limits is the common shape, which the scanner takes.
        if (within && /^[\x20-\x7e]*$/.test(body) && !body.includes("\\")) expect(count, shown).not.toBe(fallback)
      }
    }, 60_000)
  }
})
