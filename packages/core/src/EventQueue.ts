/**
 * The bounded hand-off between transports and the commit writer. Bounded in
 * events **and** bytes: when full, `offer` either waits for room up to a
 * timeout (`block`, lossless backpressure) or fails at once (`reject`). A
 * batch is never split: it enters whole or not at all.
 */
import * as Context from "effect/Context"
import type * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { type EventBatch, size } from "./EventBatch.js"
import * as Metrics from "./Metrics.js"

/** The queue is full (or stayed full for the block timeout). */
export class Backpressure extends Schema.TaggedError<Backpressure>()("Backpressure", {
  queuedEvents: Schema.Number,
  queuedBytes: Schema.Number
}) {
  override get message() {
    return `queue full (${this.queuedEvents} events, ${this.queuedBytes} bytes queued)`
  }
}

/** The queue no longer accepts events: the gateway is shutting down. */
export class QueueClosed extends Schema.TaggedError<QueueClosed>()("QueueClosed", {}) {
  override get message() {
    return "the gateway is shutting down"
  }
}

/** A committed batch failed to be stored (reported to durable waiters). */
export class CommitFailed extends Schema.TaggedError<CommitFailed>()("CommitFailed", {
  reason: Schema.String
}) {}

/** One offered batch, with the durable barrier its sender may wait on. */
export interface QueueEntry {
  readonly events: EventBatch
  readonly bytes: number
  /** Completed once the batch is committed, when the sender asked for it. */
  readonly committed: Deferred.Deferred<void, CommitFailed> | undefined
  /** Recorded with the batch in the same transaction (drain idempotency). */
  readonly idempotencyKey: string | undefined
}

/** What the queue holds now, and its bounds. */
export interface QueueStats {
  readonly events: number
  readonly bytes: number
  readonly maxEvents: number
  readonly maxBytes: number
  readonly waitingOffers: number
  readonly closed: boolean
}

/** How the queue behaves when full. */
export type FullPolicy = "block" | "reject"

/** Settings of the in-memory queue (SPEC §0). */
export interface EventQueueOptions {
  readonly maxEvents: number
  readonly maxBytes: number
  readonly fullPolicy: FullPolicy
  readonly blockTimeout: Duration.DurationInput
}

/** Defaults of SPEC §0: 100,000 events, 256 MiB, block up to 5 s. */
export const defaultOptions: EventQueueOptions = {
  maxEvents: 100_000,
  maxBytes: 256 * 1024 * 1024,
  fullPolicy: "block",
  blockTimeout: Duration.seconds(5)
}

/** The bounded queue between transports and the writer. */
export class EventQueue extends Context.Tag("@sluice/core/EventQueue")<EventQueue, {
  /** Enqueues a whole batch, or fails with `Backpressure` / `QueueClosed`. */
  readonly offer: (entry: QueueEntry) => Effect.Effect<void, Backpressure | QueueClosed>
  /**
   * Waits for at least one entry, then takes entries up to `maxEvents` (at
   * least one whole entry). Answers an empty array once closed and empty.
   */
  readonly take: (maxEvents: number) => Effect.Effect<ReadonlyArray<QueueEntry>>
  /** Takes whole entries that fit in `maxEvents` now, without waiting. */
  readonly poll: (maxEvents: number) => ReadonlyArray<QueueEntry>
  /**
   * Waits until at least `minEvents` events are queued, an entry whose sender
   * waits on the commit is queued, or the queue is closed: what ends the
   * writer's commit window early. Takes nothing, so it is safe to interrupt.
   */
  readonly awaitFill: (minEvents: number) => Effect.Effect<void>
  /** What the queue holds now (synchronous, for hot paths and readiness). */
  readonly stats: () => QueueStats
  /** Stops accepting offers; entries already queued can still be taken. */
  readonly close: Effect.Effect<void>
}>() {}

interface Waiter {
  readonly entry: QueueEntry
  admitted: boolean
  resume: (ok: boolean) => void
}

/** Builds the in-memory queue. */
export const make = (options: EventQueueOptions): Effect.Effect<EventQueue["Type"]> =>
  Effect.sync(() => {
    // Taken slots are cleared (undefined) so their batches can be collected before the array is compacted.
    const entries: Array<QueueEntry | undefined> = []
    let head = 0
    let events = 0
    let bytes = 0
    let closed = false
    const waiters: Array<Waiter> = []
    // Queued entries whose sender waits on the commit.
    let durableEntries = 0
    // Fibers waiting for the queue to reach a state (the writer's take and window).
    const watchers = new Set<{ readonly ready: () => boolean; readonly wake: () => void }>()
    const wakeWatchers = () => {
      if (watchers.size === 0) return
      for (const w of [...watchers]) {
        if (w.ready()) {
          watchers.delete(w)
          w.wake()
        }
      }
    }
    const waitUntil = (ready: () => boolean): Effect.Effect<void> =>
      Effect.suspend(() =>
        ready() ? Effect.void : Effect.async<void>((resume) => {
          const watcher = { ready, wake: () => resume(Effect.void) }
          watchers.add(watcher)
          return Effect.sync(() => {
            watchers.delete(watcher)
          })
        })
      )

    const fits = (e: number, b: number) =>
      (events + e <= options.maxEvents && bytes + b <= options.maxBytes) || events === 0

    const stats = (): QueueStats => ({
      events,
      bytes,
      maxEvents: options.maxEvents,
      maxBytes: options.maxBytes,
      waitingOffers: waiters.length,
      closed
    })

    const push = (entry: QueueEntry) => {
      entries.push(entry)
      events += size(entry.events)
      bytes += entry.bytes
      if (entry.committed !== undefined) durableEntries++
      wakeWatchers()
    }

    // Admits waiting offers in arrival order while they fit.
    const admitWaiters = () => {
      while (waiters.length > 0) {
        const w = waiters[0]!
        if (closed) {
          waiters.shift()
          w.resume(false)
          continue
        }
        if (!fits(size(w.entry.events), w.entry.bytes)) break
        waiters.shift()
        // Admission enqueues at once, so the next waiter sees the room it took.
        w.admitted = true
        push(w.entry)
        w.resume(true)
      }
    }

    const takeNow = (maxEvents: number, atLeastOne: boolean): ReadonlyArray<QueueEntry> => {
      const out: Array<QueueEntry> = []
      let n = 0
      while (head < entries.length) {
        const entry = entries[head]!
        if ((out.length > 0 || !atLeastOne) && n + size(entry.events) > maxEvents) break
        out.push(entry)
        n += size(entry.events)
        events -= size(entry.events)
        bytes -= entry.bytes
        if (entry.committed !== undefined) durableEntries--
        entries[head] = undefined
        head++
      }
      if (head > 1024 && head * 2 > entries.length) {
        entries.splice(0, head)
        head = 0
      }
      if (out.length > 0) admitWaiters()
      return out
    }

    const offer = (entry: QueueEntry): Effect.Effect<void, Backpressure | QueueClosed> =>
      Effect.suspend(() => {
        if (closed) return Effect.fail(new QueueClosed())
        // An empty entry (a barrier) takes no room.
        if ((waiters.length === 0 && fits(size(entry.events), entry.bytes)) || size(entry.events) === 0) {
          push(entry)
          return Effect.void
        }
        if (options.fullPolicy === "reject") {
          return Effect.fail(new Backpressure({ queuedEvents: events, queuedBytes: bytes }))
        }
        const waiter: Waiter = { entry, admitted: false, resume: () => {} }
        const wait = Effect.async<boolean>((resume) => {
          waiter.resume = (ok) => resume(Effect.succeed(ok))
          waiters.push(waiter)
          // The timeout runs this in a forked fiber, so the queue may have
          // drained (or closed) since the check above: look again, or this
          // waiter could sit behind room nobody will announce.
          admitWaiters()
          return Effect.sync(() => {
            const i = waiters.indexOf(waiter)
            if (i >= 0) waiters.splice(i, 1)
            // A cancelled head waiter may have been blocking smaller ones.
            admitWaiters()
          })
        })
        return wait.pipe(
          Effect.timeout(options.blockTimeout),
          Effect.catchTag(
            "TimeoutException",
            () =>
              // Admitted in the same instant the timeout fired: it is queued.
              waiter.admitted
                ? Effect.succeed(true)
                : Effect.fail(new Backpressure({ queuedEvents: events, queuedBytes: bytes }))
          ),
          Effect.flatMap((ok) => ok ? Effect.void : Effect.fail(new QueueClosed()))
        )
      })

    const hasEntries = () => head < entries.length || closed

    const take = (maxEvents: number): Effect.Effect<ReadonlyArray<QueueEntry>> =>
      Effect.suspend(() =>
        hasEntries()
          ? Effect.succeed(takeNow(maxEvents, true))
          : Effect.zipRight(waitUntil(hasEntries), take(maxEvents))
      )

    const awaitFill = (minEvents: number): Effect.Effect<void> =>
      waitUntil(() => closed || durableEntries > 0 || (head < entries.length && events >= minEvents))

    const close = Effect.sync(() => {
      closed = true
      admitWaiters()
      wakeWatchers()
    })

    return EventQueue.of({ offer, take, poll: (maxEvents) => takeNow(maxEvents, false), awaitFill, stats, close })
  })

/** The in-memory queue as a layer. */
export const layer = (options: EventQueueOptions = defaultOptions): Layer.Layer<EventQueue> =>
  Layer.effect(EventQueue, make(options))

/** Publishes the queue's depth and bytes to the gauges. */
export const reportGauges = (stats: QueueStats): Effect.Effect<void> =>
  Effect.zipRight(Metric.set(Metrics.queueDepth, stats.events), Metric.set(Metrics.queueBytes, stats.bytes))

/** `Some(reason)` when the queue is above the given fraction of either bound. */
export const saturation = (stats: QueueStats, highWatermark: number): Option.Option<string> =>
  stats.events >= stats.maxEvents * highWatermark
    ? Option.some(`queue above high watermark (${stats.events}/${stats.maxEvents} events)`)
    : stats.bytes >= stats.maxBytes * highWatermark
    ? Option.some(`queue above high watermark (${stats.bytes}/${stats.maxBytes} bytes)`)
    : Option.none()
