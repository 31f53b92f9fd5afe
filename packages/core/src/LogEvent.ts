/**
 * The normalised event every transport and input produces, and the stored
 * shape the control plane answers with (SPEC §3 "stored event").
 */
import * as Schema from "effect/Schema"
import { Level, levelName } from "./Level.js"

/** An event as it flows through the pipeline. Times are epoch milliseconds, UTC. */
export interface LogEvent {
  readonly timestamp: number
  readonly receivedAt: number
  readonly level: number
  readonly source: string
  readonly message: string
  readonly entryType: number
  readonly payloadType: string
  readonly projectId: string | null
  readonly agentId: string | null
  readonly index: string
  readonly sourcetype: string
  readonly transport: string
  readonly metadata: Readonly<Record<string, unknown>>
}

/** An event once committed: it has its store id. */
export interface StoredEvent extends LogEvent {
  readonly id: number
}

/**
 * A rough size in bytes, used to bound queues in bytes. Counts the strings
 * and the metadata; it is an estimate, not the encoded size.
 */
export const estimateBytes = (event: LogEvent): number => {
  let bytes = 96 + event.message.length + event.source.length + event.payloadType.length
  for (const key in event.metadata) {
    const value = event.metadata[key]
    bytes += key.length + (typeof value === "string" ? value.length : 16)
  }
  return bytes
}

/** The sum of `estimateBytes` over a batch. */
export const estimateBatchBytes = (events: ReadonlyArray<LogEvent>): number => {
  let bytes = 0
  for (let i = 0; i < events.length; i++) bytes += estimateBytes(events[i]!)
  return bytes
}

/** The stored event on the wire (snake_case, SPEC §3). */
export const StoredEventJson = Schema.Struct({
  id: Schema.String,
  timestamp: Schema.String,
  received_at: Schema.String,
  level: Level,
  level_name: Schema.String,
  source: Schema.String,
  message: Schema.String,
  entry_type: Schema.Number,
  payload_type: Schema.String,
  project_id: Schema.NullOr(Schema.String),
  agent_id: Schema.NullOr(Schema.String),
  index: Schema.String,
  sourcetype: Schema.String,
  transport: Schema.String,
  metadata: Schema.Record({ key: Schema.String, value: Schema.Unknown })
}).annotations({ identifier: "StoredEvent" })
export type StoredEventJson = typeof StoredEventJson.Type

/** Renders a stored event in the wire shape. */
export const toStoredEventJson = (event: StoredEvent): StoredEventJson => ({
  id: String(event.id),
  timestamp: new Date(event.timestamp).toISOString(),
  received_at: new Date(event.receivedAt).toISOString(),
  level: event.level,
  level_name: levelName(event.level),
  source: event.source,
  message: event.message,
  entry_type: event.entryType,
  payload_type: event.payloadType,
  project_id: event.projectId,
  agent_id: event.agentId,
  index: event.index,
  sourcetype: event.sourcetype,
  transport: event.transport,
  metadata: event.metadata
})
