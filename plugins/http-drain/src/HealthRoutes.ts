/**
 * Liveness and readiness (SPEC §2). `GET /health` answers 200 while the
 * process serves. `GET /health/ready` answers 200 `{"status":"ready"}`, or 503
 * `{"status":"unavailable","reason":"…"}` while the gateway is shutting down
 * (the queue is closed), the queue is above its high watermark, or the store
 * does not answer its ping in time.
 */
import * as HttpLayerRouter from "@effect/platform/HttpLayerRouter"
import { EventQueue, saturation } from "@sluice/core/EventQueue"
import { EventStore } from "@sluice/core/EventStore"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as ErrorBody from "./ErrorBody.js"

/** Settings of the readiness check. */
export interface HealthOptions {
  /** The fraction of the queue's bounds above which the gateway is not ready (as the drain's 429). */
  readonly highWatermark: number
  /** How long the store may take to answer its ping. */
  readonly pingTimeout: Duration.DurationInput
}

/** High watermark 0.8, ping timeout 2 s. */
export const defaultOptions: HealthOptions = { highWatermark: 0.8, pingTimeout: Duration.seconds(2) }

/** Why the gateway is not ready now, or `None` when it is. */
export const notReady = (
  options: HealthOptions
): Effect.Effect<Option.Option<string>, never, EventQueue | EventStore> =>
  Effect.gen(function*() {
    const stats = (yield* EventQueue).stats()
    if (stats.closed) return Option.some("shutting down")
    const saturated = saturation(stats, options.highWatermark)
    if (Option.isSome(saturated)) return saturated
    const store = yield* EventStore
    return yield* store.ping.pipe(
      Effect.timeoutFail({
        duration: options.pingTimeout,
        onTimeout: () => `no answer within ${Duration.format(options.pingTimeout)}`
      }),
      Effect.match({
        onFailure: (error) => Option.some(`store unreachable: ${typeof error === "string" ? error : error.message}`),
        onSuccess: () => Option.none()
      })
    )
  })

/** `GET /health` and `GET /health/ready` as a layer for the shared `HttpLayerRouter`. */
export const layer = (options: Partial<HealthOptions> = {}) =>
  HttpLayerRouter.use((router) =>
    Effect.gen(function*() {
      const context = yield* Effect.context<EventQueue | EventStore>()
      const check = notReady({ ...defaultOptions, ...options }).pipe(Effect.provide(context))
      yield* router.add("GET", "/health", Effect.succeed(ErrorBody.json(200, { status: "ok" })))
      yield* router.add(
        "GET",
        "/health/ready",
        Effect.map(check, (reason) =>
          Option.match(reason, {
            onNone: () => ErrorBody.json(200, { status: "ready" }),
            onSome: (reason) => ErrorBody.json(503, { status: "unavailable", reason })
          }))
      )
    })
  )
