/**
 * The compact encoding of events, the form a commit-log row holds: one JSON
 * array per event, fields in a fixed order, the batch a JSON array of them.
 * Transports that validate bytes write this form directly (`EncodedEvents`),
 * stores write and read it, and the indexer thread decodes it, so it lives
 * in core, once.
 */
import type { LogEvent } from "./LogEvent.js"

/** One encoded event. */
export type EventTuple = readonly [
  timestamp: number,
  receivedAt: number,
  level: number,
  source: string,
  message: string,
  entryType: number,
  payloadType: string,
  projectId: string | null,
  agentId: string | null,
  index: string,
  sourcetype: string,
  transport: string,
  metadata: Readonly<Record<string, unknown>>
]

/** An event as its tuple. */
export const toTuple = (e: LogEvent): EventTuple => [
  e.timestamp,
  e.receivedAt,
  e.level,
  e.source,
  e.message,
  e.entryType,
  e.payloadType,
  e.projectId,
  e.agentId,
  e.index,
  e.sourcetype,
  e.transport,
  e.metadata
]

/** Encodes a batch as the commit row's text. */
export const encodeBatch = (events: ReadonlyArray<LogEvent>): string => {
  const tuples: Array<EventTuple> = new Array(events.length)
  for (let i = 0; i < events.length; i++) tuples[i] = toTuple(events[i]!)
  return JSON.stringify(tuples)
}

/** Encodes one event as its row (what `encodeBatch` writes for it between the commas). */
export const encodeRow = (event: LogEvent): string => JSON.stringify(toTuple(event))

/** Decodes a commit row's text (written by `encodeBatch`, so trusted). */
export const decodeBatch = (text: string): ReadonlyArray<EventTuple> => JSON.parse(text) as ReadonlyArray<EventTuple>

/** A tuple back to an event. */
export const tupleToEvent = (t: EventTuple): LogEvent => ({
  timestamp: t[0],
  receivedAt: t[1],
  level: t[2],
  source: t[3],
  message: t[4],
  entryType: t[5],
  payloadType: t[6],
  projectId: t[7],
  agentId: t[8],
  index: t[9],
  sourcetype: t[10],
  transport: t[11],
  metadata: t[12]
})
