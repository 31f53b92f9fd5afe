/**
 * The one door every transport and input uses. Transports decode first;
 * `Ingest` counts, enqueues whole batches, and, when asked, waits for the
 * durable barrier: it answers only once the batch is committed.
 */
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import { type EventBatch, firstTransport, isEncoded, size } from "./EventBatch.js"
import type { Backpressure, CommitFailed, QueueClosed } from "./EventQueue.js"
import { EventQueue } from "./EventQueue.js"
import { estimateBatchBytes } from "./LogEvent.js"
import * as Metrics from "./Metrics.js"

/** Options of one offer. */
export interface OfferOptions {
  /** Answer only after the batch is committed. */
  readonly durable?: boolean | undefined
  /** The transport name, for metrics (default: the first event's). */
  readonly transport?: string | undefined
  /** The batch's size in bytes if the caller knows it (else estimated). */
  readonly bytes?: number | undefined
  /** Recorded with the batch in the same transaction. */
  readonly idempotencyKey?: string | undefined
}

/** The one door into the pipeline. */
export class Ingest extends Context.Tag("@sluice/core/Ingest")<Ingest, {
  /** Accepts a whole batch, or fails; with `durable`, answers after the commit. */
  readonly offer: (
    events: EventBatch,
    options?: OfferOptions
  ) => Effect.Effect<void, Backpressure | QueueClosed | CommitFailed>
  /** A barrier: completes once everything offered before it is committed. */
  readonly barrier: Effect.Effect<void, QueueClosed | CommitFailed>
}>() {}

/** Builds `Ingest` over the queue. */
export const make: Effect.Effect<Ingest["Type"], never, EventQueue> = Effect.gen(function*() {
  const queue = yield* EventQueue
  // Tagged counters per transport, built once (tagging allocates a new metric key).
  const counters = new Map<
    string,
    { readonly accepted: Metric.Metric.Counter<number>; readonly rejected: Metric.Metric.Counter<number> }
  >()
  const countersOf = (transport: string) => {
    let c = counters.get(transport)
    if (c === undefined) {
      c = {
        accepted: Metrics.eventsAccepted.pipe(Metric.tagged("transport", transport)),
        rejected: Metrics.eventsRejected.pipe(
          Metric.tagged("transport", transport),
          Metric.tagged("reason", "backpressure")
        )
      }
      counters.set(transport, c)
    }
    return c
  }
  const offer = (events: EventBatch, options?: OfferOptions) =>
    Effect.gen(function*() {
      const count = size(events)
      if (count === 0) {
        if (options?.durable === true) yield* barrier
        return
      }
      const counter = countersOf(options?.transport ?? firstTransport(events)!)
      const committed = options?.durable === true ? yield* Deferred.make<void, CommitFailed>() : undefined
      yield* queue.offer({
        events,
        // Rows are their own size; objects are estimated (never decode rows to measure them).
        bytes: options?.bytes ?? (isEncoded(events) ? events.rows.length : estimateBatchBytes(events)),
        committed,
        idempotencyKey: options?.idempotencyKey
      }).pipe(
        Effect.tapError(() => Metric.incrementBy(counter.rejected, count))
      )
      yield* Metric.incrementBy(counter.accepted, count)
      if (committed !== undefined) yield* Deferred.await(committed)
    })
  // An empty entry rides the queue in order: when it commits, everything before it has.
  const barrier: Effect.Effect<void, QueueClosed | CommitFailed> = Effect.gen(function*() {
    const committed = yield* Deferred.make<void, CommitFailed>()
    // An empty entry takes no room, so it is never refused for backpressure.
    yield* queue.offer({ events: [], bytes: 0, committed, idempotencyKey: undefined }).pipe(
      Effect.catchTag("Backpressure", Effect.die)
    )
    yield* Deferred.await(committed)
  })
  return Ingest.of({ offer, barrier })
})

/** `Ingest` over the `EventQueue`. */
export const layer: Layer.Layer<Ingest, never, EventQueue> = Layer.effect(Ingest, make)
