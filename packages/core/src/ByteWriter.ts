/**
 * A growable byte buffer for hot paths that write bytes instead of building
 * strings: a transport writes validated rows into it, then `take`s a copy
 * and reuses the buffer for the next batch.
 */
/** Runs up to this many bytes are copied in a loop rather than natively. */
const shortCopy = 4096

/**
 * Copies `source[start, end)` into `target` at `at` (room checked by the
 * caller); answers the position after it. Runs up to a page are copied byte
 * by byte: `Buffer#copy` and `subarray` make a view object per call, which a
 * hot path (a few copies per event) pays for in GC.
 */
export const copyBytes = (target: Uint8Array, at: number, source: Uint8Array, start: number, end: number): number => {
  if (end - start > shortCopy) {
    target.set(source.subarray(start, end), at)
    return at + end - start
  }
  for (let i = start; i < end; i++) target[at++] = source[i]!
  return at
}

/**
 * Copies `source[start, end)` to `target[at…)` four bytes at a time through
 * DataViews of both (room checked by the caller); answers the position after
 * it. About three times as fast as `copyBytes`' loop for runs of tens of
 * bytes, with no object made per call.
 */
export const copyWords = (
  target: DataView,
  targetBytes: Uint8Array,
  at: number,
  source: DataView,
  sourceBytes: Uint8Array,
  start: number,
  end: number
): number => {
  let i = start
  for (; i + 4 <= end; i += 4, at += 4) target.setUint32(at, source.getUint32(i, true), true)
  for (; i < end; i++) targetBytes[at++] = sourceBytes[i]!
  return at
}

/** A DataView over exactly a Uint8Array's bytes. */
export const viewOf = (bytes: Uint8Array): DataView => new DataView(bytes.buffer, bytes.byteOffset, bytes.length)

export class ByteWriter {
  /** The bytes written so far are `buffer[0, length)`. */
  buffer: Buffer
  length = 0
  private dataView: DataView | undefined

  constructor(sizeHint = 64 * 1024) {
    this.buffer = Buffer.allocUnsafe(Math.max(16, sizeHint))
  }

  /** Makes room for `bytes` more bytes. */
  reserve(bytes: number): void {
    const needed = this.length + bytes
    if (needed <= this.buffer.length) return
    const grown = Buffer.allocUnsafe(Math.max(needed, this.buffer.length * 2))
    this.buffer.copy(grown, 0, 0, this.length)
    this.buffer = grown
    this.dataView = undefined
  }

  /** A DataView of `buffer` (valid until the next `reserve` grows it). */
  get view(): DataView {
    return this.dataView ??= viewOf(this.buffer)
  }

  /** Appends one byte. */
  byte(value: number): void {
    if (this.length === this.buffer.length) this.reserve(1)
    this.buffer[this.length++] = value
  }

  /** Appends `source[start, end)`. */
  copy(source: Uint8Array, start: number, end: number): void {
    this.reserve(end - start)
    this.length = copyBytes(this.buffer, this.length, source, start, end)
  }

  /** Appends a string of code units below 0x80 (one byte each). */
  ascii(text: string): void {
    const n = text.length
    this.reserve(n)
    const out = this.buffer
    let at = this.length
    for (let i = 0; i < n; i++) out[at++] = text.charCodeAt(i)
    this.length = at
  }

  /** Appends a string as UTF-8. */
  utf8(text: string): void {
    this.reserve(text.length * 3)
    this.length += this.buffer.write(text, this.length, "utf8")
  }

  /** Forgets everything after `length` (rolls back a partial write). */
  truncate(length: number): void {
    this.length = length
  }

  /** A copy of what was written; the writer starts over empty. */
  take(): Buffer {
    const out = Buffer.allocUnsafe(this.length)
    this.buffer.copy(out, 0, 0, this.length)
    this.length = 0
    return out
  }
}
