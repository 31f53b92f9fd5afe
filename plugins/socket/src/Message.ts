/**
 * The messages of the agent socket (SPEC §1, dialect A) and the decoder a
 * connection runs on every line.
 *
 * The Schemas below define the shape and write every error answer: the
 * field path and the rule (`entries[3].logLevel: must be …`). Valid lines
 * take a hand-written fast path that checks the same rules without building
 * parse trees (about 3× faster than Schema decoding, which would cap a core
 * near 280k entries/s); a line the fast path refuses is decoded again by the
 * Schema, whose answer is the one sent. The tests hold the two to the same
 * verdict on arbitrary input. A batch is all or nothing: one bad entry
 * refuses the whole line.
 */
import type { LogEvent } from "@sluice/core/LogEvent"
import { parseRfc3339 } from "@sluice/core/Timestamp"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"

/** The field limits of SPEC §1. */
export interface EntryLimits {
  /** Bytes of UTF-8 in `payload` (default 1 MiB). */
  readonly maxPayloadBytes: number
  /** Characters (code points) in `source` (default 256). */
  readonly maxSourceLength: number
  /** Characters (code points) in one metadata value (default 1024). */
  readonly maxMetadataValueLength: number
  /** Bytes of the whole metadata as UTF-8 JSON (default: the payload limit, 1 MiB). */
  readonly maxMetadataBytes: number
  /** Entries in one batch (default 100). */
  readonly maxBatchEntries: number
}

/** Defaults of SPEC §1. */
export const defaultEntryLimits: EntryLimits = {
  maxPayloadBytes: 1_048_576,
  maxSourceLength: 256,
  maxMetadataValueLength: 1024,
  maxMetadataBytes: 1_048_576,
  maxBatchEntries: 100
}

/** The only protocol version. */
export const protocolVersion = "1.0"

/** Entry types 6 and 7 are telemetry, which belongs to the ingestion API. */
const telemetryEntryTypes = new Set([6, 7])

/** `payloadType`: a known type or any identifier of this shape. */
const payloadTypePattern = /^[a-z0-9_]{1,64}$/

const maxShown = 40

/** A short rendering of an offending value for error answers. */
const shown = (value: unknown): string => {
  const text = JSON.stringify(value) ?? String(value)
  return text.length > maxShown ? `${text.slice(0, maxShown)}…` : text
}

/** Code points in a string (a surrogate pair is one character). */
export const characterCount = (text: string): number => {
  let pairs = 0
  for (let i = 0; i < text.length - 1; i++) {
    const c = text.charCodeAt(i)
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = text.charCodeAt(i + 1)
      if (d >= 0xdc00 && d <= 0xdfff) {
        pairs++
        i++
      }
    }
  }
  return text.length - pairs
}

/** Whether a string has at most `max` characters; counts only when it must. */
const charactersWithin = (text: string, max: number): boolean => text.length <= max || characterCount(text) <= max

/** Whether a string has at most `max` bytes of UTF-8; measures only when it must. */
const utf8Within = (text: string, max: number): boolean =>
  text.length * 3 <= max || Buffer.byteLength(text, "utf8") <= max

/** The size of the metadata as UTF-8 JSON. */
export const metadataBytes = (metadata: Readonly<Record<string, string>>): number =>
  Buffer.byteLength(JSON.stringify(metadata), "utf8")

const mustBeString = { message: () => "must be a string" }
const missing = (field: string) => ({ missingMessage: () => `missing required field '${field}'` })
const integerBetween = (min: number, max: number) => (n: number) => Number.isInteger(n) && n >= min && n <= max
const isEntryType = integerBetween(1, 5)
const isLogLevel = integerBetween(1, 8)

/** The Schemas of one set of limits. */
export const makeSchemas = (limits: EntryLimits) => {
  const Version = Schema.Literal(protocolVersion).annotations({
    message: (issue) => `must be "${protocolVersion}", got ${shown(issue.actual)}`
  })

  const Payload = Schema.String.annotations(mustBeString).pipe(
    Schema.filter((s) =>
      utf8Within(s, limits.maxPayloadBytes) ||
      `must be at most ${limits.maxPayloadBytes} bytes of UTF-8, got ${Buffer.byteLength(s, "utf8")}`
    )
  )

  const EntryType = Schema.Number.annotations({ message: () => "must be an integer from 1 to 5" }).pipe(
    Schema.filter((n) =>
      isEntryType(n) ||
      (telemetryEntryTypes.has(n)
        ? `${n} is a telemetry entry type, which the agent socket does not accept: send it to the ingestion API (POST /v1/drain)`
        : `must be an integer from 1 to 5, got ${shown(n)}`)
    )
  )

  const Source = Schema.String.annotations(mustBeString).pipe(
    Schema.filter((s) =>
      (s.length > 0 && charactersWithin(s, limits.maxSourceLength)) ||
      `must be 1 to ${limits.maxSourceLength} characters, got ${characterCount(s)}`
    )
  )

  const LogLevel = Schema.Number.annotations({ message: () => "must be an integer from 1 (EMERGENCY) to 8 (DEBUG)" })
    .pipe(
      Schema.filter((n) => isLogLevel(n) || `must be an integer from 1 (EMERGENCY) to 8 (DEBUG), got ${shown(n)}`)
    )

  const Timestamp = Schema.transformOrFail(
    Schema.String.annotations({ message: () => "must be an RFC 3339 date-time string" }),
    Schema.Number,
    {
      strict: true,
      decode: (text, _, ast) => {
        const millis = parseRfc3339(text)
        return millis === undefined
          ? ParseResult.fail(
            new ParseResult.Type(
              ast,
              text,
              `must be an RFC 3339 date-time with an offset (e.g. 2025-08-31T10:30:00Z), got ${shown(text)}`
            )
          )
          : ParseResult.succeed(millis)
      },
      encode: (millis) => ParseResult.succeed(new Date(millis).toISOString())
    }
  )

  const PayloadType = Schema.String.annotations(mustBeString).pipe(
    Schema.filter((s) =>
      payloadTypePattern.test(s) ||
      `must be generic, generic_json, generic_xml, systemd_journal, syslog, metrics, application, container or another [a-z0-9_]{1,64} identifier, got ${
        shown(s)
      }`
    )
  )

  const MetadataValue = Schema.String.annotations(mustBeString).pipe(
    Schema.filter((s) =>
      charactersWithin(s, limits.maxMetadataValueLength) ||
      `must be at most ${limits.maxMetadataValueLength} characters, got ${characterCount(s)}`
    )
  )

  const Metadata = Schema.Record({ key: Schema.String, value: MetadataValue })
    .annotations({ message: () => "must be an object of string values" })
    .pipe(
      Schema.filter((m) => {
        const bytes = metadataBytes(m)
        return bytes <= limits.maxMetadataBytes ||
          `must be at most ${limits.maxMetadataBytes} bytes as JSON, got ${bytes}`
      })
    )

  /** One log entry; `timestamp` decodes to epoch milliseconds, UTC. */
  const Entry = Schema.Struct({
    version: Schema.optionalWith(Version, { exact: true }),
    payload: Schema.propertySignature(Payload).annotations(missing("payload")),
    entryType: Schema.propertySignature(EntryType).annotations(missing("entryType")),
    source: Schema.propertySignature(Source).annotations(missing("source")),
    logLevel: Schema.propertySignature(LogLevel).annotations(missing("logLevel")),
    timestamp: Schema.optionalWith(Timestamp, { exact: true }),
    payloadType: Schema.optionalWith(PayloadType, { exact: true }),
    metadata: Schema.optionalWith(Metadata, { exact: true })
  }).annotations({ identifier: "LogEntry", message: () => "must be a JSON object" })

  const Entries = Schema.compose(
    Schema.Array(Schema.Unknown).annotations({ message: () => "must be an array of entries" }).pipe(
      Schema.filter((a) =>
        (a.length >= 1 && a.length <= limits.maxBatchEntries) ||
        `must hold 1 to ${limits.maxBatchEntries} entries, got ${a.length}`
      )
    ),
    Schema.Array(Entry)
  )

  /** A batch: all of its entries are kept, or none. */
  const Batch = Schema.Struct({
    version: Schema.optionalWith(Version, { exact: true }),
    entries: Schema.propertySignature(Entries).annotations(missing("entries"))
  }).annotations({ identifier: "LogBatch" })

  /** The envelope of an action; `action` picks the rest. */
  const Action = Schema.Struct({
    version: Schema.optionalWith(Version, { exact: true }),
    action: Schema.String.annotations(mustBeString)
  }).annotations({ identifier: "Action" })

  /** `{"action":"authenticate","shared_secret":"…"}`. */
  const Authenticate = Schema.Struct({
    shared_secret: Schema.propertySignature(Schema.String.annotations(mustBeString)).annotations(
      missing("shared_secret")
    )
  }).annotations({ identifier: "Authenticate" })

  return { Entry, Batch, Action, Authenticate } as const
}

/** The Schemas of the default limits. */
export const Schemas = makeSchemas(defaultEntryLimits)

/** A decoded entry, as the Schema produces it. */
export type Entry = typeof Schemas.Entry.Type

/** What one line asks for. */
export type Message =
  | { readonly _tag: "Entries"; readonly count: number }
  | { readonly _tag: "Ping" }
  | { readonly _tag: "Flush" }
  | { readonly _tag: "Authenticate"; readonly secret: string }
  | { readonly _tag: "Invalid"; readonly error: string }

const ping: Message = { _tag: "Ping" }
const flush: Message = { _tag: "Flush" }

/** The actions a client may send. */
export const actions = ["authenticate", "ping", "flush"] as const

const identifier = /^[A-Za-z_$][\w$]*$/

/** Renders a Schema issue path as `entries[3].logLevel`. */
const renderPath = (path: ReadonlyArray<PropertyKey>): string => {
  let out = ""
  for (const key of path) {
    if (typeof key === "number") out += `[${key}]`
    else {
      const name = String(key)
      out += identifier.test(name) ? (out.length === 0 ? name : `.${name}`) : `[${JSON.stringify(name)}]`
    }
  }
  return out
}

/** The first issue of a decoding failure, as `path: rule` (or the missing-field sentence). */
const firstIssue = (error: ParseResult.ParseError): string => {
  const issue = ParseResult.ArrayFormatter.formatErrorSync(error)[0]
  if (issue === undefined) return error.message
  const path = renderPath(issue.path)
  return path.length === 0 ? issue.message : `${path}: ${issue.message}`
}

/** Like `firstIssue`, but a missing top-level field is the bare sentence of SPEC §1. */
const firstIssueOfMessage = (error: ParseResult.ParseError): string => {
  const issue = ParseResult.ArrayFormatter.formatErrorSync(error)[0]
  return issue !== undefined && issue._tag === "Missing" && issue.path.length === 1 ? issue.message : firstIssue(error)
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

const kindOf = (value: unknown): string =>
  value === null ? "null" : Array.isArray(value) ? "an array" : `a ${typeof value}`

/** Where decoded entries go, and what to stamp on them. */
export interface EntrySink {
  /** Receives the events of a valid line, in order. */
  readonly events: Array<LogEvent>
  /** Receive time for entries without a timestamp (epoch ms). */
  readonly receivedAt: number
}

const emptyMetadata: Readonly<Record<string, string>> = Object.freeze({})

/** A line decoder for one transport and one set of limits. */
export interface Decoder {
  /** Decodes one line; the events of a valid entry or batch are appended to `sink.events`. */
  readonly decode: (line: string, sink: EntrySink) => Message
}

/** Builds the decoder that stamps events with `transport` (`unix` or `tcp`). */
export const makeDecoder = (transport: string, limits: EntryLimits = defaultEntryLimits): Decoder => {
  const schemas = limits === defaultEntryLimits ? Schemas : makeSchemas(limits)
  const decodeEntry = Schema.decodeUnknownEither(schemas.Entry)
  const decodeBatch = Schema.decodeUnknownEither(schemas.Batch)
  const decodeAction = Schema.decodeUnknownEither(schemas.Action)
  const decodeAuthenticate = Schema.decodeUnknownEither(schemas.Authenticate)

  const toEvent = (
    payload: string,
    entryType: number,
    source: string,
    logLevel: number,
    timestamp: number | undefined,
    payloadType: string | undefined,
    metadata: Readonly<Record<string, string>> | undefined,
    receivedAt: number
  ): LogEvent => ({
    timestamp: timestamp ?? receivedAt,
    receivedAt,
    level: logLevel,
    source,
    message: payload,
    entryType,
    payloadType: payloadType ?? "generic",
    projectId: null,
    agentId: null,
    index: "main",
    sourcetype: transport,
    transport,
    metadata: metadata ?? emptyMetadata
  })

  const fromEntry = (entry: Entry, receivedAt: number): LogEvent =>
    toEvent(
      entry.payload,
      entry.entryType,
      entry.source,
      entry.logLevel,
      entry.timestamp,
      entry.payloadType,
      entry.metadata,
      receivedAt
    )

  /** Whether a value passes every metadata rule of the Schema. */
  const isValidMetadata = (value: unknown): value is Readonly<Record<string, string>> => {
    if (!isRecord(value)) return false
    // An upper bound of the JSON size: 6 bytes per UTF-16 unit (\uXXXX), plus quotes, colon and comma.
    let bound = 2
    for (const key in value) {
      // `__proto__` takes the Schema's path, whose decoded object drops it.
      if (key === "__proto__") return false
      const v = value[key]
      if (typeof v !== "string" || !charactersWithin(v, limits.maxMetadataValueLength)) return false
      bound += 6 * (key.length + v.length) + 6
    }
    return bound <= limits.maxMetadataBytes ||
      Buffer.byteLength(JSON.stringify(value), "utf8") <= limits.maxMetadataBytes
  }

  /** The event of an entry that passes every rule of the Schema, else `undefined`. */
  const fastEntry = (value: unknown, receivedAt: number): LogEvent | undefined => {
    if (!isRecord(value)) return undefined
    const version = value.version
    if (version !== undefined && version !== protocolVersion) return undefined
    const payload = value.payload
    if (typeof payload !== "string" || !utf8Within(payload, limits.maxPayloadBytes)) return undefined
    const entryType = value.entryType
    if (typeof entryType !== "number" || !isEntryType(entryType)) return undefined
    const source = value.source
    if (typeof source !== "string" || source.length === 0 || !charactersWithin(source, limits.maxSourceLength)) {
      return undefined
    }
    const logLevel = value.logLevel
    if (typeof logLevel !== "number" || !isLogLevel(logLevel)) return undefined
    const rawTimestamp = value.timestamp
    let timestamp: number | undefined
    if (rawTimestamp !== undefined) {
      if (typeof rawTimestamp !== "string") return undefined
      timestamp = parseRfc3339(rawTimestamp)
      if (timestamp === undefined) return undefined
    }
    const payloadType = value.payloadType
    if (payloadType !== undefined && (typeof payloadType !== "string" || !payloadTypePattern.test(payloadType))) {
      return undefined
    }
    const metadata = value.metadata
    if (metadata !== undefined && !isValidMetadata(metadata)) return undefined
    return toEvent(payload, entryType, source, logLevel, timestamp, payloadType, metadata, receivedAt)
  }

  const oneEntry: Message = { _tag: "Entries", count: 1 }
  const entries = (count: number): Message => count === 1 ? oneEntry : { _tag: "Entries", count }
  const invalid = (error: string): Message => ({ _tag: "Invalid", error })

  const decodeSingle = (value: Record<string, unknown>, sink: EntrySink): Message => {
    const event = fastEntry(value, sink.receivedAt)
    if (event !== undefined) {
      sink.events.push(event)
      return oneEntry
    }
    const decoded = decodeEntry(value)
    if (Either.isRight(decoded)) {
      sink.events.push(fromEntry(decoded.right, sink.receivedAt))
      return oneEntry
    }
    return invalid(`Invalid log entry format: ${firstIssueOfMessage(decoded.left)}`)
  }

  const decodeMany = (value: Record<string, unknown>, sink: EntrySink): Message => {
    const list = value.entries
    const version = value.version
    if (
      Array.isArray(list) && list.length >= 1 && list.length <= limits.maxBatchEntries &&
      (version === undefined || version === protocolVersion)
    ) {
      const start = sink.events.length
      let ok = true
      for (let i = 0; i < list.length; i++) {
        const event = fastEntry(list[i], sink.receivedAt)
        if (event === undefined) {
          ok = false
          break
        }
        sink.events.push(event)
      }
      if (ok) return entries(list.length)
      sink.events.length = start
    }
    const decoded = decodeBatch(value)
    if (Either.isRight(decoded)) {
      for (const entry of decoded.right.entries) sink.events.push(fromEntry(entry, sink.receivedAt))
      return entries(decoded.right.entries.length)
    }
    return invalid(firstIssue(decoded.left))
  }

  const decodeActionMessage = (value: Record<string, unknown>): Message => {
    const envelope = decodeAction(value)
    if (Either.isLeft(envelope)) {
      return invalid(`Invalid action: ${firstIssue(envelope.left)}`)
    }
    switch (envelope.right.action) {
      case "ping":
        return ping
      case "flush":
        return flush
      case "authenticate": {
        const auth = decodeAuthenticate(value)
        if (Either.isLeft(auth)) {
          return invalid(`Invalid authenticate message: ${firstIssueOfMessage(auth.left)}`)
        }
        return { _tag: "Authenticate", secret: auth.right.shared_secret }
      }
      default:
        return invalid(`Unknown action ${shown(envelope.right.action)}: expected one of ${actions.join(", ")}`)
    }
  }

  const decode = (line: string, sink: EntrySink): Message => {
    let value: unknown
    try {
      value = JSON.parse(line)
    } catch (error) {
      return invalid(`Invalid JSON: ${error instanceof Error ? error.message : String(error)}`)
    }
    if (!isRecord(value)) return invalid(`Invalid message: expected a JSON object, got ${kindOf(value)}`)
    if (value.action !== undefined) return decodeActionMessage(value)
    if (value.entries !== undefined) return decodeMany(value, sink)
    return decodeSingle(value, sink)
  }

  return { decode }
}
