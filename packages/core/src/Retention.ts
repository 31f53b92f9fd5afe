/**
 * Applies the store's retention (age and size, SPEC §6) on a schedule, for
 * as long as the layer lives. A failing pass is logged and tried again at
 * the next tick.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import { EventStore, type RetentionPolicy } from "./EventStore.js"

/** Retention settings: the policy and how often it runs. */
export interface RetentionOptions extends RetentionPolicy {
  readonly interval: Duration.DurationInput
}

/** Defaults of SPEC §6: 7 days, 10 GiB of commit log, every minute. */
export const defaultOptions: RetentionOptions = {
  maxAgeMs: 7 * 24 * 3600_000,
  maxBytes: 10 * 1024 ** 3,
  interval: Duration.minutes(1)
}

/** Runs retention now and then at every interval. */
export const layer = (options: RetentionOptions = defaultOptions): Layer.Layer<never, never, EventStore> =>
  Layer.scopedDiscard(Effect.gen(function*() {
    const store = yield* EventStore
    const pass = store.retain(options).pipe(
      Effect.tap((r) =>
        r.deletedCommits > 0
          ? Effect.logInfo("retention removed old events", { commits: r.deletedCommits, events: r.deletedEvents })
          : Effect.void
      ),
      Effect.catchAll((error) => Effect.logWarning("retention pass failed", error.message))
    )
    yield* Effect.forkScoped(Effect.repeat(pass, Schedule.spaced(options.interval)))
  }))
