/**
 * Records when agents go offline (SPEC §4): every `interval` (default 30 s)
 * a scoped fiber sets `went_offline_at` on agents whose last heartbeat (or
 * enrolment, before the first) is older than the offline threshold, once per
 * silence; the next heartbeat clears it. Time comes from `Clock` and the
 * cadence from `Schedule`, so tests drive it with `TestClock`. A failing
 * sweep is logged and the next one runs on time.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import { Agents } from "./Agents.js"

/** Settings of the sweep. */
export interface OfflineSweepOptions {
  /** How often to look (default 30 seconds). */
  readonly interval: Duration.DurationInput
}

/** 30 seconds. */
export const defaultOptions: OfflineSweepOptions = { interval: Duration.seconds(30) }

/** One sweep: marks the agents that went silent; answers how many. */
export const sweepOnce: Effect.Effect<number, never, Agents> = Effect.flatMap(Agents, (agents) => agents.markOffline)

/** Sweeps at once, then every `interval`, until interrupted. */
export const run = (options: OfflineSweepOptions = defaultOptions): Effect.Effect<never, never, Agents> =>
  sweepOnce.pipe(
    Effect.tap((marked) => marked > 0 ? Effect.logInfo(`fleet: ${marked} agent(s) went offline`) : Effect.void),
    Effect.catchAllCause((cause) => Effect.as(Effect.logError("fleet: the offline sweep failed", cause), 0)),
    Effect.repeat(Schedule.spaced(options.interval)),
    Effect.zipRight(Effect.never)
  )

/** The sweep as a scoped fiber: it stops with the layer. */
export const layer = (options: OfflineSweepOptions = defaultOptions): Layer.Layer<never, never, Agents> =>
  Layer.scopedDiscard(Effect.forkScoped(run(options)))
