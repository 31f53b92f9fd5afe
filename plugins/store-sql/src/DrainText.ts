/**
 * The forward hot path: a slice of a commit row's text (EventRow's JSON
 * array of tuples, as `JSON.stringify` wrote it) cut straight into the
 * drain's JSON (core's `DrainEvent`), without parsing it into objects. The
 * strings, the metadata object and the routing fields are copied as the JSON
 * texts they already are; only the timestamp and the level are rewritten.
 * Anything that is not exactly what `encodeBatch` writes answers `undefined`,
 * and the caller decodes instead.
 */
import { drainEventJson, type DrainShape } from "@sluice/core/DrainEvent"

const QUOTE = 34
const BACKSLASH = 92
const COMMA = 44
const OPEN_BRACKET = 91
const CLOSE_BRACKET = 93
const OPEN_BRACE = 123
const CLOSE_BRACE = 125

/** End (exclusive) of the JSON string opening at `i`, or -1. */
const stringEnd = (text: string, i: number): number => {
  let from = i + 1
  while (true) {
    const q = text.indexOf("\"", from)
    if (q < 0) return -1
    let backslashes = 0
    for (let k = q - 1; k > i && text.charCodeAt(k) === BACKSLASH; k--) backslashes++
    if ((backslashes & 1) === 0) return q + 1
    from = q + 1
  }
}

/** End (exclusive) of the JSON value starting at `i` (no whitespace, as `JSON.stringify` writes), or -1. */
const valueEnd = (text: string, i: number): number => {
  const c = text.charCodeAt(i)
  if (c === QUOTE) return stringEnd(text, i)
  if (c === OPEN_BRACE || c === OPEN_BRACKET) {
    let depth = 0
    let j = i
    while (j < text.length) {
      const d = text.charCodeAt(j)
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
    const d = text.charCodeAt(j)
    if (d === COMMA || d === CLOSE_BRACKET || d === CLOSE_BRACE) return j > i ? j : -1
    j++
  }
  return -1
}

const FIELDS = 13
const bounds = new Int32Array(FIELDS * 2)

/** Reads one tuple at `i` into `bounds`; answers the index after it, or -1. */
const readTuple = (text: string, i: number): number => {
  if (text.charCodeAt(i) !== OPEN_BRACKET) return -1
  let p = i + 1
  for (let f = 0; f < FIELDS; f++) {
    const end = valueEnd(text, p)
    if (end < 0) return -1
    bounds[2 * f] = p
    bounds[2 * f + 1] = end
    const sep = text.charCodeAt(end)
    if (sep !== (f === FIELDS - 1 ? CLOSE_BRACKET : COMMA)) return -1
    p = end + 1
  }
  return p
}

const field = (text: string, f: number) => text.slice(bounds[2 * f]!, bounds[2 * f + 1]!)

/** A slice in the drain's shape, and how many of its events came from each transport. */
export interface DrainSlice {
  /** A JSON array of drain events. */
  readonly json: string
  readonly transports: Map<string, number>
}

/**
 * Events `offset … offset + count - 1` of a commit row's text in the drain's
 * shape, or `undefined` when the text is not what `encodeBatch` writes.
 */
export const drainSlice = (text: string, offset: number, count: number, shape: DrainShape): DrainSlice | undefined => {
  if (text.charCodeAt(0) !== OPEN_BRACKET) return undefined
  if (count === 0) return { json: "[]", transports: new Map() }
  let p = 1
  for (let skipped = 0; skipped < offset; skipped++) {
    const end = valueEnd(text, p)
    if (end < 0 || text.charCodeAt(end) !== COMMA) return undefined
    p = end + 1
  }
  const defaultProjectId = JSON.stringify(shape.defaultProjectId)
  const parts = new Array<string>(count)
  const byTransportJson = new Map<string, number>()
  for (let n = 0; n < count; n++) {
    const end = readTuple(text, p)
    if (end < 0) return undefined
    const timestamp = Number(field(text, 0))
    const level = Number(field(text, 2))
    if (!Number.isFinite(timestamp) || !Number.isFinite(level)) return undefined
    const transport = field(text, 11)
    parts[n] = drainEventJson(
      {
        projectId: field(text, 7),
        timestamp,
        level,
        source: field(text, 3),
        message: field(text, 4),
        metadata: field(text, 12),
        index: field(text, 9),
        sourcetype: field(text, 10),
        transport
      },
      shape,
      defaultProjectId
    )
    byTransportJson.set(transport, (byTransportJson.get(transport) ?? 0) + 1)
    const sep = text.charCodeAt(end)
    if (sep !== COMMA && !(sep === CLOSE_BRACKET && n === count - 1)) return undefined
    p = end + 1
  }
  const transports = new Map<string, number>()
  for (const [json, n] of byTransportJson) {
    const name = JSON.parse(json) as unknown
    if (typeof name !== "string") return undefined
    transports.set(name, (transports.get(name) ?? 0) + n)
  }
  return { json: `[${parts.join(",")}]`, transports }
}
