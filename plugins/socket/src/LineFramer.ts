/**
 * Newline framing for the agent socket: splits the bytes of one connection
 * into lines ended by `\n` or `\r\n`, synchronously, one chunk at a time.
 *
 * Guarantees: memory per connection stays under the max message size (a
 * line longer than that is reported once as `tooLong` and its bytes are
 * dropped up to the next newline, where framing resumes); a line split
 * across chunks is joined; empty lines are skipped. Lines are byte ranges of
 * the chunk (valid until the next chunk is pushed), so a line is never
 * decoded to a string unless a decoder needs it. `Stream.splitLines` and
 * `Ndjson` have no length bound, which is why this exists.
 */

/** Marks a line that was longer than the limit; its bytes were discarded. */
export const tooLong: unique symbol = Symbol.for("@sluice/socket/LineFramer/tooLong")

/**
 * The framed items of a chunk, in order: frame `i` is the line
 * `buffers[i][starts[i], ends[i])` (without terminator), or `tooLong` when
 * `buffers[i]` is undefined. Kept in parallel arrays that are reused from
 * chunk to chunk, so framing allocates nothing per line.
 */
export class Frames {
  count = 0
  readonly buffers: Array<Buffer | undefined> = []
  readonly starts: Array<number> = []
  readonly ends: Array<number> = []

  /** Appends a line. */
  line(buffer: Buffer, start: number, end: number): void {
    const i = this.count++
    this.buffers[i] = buffer
    this.starts[i] = start
    this.ends[i] = end
  }

  /** Appends the mark of a line longer than the limit. */
  tooLong(): void {
    const i = this.count++
    this.buffers[i] = undefined
    this.starts[i] = 0
    this.ends[i] = 0
  }

  /** Frame `i`'s text (UTF-8 decoded), or `tooLong`. */
  text(i: number): string | typeof tooLong {
    const buffer = this.buffers[i]
    return buffer === undefined ? tooLong : buffer.toString("utf8", this.starts[i], this.ends[i])
  }

  /** Forgets every frame (and the chunks they point into). */
  clear(): void {
    for (let i = 0; i < this.count; i++) this.buffers[i] = undefined
    this.count = 0
  }
}

const newline = 0x0a
const carriageReturn = 0x0d

/** A framer for one connection. Not shared between connections. */
export class LineFramer {
  /** Bytes of the line not yet ended, in arrival order. */
  private parts: Array<Buffer> = []
  private partBytes = 0
  /** Inside a line already reported as too long: drop until the next newline. */
  private discarding = false

  /** @param maxLineBytes the longest line accepted, without its terminator. */
  constructor(readonly maxLineBytes: number) {}

  /** Frames one chunk; appends the complete lines it ends to `out`. */
  push(chunk: Buffer, out: Frames): void {
    let start = 0
    while (start < chunk.length) {
      const end = chunk.indexOf(newline, start)
      if (end === -1) {
        this.keep(chunk, start, out)
        return
      }
      if (this.discarding) {
        this.discarding = false
      } else if (this.partBytes === 0) {
        this.emit(chunk, start, end, out)
      } else {
        this.parts.push(chunk.subarray(start, end))
        const line = Buffer.concat(this.parts, this.partBytes + end - start)
        this.parts = []
        this.partBytes = 0
        this.emit(line, 0, line.length, out)
      }
      start = end + 1
    }
  }

  /** The connection ended: a last line without terminator counts as a line. */
  end(out: Frames): void {
    if (this.partBytes > 0) {
      const line = Buffer.concat(this.parts, this.partBytes)
      this.emit(line, 0, line.length, out)
    }
    this.parts = []
    this.partBytes = 0
    this.discarding = false
  }

  /** Bytes held for a line not yet ended. */
  get pendingBytes(): number {
    return this.partBytes
  }

  private emit(buffer: Buffer, start: number, end: number, out: Frames): void {
    if (end > start && buffer[end - 1] === carriageReturn) end--
    if (end - start > this.maxLineBytes) out.tooLong()
    else if (end > start) out.line(buffer, start, end)
  }

  /** Holds the unterminated tail of a chunk, or starts discarding it once too long. */
  private keep(chunk: Buffer, start: number, out: Frames): void {
    if (this.discarding) return
    const bytes = this.partBytes + chunk.length - start
    // One byte of slack: a `\r` that the next chunk's `\n` will turn into a terminator.
    if (bytes > this.maxLineBytes + 1) {
      this.parts = []
      this.partBytes = 0
      this.discarding = true
      out.tooLong()
      return
    }
    // Copy: the chunk's memory may be reused by the reader.
    this.parts.push(Buffer.from(chunk.subarray(start)))
    this.partBytes = bytes
  }
}
