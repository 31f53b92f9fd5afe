/**
 * The bytes of request bodies a route holds at once: bodies as they are read,
 * decompressed, and decoded into rows, until the request is answered. The
 * queue is bounded in bytes, but the requests on their way to it were not: 200
 * clients posting 9 MB bodies at once took `sluice up` to a 3.6 GB peak
 * (bench/RESULTS.md). A request that would pass the budget is answered 429
 * (`server saturated`, with `Retry-After`) and the rest of its body is
 * discarded. Nothing accepted is at stake: a refused batch was never offered.
 *
 * A request alone may take more than the whole budget, so a body the limits
 * allow can always get through.
 */
import * as Metric from "effect/Metric"

/** Bytes of request bodies held by the drain routes now. */
export const held = Metric.gauge("sluice_http_drain_body_bytes_held", {
  description: "Bytes of request bodies (read, decompressed, decoded) the drain routes hold now"
})

/** One route's budget. Single-threaded: every take and release is synchronous. */
export class BodyBudget {
  private used = 0

  constructor(readonly capacity: number) {}

  /** Takes `bytes`, or answers `false` when that would pass the capacity (unless nothing is held). */
  take(bytes: number): boolean {
    if (this.used > 0 && this.used + bytes > this.capacity) return false
    this.used += bytes
    held.unsafeUpdate(this.used, [])
    return true
  }

  /** Gives `bytes` back. */
  release(bytes: number): void {
    this.used -= bytes
    held.unsafeUpdate(this.used, [])
  }

  /** A share for one request: what it takes, all given back by `close`. */
  share(): BodyShare {
    return new BodyShare(this)
  }
}

/**
 * What one request took from a `BodyBudget`. A request that declares its
 * size reserves it whole before reading (all or nothing), so that many
 * requests do not each hold part of the budget and starve one another;
 * its `take`s draw on the reservation first.
 */
export class BodyShare {
  private taken = 0
  private prepaid = 0

  constructor(private readonly budget: BodyBudget) {}

  /** Reserves `bytes` at once, or answers `false`. */
  reserve(bytes: number): boolean {
    if (!this.budget.take(bytes)) return false
    this.taken += bytes
    this.prepaid += bytes
    return true
  }

  /** Takes `bytes` more for this request (from its reservation first), or answers `false` (refuse it). */
  readonly take = (bytes: number): boolean => {
    const fromReserve = Math.min(bytes, this.prepaid)
    const more = bytes - fromReserve
    if (more > 0 && !this.budget.take(more)) return false
    this.prepaid -= fromReserve
    this.taken += more
    return true
  }

  /** Gives back everything this request took. */
  close(): void {
    this.budget.release(this.taken)
    this.taken = 0
    this.prepaid = 0
  }
}
