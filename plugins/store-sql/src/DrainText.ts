/**
 * The forward hot path: a slice of a commit row (EventRow's JSON array of
 * tuples, as `JSON.stringify` wrote it), read as UTF-8 bytes, written
 * straight into a drain request body (core's `DrainBodyWriter`) without
 * parsing it into objects or strings. The strings, the metadata object and
 * the routing fields are copied as the JSON bytes they already are; only the
 * timestamp and the level are rewritten. Anything that is not exactly what
 * `encodeBatch` writes answers `undefined`, and the caller decodes instead.
 *
 * Scanning bytes is safe for UTF-8: no byte of a multi-byte character is an
 * ASCII quote, backslash, bracket, brace or comma.
 */
import { DrainBodyWriter, type DrainShape, DrainSlot, drainSlots } from "@sluice/core/DrainEvent"
import { BACKSLASH, CLOSE_BRACE, CLOSE_BRACKET, COMMA, OPEN_BRACE, OPEN_BRACKET, QUOTE } from "@sluice/core/JsonBytes"

const MINUS = 45

/** End (exclusive) of the JSON string opening at `i`, or -1. */
const stringEnd = (text: Uint8Array, i: number): number => {
  let from = i + 1
  while (true) {
    const q = text.indexOf(QUOTE, from)
    if (q < 0) return -1
    let backslashes = 0
    for (let k = q - 1; k > i && text[k] === BACKSLASH; k--) backslashes++
    if ((backslashes & 1) === 0) return q + 1
    from = q + 1
  }
}

/** End (exclusive) of the JSON value starting at `i` (no whitespace, as `JSON.stringify` writes), or -1. */
const valueEnd = (text: Uint8Array, i: number): number => {
  const c = text[i]
  if (c === QUOTE) return stringEnd(text, i)
  if (c === OPEN_BRACE || c === OPEN_BRACKET) {
    let depth = 0
    let j = i
    while (j < text.length) {
      const d = text[j]
      if (d === QUOTE) {
        j = stringEnd(text, j)
        if (j < 0) return -1
        continue
      }
      if (d === OPEN_BRACE || d === OPEN_BRACKET) depth++
      else if (d === CLOSE_BRACE || d === CLOSE_BRACKET) {
        depth--
        if (depth === 0) return j + 1
      }
      j++
    }
    return -1
  }
  // A number, null, true or false.
  let j = i
  while (j < text.length) {
    const d = text[j]
    if (d === COMMA || d === CLOSE_BRACKET || d === CLOSE_BRACE) return j > i ? j : -1
    j++
  }
  return -1
}

const FIELDS = 13
// Where readTuple leaves each field: the drain's slots (core's DrainSlot),
// then the timestamp, the level, and one slot the skipped fields share.
const TIMESTAMP = drainSlots
const LEVEL = drainSlots + 1
const SKIPPED = drainSlots + 2
const ranges = new Int32Array((drainSlots + 3) * 2)
// Tuple field → slot (EventRow's order: timestamp, receivedAt, level,
// source, message, entryType, payloadType, projectId, agentId, index,
// sourcetype, transport, metadata).
const slotOfField: ReadonlyArray<number> = [
  TIMESTAMP,
  SKIPPED,
  LEVEL,
  DrainSlot.source,
  DrainSlot.message,
  SKIPPED,
  SKIPPED,
  DrainSlot.projectId,
  SKIPPED,
  DrainSlot.index,
  DrainSlot.sourcetype,
  DrainSlot.transport,
  DrainSlot.metadata
]

/** Reads one tuple at `i` into `ranges`; answers the index after its `]`, or -1. */
const readTuple = (text: Uint8Array, i: number): number => {
  if (text[i] !== OPEN_BRACKET) return -1
  let p = i + 1
  for (let f = 0; f < FIELDS; f++) {
    const end = valueEnd(text, p)
    if (end < 0) return -1
    const slot = slotOfField[f]!
    ranges[2 * slot] = p
    ranges[2 * slot + 1] = end
    if (text[end] !== (f === FIELDS - 1 ? CLOSE_BRACKET : COMMA)) return -1
    p = end + 1
  }
  return p
}

/** The integer in `[start, end)`; NaN when it is anything else (a fraction, an exponent). */
const integerAt = (text: Uint8Array, start: number, end: number): number => {
  let i = start
  const negative = text[i] === MINUS
  if (negative) i++
  if (i >= end || end - i > 16) return Number.NaN
  let n = 0
  for (; i < end; i++) {
    const d = text[i]! - 48
    if (d < 0 || d > 9) return Number.NaN
    n = n * 10 + d
  }
  return negative ? -n : n
}

const utf8 = new TextDecoder()

const sameBytes = (text: Uint8Array, a: number, b: number, c: number, d: number) => {
  if (b - a !== d - c) return false
  for (let i = 0; i < b - a; i++) if (text[a + i] !== text[c + i]) return false
  return true
}

/** A slice as a drain request body, and how many of its events came from each transport. */
export interface DrainSlice {
  /** `{"events":[…]}`, UTF-8. */
  readonly body: Uint8Array
  readonly transports: Map<string, number>
}

/**
 * Events `offset … offset + count - 1` of a commit row (its UTF-8 bytes,
 * holding `total` events) as a drain request body, or `undefined` when the
 * row is not what `encodeBatch` writes.
 */
export const drainSlice = (
  text: Uint8Array,
  total: number,
  offset: number,
  count: number,
  shape: DrainShape
): DrainSlice | undefined => {
  if (text[0] !== OPEN_BRACKET) return undefined
  // The body is about the size of the tuples it comes from (field names instead of the dropped fields).
  const writer = new DrainBodyWriter(shape, 256 + 1.25 * text.length * Math.min(1, count / Math.max(total, 1)))
  if (count === 0) return { body: writer.finish(), transports: new Map() }
  let p = 1
  for (let skipped = 0; skipped < offset; skipped++) {
    const end = valueEnd(text, p)
    if (end < 0 || text[end] !== COMMA) return undefined
    p = end + 1
  }
  const transports = new Map<string, number>()
  // Transports come in runs: a run's bytes are compared, and decoded once.
  let runStart = -1
  let runEnd = -1
  let runLength = 0
  const endRun = () => {
    if (runLength === 0) return true
    const name = JSON.parse(utf8.decode(text.subarray(runStart, runEnd))) as unknown
    if (typeof name !== "string") return false
    transports.set(name, (transports.get(name) ?? 0) + runLength)
    return true
  }
  for (let n = 0; n < count; n++) {
    const end = readTuple(text, p)
    if (end < 0) return undefined
    const timestamp = integerAt(text, ranges[2 * TIMESTAMP]!, ranges[2 * TIMESTAMP + 1]!)
    const level = integerAt(text, ranges[2 * LEVEL]!, ranges[2 * LEVEL + 1]!)
    if (Number.isNaN(timestamp) || Number.isNaN(level)) return undefined
    writer.event(text, ranges, timestamp, level)
    const t0 = ranges[2 * DrainSlot.transport]!
    const t1 = ranges[2 * DrainSlot.transport + 1]!
    if (runLength > 0 && sameBytes(text, runStart, runEnd, t0, t1)) {
      runLength++
    } else {
      if (!endRun()) return undefined
      runStart = t0
      runEnd = t1
      runLength = 1
    }
    const sep = text[end]
    if (sep !== COMMA && !(sep === CLOSE_BRACKET && n === count - 1)) return undefined
    p = end + 1
  }
  if (!endRun()) return undefined
  return { body: writer.finish(), transports }
}
