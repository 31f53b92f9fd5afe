/**
 * Newline framing for the agent socket: splits the bytes of one connection
 * into lines ended by `\n` or `\r\n`, synchronously, one chunk at a time.
 *
 * Guarantees: memory per connection stays under the max message size (a
 * line longer than that is reported once as `tooLong` and its bytes are
 * dropped up to the next newline, where framing resumes); a line split
 * across chunks is joined; empty lines are skipped. `Stream.splitLines` and
 * `Ndjson` have no length bound, which is why this exists.
 */

/** Marks a line that was longer than the limit; its bytes were discarded. */
export const tooLong: unique symbol = Symbol.for("@sluice/socket/LineFramer/tooLong")

/** One framed item: a line's text (without terminator), or `tooLong`. */
export type Frame = string | typeof tooLong

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
  push(chunk: Buffer, out: Array<Frame>): void {
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
  end(out: Array<Frame>): void {
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

  private emit(buffer: Buffer, start: number, end: number, out: Array<Frame>): void {
    if (end > start && buffer[end - 1] === carriageReturn) end--
    if (end - start > this.maxLineBytes) out.push(tooLong)
    else if (end > start) out.push(buffer.toString("utf8", start, end))
  }

  /** Holds the unterminated tail of a chunk, or starts discarding it once too long. */
  private keep(chunk: Buffer, start: number, out: Array<Frame>): void {
    if (this.discarding) return
    const bytes = this.partBytes + chunk.length - start
    // One byte of slack: a `\r` that the next chunk's `\n` will turn into a terminator.
    if (bytes > this.maxLineBytes + 1) {
      this.parts = []
      this.partBytes = 0
      this.discarding = true
      out.push(tooLong)
      return
    }
    // Copy: the chunk's memory may be reused by the reader.
    this.parts.push(Buffer.from(chunk.subarray(start)))
    this.partBytes = bytes
  }
}
