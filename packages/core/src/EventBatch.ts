/**
 * What travels from a transport to the store: a batch of events, either as
 * objects (`ReadonlyArray<LogEvent>`) or already in their row encoding
 * (`EncodedEvents`), which a transport that validates bytes writes directly
 * so the hot path builds no object per event. Stores commit the rows as they
 * are; anything that needs the objects reads `events`, decoded once, lazily.
 */
import { ByteWriter } from "./ByteWriter.js"
import { decodeBatch, encodeRow, tupleToEvent } from "./EventRow.js"
import type { LogEvent } from "./LogEvent.js"

/** Events per transport, for accounting without decoding. */
export type TransportCounts = ReadonlyArray<readonly [transport: string, events: number]>

/** Events in their row encoding: each event's tuple (EventRow), joined by commas, UTF-8. */
export class EncodedEvents {
  readonly _tag = "EncodedEvents"
  private decoded: ReadonlyArray<LogEvent> | undefined

  constructor(
    /** How many events `rows` holds. */
    readonly count: number,
    /** The rows, comma-separated, without the enclosing brackets. */
    readonly rows: Buffer,
    /** Events per transport. */
    readonly transports: TransportCounts
  ) {}

  /** The events as objects, decoded on first read. */
  get events(): ReadonlyArray<LogEvent> {
    if (this.decoded === undefined) {
      this.decoded = this.count === 0 ? [] : decodeBatch(`[${this.rows.toString("utf8")}]`).map(tupleToEvent)
    }
    return this.decoded
  }

  /** The whole batch as a JSON array (a commit row's text, as bytes). */
  toJson(): Buffer {
    const out = Buffer.allocUnsafe(this.rows.length + 2)
    out[0] = 0x5b // [
    this.rows.copy(out, 1)
    out[out.length - 1] = 0x5d // ]
    return out
  }
}

/** A batch in either form. */
export type EventBatch = ReadonlyArray<LogEvent> | EncodedEvents

/** Whether a batch is in its row encoding. */
export const isEncoded = (batch: EventBatch): batch is EncodedEvents => batch instanceof EncodedEvents

/** How many events a batch holds. */
export const size = (batch: EventBatch): number => isEncoded(batch) ? batch.count : batch.length

/** A batch's events as objects (decoding encoded rows). */
export const events = (batch: EventBatch): ReadonlyArray<LogEvent> => isEncoded(batch) ? batch.events : batch

/** Events per transport. */
export const transports = (batch: EventBatch): TransportCounts => {
  if (isEncoded(batch)) return batch.transports
  const counts = new Map<string, number>()
  for (let i = 0; i < batch.length; i++) {
    const t = batch[i]!.transport
    counts.set(t, (counts.get(t) ?? 0) + 1)
  }
  return [...counts]
}

/** The first event's transport (for metrics), without decoding. */
export const firstTransport = (batch: EventBatch): string | undefined =>
  isEncoded(batch) ? batch.transports[0]?.[0] : batch[0]?.transport

/**
 * Joins batches in order. Object batches stay objects; once one batch is
 * encoded, the result is encoded (object batches are encoded to rows), so a
 * fast transport's rows are never decoded on their way to the store.
 */
export const concat = (batches: ReadonlyArray<EventBatch>): EventBatch => {
  if (batches.length === 1) return batches[0]!
  if (!batches.some(isEncoded)) {
    const out: Array<LogEvent> = []
    for (const batch of batches as ReadonlyArray<ReadonlyArray<LogEvent>>) {
      for (let i = 0; i < batch.length; i++) out.push(batch[i]!)
    }
    return out
  }
  let bytes = 0
  for (const batch of batches) if (isEncoded(batch)) bytes += batch.rows.length + 1
  const writer = new ByteWriter(bytes)
  const counts = new Map<string, number>()
  let count = 0
  for (const batch of batches) {
    if (size(batch) === 0) continue
    if (isEncoded(batch)) {
      if (count > 0) writer.byte(0x2c) // ,
      writer.copy(batch.rows, 0, batch.rows.length)
    } else {
      for (let i = 0; i < batch.length; i++) {
        if (count + i > 0) writer.byte(0x2c)
        writer.utf8(encodeRow(batch[i]!))
      }
    }
    for (const [t, n] of transports(batch)) counts.set(t, (counts.get(t) ?? 0) + n)
    count += size(batch)
  }
  return new EncodedEvents(count, writer.take(), [...counts])
}
