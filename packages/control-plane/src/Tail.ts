/**
 * The client side of the live tail, for `sluice tail`: follows
 * `GET /api/v1/logs/stream` with the same filters as `/logs` and yields each
 * stored event (and a line for each notice of skipped events). A refused
 * request fails with the server's SPEC §3 message; the stream ends when the
 * server closes it (callers may retry with `Stream.retry`).
 */
import * as Sse from "@effect/experimental/Sse"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as LogEvent from "@sluice/core/LogEvent"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { keyPrefix } from "./ApiKeys.js"

/** What to follow. */
export interface TailOptions {
  /** The control plane's base URL, without `/api/v1` (e.g. `http://127.0.0.1:8080`). */
  readonly baseUrl: string
  /** A session token (JWT) or an API key. */
  readonly token: Redacted.Redacted<string>
  /** The filters of SPEC §3: from, to, level, source, agent_id, project_id, index, q. */
  readonly filters?: Readonly<Record<string, string | undefined>> | undefined
}

/** The tail could not start or broke. */
export class TailError extends Schema.TaggedError<TailError>()("TailError", {
  status: Schema.optional(Schema.Number),
  message: Schema.String
}) {}

/** One item of a tail: an event, or a notice that events were skipped. */
export type TailItem =
  | { readonly _tag: "Event"; readonly event: StoredEventJson }
  | { readonly _tag: "Notice"; readonly skippedEvents: number; readonly skippedCommits: number }

type StoredEventJson = LogEvent.StoredEventJson

const decodeEvent = Schema.decodeUnknownEither(Schema.parseJson(LogEvent.StoredEventJson))
const decodeNotice = Schema.decodeUnknownEither(
  Schema.parseJson(Schema.Struct({ skipped_events: Schema.Number, skipped_commits: Schema.Number }))
)
const decodeError = Schema.decodeUnknownEither(Schema.parseJson(Schema.Struct({ message: Schema.String })))

/** The URL of the stream for these options. */
export const streamUrl = (options: TailOptions): string => {
  const url = new URL("/api/v1/logs/stream", options.baseUrl)
  for (const [key, value] of Object.entries(options.filters ?? {})) {
    if (value !== undefined && value !== "") url.searchParams.set(key, value)
  }
  return url.toString()
}

/** Follows the live tail. */
export const follow = (options: TailOptions): Stream.Stream<TailItem, TailError, HttpClient.HttpClient> =>
  Stream.unwrapScoped(Effect.gen(function*() {
    const client = yield* HttpClient.HttpClient
    const token = Redacted.value(options.token)
    const request = HttpClientRequest.get(streamUrl(options)).pipe(
      token.startsWith(keyPrefix)
        ? HttpClientRequest.setHeader("x-api-key", token)
        : HttpClientRequest.bearerToken(token),
      HttpClientRequest.acceptJson,
      HttpClientRequest.setHeader("accept", "text/event-stream")
    )
    const response = yield* client.execute(request).pipe(
      Effect.mapError((error) => new TailError({ message: `cannot reach ${options.baseUrl}: ${error.message}` }))
    )
    if (response.status !== 200) {
      const text = yield* response.text.pipe(Effect.orElseSucceed(() => ""))
      const body = decodeError(text)
      return yield* new TailError({
        status: response.status,
        message: body._tag === "Right" ? body.right.message : `the server answered ${response.status}`
      })
    }
    return response.stream.pipe(
      Stream.mapError((error) => new TailError({ message: `the stream broke: ${error.message}` })),
      Stream.decodeText(),
      Stream.pipeThroughChannel(Sse.makeChannel()),
      Stream.filterMap((event): Option.Option<TailItem> => {
        if (event.event === "log") {
          const decoded = decodeEvent(event.data)
          return decoded._tag === "Right" ? Option.some({ _tag: "Event", event: decoded.right }) : Option.none()
        }
        if (event.event === "notice") {
          const decoded = decodeNotice(event.data)
          return decoded._tag === "Right"
            ? Option.some({
              _tag: "Notice",
              skippedEvents: decoded.right.skipped_events,
              skippedCommits: decoded.right.skipped_commits
            })
            : Option.none()
        }
        return Option.none()
      })
    )
  }))

/** One line for a terminal: time, level, source, message (and a line for a notice). */
export const formatLine = (item: TailItem): string =>
  item._tag === "Notice"
    ? `-- fell behind: ${item.skippedEvents} events and ${item.skippedCommits} commits skipped --`
    : `${item.event.timestamp} ${item.event.level_name.padEnd(9)} ${item.event.source}: ${item.event.message}`

/** The tail as printable lines. */
export const lines = (options: TailOptions): Stream.Stream<string, TailError, HttpClient.HttpClient> =>
  Stream.map(follow(options), formatLine)
