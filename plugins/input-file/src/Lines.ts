/**
 * Line framing of the file input, as one synchronous loop over a chunk: a
 * line ends at `\n` (a `\r` before it is dropped); a partial last line is
 * left for the next read; a line longer than `maxLineBytes` is cut there,
 * flagged, and the reader skips the rest of it up to its newline.
 *
 * The same bytes always give the same lines: a range that was emitted once
 * (`[start, end)`, always starting at a line start) is framed again exactly
 * with `final`, which is how a pending range is re-emitted after a crash.
 */

/** The lines framed from one chunk. */
export interface Lines {
  readonly messages: Array<string>
  /** Indexes of `messages` that were cut at `maxLineBytes`. */
  readonly truncated: Array<number>
  /** Bytes consumed: the lines, their newlines, and a cut line's kept part. */
  readonly consumed: number
  /** The last line was cut: what follows up to the next newline is to be skipped. */
  readonly endsCut: boolean
}

/**
 * Frames up to `maxLines` lines from `chunk`. With `final`, the bytes after
 * the last newline are a line too (the end of an emitted range, or the last
 * line of a file that is being forgotten).
 */
export const frame = (
  chunk: Buffer,
  maxLineBytes: number,
  maxLines: number,
  final: boolean
): Lines => {
  const n = chunk.length
  const messages: Array<string> = []
  const truncated: Array<number> = []
  let pos = 0
  let endsCut = false
  while (pos < n && messages.length < maxLines) {
    const nl = chunk.indexOf(10, pos)
    if (nl !== -1 && nl - pos <= maxLineBytes) {
      const end = nl > pos && chunk[nl - 1] === 13 ? nl - 1 : nl
      messages.push(chunk.toString("utf8", pos, end))
      pos = nl + 1
      continue
    }
    if (n - pos > maxLineBytes) {
      truncated.push(messages.length)
      messages.push(chunk.toString("utf8", pos, pos + maxLineBytes))
      pos += maxLineBytes
      endsCut = true
      break
    }
    if (final) {
      const cut = n - pos >= maxLineBytes
      if (cut) truncated.push(messages.length)
      messages.push(chunk.toString("utf8", pos, n))
      pos = n
      endsCut = cut
    }
    break
  }
  return { messages, truncated, consumed: pos, endsCut }
}
