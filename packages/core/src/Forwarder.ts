/**
 * The upstream a spool forwards to. A `Forwarder` sends one batch and says
 * how it went: delivered, worth retrying (network, 408, 429, 5xx, with the
 * upstream's `Retry-After`), or rejected for good (other 4xx, kept as a dead
 * letter with the upstream's answer). Plugins supply it (HTTP drain, …).
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type { DrainShape } from "./DrainEvent.js"
import type { LogEvent } from "./LogEvent.js"

/** One batch on its way upstream. */
export interface ForwardBatch {
  /** The commit it comes from and its slice: the same slice always has the same key. */
  readonly seq: number
  readonly offset: number
  /** How many events, when the spool can say without decoding them (`events` may then be decoded on first read). */
  readonly count?: number
  readonly events: ReadonlyArray<LogEvent>
  /** Sent as `Idempotency-Key`, so an upstream Sluice stores a retried batch once. */
  readonly idempotencyKey: string
  /**
   * Optional: the whole drain request body, `{"events":[…]}` in the drain's
   * shape (`DrainEvent`) as UTF-8 JSON, written by the spool straight from
   * its own encoding without `LogEvent` objects. The same bytes as encoding
   * `events` with `toDrainEvent` and `JSON.stringify`.
   */
  readonly drainBody?: (shape: DrainShape) => Uint8Array
}

/** How many events a batch holds (without decoding them when the spool said). */
export const batchSize = (batch: ForwardBatch): number => batch.count ?? batch.events.length

/** The send failed and may succeed later. */
export class ForwardRetryable extends Schema.TaggedError<ForwardRetryable>()("ForwardRetryable", {
  reason: Schema.String,
  status: Schema.optional(Schema.Number),
  /** The upstream's `Retry-After`, in milliseconds. */
  retryAfterMs: Schema.optional(Schema.Number)
}) {}

/** The upstream refused the batch for good (a 4xx other than 408/429). */
export class ForwardRejected extends Schema.TaggedError<ForwardRejected>()("ForwardRejected", {
  status: Schema.Number,
  body: Schema.String
}) {}

/** Sends batches to one upstream. */
export class Forwarder extends Context.Tag("@sluice/core/Forwarder")<Forwarder, {
  /** Where it sends, for logs and status (never containing secrets). */
  readonly target: string
  readonly send: (batch: ForwardBatch) => Effect.Effect<void, ForwardRetryable | ForwardRejected>
  /**
   * Optional: does the CPU work of sending `batch` (encoding, compression)
   * ahead of time, while the batch before it is in flight; a later `send` of
   * the same batch (same idempotency key) reuses it.
   */
  readonly prepare?: (batch: ForwardBatch) => Effect.Effect<void>
}>() {}
