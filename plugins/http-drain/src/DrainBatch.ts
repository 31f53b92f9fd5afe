/**
 * The drain's request body (SPEC §2): `{"events":[…]}`, decoded into core
 * `LogEvent`s. `EventSchema` / `BatchSchema` define the shape and every error
 * message. `decode` is the hot path: a synchronous loop over the batch using
 * the same predicates; only when it finds a problem does it run the Schema
 * (with all errors) to produce the `details`, so both paths answer the same
 * messages by construction. A batch is all or nothing.
 */
import { levelFromWord, levelNames, levelWords } from "@sluice/core/Level"
import type { LogEvent } from "@sluice/core/LogEvent"
import { parseFlexibleTimestamp } from "@sluice/core/Timestamp"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"

/** The limits of one batch (SPEC §2 defaults in `defaultLimits`). */
export interface BatchLimits {
  /** The most events in one batch (more → 413). */
  readonly maxEvents: number
  /** The most UTF-8 bytes of one `message`. */
  readonly maxMessageBytes: number
}

/** 10,000 events per batch, 1 MiB per message. */
export const defaultLimits: BatchLimits = { maxEvents: 10_000, maxMessageBytes: 1024 * 1024 }

/** Longest `project_id` and `service`, in characters. */
export const maxNameLength = 256

/** Longest routing field (`index`, `sourcetype`, `transport`) an agent may send to the edge route, in characters. */
export const maxRoutingLength = 64

/** The routing of an edge event that names none. */
export const edgeRoutingDefaults = { index: "main", sourcetype: "edge", transport: "edge" } as const

/** The batch has more events than allowed (413). */
export class TooManyEvents extends Schema.TaggedError<TooManyEvents>()("TooManyEvents", {
  count: Schema.Number,
  limit: Schema.Number
}) {
  override get message() {
    return `the batch has ${this.count} events; the limit is ${this.limit}`
  }
}

/** The body or some of its events are invalid (400); `details` maps each bad path to its rule. */
export class InvalidBatch extends Schema.TaggedError<InvalidBatch>()("InvalidBatch", {
  reason: Schema.String,
  details: Schema.Record({ key: Schema.String, value: Schema.String }),
  /** How many events the batch held (0 when there was no events array). */
  events: Schema.Number
}) {
  override get message() {
    return this.reason
  }
}

// The predicates below are shared by the Schema and the fast path.

const isName = (s: string): boolean => s.length >= 1 && s.length <= maxNameLength

// A UTF-16 unit is at most 3 UTF-8 bytes, so short strings need no count.
const messageFits = (s: string, maxBytes: number): boolean =>
  s.length * 3 <= maxBytes || Buffer.byteLength(s, "utf8") <= maxBytes

/** A JSON object (not an array, not null). */
export const isJsonObject = (u: unknown): u is Record<string, unknown> =>
  typeof u === "object" && u !== null && !Array.isArray(u)

const messages = {
  string: "must be a string",
  required: "is required",
  name: `must be 1 to ${maxNameLength} characters`,
  timestamp: "must be an RFC 3339 or ISO 8601 date-time, or SQL `YYYY-MM-DD HH:MM:SS[.ffffff]`",
  level: `must be one of ${levelWords.join(", ")} (any case)`,
  messageSize: (max: number) => `must be at most ${max} bytes of UTF-8`,
  object: "must be a JSON object",
  events: "must be an array of events",
  body: "must be a JSON object with an `events` array"
} as const

const Str = Schema.String.annotations({ message: () => messages.string })

const required = <A, I>(schema: Schema.Schema<A, I>) =>
  Schema.propertySignature(schema).annotations({ missingMessage: () => messages.required })

const Name = Str.pipe(Schema.filter(isName, { message: () => messages.name }))

/** A drain timestamp (three formats, SPEC §2) as epoch milliseconds, UTC. */
export const TimestampFromString = Schema.transformOrFail(Str, Schema.Number, {
  strict: true,
  decode: (text, _, ast) => {
    const t = parseFlexibleTimestamp(text)
    return t === undefined
      ? ParseResult.fail(new ParseResult.Type(ast, text, messages.timestamp))
      : ParseResult.succeed(t)
  },
  encode: (ms) => ParseResult.succeed(new Date(ms).toISOString())
})

/** A drain level word (case-insensitive) as a level number 1–8. */
export const LevelFromWord = Schema.transformOrFail(Str, Schema.Number, {
  strict: true,
  decode: (word, _, ast) => {
    const level = levelFromWord(word)
    return level === undefined
      ? ParseResult.fail(new ParseResult.Type(ast, word, messages.level))
      : ParseResult.succeed(level)
  },
  encode: (level) => ParseResult.succeed((levelNames[level] ?? "info").toLowerCase())
})

/** Event metadata: any JSON object. */
export const Metadata = Schema.Record({ key: Schema.String, value: Schema.Unknown }).annotations({
  message: () => messages.object
}).pipe(Schema.filter(isJsonObject, { message: () => messages.object }))

/** One drain event (SPEC §2), for a message limit in bytes. */
export const EventSchema = (maxMessageBytes: number) =>
  Schema.Struct({
    project_id: required(Name),
    timestamp: required(TimestampFromString),
    level: required(LevelFromWord),
    service: required(Name),
    message: required(
      Str.pipe(
        Schema.filter((s) => messageFits(s, maxMessageBytes), { message: () => messages.messageSize(maxMessageBytes) })
      )
    ),
    metadata: Schema.optionalWith(Metadata, { exact: true })
  }).annotations({ message: () => messages.object })

/** The drain body: `{"events":[…]}`. */
export const BatchSchema = (maxMessageBytes: number) =>
  Schema.Struct({
    events: required(Schema.Array(EventSchema(maxMessageBytes)).annotations({ message: () => messages.events }))
  }).annotations({ message: () => messages.body })

/** What `BatchSchema` decodes to. */
export type DecodedBatch = Schema.Schema.Type<ReturnType<typeof BatchSchema>>

/** The most entries `details` lists; the message says how many there were. */
export const maxDetails = 1000

const pathKey = (path: ReadonlyArray<PropertyKey>): string => {
  let key = ""
  for (const p of path) key += typeof p === "number" ? `[${p}]` : key === "" ? String(p) : `.${String(p)}`
  return key === "" ? "body" : key
}

/** Runs the Schema with every error and turns its issues into `details` (first message per path). */
export const explain = (input: unknown, limits: BatchLimits): InvalidBatch => {
  const events = isJsonObject(input) && Array.isArray(input.events) ? input.events.length : 0
  const result = Schema.decodeUnknownEither(BatchSchema(limits.maxMessageBytes), { errors: "all" })(input)
  if (Either.isRight(result)) {
    // The fast path refused what the Schema accepts: a defect in this module, reported rather than hidden.
    return new InvalidBatch({
      reason: "the batch was refused",
      details: { body: "refused by the fast validator" },
      events
    })
  }
  const details: Record<string, string> = {}
  let problems = 0
  let listed = 0
  for (const issue of ParseResult.ArrayFormatter.formatErrorSync(result.left)) {
    const key = pathKey(issue.path)
    if (key in details) continue
    problems++
    if (listed < maxDetails) {
      details[key] = issue.message
      listed++
    }
  }
  const what = events === 0
    ? "the request body is invalid"
    : `${problems} problem${problems === 1 ? "" : "s"} in the batch`
  const shown = problems > listed ? ` (the first ${listed} are listed)` : ""
  return new InvalidBatch({ reason: `${what}${shown}; nothing was stored`, details, events })
}

const noMetadata: Readonly<Record<string, unknown>> = Object.freeze({})

/**
 * Decodes a parsed body into events received at `receivedAt`: all of them,
 * or `TooManyEvents` (checked first, before any event is looked at), or
 * `InvalidBatch` naming every bad field.
 */
export const decode = (
  input: unknown,
  limits: BatchLimits,
  receivedAt: number
): Either.Either<ReadonlyArray<LogEvent>, TooManyEvents | InvalidBatch> => {
  if (!isJsonObject(input) || !Array.isArray(input.events)) return Either.left(explain(input, limits))
  const raw: ReadonlyArray<unknown> = input.events
  if (raw.length > limits.maxEvents) {
    return Either.left(new TooManyEvents({ count: raw.length, limit: limits.maxEvents }))
  }
  const out: Array<LogEvent> = new Array(raw.length)
  for (let i = 0; i < raw.length; i++) {
    const e = raw[i]
    if (!isJsonObject(e)) return Either.left(explain(input, limits))
    const { project_id, timestamp, level, service, message, metadata } = e
    if (
      typeof project_id !== "string" || !isName(project_id) ||
      typeof service !== "string" || !isName(service) ||
      typeof message !== "string" || !messageFits(message, limits.maxMessageBytes) ||
      typeof timestamp !== "string" || typeof level !== "string" ||
      (metadata !== undefined && !isJsonObject(metadata))
    ) return Either.left(explain(input, limits))
    const time = parseFlexibleTimestamp(timestamp)
    const levelNumber = levelFromWord(level)
    if (time === undefined || levelNumber === undefined) return Either.left(explain(input, limits))
    // The fixed fields of every drain event (SPEC §3 stored event), written out: a literal is the fast shape.
    out[i] = {
      timestamp: time,
      receivedAt,
      level: levelNumber,
      source: service,
      message,
      entryType: 1,
      payloadType: "generic",
      projectId: project_id,
      agentId: null,
      index: "main",
      sourcetype: "http",
      transport: "http",
      metadata: metadata ?? noMetadata
    }
  }
  return Either.right(out)
}
