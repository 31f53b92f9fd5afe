/**
 * The live tail of `GET /api/v1/logs/stream` (Server-Sent Events), fed by
 * core's `CommitFeed`: batches published by the writer after each commit.
 *
 * Guarantees:
 * - Ingestion never waits for a tail. Each tail drains its feed subscription
 *   at once into its own buffer, bounded in events (`maxBufferedEvents`); when
 *   the client reads too slowly the oldest buffered events are dropped, and
 *   the client gets an `event: notice` saying how many it missed. A tail that
 *   fell behind the feed itself (the feed is a sliding PubSub) is told the
 *   same way: commit sequences are contiguous, so a gap is a skip.
 * - The first bytes (`: subscribed`) are sent once the subscription exists,
 *   so every event committed after a client has read them reaches it.
 * - Each event is `id: <event id>`, `event: log`, `data: <stored-event JSON>`;
 *   a `: keep-alive` comment every 15 s keeps proxies from closing the line.
 * - A client that disconnects interrupts the stream, which closes the
 *   subscription and stops its fiber.
 */
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { CommitFeed, type CommittedBatch } from "@sluice/core/CommitFeed"
import type { EventQuery } from "@sluice/core/EventStore"
import { matches } from "@sluice/core/EventStore"
import type { LogEvent } from "@sluice/core/LogEvent"
import { toStoredEventJson } from "@sluice/core/LogEvent"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as PubSub from "effect/PubSub"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"

/** The filters of a tail (those of `EventQuery`, without paging). */
export type TailFilter = Omit<EventQuery, "offset" | "limit">

/** Settings of a tail. */
export interface LogStreamOptions {
  /** The most events one tail holds for a slow client before dropping the oldest. */
  readonly maxBufferedEvents: number
  /** The interval of keep-alive comments. */
  readonly keepAlive: Duration.DurationInput
}

/** 100,000 events per client (2 s at 50k/s; they are shared with the feed, not copied); a keep-alive every 15 s. */
export const defaultOptions: LogStreamOptions = { maxBufferedEvents: 100_000, keepAlive: Duration.seconds(15) }

const chunkEvents = 500

/** Live tails open now. */
export const tailsOpen = Metric.gauge("sluice_control_plane_tails_open", { description: "Live tails (SSE) open now" })

/** A slice of matching events, numbered so the reader can tell what it missed. */
interface Slice {
  /** Matching events produced before this slice (cumulative). */
  readonly before: number
  readonly firstId: number
  readonly events: ReadonlyArray<readonly [position: number, event: LogEvent]>
  /** Commits the feed skipped just before this slice. */
  readonly skippedCommits: number
}

const notice = (skippedEvents: number, skippedCommits: number) =>
  `event: notice\ndata: ${
    JSON.stringify({
      message: "this client fell behind; events were skipped",
      skipped_events: skippedEvents,
      skipped_commits: skippedCommits
    })
  }\n\n`

/** Encodes one slice, after a notice when something was skipped before it. */
const encode = (slice: Slice, expected: number): string => {
  let out = slice.before > expected || slice.skippedCommits > 0
    ? notice(slice.before - expected, slice.skippedCommits)
    : ""
  for (const [position, event] of slice.events) {
    const id = slice.firstId + position
    out += `id: ${id}\nevent: log\ndata: ${JSON.stringify(toStoredEventJson({ ...event, id }))}\n\n`
  }
  return out
}

/** The SSE body of a tail: subscribes when the body starts, unsubscribes when it ends. */
export const events = (
  filter: TailFilter,
  options: LogStreamOptions = defaultOptions
): Stream.Stream<string, never, CommitFeed> =>
  Stream.unwrapScoped(Effect.gen(function*() {
    const feed = yield* CommitFeed
    yield* Effect.acquireRelease(Metric.increment(tailsOpen), () => Metric.incrementBy(tailsOpen, -1))
    const subscription = yield* PubSub.subscribe(feed)
    const slices = yield* Effect.acquireRelease(
      Queue.sliding<Slice>(Math.max(1, Math.ceil(options.maxBufferedEvents / chunkEvents))),
      Queue.shutdown
    )
    let produced = 0
    let lastSeq: number | undefined
    let skippedCommits = 0
    const cut = (batch: CommittedBatch): Array<Slice> => {
      const seq = batch.seq
      if (lastSeq !== undefined && seq > lastSeq + 1) skippedCommits += seq - lastSeq - 1
      lastSeq = seq
      const out: Array<Slice> = []
      let current: Array<readonly [number, LogEvent]> = []
      const flush = () => {
        out.push({ before: produced, firstId: batch.firstId, events: current, skippedCommits })
        produced += current.length
        skippedCommits = 0
        current = []
      }
      for (let i = 0; i < batch.events.length; i++) {
        const event = batch.events[i]!
        if (!matches(filter, event)) continue
        current.push([i, event])
        if (current.length === chunkEvents) flush()
      }
      if (current.length > 0 || skippedCommits > 0) flush()
      return out
    }
    // Drain the feed at once, whatever the client's pace.
    yield* subscription.takeBetween(1, 64).pipe(
      Effect.flatMap((batches) => {
        const out: Array<Slice> = []
        for (const batch of batches) for (const slice of cut(batch)) out.push(slice)
        return out.length === 0 ? Effect.void : Queue.offerAll(slices, out)
      }),
      Effect.forever,
      Effect.forkScoped
    )
    let expected = 0
    const body = Stream.fromQueue(slices).pipe(
      Stream.map((slice) => {
        const text = encode(slice, expected)
        expected = slice.before + slice.events.length
        return text
      }),
      Stream.filter((text) => text.length > 0)
    )
    const keepAlive = Stream.fromSchedule(Schedule.spaced(options.keepAlive)).pipe(Stream.as(": keep-alive\n\n"))
    return Stream.concat(
      Stream.succeed(": subscribed\n\n"),
      Stream.merge(body, keepAlive, { haltStrategy: "left" })
    )
  }))

/** The SSE response of a tail. */
export const response = (
  filter: TailFilter,
  options: LogStreamOptions = defaultOptions
): Effect.Effect<HttpServerResponse.HttpServerResponse, never, CommitFeed> =>
  Effect.map(Effect.context<CommitFeed>(), (context) =>
    HttpServerResponse.stream(
      events(filter, options).pipe(Stream.encodeText, Stream.provideContext(context)),
      {
        contentType: "text/event-stream",
        headers: { "cache-control": "no-cache", "x-accel-buffering": "no" }
      }
    ))
