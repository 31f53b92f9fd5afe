/**
 * Committed batches, fanned out to live subscribers (SSE tails, metrics).
 * Sliding: a slow subscriber loses the oldest batches and never blocks the
 * writer.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as PubSub from "effect/PubSub"
import { type EventBatch, eventsOfAll, isEncoded } from "./EventBatch.js"
import type { LogEvent } from "./LogEvent.js"

/** A committed batch: event `i` has id `firstId + i`. */
export interface CommittedBatch {
  /** The commit's sequence number (a gap means a subscriber missed commits). */
  readonly seq: number
  readonly firstId: number
  /** The events (rows a fast transport encoded are decoded on first read, so only when someone reads them). */
  readonly events: ReadonlyArray<LogEvent>
}

/**
 * The feed's item for a commit of `batches` (in order); encoded rows are
 * decoded only if a subscriber reads `events`.
 */
export const committedBatch = (seq: number, firstId: number, batches: ReadonlyArray<EventBatch>): CommittedBatch => {
  if (batches.length === 1 && !isEncoded(batches[0]!)) {
    return { seq, firstId, events: batches[0] as ReadonlyArray<LogEvent> }
  }
  let events: ReadonlyArray<LogEvent> | undefined
  return {
    seq,
    firstId,
    get events() {
      return events ??= eventsOfAll(batches)
    }
  }
}

/** The fan-out of committed batches. */
export class CommitFeed extends Context.Tag("@sluice/core/CommitFeed")<
  CommitFeed,
  PubSub.PubSub<CommittedBatch>
>() {}

/** A sliding PubSub holding up to `capacity` batches per subscriber. */
export const layer = (capacity = 1024): Layer.Layer<CommitFeed> =>
  Layer.scoped(CommitFeed, Effect.acquireRelease(PubSub.sliding<CommittedBatch>(capacity), PubSub.shutdown))
