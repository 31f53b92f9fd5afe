/**
 * The agent socket's fast path: checks one line's bytes against the rules of
 * SPEC §1 and writes each valid entry straight into its row encoding
 * (`@sluice/core/EventRow`), with no parse tree, no event object and no
 * string per field.
 *
 * It takes only the common shape: an entry object, or `{"entries":[…]}`
 * with an optional `"version"`, whose fields are the known ones, each once,
 * strings without raw control characters, `entryType`/`logLevel` as one
 * digit, metadata keys that are plain ASCII and not array indices. Anything
 * else (an action, an unknown or repeated key, `1.0` for a level, an
 * invalid entry, broken JSON) answers `fallback`, and the line goes through
 * the full decoder (`Message.ts`), which decides and words the answer. So
 * the scanner never refuses a line: it accepts exactly what the decoder
 * would accept, writing the same bytes the decoder's events encode to, or
 * steps aside. `test/scanner.test.ts` holds the two to that on arbitrary
 * lines.
 *
 * A string with an escape or a non-ASCII byte is decoded on its own (by
 * `JSON.parse` of its quoted bytes, which decodes UTF-8 the way the framer's
 * whole-line decoding would: a quote ends any broken sequence) and
 * re-encoded by `JSON.stringify`, so such strings are stored exactly as the
 * decoder stores them.
 */
import { type ByteWriter, copyBytes, copyWords } from "@sluice/core/ByteWriter"
import {
  asciiBytes as keyOf,
  CLOSE_BRACE,
  CLOSE_BRACKET,
  COLON,
  COMMA,
  copyCompact,
  equals,
  isSpace,
  JsonByteReader,
  OPEN_BRACE,
  OPEN_BRACKET,
  putAscii,
  putUtf8,
  QUOTE
} from "@sluice/core/JsonBytes"
import { parseRfc3339 } from "@sluice/core/Timestamp"
import { characterCount, type EntryLimits, protocolVersion } from "./Message.js"

/** The line needs the full decoder. */
export const fallback = -1

/** Field bits, to refuse a repeated key. */
const F_VERSION = 1
const F_PAYLOAD = 2
const F_ENTRY_TYPE = 4
const F_SOURCE = 8
const F_LOG_LEVEL = 16
const F_TIMESTAMP = 32
const F_PAYLOAD_TYPE = 64
const F_METADATA = 128
const REQUIRED = F_PAYLOAD | F_ENTRY_TYPE | F_SOURCE | F_LOG_LEVEL

const K_VERSION = keyOf("version")
const K_PAYLOAD = keyOf("payload")
const K_ENTRY_TYPE = keyOf("entryType")
const K_SOURCE = keyOf("source")
const K_LOG_LEVEL = keyOf("logLevel")
const K_TIMESTAMP = keyOf("timestamp")
const K_PAYLOAD_TYPE = keyOf("payloadType")
const K_METADATA = keyOf("metadata")
const K_ENTRIES = keyOf("entries")
const VERSION_VALUE = keyOf(protocolVersion)
const GENERIC = keyOf("\"generic\"")
const NULLS_AND_INDEX = keyOf(",null,null,\"main\",")
const EMPTY_METADATA = keyOf("{}")

/** The most metadata keys the scanner checks for repeats; more go to the decoder. */
const maxScannedKeys = 64

/** A scanner for one transport and one set of limits. */
export class EntryScanner extends JsonByteReader {
  // The current entry's fields.
  private seen = 0
  private payloadStart = 0
  private payloadEnd = 0
  private payloadText: string | undefined
  private entryType = 0
  private sourceStart = 0
  private sourceEnd = 0
  private sourceText: string | undefined
  private logLevel = 0
  private timestampText = ""
  // The last timestamp parsed: its bytes, and its epoch milliseconds as text.
  private readonly lastTimestamp = Buffer.alloc(64)
  // -1: none yet (so an empty timestamp never matches).
  private lastTimestampLength = -1
  private lastMillisText = ""
  private payloadTypeStart = 0
  private payloadTypeEnd = 0
  private metadataStart = 0
  private metadataEnd = 0
  private metadataText: string | undefined
  /** Bytes of plain metadata without whitespace (equal to its span when it has none). */
  private metadataCompact = 0
  // The current entry object's span.
  private entryStart = 0
  private entryEnd = 0
  private readonly metadataKeyStarts = new Int32Array(maxScannedKeys)
  private readonly metadataKeyEnds = new Int32Array(maxScannedKeys)
  private readonly transportText: Buffer
  private receivedAtText = ""
  private receivedAt = Number.NaN

  constructor(transport: string, private readonly limits: EntryLimits) {
    super()
    // `,"<sourcetype>","<transport>",` (both are the transport's name).
    const name = JSON.stringify(transport)
    this.transportText = Buffer.from(`${name},${name},`, "utf8")
  }

  /**
   * Scans the line `buf[start, end)`. When it holds valid entries, writes
   * their rows to `out` (comma-separated, after a comma when `out` is not
   * empty) and answers how many; else answers `fallback` and writes nothing.
   */
  scan(buf: Buffer, start: number, end: number, receivedAt: number, out: ByteWriter): number {
    this.reset(buf, start, end)
    if (receivedAt !== this.receivedAt) {
      this.receivedAt = receivedAt
      this.receivedAtText = JSON.stringify(receivedAt)
    }
    const mark = out.length
    const count = this.line(out)
    if (count === fallback) out.truncate(mark)
    return count
  }

  /** A digit from `min` to `max` standing alone as a number, else 0. */
  private digit(min: number, max: number): number {
    const buf = this.buf
    if (this.pos >= this.end) return 0
    const b = buf[this.pos]! - 0x30
    if (b < min || b > max) return 0
    const after = this.pos + 1 < this.end ? buf[this.pos + 1]! : -1
    // `1.0`, `1e0`, `12`: the decoder's business.
    if (after !== COMMA && after !== CLOSE_BRACE && !isSpace(after)) return 0
    this.pos++
    return b
  }

  private line(out: ByteWriter): number {
    if (this.skipSpace() !== OPEN_BRACE) return fallback
    const objectStart = this.pos
    this.pos++
    if (this.skipSpace() !== QUOTE || !this.string() || !this.strPlain) return fallback
    // A batch starts with `entries` or `version`; a `version` followed by anything but `entries` is an entry.
    let count: number
    if (equals(this.buf, this.strStart, this.strEnd, K_ENTRIES)) {
      count = this.batch(out, false)
    } else if (equals(this.buf, this.strStart, this.strEnd, K_VERSION) && this.versionThenEntries()) {
      count = this.batch(out, true)
    } else {
      this.pos = objectStart
      count = this.entry(out) ? 1 : fallback
    }
    if (count === fallback) return fallback
    return this.skipSpace() === -1 ? count : fallback
  }

  /** At the key after `"version"`: whether it is `"version":"1.0","entries"` (positions past it if so). */
  private versionThenEntries(): boolean {
    const save = this.pos
    if (this.skipSpace() === COLON) {
      this.pos++
      if (
        this.skipSpace() === QUOTE && this.string() && equals(this.buf, this.strStart, this.strEnd, VERSION_VALUE) &&
        this.next(CLOSE_BRACE) === true && this.skipSpace() === QUOTE && this.string() && this.strPlain &&
        equals(this.buf, this.strStart, this.strEnd, K_ENTRIES)
      ) return true
    }
    this.pos = save
    return false
  }

  /** At the colon after `"entries"`: the array, then (unless already seen) an optional `"version":"1.0"`. */
  private batch(out: ByteWriter, versionSeen: boolean): number {
    if (this.skipSpace() !== COLON) return fallback
    this.pos++
    if (this.skipSpace() !== OPEN_BRACKET) return fallback
    this.pos++
    let count = 0
    if (this.skipSpace() === CLOSE_BRACKET) return fallback
    while (true) {
      if (!this.entry(out)) return fallback
      count++
      const more = this.next(CLOSE_BRACKET)
      if (more === undefined) return fallback
      if (!more) break
    }
    if (count > this.limits.maxBatchEntries) return fallback
    let more = this.next(CLOSE_BRACE)
    if (more === true && !versionSeen) {
      if (this.skipSpace() !== QUOTE || !this.string() || !equals(this.buf, this.strStart, this.strEnd, K_VERSION)) {
        return fallback
      }
      if (this.skipSpace() !== COLON) return fallback
      this.pos++
      if (
        this.skipSpace() !== QUOTE || !this.string() || !equals(this.buf, this.strStart, this.strEnd, VERSION_VALUE)
      ) return fallback
      more = this.next(CLOSE_BRACE)
    }
    return more === false ? count : fallback
  }

  /** One entry object at `pos`; writes its row, or answers `false` (nothing written that the caller keeps). */
  private entry(out: ByteWriter): boolean {
    if (this.skipSpace() !== OPEN_BRACE) return false
    this.entryStart = this.pos
    this.pos++
    this.seen = 0
    this.payloadText = undefined
    this.sourceText = undefined
    this.metadataText = undefined
    if (this.skipSpace() === CLOSE_BRACE) return false
    while (true) {
      if (this.skipSpace() !== QUOTE || !this.string() || !this.strPlain) return false
      const keyStart = this.strStart
      const keyEnd = this.strEnd
      if (this.skipSpace() !== COLON) return false
      this.pos++
      const b = this.skipSpace()
      if (!this.field(keyStart, keyEnd, b)) return false
      const more = this.next(CLOSE_BRACE)
      if (more === undefined) return false
      if (!more) break
    }
    if ((this.seen & REQUIRED) !== REQUIRED) return false
    this.entryEnd = this.pos
    this.write(out)
    return true
  }

  /** One field's value at `pos` (its first byte `b`). */
  private field(keyStart: number, keyEnd: number, b: number): boolean {
    const buf = this.buf
    const length = keyEnd - keyStart
    let bit = 0
    // Dispatch on the key's length, then compare.
    if (length === 7) {
      if (equals(buf, keyStart, keyEnd, K_PAYLOAD)) bit = F_PAYLOAD
      else if (equals(buf, keyStart, keyEnd, K_VERSION)) bit = F_VERSION
    } else if (length === 6) {
      if (equals(buf, keyStart, keyEnd, K_SOURCE)) bit = F_SOURCE
    } else if (length === 9) {
      if (equals(buf, keyStart, keyEnd, K_ENTRY_TYPE)) bit = F_ENTRY_TYPE
      else if (equals(buf, keyStart, keyEnd, K_TIMESTAMP)) bit = F_TIMESTAMP
    } else if (length === 8) {
      if (equals(buf, keyStart, keyEnd, K_LOG_LEVEL)) bit = F_LOG_LEVEL
      else if (equals(buf, keyStart, keyEnd, K_METADATA)) bit = F_METADATA
    } else if (length === 11) {
      if (equals(buf, keyStart, keyEnd, K_PAYLOAD_TYPE)) bit = F_PAYLOAD_TYPE
    }
    // Unknown (ignored by the decoder, but its value may be anything) or repeated (the last one wins there).
    if (bit === 0 || (this.seen & bit) !== 0) return false
    this.seen |= bit
    const limits = this.limits
    switch (bit) {
      case F_ENTRY_TYPE:
        return (this.entryType = this.digit(1, 5)) !== 0
      case F_LOG_LEVEL:
        return (this.logLevel = this.digit(1, 8)) !== 0
      case F_METADATA:
        return b === OPEN_BRACE && this.metadata()
    }
    if (b !== QUOTE || !this.string()) return false
    switch (bit) {
      case F_VERSION:
        return equals(buf, this.strStart, this.strEnd, VERSION_VALUE)
      case F_PAYLOAD: {
        this.payloadStart = this.strStart
        this.payloadEnd = this.strEnd
        if (this.strPlain) return this.strEnd - this.strStart <= limits.maxPayloadBytes
        const text = this.decodeString()
        if (text === undefined || Buffer.byteLength(text, "utf8") > limits.maxPayloadBytes) return false
        this.payloadText = text
        return true
      }
      case F_SOURCE: {
        this.sourceStart = this.strStart
        this.sourceEnd = this.strEnd
        if (this.strPlain) return this.strEnd > this.strStart && this.strEnd - this.strStart <= limits.maxSourceLength
        const text = this.decodeString()
        if (text === undefined || text.length === 0 || characterCount(text) > limits.maxSourceLength) return false
        this.sourceText = text
        return true
      }
      case F_TIMESTAMP: {
        if (!this.strPlain) return false
        // Neighbouring lines often carry the same timestamp: reuse the last one's parse.
        const last = this.lastTimestamp
        if (equals(buf, this.strStart, this.strEnd, last, this.lastTimestampLength)) {
          this.timestampText = this.lastMillisText
          return true
        }
        const millis = parseRfc3339(buf.toString("latin1", this.strStart, this.strEnd))
        if (millis === undefined) return false
        this.timestampText = String(millis)
        if (this.strEnd - this.strStart <= last.length) {
          this.lastTimestampLength = buf.copy(last, 0, this.strStart, this.strEnd)
          this.lastMillisText = this.timestampText
        }
        return true
      }
      case F_PAYLOAD_TYPE: {
        const start = this.strStart
        const end = this.strEnd
        if (end === start || end - start > 64) return false
        for (let i = start; i < end; i++) {
          const c = buf[i]!
          if (!((c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x5f)) return false
        }
        this.payloadTypeStart = start
        this.payloadTypeEnd = end
        return true
      }
    }
    return false
  }

  /** The metadata object at `pos`: plain keys, each once, string values within the limits. */
  private metadata(): boolean {
    const buf = this.buf
    const limits = this.limits
    const start = this.pos
    this.pos++
    if (this.skipSpace() === CLOSE_BRACE) {
      this.pos++
      this.metadataStart = start
      this.metadataEnd = this.pos
      this.metadataCompact = 2
      this.metadataText = undefined
      return 2 <= limits.maxMetadataBytes
    }
    let keys = 0
    let plain = true
    let bytes = 2
    while (true) {
      if (this.skipSpace() !== QUOTE || !this.string() || !this.strPlain) return false
      const keyStart = this.strStart
      const keyEnd = this.strEnd
      // A key that is an array index moves to the front in the decoder's object; `__proto__` is dropped there.
      const first = buf[keyStart]
      if (first !== undefined && first >= 0x30 && first <= 0x39) return false
      if (keyEnd - keyStart === 9 && buf.toString("latin1", keyStart, keyEnd) === "__proto__") return false
      if (keys === maxScannedKeys) return false
      for (let k = 0; k < keys; k++) {
        const s = this.metadataKeyStarts[k]!
        const e = this.metadataKeyEnds[k]!
        if (e - s === keyEnd - keyStart && buf.compare(buf, keyStart, keyEnd, s, e) === 0) return false
      }
      this.metadataKeyStarts[keys] = keyStart
      this.metadataKeyEnds[keys] = keyEnd
      keys++
      if (this.skipSpace() !== COLON) return false
      this.pos++
      if (this.skipSpace() !== QUOTE || !this.string()) return false
      if (this.strPlain) {
        if (this.strEnd - this.strStart > limits.maxMetadataValueLength) return false
        bytes += keyEnd - keyStart + this.strEnd - this.strStart + 6
      } else {
        const text = this.decodeString()
        if (text === undefined || characterCount(text) > limits.maxMetadataValueLength) return false
        plain = false
      }
      const more = this.next(CLOSE_BRACE)
      if (more === undefined) return false
      if (!more) break
    }
    this.metadataStart = start
    this.metadataEnd = this.pos
    if (plain) {
      // `{"k":"v","k2":"v2"}`: the bytes as `JSON.stringify` writes them (spaces are not copied).
      this.metadataText = undefined
      this.metadataCompact = bytes - 1
      return bytes - 1 <= limits.maxMetadataBytes
    }
    // Escapes or non-ASCII: the decoder's object, written out as it would be.
    let value: unknown
    try {
      value = JSON.parse(buf.toString("utf8", start, this.pos))
    } catch {
      return false
    }
    const text = JSON.stringify(value)
    if (Buffer.byteLength(text, "utf8") > limits.maxMetadataBytes) return false
    this.metadataText = text
    return true
  }

  /** Writes the current entry's row (one reservation, then plain copies). */
  private write(out: ByteWriter): void {
    const src = this.buf
    const tsText = (this.seen & F_TIMESTAMP) !== 0 ? this.timestampText : this.receivedAtText
    const source = this.sourceText === undefined ? undefined : JSON.stringify(this.sourceText)
    const payload = this.payloadText === undefined ? undefined : JSON.stringify(this.payloadText)
    // Plain fields are copies of the entry's own bytes; a re-encoded string
    // takes at most 3 bytes of UTF-8 per code unit.
    out.reserve(
      this.entryEnd - this.entryStart + 96 + this.transportText.length + tsText.length +
        this.receivedAtText.length + 3 * ((source?.length ?? 0) + (payload?.length ?? 0) +
            (this.metadataText?.length ?? 0))
    )
    const dst = out.buffer
    const dstView = out.view
    const srcView = this.view
    let at = out.length
    if (at > 0) dst[at++] = COMMA
    dst[at++] = OPEN_BRACKET
    at = putAscii(dst, at, tsText)
    dst[at++] = COMMA
    at = putAscii(dst, at, this.receivedAtText)
    dst[at++] = COMMA
    dst[at++] = 0x30 + this.logLevel
    dst[at++] = COMMA
    at = source === undefined
      ? copyWords(dstView, dst, at, srcView, src, this.sourceStart - 1, this.sourceEnd + 1)
      : putUtf8(dst, at, source)
    dst[at++] = COMMA
    at = payload === undefined
      ? copyWords(dstView, dst, at, srcView, src, this.payloadStart - 1, this.payloadEnd + 1)
      : putUtf8(dst, at, payload)
    dst[at++] = COMMA
    dst[at++] = 0x30 + this.entryType
    dst[at++] = COMMA
    at = (this.seen & F_PAYLOAD_TYPE) !== 0
      ? copyBytes(dst, at, src, this.payloadTypeStart - 1, this.payloadTypeEnd + 1)
      : copyBytes(dst, at, GENERIC, 0, GENERIC.length)
    at = copyBytes(dst, at, NULLS_AND_INDEX, 0, NULLS_AND_INDEX.length)
    at = copyBytes(dst, at, this.transportText, 0, this.transportText.length)
    if ((this.seen & F_METADATA) === 0) at = copyBytes(dst, at, EMPTY_METADATA, 0, EMPTY_METADATA.length)
    else if (this.metadataText !== undefined) at = putUtf8(dst, at, this.metadataText)
    else if (this.metadataEnd - this.metadataStart === this.metadataCompact) {
      at = copyWords(dstView, dst, at, srcView, src, this.metadataStart, this.metadataEnd)
    } else at = copyCompact(dst, at, src, this.metadataStart, this.metadataEnd)
    dst[at++] = CLOSE_BRACKET
    out.length = at
  }
}
