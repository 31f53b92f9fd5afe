/**
 * At-least-once forwarding (SPEC §6): reads unsent batches from the `Spool`
 * in commit order, sends each with the `Forwarder`, and moves the cursor only
 * after the upstream accepted it. Retryable failures (network, 408, 429, 5xx)
 * are retried forever with exponential backoff and jitter, never sooner than
 * the upstream's `Retry-After` when it gave one; a batch refused for good becomes
 * a dead letter. One batch is in flight at a time, so order is kept; the
 * next one is read and prepared meanwhile.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Schedule from "effect/Schedule"
import { batchSize, type ForwardBatch, Forwarder, type ForwardRejected, type ForwardRetryable } from "./Forwarder.js"
import { type Accounting, Spool } from "./Spool.js"

/** Events delivered upstream. */
export const eventsForwarded = Metric.counter("sluice_forward_events_total", {
  description: "Events delivered upstream (2xx)",
  incremental: true
})
/** Send attempts that failed and will be retried. */
export const forwardRetries = Metric.counter("sluice_forward_retries_total", {
  description: "Forward attempts that failed and are retried",
  incremental: true
})
/** Events refused for good by the upstream. */
export const eventsDeadLettered = Metric.counter("sluice_forward_dead_lettered_events_total", {
  description: "Events the upstream refused for good, kept as dead letters",
  incremental: true
})

/** The loss-accounting figures, tags `state` and `transport` (`all` for the total). */
export const spoolEvents = Metric.gauge("sluice_spool_events", {
  description: "Loss accounting: received = forwarded + buffered + dropped + dead_lettered, per transport"
})
/** Bytes of commit log not yet forwarded. */
export const spoolBytes = Metric.gauge("sluice_spool_bytes", { description: "Bytes of the spool not yet forwarded" })

/** Publishes the spool's accounting to the gauges. */
export const reportAccounting = Effect.gen(function*() {
  const spool = yield* Spool
  const report = yield* spool.accounting
  const rows: Array<[string, Accounting]> = [["all", report.total], ...Object.entries(report.byTransport)]
  for (const [transport, a] of rows) {
    const gauge = spoolEvents.pipe(Metric.tagged("transport", transport))
    yield* Metric.set(gauge.pipe(Metric.tagged("state", "received")), a.received)
    yield* Metric.set(gauge.pipe(Metric.tagged("state", "forwarded")), a.forwarded)
    yield* Metric.set(gauge.pipe(Metric.tagged("state", "buffered")), a.buffered)
    yield* Metric.set(gauge.pipe(Metric.tagged("state", "dropped")), a.dropped)
    yield* Metric.set(gauge.pipe(Metric.tagged("state", "dead_lettered")), a.deadLettered)
  }
  yield* Metric.set(spoolBytes, report.spoolBytes)
})

/** Settings of the forward loop. */
export interface ForwardLoopOptions {
  /** Events per batch at most (a batch never spans two commits). */
  readonly maxEvents: number
  /** How often an idle loop looks for new commits. */
  readonly idlePoll: Duration.DurationInput
  /** First retry delay; doubles per attempt, with jitter, up to `maxBackoff`. */
  readonly baseBackoff: Duration.DurationInput
  readonly maxBackoff: Duration.DurationInput
}

/** Defaults: 5,000 events per batch, 100 ms idle poll, backoff 500 ms → 30 s. */
export const defaultOptions: ForwardLoopOptions = {
  maxEvents: 5000,
  idlePoll: Duration.millis(100),
  baseBackoff: Duration.millis(500),
  maxBackoff: Duration.seconds(30)
}

/** The backoff between retries: exponential from `base`, capped at `max`, jittered. */
export const backoff = (options: Pick<ForwardLoopOptions, "baseBackoff" | "maxBackoff">) =>
  Schedule.exponential(options.baseBackoff, 2).pipe(
    Schedule.union(Schedule.spaced(options.maxBackoff)),
    Schedule.jittered
  )

/**
 * The retry schedule of one batch: the backoff, but never sooner than the
 * upstream's `Retry-After` when the failure carried one.
 */
export const retrySchedule = (options: Pick<ForwardLoopOptions, "baseBackoff" | "maxBackoff">) =>
  Schedule.intersect(backoff(options), Schedule.identity<ForwardRetryable | ForwardRejected>()).pipe(
    Schedule.modifyDelay(([, error], delay) =>
      error._tag === "ForwardRetryable" && error.retryAfterMs !== undefined
        ? Duration.max(delay, Duration.millis(error.retryAfterMs))
        : delay
    )
  )

/** Sends one batch until it is delivered or refused for good. */
export const deliver = (batch: ForwardBatch, options: ForwardLoopOptions = defaultOptions) =>
  Effect.gen(function*() {
    const forwarder = yield* Forwarder
    return yield* forwarder.send(batch).pipe(
      Effect.tapError((error: ForwardRetryable | ForwardRejected) =>
        error._tag === "ForwardRetryable"
          ? Effect.zipRight(
            Metric.increment(forwardRetries),
            Effect.logWarning("forward failed; retrying", { target: forwarder.target, reason: error.reason })
          )
          : Effect.void
      ),
      Effect.retry({ schedule: retrySchedule(options), while: (error) => error._tag === "ForwardRetryable" }),
      Effect.either
    )
  })

/** Delivers one batch, then acknowledges it or keeps it as a dead letter. */
const settle = (batch: ForwardBatch, options: ForwardLoopOptions) =>
  Effect.gen(function*() {
    const spool = yield* Spool
    const outcome = yield* deliver(batch, options)
    if (outcome._tag === "Right") {
      yield* spool.ack(batch)
      yield* Metric.incrementBy(eventsForwarded, batchSize(batch))
    } else if (outcome.left._tag === "ForwardRejected") {
      const refused = outcome.left
      yield* Effect.logWarning("upstream refused a batch; kept as a dead letter", {
        status: refused.status,
        events: batchSize(batch)
      })
      yield* spool.deadLetter(batch, refused.status, refused.body)
      yield* Metric.incrementBy(eventsDeadLettered, batchSize(batch))
    }
    // A retryable failure only ends the retries if the schedule does: the batch stays unsent.
  })

/** One step: forward the next batch if there is one; `false` when idle. */
export const step = (options: ForwardLoopOptions = defaultOptions) =>
  Effect.gen(function*() {
    const spool = yield* Spool
    const batch = yield* spool.next(options.maxEvents)
    if (batch === undefined) return false
    yield* settle(batch, options)
    return true
  })

/** What a replay of the dead letters did. */
export interface ReplayOutcome {
  /** Letters delivered (removed, now counted as forwarded). */
  readonly delivered: number
  /** Letters still dead (refused again, or not delivered by `send`). */
  readonly remaining: number
}

/**
 * Sends every dead letter once through `send`, with a key derived from the
 * letter (`dead-letter:<id>`, so a letter delivered but not yet removed when
 * the process dies is stored once upstream). Delivered letters are resolved;
 * the others stay.
 */
export const replayDeadLettersWith = <R>(
  send: (batch: ForwardBatch) => Effect.Effect<Either.Either<void, ForwardRetryable | ForwardRejected>, never, R>
) =>
  Effect.gen(function*() {
    const spool = yield* Spool
    let delivered = 0
    let offset = 0
    while (true) {
      const page = yield* spool.deadLetters({ offset, limit: 100 })
      if (page.items.length === 0) return { delivered, remaining: offset } satisfies ReplayOutcome
      for (const letter of page.items) {
        const batch: ForwardBatch = {
          seq: 0,
          offset: 0,
          events: letter.events,
          idempotencyKey: `dead-letter:${letter.id}`
        }
        const outcome = yield* send(batch)
        if (outcome._tag === "Right") {
          yield* spool.resolveDeadLetters([letter.id])
          yield* Metric.incrementBy(eventsForwarded, letter.events.length)
          delivered++
        } else {
          offset++
        }
      }
    }
  })

/**
 * Sends every dead letter again (after the upstream is fixed), retrying a
 * retryable failure with the usual backoff; one refused again stays a dead
 * letter. Answers how many were delivered.
 */
export const replayDeadLetters = (options: ForwardLoopOptions = defaultOptions) =>
  Effect.map(replayDeadLettersWith((batch) => deliver(batch, options)), (outcome) => outcome.delivered)

/** Sends every dead letter exactly one attempt each (for an API call that must answer). */
export const replayDeadLettersOnce = replayDeadLettersWith((batch) =>
  Effect.flatMap(Forwarder, (forwarder) => Effect.either(forwarder.send(batch)))
)

/**
 * Forwards forever. While a batch is in flight the next one is read and,
 * when the forwarder can, prepared (encoded and compressed), so the agent's
 * work overlaps the upstream's; still one batch is sent at a time, in order.
 * A failing spool (the local store) is logged and retried.
 */
export const run = (options: ForwardLoopOptions = defaultOptions) =>
  Effect.gen(function*() {
    const spool = yield* Spool
    const forwarder = yield* Forwarder
    const prepare = forwarder.prepare
    const readAhead = (batch: ForwardBatch) =>
      prepare === undefined
        ? Effect.void
        : spool.next(options.maxEvents, batch).pipe(
          Effect.flatMap((ahead) => ahead === undefined ? Effect.void : prepare(ahead)),
          // Only a head start: the loop reads the batch again before sending it.
          Effect.ignore
        )
    const once = Effect.gen(function*() {
      const batch = yield* spool.next(options.maxEvents)
      if (batch === undefined) return yield* Effect.sleep(options.idlePoll)
      const ahead = yield* Effect.fork(readAhead(batch))
      yield* settle(batch, options)
      yield* Fiber.join(ahead)
    })
    return yield* once.pipe(
      Effect.catchAll((error) =>
        Effect.zipRight(Effect.logError("spool failed", error.message), Effect.sleep("1 second"))
      ),
      Effect.forever
    )
  })

/** The forward loop as a layer: runs while the layer lives, and reports the accounting every 5 s. */
export const layer = (options: ForwardLoopOptions = defaultOptions): Layer.Layer<never, never, Spool | Forwarder> =>
  Layer.scopedDiscard(Effect.gen(function*() {
    yield* Effect.forkScoped(run(options))
    yield* Effect.forkScoped(
      reportAccounting.pipe(Effect.ignoreLogged, Effect.repeat(Schedule.spaced("5 seconds")))
    )
  }))
