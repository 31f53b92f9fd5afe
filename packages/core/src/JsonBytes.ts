/**
 * Reading JSON as bytes, for transports that validate a body without
 * parsing it into objects (the socket's `EntryScanner`, the drain's
 * `DrainScanner`): a cursor over a buffer, strings as byte ranges, and a
 * scan of any JSON value that tells whether its bytes, without whitespace,
 * are exactly what `JSON.stringify(JSON.parse(bytes))` writes ("canonical"),
 * so a scanner can copy such a value instead of parsing and re-encoding it.
 *
 * Every method answers "not this shape" rather than an error: a scanner that
 * meets something it does not take steps aside, and the full decoder (with
 * `JSON.parse` and the Schema) decides and words the answer.
 */
import { viewOf } from "./ByteWriter.js"

export const QUOTE = 0x22
export const BACKSLASH = 0x5c
export const COMMA = 0x2c
export const COLON = 0x3a
export const OPEN_BRACE = 0x7b
export const CLOSE_BRACE = 0x7d
export const OPEN_BRACKET = 0x5b
export const CLOSE_BRACKET = 0x5d

/** JSON's whitespace. */
export const isSpace = (b: number): boolean => b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d

/** Latin-1 bytes of an ASCII text, for comparing keys. */
export const asciiBytes = (text: string): Buffer => Buffer.from(text, "latin1")

/** Whether `buf[start, end)` holds exactly `key[0, length)`. */
export const equals = (buf: Buffer, start: number, end: number, key: Buffer, length = key.length): boolean => {
  if (end - start !== length) return false
  for (let i = 0; i < length; i++) if (buf[start + i] !== key[i]) return false
  return true
}

/** Writes a string of code units below 0x80 at `at`; answers the position after it. */
export const putAscii = (dst: Buffer, at: number, text: string): number => {
  for (let i = 0; i < text.length; i++) dst[at++] = text.charCodeAt(i)
  return at
}

/** Writes a number as `JSON.stringify` does (room for 24 bytes reserved by the caller); answers the position after it. */
export const putNumber = (dst: Buffer, at: number, value: number): number => {
  if (!(value >= 0 && value <= Number.MAX_SAFE_INTEGER && Number.isInteger(value))) {
    return putAscii(dst, at, JSON.stringify(value))
  }
  let digits = 1
  for (let v = value; v >= 10; v = Math.floor(v / 10)) digits++
  let v = value
  for (let i = at + digits - 1; i >= at; i--) {
    const q = Math.floor(v / 10)
    dst[i] = 0x30 + (v - q * 10)
    v = q
  }
  return at + digits
}

/** Writes a string as UTF-8 at `at` (room reserved by the caller); answers the position after it. */
export const putUtf8 = (dst: Buffer, at: number, text: string): number => at + dst.write(text, at, "utf8")

/** What `value` found. */
export const ValueScan = {
  /** Not JSON this reader checks (or not JSON at all): the caller steps aside. */
  Refused: 0,
  /** Valid JSON whose bytes, without whitespace, are its `JSON.stringify(JSON.parse(…))`. */
  Canonical: 1,
  /** Looks like JSON but may be written differently once parsed (escapes, non-ASCII, `1.0`, repeated keys…); not validated. */
  Other: 2
} as const
export type ValueScan = typeof ValueScan[keyof typeof ValueScan]

const T = asciiBytes("true")
const F = asciiBytes("false")
const N = asciiBytes("null")
const PROTO = asciiBytes("__proto__")

/** The deepest nesting `value` follows. */
const maxDepth = 32
/** The most keys `value` keeps for the repeated-key check, over all open objects. */
const maxKeys = 128

const empty = Buffer.alloc(0)
const emptyView = viewOf(empty)

/** A cursor over `buf[pos, end)`. */
export class JsonByteReader {
  protected buf: Buffer = empty
  /** A DataView of `buf`, for reading four bytes at a time. */
  protected view: DataView = emptyView
  protected pos = 0
  protected end = 0
  /** The string just scanned: its content bytes, between the quotes. */
  protected strStart = 0
  protected strEnd = 0
  /** Whether it holds neither an escape nor a non-ASCII byte (then its bytes are its text and its JSON). */
  protected strPlain = true
  /** Bytes of the value just scanned by `value`, without whitespace outside strings. */
  protected compactBytes = 0
  private readonly keyStarts = new Int32Array(maxKeys)
  private readonly keyEnds = new Int32Array(maxKeys)
  private keyCount = 0

  /** Moves to `buf[start, end)`. */
  protected reset(buf: Buffer, start: number, end: number): void {
    if (buf !== this.buf) this.view = viewOf(buf)
    this.buf = buf
    this.pos = start
    this.end = end
  }

  /** Lets go of the buffer (a reader kept between requests should not hold the last body). */
  protected release(): void {
    this.buf = empty
    this.view = emptyView
  }

  /** Skips whitespace; answers the byte at `pos`, or -1 at the end. */
  protected skipSpace(): number {
    const buf = this.buf
    while (this.pos < this.end && isSpace(buf[this.pos]!)) this.pos++
    return this.pos < this.end ? buf[this.pos]! : -1
  }

  /**
   * Scans a string at `pos` (which holds its opening quote) up to its closing
   * quote; `false` at a raw control character or the end. An escape is only
   * skipped, not checked: a string that is not plain must be decoded
   * (`decodeString`) before it is trusted.
   */
  protected string(): boolean {
    const buf = this.buf
    const view = this.view
    const end = this.end
    let i = this.pos + 1
    let plain = true
    this.strStart = i
    // Four ordinary bytes at a time: no quote, backslash, control or non-ASCII
    // byte among them (exact tests for "a byte equal to" and "a byte below").
    while (i + 4 <= end) {
      const w = view.getUint32(i, true)
      const q = w ^ 0x22222222
      const s = w ^ 0x5c5c5c5c
      if ((((q - 0x01010101) & ~q) | ((s - 0x01010101) & ~s) | ((w - 0x20202020) & ~w) | w) & 0x80808080) break
      i += 4
    }
    while (i < end) {
      const b = buf[i]!
      if (b === QUOTE) {
        this.strEnd = i
        this.strPlain = plain
        this.pos = i + 1
        return true
      }
      if (b === BACKSLASH) {
        plain = false
        i += 2
        continue
      }
      if (b < 0x20) return false
      if (b >= 0x80) plain = false
      i++
    }
    return false
  }

  /**
   * The string just scanned, decoded as `JSON.parse` of the whole buffer
   * would (UTF-8 decoding stops at the closing quote either way, so a broken
   * sequence decodes alike); `undefined` if it is not valid JSON.
   */
  protected decodeString(): string | undefined {
    try {
      return JSON.parse(this.buf.toString("utf8", this.strStart - 1, this.strEnd + 1)) as string
    } catch {
      return undefined
    }
  }

  /** After a value: a comma (more follows, `true`) or `close` (`false`), consumed; `undefined` otherwise. */
  protected next(close: number): boolean | undefined {
    const b = this.skipSpace()
    this.pos++
    if (b === COMMA) return true
    if (b === close) return false
    return undefined
  }

  /**
   * Scans the JSON value at `pos` (after whitespace), leaving `pos` after it
   * and its compact size in `compactBytes` (when canonical). Canonical means:
   * plain strings; integers of at most 15 digits without a leading zero or
   * `-0`; `true`, `false`, `null`; objects whose keys are plain, do not start
   * with a digit (an array index moves to the front of a parsed object), are
   * not `__proto__`, and are not repeated.
   */
  protected value(): ValueScan {
    this.keyCount = 0
    this.compactBytes = 0
    return this.scanValue(0)
  }

  private scanValue(depth: number): ValueScan {
    const b = this.skipSpace()
    if (b === QUOTE) {
      if (!this.string()) return ValueScan.Refused
      this.compactBytes += this.strEnd - this.strStart + 2
      return this.strPlain ? ValueScan.Canonical : ValueScan.Other
    }
    if (b === OPEN_BRACE) return depth === maxDepth ? ValueScan.Refused : this.object(depth + 1)
    if (b === OPEN_BRACKET) return depth === maxDepth ? ValueScan.Refused : this.array(depth + 1)
    if (b === 0x74) return this.literal(T)
    if (b === 0x66) return this.literal(F)
    if (b === 0x6e) return this.literal(N)
    if (b === 0x2d || (b >= 0x30 && b <= 0x39)) return this.number()
    return ValueScan.Refused
  }

  private literal(word: Buffer): ValueScan {
    if (this.pos + word.length > this.end || !equals(this.buf, this.pos, this.pos + word.length, word)) {
      return ValueScan.Refused
    }
    this.pos += word.length
    this.compactBytes += word.length
    return ValueScan.Canonical
  }

  /** A number's bytes: canonical as a short integer; anything else number-like is `Other`, for `JSON.parse` to judge. */
  private number(): ValueScan {
    const buf = this.buf
    const start = this.pos
    let i = start
    if (buf[i] === 0x2d) i++
    const digitsStart = i
    while (i < this.end && buf[i]! >= 0x30 && buf[i]! <= 0x39) i++
    const digits = i - digitsStart
    let other = false
    while (i < this.end) {
      const c = buf[i]!
      if ((c >= 0x30 && c <= 0x39) || c === 0x2e || c === 0x65 || c === 0x45 || c === 0x2b || c === 0x2d) {
        other = true
        i++
      } else break
    }
    this.pos = i
    this.compactBytes += i - start
    if (digits === 0) return other ? ValueScan.Other : ValueScan.Refused
    if (other || digits > 15) return ValueScan.Other
    if (buf[digitsStart] === 0x30 && (digits > 1 || digitsStart > start)) return ValueScan.Other // 01, -0
    return ValueScan.Canonical
  }

  private object(depth: number): ValueScan {
    const buf = this.buf
    this.pos++
    this.compactBytes += 2
    if (this.skipSpace() === CLOSE_BRACE) {
      this.pos++
      return ValueScan.Canonical
    }
    const base = this.keyCount
    let result: ValueScan = ValueScan.Canonical
    while (true) {
      if (this.skipSpace() !== QUOTE || !this.string()) return ValueScan.Refused
      const keyStart = this.strStart
      const keyEnd = this.strEnd
      this.compactBytes += keyEnd - keyStart + 3 // quotes and colon
      if (result === ValueScan.Canonical) {
        const first = buf[keyStart]
        if (
          !this.strPlain || (first !== undefined && first >= 0x30 && first <= 0x39) ||
          equals(buf, keyStart, keyEnd, PROTO) || this.keyCount === maxKeys
        ) {
          result = ValueScan.Other
        } else {
          for (let k = base; k < this.keyCount; k++) {
            const s = this.keyStarts[k]!
            const e = this.keyEnds[k]!
            if (e - s === keyEnd - keyStart && buf.compare(buf, keyStart, keyEnd, s, e) === 0) {
              result = ValueScan.Other
              break
            }
          }
          this.keyStarts[this.keyCount] = keyStart
          this.keyEnds[this.keyCount] = keyEnd
          this.keyCount++
        }
      }
      if (this.skipSpace() !== COLON) return ValueScan.Refused
      this.pos++
      const v = this.scanValue(depth)
      if (v === ValueScan.Refused) return v
      if (v === ValueScan.Other) result = v
      const more = this.next(CLOSE_BRACE)
      if (more === undefined) return ValueScan.Refused
      if (!more) break
      this.compactBytes++
    }
    this.keyCount = base
    return result
  }

  private array(depth: number): ValueScan {
    this.pos++
    this.compactBytes += 2
    if (this.skipSpace() === CLOSE_BRACKET) {
      this.pos++
      return ValueScan.Canonical
    }
    let result: ValueScan = ValueScan.Canonical
    while (true) {
      const v = this.scanValue(depth)
      if (v === ValueScan.Refused) return v
      if (v === ValueScan.Other) result = v
      const more = this.next(CLOSE_BRACKET)
      if (more === undefined) return ValueScan.Refused
      if (!more) break
      this.compactBytes++
    }
    return result
  }
}

/**
 * Copies canonical JSON `src[start, end)` to `dst` at `at` without the
 * whitespace between its tokens (its strings are plain, so a quote always
 * opens or closes one); answers the position after it.
 */
export const copyCompact = (dst: Buffer, at: number, src: Buffer, start: number, end: number): number => {
  let inString = false
  for (let i = start; i < end; i++) {
    const b = src[i]!
    if (b === QUOTE) inString = !inString
    else if (!inString && isSpace(b)) continue
    dst[at++] = b
  }
  return at
}
