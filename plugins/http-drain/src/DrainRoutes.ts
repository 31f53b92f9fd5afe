/**
 * `POST /v1/drain` (SPEC §2): batches of events over HTTP.
 *
 * Guarantees: `202 {"status":"accepted"}` only once every event of the batch
 * is committed (`Ingest.offer` with `durable`); a batch is all or nothing;
 * a retry with the same `Idempotency-Key` and token within 24 h is answered
 * 202 without storing twice (also while the first attempt is still running);
 * above the queue's high watermark the drain answers 429 with `Retry-After`
 * before reading the body. One Effect per request; the body is decoded
 * synchronously: by the byte scanner (`DrainScanner`, straight into rows)
 * when it takes the body, else by `JSON.parse` and `DrainBatch.decode`.
 *
 * Mounted as a route layer on the shared server (see `HttpDrain`).
 */
import * as HttpLayerRouter from "@effect/platform/HttpLayerRouter"
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import type * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { ByteWriter } from "@sluice/core/ByteWriter"
import { EncodedEvents, type EventBatch } from "@sluice/core/EventBatch"
import { type Backpressure, type CommitFailed, EventQueue, QueueClosed, saturation } from "@sluice/core/EventQueue"
import { EventStore, type StoreError } from "@sluice/core/EventStore"
import { Ingest } from "@sluice/core/Ingest"
import type { LogEvent } from "@sluice/core/LogEvent"
import * as Metrics from "@sluice/core/Metrics"
import { type Principal, TokenVerifier } from "@sluice/core/TokenVerifier"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { BodyBudget } from "./BodyBudget.js"
import * as DrainBatch from "./DrainBatch.js"
import * as DrainBody from "./DrainBody.js"
import { DrainScanner, fallback, type ScanRouting } from "./DrainScanner.js"
import * as ErrorBody from "./ErrorBody.js"
import * as IdempotencyKeys from "./IdempotencyKeys.js"

/** Settings of the drain; every limit of SPEC §2 is here. */
export interface DrainOptions extends DrainBatch.BatchLimits {
  /** The most bytes of a body, after decompression (413 past it). */
  readonly maxBodyBytes: number
  /** The fraction of the queue's bounds above which the drain answers 429. */
  readonly highWatermark: number
  /** The `Retry-After` of a 429 or 503, in seconds. */
  readonly retryAfterSeconds: number
  /** The most body bytes the route holds at once, read, decompressed and decoded (429 past it; see `BodyBudget`). */
  readonly maxInFlightBytes: number
}

/**
 * SPEC §2 defaults: 10 MiB bodies, 10,000 events, 1 MiB messages, 429 above
 * 80 % of the queue; and 64 MiB of bodies held at once.
 */
export const defaultOptions: DrainOptions = {
  ...DrainBatch.defaultLimits,
  maxBodyBytes: 10 * 1024 * 1024,
  highWatermark: 0.8,
  retryAfterSeconds: 1,
  maxInFlightBytes: 64 * 1024 * 1024
}

/** The drain's path. */
export const path = "/v1/drain"

/** Drain requests answered, tag `status`. */
export const requests = Metric.counter("sluice_http_drain_requests_total", {
  description: "Drain requests answered, by HTTP status",
  incremental: true
})

/** Time from the request to its 202, in milliseconds (includes the durable commit). */
export const acceptLatency = Metric.histogram(
  "sluice_http_drain_accept_latency_ms",
  MetricBoundaries.exponential({ start: 0.5, factor: 2, count: 16 }),
  "Time from a drain request to its 202 (the batch committed), in milliseconds"
)

/** The token of `Authorization: <token>` or `Authorization: Bearer <token>`. */
export const tokenOf = (header: string | undefined): string | undefined => {
  if (header === undefined) return undefined
  const value = header.trim()
  const token = /^bearer\s/i.test(value) ? value.slice(6).trim() : value
  return token.length > 0 ? token : undefined
}

type Failure =
  | DrainBody.PayloadTooLarge
  | DrainBody.BodyBudgetFull
  | DrainBody.UnsupportedEncoding
  | DrainBody.MalformedBody
  | DrainBatch.TooManyEvents
  | DrainBatch.InvalidBatch
  | Backpressure
  | QueueClosed
  | CommitFailed
  | StoreError

const rejected = (reason: string) =>
  Metrics.eventsRejected.pipe(Metric.tagged("transport", "http"), Metric.tagged("reason", reason))

/**
 * Who may post through a door, and what it stamps on the events it accepts:
 * the drain checks drain tokens and API keys; the edge door checks agent
 * tokens and stamps the agent's id and its inputs' routing.
 */
export interface Door {
  readonly transport: string
  /**
   * The byte scanner that takes this door's common bodies, writing the rows
   * its decoding (and `stamp`) would make; without one, every body is parsed.
   */
  readonly scanner?: ScanRouting | undefined
  /** The principal of the request, or the answer that refuses it. */
  readonly authenticate: (
    headers: HttpServerRequest.HttpServerRequest["headers"]
  ) => Effect.Effect<Either.Either<Principal, HttpServerResponse.HttpServerResponse>>
  /** Rewrites the decoded events (the raw body is at hand for extension fields). */
  readonly stamp?: (
    events: ReadonlyArray<LogEvent>,
    raw: unknown,
    principal: Principal
  ) => Either.Either<ReadonlyArray<LogEvent>, DrainBatch.InvalidBatch>
}

/** The drain's door: `Authorization: <token>` or `Bearer <token>`, drain tokens and API keys. */
export const drainDoor: Effect.Effect<Door, never, TokenVerifier> = Effect.map(TokenVerifier, (verifier) => ({
  transport: "http",
  scanner: "drain",
  authenticate: (headers) =>
    Effect.gen(function*() {
      const token = tokenOf(headers["authorization"])
      if (token === undefined) {
        return Either.left(ErrorBody.error(
          "unauthorized",
          "missing Authorization header: send the drain token, or Bearer <token>"
        ))
      }
      const principal = yield* Effect.either(verifier.verify(Redacted.make(token)))
      return Either.isLeft(principal)
        ? Either.left(ErrorBody.error("unauthorized", "invalid token"))
        : Either.right(principal.right)
    })
}))

/** Builds the request handler over the pipeline and a door (default: the drain's). */
export const makeHandler = (options: DrainOptions, door: Door) =>
  Effect.gen(function*() {
    const ingest = yield* Ingest
    const queue = yield* EventQueue
    const store = yield* EventStore
    const inFlight = IdempotencyKeys.make()
    // Requests are scanned one at a time (synchronously), so one scanner serves all.
    const scanner = door.scanner === undefined ? undefined : new DrainScanner(options, door.scanner)
    const budget = new BodyBudget(options.maxInFlightBytes)
    const retryAfter = { "retry-after": String(options.retryAfterSeconds) }
    const rejectedInvalid = rejected("invalid")
    const rejectedTooLarge = rejected("too_large")
    const byStatus = new Map<number, Metric.Metric.Counter<number>>()
    const countStatus = (status: number) => {
      let counter = byStatus.get(status)
      if (counter === undefined) {
        counter = requests.pipe(Metric.tagged("status", String(status)))
        byStatus.set(status, counter)
      }
      return Metric.increment(counter)
    }

    const accepted = () => ErrorBody.json(202, { status: "accepted" })
    // Refused before its body is read, the connection is closed: that spares reading (and discarding) the body.
    const saturated = (bodyUnread = false) =>
      ErrorBody.json(
        429,
        { error: "server saturated", code: "backpressure_triggered" },
        bodyUnread ? { ...retryAfter, connection: "close" } : retryAfter
      )

    const toResponse = (failure: Failure): Effect.Effect<HttpServerResponse.HttpServerResponse> => {
      switch (failure._tag) {
        case "PayloadTooLarge":
          return Effect.succeed(ErrorBody.error("payload_too_large", failure.message))
        case "TooManyEvents":
          return Effect.as(
            Metric.incrementBy(rejectedTooLarge, failure.count),
            ErrorBody.error("payload_too_large", failure.message)
          )
        case "UnsupportedEncoding":
          return Effect.succeed(ErrorBody.error("unsupported_media_type", failure.message))
        case "MalformedBody":
          return Effect.succeed(ErrorBody.error("validation_error", failure.message))
        case "InvalidBatch":
          return Effect.as(
            Metric.incrementBy(rejectedInvalid, failure.events),
            ErrorBody.error("validation_error", failure.message, { details: failure.details })
          )
        case "Backpressure":
        case "BodyBudgetFull":
          return Effect.succeed(saturated())
        case "QueueClosed":
          return Effect.succeed(ErrorBody.error("service_unavailable", failure.message, { headers: retryAfter }))
        case "CommitFailed":
          return Effect.as(
            Effect.logError("drain batch could not be committed", failure.reason),
            ErrorBody.error("internal_error", "the batch could not be stored; nothing was accepted")
          )
        case "StoreError":
          return Effect.as(
            Effect.logError("drain idempotency check failed", failure.message),
            ErrorBody.error("service_unavailable", "the store is unreachable", { headers: retryAfter })
          )
      }
    }

    // The batch as rows straight from the bytes when the scanner takes it, else parsed and decoded
    // (which also words every refusal). Its decoded form is charged as much as the body again.
    const decodeBody = (
      body: Buffer,
      receivedAt: number,
      principal: Principal,
      charge: DrainBody.Charge
    ): Effect.Effect<
      EventBatch,
      DrainBody.BodyBudgetFull | DrainBody.MalformedBody | DrainBatch.TooManyEvents | DrainBatch.InvalidBatch
    > => {
      if (!charge(body.length + 1024)) return Effect.fail(new DrainBody.BodyBudgetFull())
      if (scanner !== undefined) {
        // Rows take about as many bytes as the body (keys out; receive time and constants in):
        // written into their own buffer, which the batch keeps (no copy).
        const rows = new ByteWriter(body.length + 1024)
        const count = scanner.scan(body, receivedAt, rows, principal.agentId ?? null)
        if (count !== fallback) {
          return Effect.succeed(
            new EncodedEvents(count, rows.buffer.subarray(0, rows.length), scanner.transports(count))
          )
        }
      }
      return Effect.gen(function*() {
        const input = yield* DrainBody.parseJson(body)
        const decoded = yield* DrainBatch.decode(input, options, receivedAt)
        return door.stamp === undefined ? decoded : yield* door.stamp(decoded, input, principal)
      })
    }

    // Everything after authentication and the idempotency check.
    const attempt = (
      request: HttpServerRequest.HttpServerRequest,
      headers: HttpServerRequest.HttpServerRequest["headers"],
      idempotencyKey: string | undefined,
      principal: Principal
    ): Effect.Effect<HttpServerResponse.HttpServerResponse> =>
      Effect.gen(function*() {
        const stats = queue.stats()
        if (stats.closed) return yield* toResponse(new QueueClosed())
        if (Option.isSome(saturation(stats, options.highWatermark))) return saturated(true)
        // The body, its decoded form, and the batch until it is committed, held within the route's budget.
        const share = budget.share()
        if (!share.reserve(DrainBody.upfront(headers, options.maxBodyBytes))) return saturated(true)
        return yield* Effect.gen(function*() {
          const body = yield* DrainBody.read(request, headers, options.maxBodyBytes, share.take)
          const receivedAt = yield* Clock.currentTimeMillis
          const events = yield* decodeBody(body, receivedAt, principal, share.take)
          // Once offered, the batch will commit: wait for it even if the client goes away,
          // so a concurrent retry with the same key learns the real outcome.
          yield* Effect.uninterruptible(
            ingest.offer(events, { durable: true, transport: door.transport, idempotencyKey, bytes: body.length })
          )
          return accepted()
        }).pipe(Effect.ensuring(Effect.sync(() => share.close())))
      }).pipe(Effect.catchAll(toResponse))

    const respond = (request: HttpServerRequest.HttpServerRequest) =>
      Effect.gen(function*() {
        const headers = request.headers
        const principal = yield* door.authenticate(headers)
        if (Either.isLeft(principal)) return principal.left
        const key = headers["idempotency-key"]
        if (key === undefined) return yield* attempt(request, headers, undefined, principal.right)
        const problem = IdempotencyKeys.problem(key)
        if (problem !== undefined) {
          return ErrorBody.error("validation_error", "invalid Idempotency-Key header", {
            details: { "Idempotency-Key": problem }
          })
        }
        const scoped = IdempotencyKeys.scoped(principal.right, key)
        const outcome = yield* inFlight.run(
          scoped,
          store.hasIdempotencyKey(scoped),
          attempt(request, headers, scoped, principal.right),
          (response) => response.status === 202
        )
        return Option.getOrElse(outcome, accepted)
      }).pipe(Effect.catchAll(toResponse))

    return (request: HttpServerRequest.HttpServerRequest): Effect.Effect<HttpServerResponse.HttpServerResponse> =>
      Effect.gen(function*() {
        const start = yield* Clock.currentTimeMillis
        const response = yield* respond(request)
        yield* countStatus(response.status)
        if (response.status === 202) yield* Metric.update(acceptLatency, (yield* Clock.currentTimeMillis) - start)
        return response
      })
  })

/**
 * The drain route as a layer for the shared `HttpLayerRouter`; needs the
 * pipeline (`Ingest`, `EventQueue`), the `EventStore` (idempotency keys) and
 * the `TokenVerifier`.
 */
export const layer = (options: Partial<DrainOptions> = {}) =>
  HttpLayerRouter.use((router) =>
    drainDoor.pipe(
      Effect.flatMap((door) => makeHandler({ ...defaultOptions, ...options }, door)),
      Effect.flatMap((handler) => router.add("POST", path, handler))
    )
  )
