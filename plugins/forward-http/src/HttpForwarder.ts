/**
 * The `Forwarder` to an upstream HTTP drain (`POST {upstream}/v1/drain`, or
 * an edge endpoint with the same body): events in the drain's shape, gzip,
 * `Idempotency-Key` from the batch, a timeout per attempt. It classifies the
 * answer for the forward loop: 2xx delivered; 408, 429, 5xx, network errors
 * and timeouts retryable (with `Retry-After`); 401 and 403 retryable too (a
 * token being rotated or fixed must not send accepted events to the dead
 * letters); other 4xx refused for good.
 *
 * `prepare` encodes and compresses a batch ahead (the forward loop calls it
 * for the next batch while one is in flight); `send` then reuses that body.
 *
 * For an enrolled agent posting to the edge endpoint, `routing: true` adds
 * each event's `index`, `sourcetype` and `transport` (extension fields the
 * edge keeps), and `token` may be an Effect read on every attempt, so a
 * rotated token is used at once.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as DrainEvent from "@sluice/core/DrainEvent"
import { type ForwardBatch, Forwarder, ForwardRejected, ForwardRetryable } from "@sluice/core/Forwarder"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { promisify } from "node:util"
import * as zlib from "node:zlib"

const gzip = promisify(zlib.gzip)

/** Settings of the HTTP forwarder. */
export interface HttpForwarderOptions {
  /** The full URL to post to, e.g. `http://gateway:8080/v1/drain`. */
  readonly url: string
  /** The token, or an Effect that reads the current one on every attempt. */
  readonly token: Redacted.Redacted<string> | Effect.Effect<Redacted.Redacted<string>>
  /** Also send each event's `index`, `sourcetype` and `transport` (for the edge endpoint). */
  readonly routing?: boolean | undefined
  /** Sent as `Authorization: Bearer …` (default) or as the raw token. */
  readonly bearer?: boolean | undefined
  /** `project_id` for events that have none (socket entries): default `default`. */
  readonly defaultProjectId?: string | undefined
  readonly gzip?: boolean | undefined
  /** Per attempt (default 30 s). */
  readonly timeout?: Duration.DurationInput | undefined
}

/** Seconds or an HTTP date, in milliseconds; `undefined` when absent or unreadable. */
export const parseRetryAfter = (value: string | undefined, now: number): number | undefined => {
  if (value === undefined) return undefined
  const trimmed = value.trim()
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000
  const date = Date.parse(trimmed)
  return Number.isNaN(date) ? undefined : Math.max(0, date - now)
}

/** Builds the forwarder over an `HttpClient`. */
export const make = (options: HttpForwarderOptions) =>
  Effect.gen(function*() {
    const client = yield* HttpClient.HttpClient
    const projectId = options.defaultProjectId ?? "default"
    const timeout = options.timeout ?? Duration.seconds(30)
    // Credentials in the URL are never sent as part of it, printed or logged.
    const target = new URL(options.url)
    target.username = ""
    target.password = ""
    const url = target.toString()
    const token = Effect.isEffect(options.token) ? options.token : Effect.succeed(options.token)
    const authOf = (t: Redacted.Redacted<string>) =>
      options.bearer === false ? Redacted.value(t) : `Bearer ${Redacted.value(t)}`
    const shape: DrainEvent.DrainShape = { defaultProjectId: projectId, routing: options.routing === true }

    const compress = options.gzip !== false
    const encode = (batch: ForwardBatch) =>
      Effect.suspend(() => {
        // The spool's own bytes when it offers them (no LogEvent objects), else the events'.
        const json = batch.drainBody === undefined
          ? DrainEvent.drainBody(batch.events, shape)
          : batch.drainBody(shape)
        return compress
          ? Effect.promise((): Promise<Uint8Array> => gzip(json, { level: 1 }))
          : Effect.succeed<Uint8Array>(json)
      })
    // Bodies encoded ahead by `prepare`, by idempotency key: the batch in
    // flight (kept for its retries) and the one after it.
    const prepared = new Map<string, Uint8Array>()
    const prepare = (batch: ForwardBatch) =>
      Effect.map(encode(batch), (body) => {
        prepared.set(batch.idempotencyKey, body)
        while (prepared.size > 2) prepared.delete(prepared.keys().next().value!)
      })

    const send = (batch: ForwardBatch) =>
      Effect.gen(function*() {
        const headers: Record<string, string> = {
          authorization: authOf(yield* token),
          "idempotency-key": batch.idempotencyKey,
          "content-type": "application/json"
        }
        const body = prepared.get(batch.idempotencyKey) ?? (yield* encode(batch))
        if (compress) headers["content-encoding"] = "gzip"
        const response = yield* client.execute(
          HttpClientRequest.post(url).pipe(
            HttpClientRequest.setHeaders(headers),
            HttpClientRequest.bodyUint8Array(body, "application/json")
          )
        ).pipe(
          Effect.timeoutFail({
            duration: timeout,
            onTimeout: () => new ForwardRetryable({ reason: `no answer within ${Duration.format(timeout)}` })
          }),
          Effect.catchTag("RequestError", (error) => Effect.fail(new ForwardRetryable({ reason: error.message })))
        )
        const status = response.status
        if (status >= 200 && status < 300) {
          prepared.delete(batch.idempotencyKey)
          return
        }
        const text = yield* response.text.pipe(Effect.orElseSucceed(() => ""))
        if (status === 401 || status === 403) {
          return yield* new ForwardRetryable({ reason: `upstream refused the token (${status})`, status })
        }
        if (status === 408 || status === 429 || status >= 500) {
          const retryAfterMs = parseRetryAfter(response.headers["retry-after"], yield* Clock.currentTimeMillis)
          return yield* new ForwardRetryable({
            reason: `upstream answered ${status}`,
            status,
            ...(retryAfterMs === undefined ? {} : { retryAfterMs })
          })
        }
        return yield* new ForwardRejected({ status, body: text.slice(0, 65536) })
      }).pipe(
        Effect.scoped,
        Effect.catchTag("ResponseError", (error) => Effect.fail(new ForwardRetryable({ reason: error.message })))
      )

    return Forwarder.of({ target: url, send, prepare })
  })

/** The HTTP forwarder as a layer (with Node's HTTP client). */
export const layer = (options: HttpForwarderOptions): Layer.Layer<Forwarder> =>
  Layer.effect(Forwarder, make(options)).pipe(Layer.provide(NodeHttpClient.layerUndici))
