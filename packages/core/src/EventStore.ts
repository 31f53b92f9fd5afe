/**
 * The store contract. `append` is one transaction per group commit and is
 * the durable point; the search index may be built behind it (`progress`
 * tells how far). Backends: `@sluice/store-sql` (SQLite, Postgres).
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type { EventBatch } from "./EventBatch.js"
import type { LogEvent, StoredEvent } from "./LogEvent.js"

/** Event ids are `seq * idsPerCommit + position`, as in every backend. */
export const idsPerCommit = 1 << 20

/** Whether an event matches the filters of a query (also used by live tails). */
export const matches = (query: Omit<EventQuery, "offset" | "limit">, e: LogEvent): boolean =>
  (query.from === undefined || e.timestamp >= query.from) &&
  (query.to === undefined || e.timestamp <= query.to) &&
  (query.level === undefined || e.level <= query.level) &&
  (query.source === undefined || e.source === query.source) &&
  (query.agentId === undefined || e.agentId === query.agentId) &&
  (query.projectId === undefined || e.projectId === query.projectId) &&
  (query.index === undefined || e.index === query.index) &&
  (query.q === undefined ||
    query.q.split(/\s+/).filter((w) => w.length > 0).every((w) => e.message.toLowerCase().includes(w.toLowerCase())))

/** The store failed; `operation` says what it was doing. */
export class StoreError extends Schema.TaggedError<StoreError>()("StoreError", {
  operation: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `store ${this.operation} failed: ${this.reason}`
  }
}

/** The filters of `GET /logs` (SPEC §3). Times are epoch milliseconds. */
export interface EventQuery {
  readonly from?: number | undefined
  readonly to?: number | undefined
  /** At most this level number: this severe or worse. */
  readonly level?: number | undefined
  readonly source?: string | undefined
  readonly agentId?: string | undefined
  readonly projectId?: string | undefined
  readonly index?: string | undefined
  /** Full text over the message. */
  readonly q?: string | undefined
  readonly offset: number
  readonly limit: number
}

/** One page of events, newest first, and the total matching. */
export interface EventPage {
  readonly items: ReadonlyArray<StoredEvent>
  readonly total: number
}

/** Where a committed batch landed: its commit sequence and first event id. */
export interface CommitReceipt {
  readonly seq: number
  readonly firstId: number
}

/** How far the commit log and the search index have got. */
export interface StoreProgress {
  readonly committedSeq: number
  readonly indexedSeq: number
  /** Committed events not yet searchable. */
  readonly lagEvents: number
}

/** Counts by level, source and transport over a time range (`GET /stats`). */
export interface EventStats {
  readonly total: number
  readonly byLevel: Readonly<Record<string, number>>
  readonly bySource: Readonly<Record<string, number>>
  readonly byTransport: Readonly<Record<string, number>>
}

/** What retention removed. */
export interface RetentionResult {
  readonly deletedCommits: number
  readonly deletedEvents: number
}

/** Retention bounds: by age (ms) and by the commit log's size (bytes). */
export interface RetentionPolicy {
  readonly maxAgeMs: number
  readonly maxBytes: number
}

/** The durable event store. */
export class EventStore extends Context.Tag("@sluice/core/EventStore")<EventStore, {
  /**
   * Commits one batch in one transaction, with its idempotency keys. The
   * batch is lent for the call: a store copies what it keeps (the commit
   * writer reuses the bytes of encoded rows for the next commit).
   */
  readonly append: (
    events: EventBatch,
    idempotencyKeys: ReadonlyArray<string>
  ) => Effect.Effect<CommitReceipt, StoreError>
  /** Whether an idempotency key was committed within its retention (24 h). */
  readonly hasIdempotencyKey: (key: string) => Effect.Effect<boolean, StoreError>
  /** Searches the index, newest first. */
  readonly query: (query: EventQuery) => Effect.Effect<EventPage, StoreError>
  /** Counts over a time range. */
  readonly stats: (range: { readonly from?: number | undefined; readonly to?: number | undefined }) => Effect.Effect<
    EventStats,
    StoreError
  >
  /** How far commits and indexing have got. */
  readonly progress: Effect.Effect<StoreProgress, StoreError>
  /** Applies retention once. */
  readonly retain: (policy: RetentionPolicy) => Effect.Effect<RetentionResult, StoreError>
  /** Whether the store answers (readiness). */
  readonly ping: Effect.Effect<void, StoreError>
}>() {}
