/**
 * The agent's spool: the forward cursor over the store's commit log, the
 * dead letters, the quota, and the loss accounting. Everything it counts is
 * persisted with the data it describes, so across restarts and crashes
 * `received = forwarded + buffered + dropped + dead_lettered` holds.
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type { StoreError } from "./EventStore.js"
import type { ForwardBatch } from "./Forwarder.js"
import type { LogEvent } from "./LogEvent.js"

/** One number per column of the loss-accounting equation. */
export interface Accounting {
  readonly received: number
  readonly forwarded: number
  readonly buffered: number
  readonly dropped: number
  readonly deadLettered: number
}

/** Accounting in total and per transport (or input type). */
export interface AccountingReport {
  readonly total: Accounting
  readonly byTransport: Readonly<Record<string, Accounting>>
  /** Bytes of the commit log not yet forwarded, and the quota. */
  readonly spoolBytes: number
  readonly quotaBytes: number
}

/** A batch the upstream refused for good. */
export interface DeadLetter {
  readonly id: number
  readonly createdAt: number
  readonly status: number
  readonly response: string
  readonly events: ReadonlyArray<LogEvent>
}

/** What to do when the spool reaches its quota. */
export type QuotaPolicy = "backpressure" | "drop_oldest"

/** The forward side of the store. */
export class Spool extends Context.Tag("@sluice/core/Spool")<Spool, {
  /**
   * The next unsent batch (a slice of one commit, at most `maxEvents`), if
   * any. With `after`: the batch that follows that one, read ahead while it
   * is in flight (the cursor does not move).
   */
  readonly next: (maxEvents: number, after?: ForwardBatch) => Effect.Effect<ForwardBatch | undefined, StoreError>
  /** The batch was delivered: advance the cursor past it. */
  readonly ack: (batch: ForwardBatch) => Effect.Effect<void, StoreError>
  /** The batch was refused for good: keep it as a dead letter and move on. */
  readonly deadLetter: (batch: ForwardBatch, status: number, response: string) => Effect.Effect<void, StoreError>
  /** Dead letters, oldest first. */
  readonly deadLetters: (page: { readonly offset: number; readonly limit: number }) => Effect.Effect<
    { readonly items: ReadonlyArray<DeadLetter>; readonly total: number },
    StoreError
  >
  /** Dead letters that a replay delivered: removed, and counted as forwarded from now on. */
  readonly resolveDeadLetters: (ids: ReadonlyArray<number>) => Effect.Effect<number, StoreError>
  /** Removes every dead letter for good (they stay counted as dead-lettered); answers how many. */
  readonly purgeDeadLetters: Effect.Effect<number, StoreError>
  /**
   * Waits while the spool is at its quota (backpressure), or drops the oldest
   * unsent commits to make room (drop_oldest). The writer calls it before
   * each commit.
   */
  readonly admit: (bytes: number) => Effect.Effect<void, StoreError>
  /** The loss-accounting figures. */
  readonly accounting: Effect.Effect<AccountingReport, StoreError>
}>() {}
