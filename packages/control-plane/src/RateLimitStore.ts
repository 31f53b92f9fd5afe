/**
 * An in-memory `RateLimiterStore` (for `@effect/experimental` `RateLimiter`)
 * that forgets idle keys. The stock memory store keeps one entry per key
 * forever, so a client that changes its IP (or a scan of keys) grows memory
 * without end; here an entry whose window has passed is removed by a sweep
 * that runs at most once per `sweepInterval`, during calls, so memory stays
 * proportional to the keys seen within the last window. Counting follows
 * the stock store exactly (time from `Clock`, so `TestClock` drives it).
 */
import { RateLimiterStore } from "@effect/experimental/RateLimiter"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

interface Counter {
  count: number
  expiresAt: number
}

interface Bucket {
  tokens: number
  lastRefill: number
  /** When the bucket is full again (then it can be forgotten). */
  idleAt: number
}

/** A handle on the store's size, for tests and metrics. */
export interface StoreStats {
  readonly keys: () => number
}

/** Builds the store; `sweepInterval` bounds how often idle keys are looked for. */
export const make = (sweepInterval: Duration.DurationInput = Duration.minutes(1)) =>
  Effect.sync(() => {
    const sweepMillis = Duration.toMillis(Duration.decode(sweepInterval))
    const counters = new Map<string, Counter>()
    const buckets = new Map<string, Bucket>()
    let nextSweep = -Infinity
    const sweep = (now: number) => {
      if (now < nextSweep) return
      nextSweep = now + sweepMillis
      for (const [key, counter] of counters) if (counter.expiresAt <= now) counters.delete(key)
      for (const [key, bucket] of buckets) if (bucket.idleAt <= now) buckets.delete(key)
    }
    const store = RateLimiterStore.of({
      fixedWindow: (options) =>
        Effect.clockWith((clock) =>
          Effect.sync(() => {
            const refillMillis = Duration.toMillis(options.refillRate)
            const now = clock.unsafeCurrentTimeMillis()
            sweep(now)
            let counter = counters.get(options.key)
            if (counter === undefined || counter.expiresAt <= now) {
              counter = { count: 0, expiresAt: now }
              counters.set(options.key, counter)
            }
            if (options.limit !== undefined && counter.count + options.tokens > options.limit) {
              return [counter.count + options.tokens, counter.expiresAt - now] as const
            }
            counter.count += options.tokens
            counter.expiresAt += refillMillis * options.tokens
            return [counter.count, counter.expiresAt - now] as const
          })
        ),
      tokenBucket: (options) =>
        Effect.clockWith((clock) =>
          Effect.sync(() => {
            const refillMillis = Duration.toMillis(options.refillRate)
            const now = clock.unsafeCurrentTimeMillis()
            sweep(now)
            let bucket = buckets.get(options.key)
            if (bucket === undefined) {
              bucket = { tokens: options.limit, lastRefill: now, idleAt: now }
              buckets.set(options.key, bucket)
            } else {
              const add = Math.floor((now - bucket.lastRefill) / refillMillis)
              if (add > 0) {
                bucket.tokens = Math.min(options.limit, bucket.tokens + add)
                bucket.lastRefill += add * refillMillis
              }
            }
            const left = bucket.tokens - options.tokens
            if (options.allowOverflow || left >= 0) bucket.tokens = left
            bucket.idleAt = bucket.lastRefill + Math.max(0, options.limit - bucket.tokens) * refillMillis
            return left
          })
        )
    })
    const stats: StoreStats = { keys: () => counters.size + buckets.size }
    return { store, stats }
  })

/** The store as a layer. */
export const layer = (sweepInterval?: Duration.DurationInput): Layer.Layer<RateLimiterStore> =>
  Layer.effect(RateLimiterStore, Effect.map(make(sweepInterval), ({ store }) => store))
