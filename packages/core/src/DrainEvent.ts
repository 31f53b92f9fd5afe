/**
 * An event in the drain's shape (SPEC §2), the body a forwarder posts
 * upstream: `project_id`, `timestamp` (RFC 3339, UTC), `level` (the lower-case
 * word), `service`, `message`, `metadata`; with `routing`, also the `index`,
 * `sourcetype` and `transport` an edge endpoint keeps.
 *
 * Two ways to write it, with the same result: `toDrainEvent` from a decoded
 * `LogEvent` (then `JSON.stringify`), and `drainEventJson` from JSON texts
 * of the fields, for a spool that keeps its events as JSON and can cut the
 * fields out without building objects (the forward hot path).
 */
import { levelNames } from "./Level.js"
import type { LogEvent } from "./LogEvent.js"

/** How a forwarder wants events shaped. */
export interface DrainShape {
  /** `project_id` for events that have none (socket entries). */
  readonly defaultProjectId: string
  /** Also `index`, `sourcetype` and `transport` (the edge endpoint's extension fields). */
  readonly routing: boolean
}

const levelWords = levelNames.map((name) => name.toLowerCase())
const levelWord = (level: number): string =>
  Number.isInteger(level) && level >= 1 && level <= 8 ? levelWords[level]! : "unknown"

/** An event in the drain's shape, as an object. */
export const toDrainEvent = (e: LogEvent, shape: DrainShape) =>
  shape.routing
    ? {
      project_id: e.projectId ?? shape.defaultProjectId,
      timestamp: new Date(e.timestamp).toISOString(),
      level: levelWord(e.level),
      service: e.source,
      message: e.message,
      metadata: e.metadata,
      index: e.index,
      sourcetype: e.sourcetype,
      transport: e.transport
    }
    : {
      project_id: e.projectId ?? shape.defaultProjectId,
      timestamp: new Date(e.timestamp).toISOString(),
      level: levelWord(e.level),
      service: e.source,
      message: e.message,
      metadata: e.metadata
    }

/**
 * An event's fields as JSON texts (each exactly what `JSON.stringify` gives
 * for the value), except the numbers.
 */
export interface DrainFieldsJson {
  /** A JSON string, or `null`. */
  readonly projectId: string
  readonly timestamp: number
  readonly level: number
  readonly source: string
  readonly message: string
  readonly metadata: string
  readonly index: string
  readonly sourcetype: string
  readonly transport: string
}

/** The same event as `JSON.stringify(toDrainEvent(e, shape))`, from its fields' JSON texts. */
export const drainEventJson = (f: DrainFieldsJson, shape: DrainShape, defaultProjectIdJson: string): string => {
  const head = `{"project_id":${f.projectId === "null" ? defaultProjectIdJson : f.projectId},"timestamp":"${
    new Date(f.timestamp).toISOString()
  }","level":"${levelWord(f.level)}","service":${f.source},"message":${f.message},"metadata":${f.metadata}`
  return shape.routing
    ? `${head},"index":${f.index},"sourcetype":${f.sourcetype},"transport":${f.transport}}`
    : `${head}}`
}
