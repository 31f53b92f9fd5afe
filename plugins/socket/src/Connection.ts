/**
 * The connection handler both agent-socket transports run (SPEC §1): it
 * reads a connection, frames and decodes its lines, hands valid entries to
 * `Ingest`, and answers actions and errors.
 *
 * Guarantees:
 * - Lossless backpressure: bytes are pulled from the socket only when the
 *   previous chunk has been offered, so while `Ingest.offer` waits for room
 *   nothing more is read and the client's writes block.
 * - Batches, not lines: the valid entries of one chunk go to `Ingest` in one
 *   offer; a `flush` splits the chunk so the barrier follows the entries
 *   before it.
 * - Bytes, not objects: a line is checked by the `EntryScanner` and its
 *   entries are written as rows (`EncodedEvents`); only a line the scanner
 *   steps aside from is decoded to a string and objects (`Message.ts`), and
 *   its events are encoded to the same rows.
 * - Answers come in line order. A refused offer answers every message it
 *   carried with the backpressure error.
 * - A chunk is processed whole even when the connection is interrupted (at
 *   shutdown), so what was read is offered before the connection closes.
 *   (The listener destroys connections still open after a grace period, so
 *   a peer that does not read its answers cannot hold shutdown.)
 * - With a shared secret (TCP) nothing but `authenticate` is accepted first;
 *   anything else, a wrong secret, or no authentication within the timeout
 *   closes the connection after an error answer.
 */
import * as NodeStream from "@effect/platform-node/NodeStream"
import { ByteWriter } from "@sluice/core/ByteWriter"
import { EncodedEvents } from "@sluice/core/EventBatch"
import { encodeRow } from "@sluice/core/EventRow"
import type { Ingest } from "@sluice/core/Ingest"
import type { LogEvent } from "@sluice/core/LogEvent"
import { constantTimeEqual } from "@sluice/core/TokenVerifier"
import type * as Chunk from "effect/Chunk"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import type * as Net from "node:net"
import { type EntryScanner, fallback } from "./EntryScanner.js"
import { Frames, LineFramer } from "./LineFramer.js"
import { type Decoder, defaultEntryLimits, type EntryLimits } from "./Message.js"
import type { TransportMetrics } from "./SocketMetrics.js"

/** Settings both transports share. */
export interface ConnectionOptions {
  /** The longest line in bytes, without its terminator (default 16 MiB). */
  readonly maxMessageBytes: number
  /** Open connections at most (default 1024); more are answered with an error and closed. */
  readonly maxConnections: number
  /** The field limits of SPEC §1. */
  readonly limits: EntryLimits
}

/** Defaults of SPEC §1. */
export const defaultConnectionOptions: ConnectionOptions = {
  maxMessageBytes: 16 * 1024 * 1024,
  maxConnections: 1024,
  limits: defaultEntryLimits
}

/** What one listener's connections share. */
export interface ConnectionContext {
  readonly transport: string
  readonly maxMessageBytes: number
  /** The secret a client must send first; `undefined`: no authentication (Unix). */
  readonly sharedSecret: Redacted.Redacted<string> | undefined
  /** Time to authenticate after connecting, when a secret is set. */
  readonly authTimeout: Duration.Duration
  /** Close a connection that sends nothing for this long; `undefined`: never. */
  readonly idleTimeout: Duration.Duration | undefined
  readonly decoder: Decoder
  /** Makes the byte scanner of the fast path (one per connection: it keeps state while scanning). */
  readonly scanner: () => EntryScanner
  readonly ingest: Ingest["Type"]
  readonly metrics: TransportMetrics
}

/** The answers of SPEC §1, as written on the wire. */
export const Replies = {
  pong: JSON.stringify({ status: "pong" }),
  authenticated: JSON.stringify({ status: "success", message: "Authentication successful" }),
  backpressure: JSON.stringify({ error: "queue full", code: "backpressure" }),
  flushed: (accepted: number) => JSON.stringify({ status: "flushed", accepted }),
  error: (message: string) => JSON.stringify({ error: message })
} as const

const authRequired = Replies.error(
  "Authentication required: the first message on TCP must be {\"action\":\"authenticate\",\"shared_secret\":\"…\"}"
)
const authFailed = Replies.error("Authentication failed: wrong shared secret")
const authTimedOut = Replies.error("Authentication timeout: no authenticate message in time; closing")
const idleTimedOut = Replies.error("Idle timeout: nothing received in time; closing")

/** How long a closing connection may take to finish before it is destroyed. */
const closeGrace = Duration.seconds(2)

/** The connection ended with a read error (reset by the peer, usually). */
class ReadFailed extends Schema.TaggedError<ReadFailed>()("ReadFailed", { cause: Schema.Defect }) {}

/** Nothing was received within the idle timeout. */
class IdleTimeout extends Schema.TaggedError<IdleTimeout>()("IdleTimeout", {}) {}

/** Writes to the connection, waiting while its send buffer is full. */
export const write = (conn: Net.Socket, text: string): Effect.Effect<void> =>
  Effect.suspend(() => {
    if (text.length === 0 || !conn.writable || conn.write(text)) return Effect.void
    return Effect.async<void>((resume) => {
      const done = () => {
        conn.off("drain", done)
        conn.off("close", done)
        resume(Effect.void)
      }
      conn.on("drain", done)
      conn.on("close", done)
      return Effect.sync(() => {
        conn.off("drain", done)
        conn.off("close", done)
      })
    })
  })

const discard = () => {}

/**
 * Ends the connection after what was written: sends FIN, discards what the
 * peer still sends (closing with unread data would reset the connection and
 * could lose the last answer), and destroys it once the peer has closed or
 * after a grace period.
 */
export const close = (conn: Net.Socket): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    if (conn.destroyed) return resume(Effect.void)
    const done = () => resume(Effect.void)
    conn.once("close", done)
    conn.end()
    // A `data` listener, not `resume()`: it also takes effect when the reader's
    // `readable` listener is removed in this same tick.
    conn.on("data", discard)
    return Effect.sync(() => conn.off("close", done))
  }).pipe(
    // Interruptible, so the grace timeout works when closing from a finalizer.
    Effect.interruptible,
    Effect.timeoutOption(closeGrace),
    Effect.ensuring(Effect.sync(() => conn.destroy()))
  )

/**
 * The replies of one segment, in line order; a number `n` holds the place of
 * `n` messages whose entries were offered (answered only if the offer is
 * refused).
 */
type Answers = Array<string | number>

/** Holds the place of one more message whose entries are offered. */
const offered = (replies: Answers): void => {
  const last = replies.length - 1
  if (last >= 0 && typeof replies[last] === "number") (replies[last] as number)++
  else replies.push(1)
}

/** The lines of a chunk up to a barrier (`flush`) or a close. */
interface Segment {
  /** Entries accepted so far, as rows in the connection's writer. */
  count: number
  readonly replies: Answers
  /** Bytes of the lines whose entries are in `events`. */
  bytes: number
  /** What follows the lines: nothing, a flush barrier, or closing the connection. */
  end: "more" | "flush" | "close"
  /** The first frame after this segment. */
  next: number
}

/** The answers on the wire; `refusal` answers each offered message when the offer was refused. */
const render = (replies: Answers, refusal: string | undefined): string => {
  let text = ""
  for (const reply of replies) {
    if (typeof reply === "string") text += reply + "\n"
    else if (refusal !== undefined) text += (refusal + "\n").repeat(reply)
  }
  return text
}

/**
 * Runs `work` to its end even if the connection's fiber is interrupted (at
 * shutdown), so a chunk that was read is offered and answered whole. The work
 * runs in a child fiber that stays interruptible itself: plain
 * `Effect.uninterruptible` would also stop the queue's block timeout, which
 * interrupts its own wait.
 */
const whole = <A, E>(work: Effect.Effect<A, E>): Effect.Effect<A, E> =>
  Effect.interruptible(work).pipe(Effect.fork, Effect.flatMap(Fiber.join), Effect.uninterruptible)

/** Serves one connection until the peer closes it, it is closed, or the fiber is interrupted. */
export const handle = (conn: Net.Socket, context: ConnectionContext): Effect.Effect<void> =>
  Effect.gen(function*() {
    const clock = yield* Effect.clock
    const { decoder, ingest, metrics, sharedSecret, transport } = context
    const framer = new LineFramer(context.maxMessageBytes)
    const frames = new Frames()
    const scanner = context.scanner()
    // The rows of the segment being read; taken (copied out) when it is offered.
    const rows = new ByteWriter()
    // Events of a line the full decoder took, before they are encoded to rows.
    const decoded: Array<LogEvent> = []
    let authenticated = sharedSecret === undefined
    let accepted = 0
    let lines = 0
    const rejected = { invalid: 0, too_large: 0, unauthenticated: 0 }

    /** Decodes frames from `from` up to the next barrier or close (synchronous). */
    const consume = (from: number, receivedAt: number): Segment => {
      const segment: Segment = { count: 0, replies: [], bytes: 0, end: "more", next: frames.count }
      const sink = { events: decoded, receivedAt }
      const stop = (i: number, end: "flush" | "close") => {
        segment.end = end
        segment.next = i + 1
        return segment
      }
      for (let i = from; i < frames.count; i++) {
        const bytes = frames.buffers[i]
        lines++
        if (bytes === undefined) {
          rejected.too_large++
          segment.replies.push(
            Replies.error(
              `Message too large: a line may hold at most ${context.maxMessageBytes} bytes; the rest of the line was discarded`
            )
          )
          if (!authenticated) return stop(i, "close")
          continue
        }
        const start = frames.starts[i]!
        const end = frames.ends[i]!
        if (authenticated) {
          const count = scanner.scan(bytes, start, end, receivedAt, rows)
          if (count !== fallback) {
            segment.count += count
            offered(segment.replies)
            segment.bytes += end - start
            continue
          }
        }
        decoded.length = 0
        const message = decoder.decode(bytes.toString("utf8", start, end), sink)
        if (!authenticated && message._tag !== "Authenticate") {
          decoded.length = 0
          rejected.unauthenticated++
          segment.replies.push(message._tag === "Invalid" ? Replies.error(message.error) : authRequired)
          return stop(i, "close")
        }
        switch (message._tag) {
          case "Entries":
            for (const event of decoded) {
              if (rows.length > 0) rows.byte(0x2c) // ,
              rows.utf8(encodeRow(event))
            }
            segment.count += decoded.length
            decoded.length = 0
            offered(segment.replies)
            segment.bytes += end - start
            break
          case "Invalid":
            rejected.invalid++
            segment.replies.push(Replies.error(message.error))
            break
          case "Ping":
            segment.replies.push(Replies.pong)
            break
          case "Authenticate":
            if (sharedSecret === undefined || constantTimeEqual(message.secret, Redacted.value(sharedSecret))) {
              authenticated = true
              segment.replies.push(Replies.authenticated)
              break
            }
            rejected.unauthenticated++
            segment.replies.push(authFailed)
            return stop(i, "close")
          case "Flush":
            return stop(i, "flush")
        }
      }
      return segment
    }

    /** Offers a segment's entries, runs its barrier, writes its answers; `false` once the connection must close. */
    const settle = (segment: Segment) =>
      Effect.gen(function*() {
        let open = segment.end !== "close"
        let refusal: string | undefined
        if (segment.count > 0) {
          const batch = new EncodedEvents(segment.count, rows.take(), [[transport, segment.count]])
          refusal = yield* ingest.offer(batch, { transport, bytes: segment.bytes }).pipe(
            Effect.as(undefined),
            Effect.catchTags({
              Backpressure: () => Effect.succeed(Replies.backpressure),
              QueueClosed: (error) =>
                Effect.sync(() => {
                  open = false
                  return Replies.error(error.message)
                }),
              CommitFailed: (error) => Effect.succeed(Replies.error(`commit failed: ${error.reason}`))
            })
          )
          if (refusal === undefined) accepted += segment.count
        }
        if (segment.end === "flush") {
          segment.replies.push(
            yield* ingest.barrier.pipe(
              Effect.as(Replies.flushed(accepted)),
              Effect.catchAll((error) => Effect.succeed(Replies.error(`flush failed: ${error.message}`)))
            )
          )
        }
        yield* write(conn, render(segment.replies, refusal))
        return open
      })

    const report = (bytes: number) =>
      Effect.suspend(() => {
        const effects = [
          Metric.incrementBy(metrics.bytesReceived, bytes),
          Metric.incrementBy(metrics.linesReceived, lines)
        ]
        for (const reason of ["invalid", "too_large", "unauthenticated"] as const) {
          if (rejected[reason] > 0) effects.push(Metric.incrementBy(metrics.rejected[reason], rejected[reason]))
          rejected[reason] = 0
        }
        lines = 0
        return Effect.all(effects, { discard: true })
      })

    /** Runs the frames framed so far; `false` once the connection must close. */
    const runFrames = (bytes: number) =>
      Effect.gen(function*() {
        const receivedAt = clock.unsafeCurrentTimeMillis()
        let from = 0
        let open = true
        while (open && from < frames.count) {
          const segment = consume(from, receivedAt)
          open = yield* settle(segment)
          from = segment.next
        }
        frames.clear()
        yield* report(bytes)
        return open
      })

    const onChunk = (chunk: Uint8Array) =>
      whole(Effect.suspend(() => {
        framer.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength), frames)
        return runFrames(chunk.byteLength)
      }))

    // The peer ended its side: a last line without a newline still counts.
    const onEnd = whole(Effect.suspend(() => {
      framer.end(frames)
      return runFrames(0)
    }))

    // A pull loop rather than `Stream.runForEachWhile`, which (measured, effect
    // 3.22) kept every chunk it had read alive until the stream ended.
    const idleTimeout = context.idleTimeout
    const reading = Effect.gen(function*() {
      const pull = yield* Stream.toPull(
        NodeStream.fromReadable<ReadFailed, Uint8Array>(
          () => conn,
          (cause) => new ReadFailed({ cause }),
          { closeOnDone: false }
        )
      )
      const next: Effect.Effect<Chunk.Chunk<Uint8Array>, Option.Option<ReadFailed | IdleTimeout>> =
        idleTimeout === undefined
          ? pull
          : Effect.timeoutFail(pull, { duration: idleTimeout, onTimeout: () => Option.some(new IdleTimeout()) })
      while (true) {
        const pulled = yield* Effect.either(next)
        // `None`: the peer ended its side.
        if (Either.isLeft(pulled)) return yield* Option.match(pulled.left, { onNone: () => onEnd, onSome: Effect.fail })
        for (const chunk of pulled.right) {
          if (!(yield* onChunk(chunk))) return
        }
      }
    }).pipe(
      Effect.scoped,
      Effect.catchTags({
        IdleTimeout: () => write(conn, idleTimedOut + "\n"),
        ReadFailed: (error) => Effect.logDebug("agent socket connection failed", error.cause)
      })
    )

    const authDeadline = Effect.sleep(context.authTimeout).pipe(
      Effect.zipRight(Effect.suspend(() => authenticated ? Effect.never : write(conn, authTimedOut + "\n")))
    )

    yield* authenticated ? reading : Effect.raceFirst(reading, authDeadline)
  }).pipe(Effect.ensuring(close(conn)))
