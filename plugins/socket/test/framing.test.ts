/**
 * Framing (SPEC §1): `\n` and `\r\n`, many messages per connection, lines
 * split across reads, and the max message size with resynchronisation at
 * the next newline; unit tests of the framer, then the same over the wire.
 */
import { describe, expect, it } from "@effect/vitest"
import { Frames, LineFramer, tooLong } from "@sluice/socket/LineFramer"
import * as Effect from "effect/Effect"
import {
  batch,
  bytesRead,
  connectTo,
  entry,
  eventually,
  exchange,
  flush,
  harness,
  line,
  ping,
  pong,
  stored,
  transports
} from "./harness.js"

const texts = (frames: Frames) => Array.from({ length: frames.count }, (_, i) => frames.text(i))

const frame = (framer: LineFramer, ...chunks: ReadonlyArray<string>): Array<string | typeof tooLong> => {
  const out = new Frames()
  for (const chunk of chunks) framer.push(Buffer.from(chunk), out)
  return texts(out)
}

describe("LineFramer", () => {
  it("splits on \\n and \\r\\n and skips empty lines", () => {
    expect(frame(new LineFramer(100), "a\nb\r\n\n\r\nc\n")).toEqual(["a", "b", "c"])
  })

  it("joins a line split across chunks, also between \\r and \\n", () => {
    const framer = new LineFramer(100)
    expect(frame(framer, "ab", "cd", "e\r", "\nf", "g\n")).toEqual(["abcde", "fg"])
    expect(framer.pendingBytes).toBe(0)
  })

  it("keeps a multi-byte character split across chunks intact", () => {
    const bytes = Buffer.from("é😀\n")
    const out = new Frames()
    const framer = new LineFramer(100)
    for (let i = 0; i < bytes.length; i++) framer.push(bytes.subarray(i, i + 1), out)
    expect(texts(out)).toEqual(["é😀"])
  })

  it("accepts a line of exactly the limit and refuses one byte more, then resynchronises", () => {
    const framer = new LineFramer(10)
    expect(frame(framer, "0123456789\n", "0123456789a\n", "ok\n")).toEqual(["0123456789", tooLong, "ok"])
    // The terminator's \r does not count.
    expect(frame(framer, "0123456789\r\n")).toEqual(["0123456789"])
  })

  it("reports a long line once while it streams in, and drops it up to the next newline", () => {
    const framer = new LineFramer(10)
    expect(frame(framer, "0123456789", "\r")).toEqual([])
    expect(frame(framer, "x")).toEqual([tooLong])
    expect(frame(framer, "y".repeat(100), "z".repeat(100))).toEqual([])
    expect(framer.pendingBytes).toBe(0)
    expect(frame(framer, "tail\nnext\n")).toEqual(["next"])
  })

  it("holds at most the limit (plus a \\r) for an unterminated line", () => {
    const framer = new LineFramer(10)
    frame(framer, "0123456789\r")
    expect(framer.pendingBytes).toBe(11)
    frame(framer, "\n")
    expect(framer.pendingBytes).toBe(0)
  })

  it("counts an unterminated last line at the end of the connection", () => {
    const framer = new LineFramer(10)
    const out = new Frames()
    framer.push(Buffer.from("a\nlast"), out)
    framer.end(out)
    expect(texts(out)).toEqual(["a", "last"])
  })
})

const maxMessageBytes = 16 * 1024 * 1024

/** A valid batch line of exactly `bytes` bytes (payloads near 1 MiB, the last one sized to fit). */
const batchLineOfSize = (bytes: number): string => {
  const entries = Array.from({ length: 17 }, (_, i) => entry({ payload: "x".repeat(1_000_000), source: `big-${i}` }))
  const base = batch(entries).length
  const last = entries[entries.length - 1]!
  entries[entries.length - 1] = { ...last, payload: "x".repeat(1_000_000 + bytes - base) }
  const text = batch(entries)
  expect(Buffer.byteLength(text)).toBe(bytes)
  return text
}

describe.each(transports)("framing over %s", (transport) => {
  it.scoped("accepts \\r\\n, skips empty lines, and serves many messages on one connection", () =>
    Effect.gen(function*() {
      const client = yield* connectTo(transport)
      const lines = Array.from({ length: 1000 }, (_, i) => line({ payload: `n${i}` }))
      yield* client.write(lines.join("\r\n") + "\r\n\r\n\n" + ping + "\r\n")
      expect(yield* client.reply).toEqual(pong)
      yield* client.send(flush)
      expect(yield* client.reply).toEqual({ status: "flushed", accepted: 1000 })
      expect((yield* stored).map((e) => e.message)).toEqual(lines.map((_, i) => `n${i}`))
    }).pipe(Effect.provide(harness())))

  it.scoped("joins a line that arrives in two reads", () =>
    Effect.gen(function*() {
      const client = yield* connectTo(transport)
      const text = line({ payload: "split" })
      const before = yield* bytesRead(transport)
      yield* client.write(text.slice(0, 40))
      yield* eventually(bytesRead(transport).pipe(Effect.map((n) => n >= before + 40)), "the first half to be read")
      yield* client.write(text.slice(40) + "\n" + flush + "\n")
      expect(yield* client.reply).toEqual({ status: "flushed", accepted: 1 })
      expect((yield* stored).map((e) => e.message)).toEqual(["split"])
    }).pipe(Effect.provide(harness())))

  it.scoped("processes a last line without newline when the client ends its side", () =>
    Effect.gen(function*() {
      const client = yield* connectTo(transport)
      yield* client.write(line({ payload: "unterminated" }) + "\n" + ping)
      client.socket.end()
      expect(yield* client.reply).toEqual(pong)
      yield* client.closed
      expect((yield* stored).map((e) => e.message)).toEqual(["unterminated"])
    }).pipe(Effect.provide(harness())))

  it.scoped("a line of exactly the default max message size (16 MiB) is accepted", () =>
    Effect.gen(function*() {
      const { answers, flushed } = yield* exchange(transport, [batchLineOfSize(maxMessageBytes)])
      expect(answers).toEqual([])
      expect(flushed).toEqual({ status: "flushed", accepted: 17 })
    }).pipe(Effect.provide(harness())))

  it.scoped("a line one byte over is refused, the rest of it discarded, and the connection stays usable", () =>
    Effect.gen(function*() {
      const { answers, flushed } = yield* exchange(transport, [
        batchLineOfSize(maxMessageBytes + 1),
        line({ payload: "after" })
      ])
      expect(answers).toEqual([{
        error: `Message too large: a line may hold at most ${maxMessageBytes} bytes; the rest of the line was discarded`
      }])
      expect(flushed).toEqual({ status: "flushed", accepted: 1 })
      expect((yield* stored).map((e) => e.message)).toEqual(["after"])
    }).pipe(Effect.provide(harness())))

  it.scoped("the max message size is configurable; a long line is answered once however long it gets", () =>
    Effect.gen(function*() {
      const fits = line({ payload: "" })
      const limit = fits.length
      const { answers, flushed } = yield* exchange(transport, [
        fits,
        line({ payload: "1" }),
        "z".repeat(limit * 50),
        fits
      ])
      const error = `Message too large: a line may hold at most ${limit} bytes; the rest of the line was discarded`
      expect(answers).toEqual([{ error }, { error }])
      expect(flushed).toEqual({ status: "flushed", accepted: 2 })
    }).pipe(
      Effect.provide(
        harness({
          unix: { maxMessageBytes: line({ payload: "" }).length },
          tcp: { maxMessageBytes: line({ payload: "" }).length }
        })
      )
    ))
})
