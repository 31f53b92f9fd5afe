/**
 * The drain's fast path: checks a body's bytes against SPEC §2 and writes
 * each event straight into its row encoding (`@sluice/core/EventRow`), with
 * no `JSON.parse` of the body, no event object and no string per field.
 *
 * It takes the common shape: `{"events":[…]}` whose events have the known
 * fields, each once, as strings; unknown keys (ignored, as the decoder
 * ignores them) with canonical values; metadata any JSON object. Canonical
 * metadata (plain strings, short integers, literals, plain keys; see
 * `JsonBytes.value`) is copied without its whitespace; other metadata is
 * parsed on its own and written as `JSON.stringify` writes it, which is what
 * the decoder stores. Anything else (an escaped key, a repeated field, an
 * empty batch, more events than the limit, any invalid event, broken JSON)
 * answers `fallback`, and the body goes through `JSON.parse` and
 * `DrainBatch.decode`, which decide and word the answer. So the scanner
 * never refuses a body: it accepts exactly what the decoder would accept,
 * writing the bytes the decoder's events encode to, or steps aside.
 *
 * An `"edge"` scanner does the same for the edge route: it also reads each
 * event's `index`, `sourcetype` and `transport` (plain strings of 1 to 64
 * characters; anything else steps aside) and writes the agent's id and that
 * routing, as `EdgeRoutes.stamp` does to decoded events.
 * `test/DrainScanner.test.ts` holds the scanner to the decoder (and the
 * stamp) on arbitrary bodies.
 */
import { type ByteWriter, copyBytes, copyWords } from "@sluice/core/ByteWriter"
import type { TransportCounts } from "@sluice/core/EventBatch"
import {
  asciiBytes,
  CLOSE_BRACE,
  CLOSE_BRACKET,
  COLON,
  COMMA,
  copyCompact,
  equals,
  JsonByteReader,
  OPEN_BRACE,
  OPEN_BRACKET,
  putAscii,
  putNumber,
  putUtf8,
  QUOTE,
  ValueScan
} from "@sluice/core/JsonBytes"
import { levelFromBytes } from "@sluice/core/Level"
import { parseFlexibleTimestamp, TimestampReader } from "@sluice/core/Timestamp"
import { type BatchLimits, edgeRoutingDefaults, maxNameLength, maxRoutingLength } from "./DrainBatch.js"

/** The body needs the full decoder. */
export const fallback = -1

const F_PROJECT = 1
const F_TIMESTAMP = 2
const F_LEVEL = 4
const F_SERVICE = 8
const F_MESSAGE = 16
const F_METADATA = 32
const F_INDEX = 64
const F_SOURCETYPE = 128
const F_TRANSPORT = 256
const REQUIRED = F_PROJECT | F_TIMESTAMP | F_LEVEL | F_SERVICE | F_MESSAGE

const K_EVENTS = asciiBytes("events")
const K_PROJECT = asciiBytes("project_id")
const K_TIMESTAMP = asciiBytes("timestamp")
const K_LEVEL = asciiBytes("level")
const K_SERVICE = asciiBytes("service")
const K_MESSAGE = asciiBytes("message")
const K_METADATA = asciiBytes("metadata")
const K_INDEX = asciiBytes("index")
const K_SOURCETYPE = asciiBytes("sourcetype")
const K_TRANSPORT = asciiBytes("transport")
/** `,1,"generic",` — the entry type and payload type of every drain event. */
const ENTRY_AND_PAYLOAD_TYPE = asciiBytes(",1,\"generic\",")
/** `,null,"main","http","http",` — no agent, the main index, sourcetype and transport. */
const AGENT_INDEX_TRANSPORT = asciiBytes(",null,\"main\",\"http\",\"http\",")
const EMPTY_METADATA = asciiBytes("{}")
const DEFAULT_INDEX = asciiBytes(JSON.stringify(edgeRoutingDefaults.index))
const DEFAULT_SOURCETYPE = asciiBytes(JSON.stringify(edgeRoutingDefaults.sourcetype))
const DEFAULT_TRANSPORT = asciiBytes(edgeRoutingDefaults.transport)

/** Which route's events a scanner writes. */
export type ScanRouting = "drain" | "edge"

/** Events per transport of an edge batch, by the transport's bytes. */
interface TransportTally {
  readonly bytes: Buffer
  readonly name: string
  count: number
}

/** A scanner for one set of limits and one route; one body at a time. */
export class DrainScanner extends JsonByteReader {
  private seen = 0
  private levelNumber = 0
  private projectStart = 0
  private projectEnd = 0
  private projectText: string | undefined
  private serviceStart = 0
  private serviceEnd = 0
  private serviceText: string | undefined
  private messageStart = 0
  private messageEnd = 0
  private messageText: string | undefined
  private metadataStart = 0
  private metadataEnd = 0
  /** Re-encoded metadata, when it was not canonical. */
  private metadataText: string | undefined
  private metadataCompact = 0
  private timestampMillis = 0
  private readonly timestamps = new TimestampReader()
  private receivedAtText = ""
  private receivedAt = Number.NaN
  private readonly edge: boolean
  // Edge only: the agent's id as JSON, each event's routing fields, and the batch's transports.
  private agentId: string | null = null
  /** The agent's id as JSON, in UTF-8. */
  private agentJson: Buffer = asciiBytes("null")
  private indexStart = 0
  private indexEnd = 0
  private sourcetypeStart = 0
  private sourcetypeEnd = 0
  private transportStart = 0
  private transportEnd = 0
  private tallies: Array<TransportTally> = []
  private lastTally: TransportTally | undefined

  constructor(private readonly limits: BatchLimits, routing: ScanRouting = "drain") {
    super()
    this.edge = routing === "edge"
  }

  /**
   * Scans the body `body`. When it is a valid batch of the common shape,
   * writes its rows to `out` (comma-separated, after a comma when `out` is
   * not empty) and answers how many; else answers `fallback` and leaves
   * `out` as it was. An edge scanner writes `agentId` into every row.
   */
  scan(body: Buffer, receivedAt: number, out: ByteWriter, agentId: string | null = null): number {
    this.reset(body, 0, body.length)
    if (receivedAt !== this.receivedAt) {
      this.receivedAt = receivedAt
      this.receivedAtText = JSON.stringify(receivedAt)
    }
    if (agentId !== this.agentId) {
      this.agentId = agentId
      this.agentJson = Buffer.from(JSON.stringify(agentId), "utf8")
    }
    if (this.edge) {
      this.tallies = []
      this.lastTally = undefined
    }
    const mark = out.length
    const count = this.body(out)
    if (count === fallback) out.truncate(mark)
    this.release()
    return count
  }

  /** The events per transport of the batch just scanned (`count` of them). */
  transports(count: number): TransportCounts {
    if (!this.edge) return [["http", count]]
    return this.tallies.map((t) => [t.name, t.count] as const)
  }

  private body(out: ByteWriter): number {
    if (this.skipSpace() !== OPEN_BRACE) return fallback
    this.pos++
    let count = fallback
    while (true) {
      if (this.skipSpace() !== QUOTE || !this.string() || !this.strPlain) return fallback
      const isEvents = equals(this.buf, this.strStart, this.strEnd, K_EVENTS)
      if (this.skipSpace() !== COLON) return fallback
      this.pos++
      if (isEvents) {
        if (count !== fallback) return fallback // repeated: the last one wins in the decoder
        count = this.events(out)
        if (count === fallback) return fallback
      } else if (this.value() !== ValueScan.Canonical) return fallback
      const more = this.next(CLOSE_BRACE)
      if (more === undefined) return fallback
      if (!more) break
    }
    if (count === fallback || this.skipSpace() !== -1) return fallback
    return count
  }

  /** The events array at `pos`. */
  private events(out: ByteWriter): number {
    if (this.skipSpace() !== OPEN_BRACKET) return fallback
    this.pos++
    // An empty batch is the decoder's to answer.
    if (this.skipSpace() === CLOSE_BRACKET) return fallback
    const max = this.limits.maxEvents
    let count = 0
    while (true) {
      if (count === max || !this.event(out)) return fallback
      count++
      const more = this.next(CLOSE_BRACKET)
      if (more === undefined) return fallback
      if (!more) return count
    }
  }

  /** One event object at `pos`; writes its row, or answers `false`. */
  private event(out: ByteWriter): boolean {
    if (this.skipSpace() !== OPEN_BRACE) return false
    this.pos++
    this.seen = 0
    this.projectText = undefined
    this.serviceText = undefined
    this.messageText = undefined
    this.metadataText = undefined
    if (this.skipSpace() === CLOSE_BRACE) return false
    while (true) {
      if (this.skipSpace() !== QUOTE || !this.string() || !this.strPlain) return false
      const keyStart = this.strStart
      const keyEnd = this.strEnd
      if (this.skipSpace() !== COLON) return false
      this.pos++
      if (!this.field(keyStart, keyEnd, this.skipSpace())) return false
      const more = this.next(CLOSE_BRACE)
      if (more === undefined) return false
      if (!more) break
    }
    if ((this.seen & REQUIRED) !== REQUIRED) return false
    this.write(out)
    if (this.edge) this.tally()
    return true
  }

  /** One field's value at `pos` (its first byte `b`). */
  private field(keyStart: number, keyEnd: number, b: number): boolean {
    const buf = this.buf
    let bit = 0
    switch (keyEnd - keyStart) {
      case 10:
        if (equals(buf, keyStart, keyEnd, K_PROJECT)) bit = F_PROJECT
        else if (this.edge && equals(buf, keyStart, keyEnd, K_SOURCETYPE)) bit = F_SOURCETYPE
        break
      case 9:
        if (equals(buf, keyStart, keyEnd, K_TIMESTAMP)) bit = F_TIMESTAMP
        else if (this.edge && equals(buf, keyStart, keyEnd, K_TRANSPORT)) bit = F_TRANSPORT
        break
      case 5:
        if (equals(buf, keyStart, keyEnd, K_LEVEL)) bit = F_LEVEL
        else if (this.edge && equals(buf, keyStart, keyEnd, K_INDEX)) bit = F_INDEX
        break
      case 7:
        if (equals(buf, keyStart, keyEnd, K_SERVICE)) bit = F_SERVICE
        else if (equals(buf, keyStart, keyEnd, K_MESSAGE)) bit = F_MESSAGE
        break
      case 8:
        if (equals(buf, keyStart, keyEnd, K_METADATA)) bit = F_METADATA
        break
    }
    // An unknown key is ignored by the decoder, whatever its value; here only a value this reader fully checks.
    if (bit === 0) return this.value() === ValueScan.Canonical
    // Repeated: the last one wins in the decoder.
    if ((this.seen & bit) !== 0) return false
    this.seen |= bit
    if (bit === F_METADATA) return b === OPEN_BRACE && this.metadata()
    if (b !== QUOTE || !this.string()) return false
    switch (bit) {
      case F_PROJECT: {
        this.projectStart = this.strStart
        this.projectEnd = this.strEnd
        const text = this.name()
        this.projectText = text ?? undefined
        return text !== undefined
      }
      case F_SERVICE: {
        this.serviceStart = this.strStart
        this.serviceEnd = this.strEnd
        const text = this.name()
        this.serviceText = text ?? undefined
        return text !== undefined
      }
      case F_MESSAGE: {
        this.messageStart = this.strStart
        this.messageEnd = this.strEnd
        if (this.strPlain) return this.strEnd - this.strStart <= this.limits.maxMessageBytes
        const text = this.decodeString()
        if (text === undefined || Buffer.byteLength(text, "utf8") > this.limits.maxMessageBytes) return false
        this.messageText = text
        return true
      }
      case F_TIMESTAMP:
        return this.strPlain && this.timestamp()
      case F_LEVEL:
        return this.strPlain && this.level()
      case F_INDEX:
        this.indexStart = this.strStart
        this.indexEnd = this.strEnd
        return this.routingValue()
      case F_SOURCETYPE:
        this.sourcetypeStart = this.strStart
        this.sourcetypeEnd = this.strEnd
        return this.routingValue()
      case F_TRANSPORT:
        this.transportStart = this.strStart
        this.transportEnd = this.strEnd
        return this.routingValue()
    }
    return false
  }

  /** The routing field just scanned: plain, 1 to 64 characters (the rest is the stamp's to word). */
  private routingValue(): boolean {
    const length = this.strEnd - this.strStart
    return this.strPlain && length >= 1 && length <= maxRoutingLength
  }

  /** Counts the current event under its transport (in order of first appearance, as for decoded events). */
  private tally(): void {
    const own = (this.seen & F_TRANSPORT) !== 0
    let t = this.lastTally
    if (t === undefined || !this.isTransportOf(t, own)) {
      t = undefined
      for (const x of this.tallies) {
        if (this.isTransportOf(x, own)) {
          t = x
          break
        }
      }
      if (t === undefined) {
        t = own
          ? {
            bytes: Buffer.from(this.buf.subarray(this.transportStart, this.transportEnd)),
            name: this.buf.toString("latin1", this.transportStart, this.transportEnd),
            count: 0
          }
          : { bytes: DEFAULT_TRANSPORT, name: edgeRoutingDefaults.transport, count: 0 }
        this.tallies.push(t)
      }
      this.lastTally = t
    }
    t.count++
  }

  /** Whether the current event's transport (its own, or the default) is `t`'s. */
  private isTransportOf(t: TransportTally, own: boolean): boolean {
    return own
      ? equals(this.buf, this.transportStart, this.transportEnd, t.bytes)
      : t.name === edgeRoutingDefaults.transport
  }

  /**
   * The name (`project_id`, `service`) just scanned, 1 to 256 UTF-16 units:
   * `null` when plain (its bytes are copied), else its decoded text;
   * `undefined` when it is not a valid name.
   */
  private name(): string | null | undefined {
    if (this.strPlain) {
      return this.strEnd > this.strStart && this.strEnd - this.strStart <= maxNameLength ? null : undefined
    }
    const text = this.decodeString()
    return text === undefined || text.length === 0 || text.length > maxNameLength ? undefined : text
  }

  /** The timestamp just scanned (plain), in any of the drain's formats. */
  private timestamp(): boolean {
    const millis = this.timestamps.read(this.buf, this.strStart, this.strEnd) ??
      parseFlexibleTimestamp(this.buf.toString("latin1", this.strStart, this.strEnd))
    if (millis === undefined) return false
    this.timestampMillis = millis
    return true
  }

  /** The level word just scanned (plain). */
  private level(): boolean {
    return (this.levelNumber = levelFromBytes(this.buf, this.strStart, this.strEnd)) !== 0
  }

  /** The metadata object at `pos`. */
  private metadata(): boolean {
    const start = this.pos
    const scan = this.value()
    if (scan === ValueScan.Refused) return false
    this.metadataStart = start
    this.metadataEnd = this.pos
    if (scan === ValueScan.Canonical) {
      this.metadataCompact = this.compactBytes
      return true
    }
    // Escapes, non-ASCII, numbers like `1.0`, repeated keys: parsed and written out as the decoder stores them.
    try {
      this.metadataText = JSON.stringify(JSON.parse(this.buf.toString("utf8", start, this.pos)))
      return true
    } catch {
      return false
    }
  }

  /** Writes the current event's row (one reservation, then plain copies). */
  private write(out: ByteWriter): void {
    const src = this.buf
    const project = this.projectText === undefined ? undefined : JSON.stringify(this.projectText)
    const service = this.serviceText === undefined ? undefined : JSON.stringify(this.serviceText)
    const message = this.messageText === undefined ? undefined : JSON.stringify(this.messageText)
    const metadataBytes = (this.seen & F_METADATA) === 0
      ? 2
      : this.metadataText === undefined
      ? this.metadataCompact
      : 3 * this.metadataText.length
    // Plain fields are copies of the body's bytes; a re-encoded string takes at most 3 bytes of UTF-8 per code unit.
    out.reserve(
      128 + this.receivedAtText.length + metadataBytes +
        (this.edge ? this.agentJson.length + 3 * (maxRoutingLength + 3) : 0) +
        (project === undefined ? this.projectEnd - this.projectStart + 2 : 3 * project.length) +
        (service === undefined ? this.serviceEnd - this.serviceStart + 2 : 3 * service.length) +
        (message === undefined ? this.messageEnd - this.messageStart + 2 : 3 * message.length)
    )
    const dst = out.buffer
    const dstView = out.view
    const srcView = this.view
    let at = out.length
    if (at > 0) dst[at++] = COMMA
    dst[at++] = OPEN_BRACKET
    at = putNumber(dst, at, this.timestampMillis)
    dst[at++] = COMMA
    at = putAscii(dst, at, this.receivedAtText)
    dst[at++] = COMMA
    dst[at++] = 0x30 + this.levelNumber
    dst[at++] = COMMA
    at = service === undefined
      ? copyWords(dstView, dst, at, srcView, src, this.serviceStart - 1, this.serviceEnd + 1)
      : putUtf8(dst, at, service)
    dst[at++] = COMMA
    at = message === undefined
      ? copyWords(dstView, dst, at, srcView, src, this.messageStart - 1, this.messageEnd + 1)
      : putUtf8(dst, at, message)
    at = copyBytes(dst, at, ENTRY_AND_PAYLOAD_TYPE, 0, ENTRY_AND_PAYLOAD_TYPE.length)
    at = project === undefined
      ? copyWords(dstView, dst, at, srcView, src, this.projectStart - 1, this.projectEnd + 1)
      : putUtf8(dst, at, project)
    if (this.edge) at = this.writeRouting(dst, at)
    else at = copyBytes(dst, at, AGENT_INDEX_TRANSPORT, 0, AGENT_INDEX_TRANSPORT.length)
    if ((this.seen & F_METADATA) === 0) at = copyBytes(dst, at, EMPTY_METADATA, 0, EMPTY_METADATA.length)
    else if (this.metadataText !== undefined) at = putUtf8(dst, at, this.metadataText)
    else if (this.metadataEnd - this.metadataStart === this.metadataCompact) {
      at = copyWords(dstView, dst, at, srcView, src, this.metadataStart, this.metadataEnd)
    } else at = copyCompact(dst, at, src, this.metadataStart, this.metadataEnd)
    dst[at++] = CLOSE_BRACKET
    out.length = at
  }

  /** `,agent,index,sourcetype,transport,` of an edge event (its own routing, or the defaults). */
  private writeRouting(dst: Buffer, at: number): number {
    const src = this.buf
    dst[at++] = COMMA
    at = copyBytes(dst, at, this.agentJson, 0, this.agentJson.length)
    dst[at++] = COMMA
    at = (this.seen & F_INDEX) === 0
      ? copyBytes(dst, at, DEFAULT_INDEX, 0, DEFAULT_INDEX.length)
      : copyBytes(dst, at, src, this.indexStart - 1, this.indexEnd + 1)
    dst[at++] = COMMA
    at = (this.seen & F_SOURCETYPE) === 0
      ? copyBytes(dst, at, DEFAULT_SOURCETYPE, 0, DEFAULT_SOURCETYPE.length)
      : copyBytes(dst, at, src, this.sourcetypeStart - 1, this.sourcetypeEnd + 1)
    dst[at++] = COMMA
    if ((this.seen & F_TRANSPORT) === 0) {
      dst[at++] = QUOTE
      at = copyBytes(dst, at, DEFAULT_TRANSPORT, 0, DEFAULT_TRANSPORT.length)
      dst[at++] = QUOTE
    } else at = copyBytes(dst, at, src, this.transportStart - 1, this.transportEnd + 1)
    dst[at++] = COMMA
    return at
  }
}
