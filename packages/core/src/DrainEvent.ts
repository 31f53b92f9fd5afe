/**
 * An event in the drain's shape (SPEC §2), the body a forwarder posts
 * upstream: `project_id`, `timestamp` (RFC 3339, UTC), `level` (the lower-case
 * word), `service`, `message`, `metadata`; with `routing`, also the `index`,
 * `sourcetype` and `transport` an edge endpoint keeps.
 *
 * Two ways to write it, with the same bytes: `toDrainEvent` from a decoded
 * `LogEvent` (then `JSON.stringify`), and `DrainBodyWriter` from the JSON
 * texts of the fields in a UTF-8 buffer, for a spool that keeps its events
 * as JSON and can find the fields without building objects (the forward hot
 * path).
 */
import { ByteWriter } from "./ByteWriter.js"
import { levelNames } from "./Level.js"
import type { LogEvent } from "./LogEvent.js"

/** How a forwarder wants events shaped. */
export interface DrainShape {
  /** `project_id` for events that have none (socket entries). */
  readonly defaultProjectId: string
  /** Also `index`, `sourcetype` and `transport` (the edge endpoint's extension fields). */
  readonly routing: boolean
}

const utf8 = new TextEncoder()
const levelWords = levelNames.map((name) => name.toLowerCase())
const levelWord = (level: number): string =>
  Number.isInteger(level) && level >= 1 && level <= 8 ? levelWords[level]! : "unknown"

/** An event in the drain's shape, as an object. */
export const toDrainEvent = (e: LogEvent, shape: DrainShape) => {
  const event = {
    project_id: e.projectId ?? shape.defaultProjectId,
    timestamp: new Date(e.timestamp).toISOString(),
    level: levelWord(e.level),
    service: e.source,
    message: e.message,
    metadata: e.metadata
  }
  return shape.routing ? { ...event, index: e.index, sourcetype: e.sourcetype, transport: e.transport } : event
}

/** A drain request body (`{"events":[…]}`, UTF-8) from decoded events. */
export const drainBody = (events: ReadonlyArray<LogEvent>, shape: DrainShape): Uint8Array =>
  utf8.encode(JSON.stringify({ events: events.map((e) => toDrainEvent(e, shape)) }))

/**
 * Where each field's JSON text lies in a UTF-8 buffer, for `DrainBodyWriter`:
 * slot `k` is the range `[ranges[2k], ranges[2k + 1])`. `projectId` may be
 * the text `null` (then the shape's default is written).
 */
export const DrainSlot = {
  projectId: 0,
  source: 1,
  message: 2,
  metadata: 3,
  index: 4,
  sourcetype: 5,
  transport: 6
} as const

/** Slots in a `DrainSlot` ranges array (two numbers each). */
export const drainSlots = 7

const ascii = (text: string) => Uint8Array.from(text, (c) => c.charCodeAt(0))
const OPEN = ascii("{\"events\":[")
const CLOSE = ascii("]}")
const PROJECT = ascii("{\"project_id\":")
const TIMESTAMP = ascii(",\"timestamp\":\"")
const LEVEL = ascii("\",\"level\":\"")
const SERVICE = ascii("\",\"service\":")
const MESSAGE = ascii(",\"message\":")
const METADATA = ascii(",\"metadata\":")
const INDEX = ascii(",\"index\":")
const SOURCETYPE = ascii(",\"sourcetype\":")
const TRANSPORT = ascii(",\"transport\":")
const levelBytes = Array.from({ length: 10 }, (_, level) => ascii(levelWord(level)))
const fixed = OPEN.length + PROJECT.length + TIMESTAMP.length + 30 + LEVEL.length + 9 + SERVICE.length +
  MESSAGE.length + METADATA.length + INDEX.length + SOURCETYPE.length + TRANSPORT.length + 2

/**
 * Writes a drain request body (`{"events":[…]}`, UTF-8) from events whose
 * fields are JSON texts in a buffer: the same bytes as
 * `drainBody(events, shape)`,
 * without building an object or a string per event (the forward hot path).
 */
export class DrainBodyWriter {
  private readonly out: ByteWriter
  private events = 0
  private readonly defaultProjectId: Uint8Array
  // The ISO text of the second last written ("YYYY-MM-DDTHH:MM:SS."), by its first millisecond.
  private second = Number.NaN
  private secondText = new Uint8Array(0)

  constructor(private readonly shape: DrainShape, sizeHint: number) {
    this.out = new ByteWriter(Math.max(256, Math.ceil(sizeHint)))
    this.defaultProjectId = utf8.encode(JSON.stringify(shape.defaultProjectId))
    this.put(OPEN)
  }

  private put(bytes: Uint8Array) {
    this.out.copy(bytes, 0, bytes.length)
  }

  private copy(src: Uint8Array, start: number, end: number) {
    this.out.copy(src, start, end)
  }

  private timestamp(ms: number) {
    const second = ms - (((ms % 1000) + 1000) % 1000)
    if (second !== this.second) {
      const iso = new Date(second).toISOString()
      this.secondText = ascii(iso.slice(0, iso.length - 4))
      this.second = second
    }
    this.put(this.secondText)
    const millis = ms - second
    const out = this.out
    out.byte(48 + Math.floor(millis / 100))
    out.byte(48 + (Math.floor(millis / 10) % 10))
    out.byte(48 + (millis % 10))
    out.byte(90) // Z
  }

  /** One event: its fields' JSON texts in `src` at `ranges` (by `DrainSlot`), its timestamp (ms) and level. */
  event(src: Uint8Array, ranges: Int32Array, timestamp: number, level: number): void {
    let size = fixed + this.defaultProjectId.length
    for (let k = 0; k < drainSlots; k++) size += ranges[2 * k + 1]! - ranges[2 * k]!
    this.out.reserve(size)
    if (this.events++ > 0) this.out.byte(44) // ,
    this.put(PROJECT)
    const p0 = ranges[0]!
    const p1 = ranges[1]!
    if (p1 - p0 === 4 && src[p0] === 110 && src[p0 + 1] === 117 && src[p0 + 2] === 108 && src[p0 + 3] === 108) {
      this.put(this.defaultProjectId)
    } else {
      this.copy(src, p0, p1)
    }
    this.put(TIMESTAMP)
    this.timestamp(timestamp)
    this.put(LEVEL)
    this.put(levelBytes[Number.isInteger(level) && level >= 1 && level <= 8 ? level : 0]!)
    this.put(SERVICE)
    this.copy(src, ranges[2]!, ranges[3]!)
    this.put(MESSAGE)
    this.copy(src, ranges[4]!, ranges[5]!)
    this.put(METADATA)
    this.copy(src, ranges[6]!, ranges[7]!)
    if (this.shape.routing) {
      this.put(INDEX)
      this.copy(src, ranges[8]!, ranges[9]!)
      this.put(SOURCETYPE)
      this.copy(src, ranges[10]!, ranges[11]!)
      this.put(TRANSPORT)
      this.copy(src, ranges[12]!, ranges[13]!)
    }
    this.out.byte(125) // }
  }

  /** The body: `{"events":[…]}`. */
  finish(): Uint8Array {
    this.put(CLOSE)
    return this.out.buffer.subarray(0, this.out.length)
  }
}
