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
    readonly transports: TransportCounts,
    /** `[rows]`, when the rows were written with brackets around them (then `rows` is a view of it). */
    private readonly json?: Buffer
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
    if (this.json !== undefined) return this.json
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
 *
 * With `scratch`, the joined rows are written there, with the brackets of
 * `toJson` around them: the result is then only valid until `scratch` is
 * written again (the commit writer reuses one buffer for every commit, so a
 * busy gateway does not allocate a commit-sized buffer, twice, per commit).
 */
export const concat = (batches: ReadonlyArray<EventBatch>, scratch?: ByteWriter): EventBatch => {
  if (batches.length === 1) return batches[0]!
  if (!batches.some(isEncoded)) {
    const out: Array<LogEvent> = []
    for (const batch of batches as ReadonlyArray<ReadonlyArray<LogEvent>>) {
      for (let i = 0; i < batch.length; i++) out.push(batch[i]!)
    }
    return out
  }
  let bytes = 2
  for (const batch of batches) if (isEncoded(batch)) bytes += batch.rows.length + 1
  const writer = scratch ?? new ByteWriter(bytes)
  writer.truncate(0)
  writer.reserve(bytes)
  if (scratch !== undefined) writer.byte(0x5b) // [
  const counts = new Map<string, number>()
  let count = 0
  for (const batch of batches) {
    if (size(batch) === 0) continue
    if (isEncoded(batch)) {
      if (count > 0) writer.byte(0x2c) // ,
      writer.copy(batch.rows, 0, batch.rows.length)
    } else {
      for (let i = 0; i < batch.length; i++) {
        if (count + i > 0) writer.byte(0x2c) // ,
        writer.utf8(encodeRow(batch[i]!))
      }
    }
    for (const [t, n] of transports(batch)) counts.set(t, (counts.get(t) ?? 0) + n)
    count += size(batch)
  }
  if (scratch === undefined) return new EncodedEvents(count, writer.take(), [...counts])
  writer.byte(0x5d) // ]
  const json = writer.buffer.subarray(0, writer.length)
  return new EncodedEvents(count, json.subarray(1, json.length - 1), [...counts], json)
}

/** A batch's events decoded lazily from several batches (what a commit joined). */
export const eventsOfAll = (batches: ReadonlyArray<EventBatch>): ReadonlyArray<LogEvent> =>
  batches.length === 1 ? events(batches[0]!) : batches.flatMap((batch) => events(batch))
