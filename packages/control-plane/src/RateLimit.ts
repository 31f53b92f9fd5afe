/**
 * The one rate-limit middleware (SPEC §3): per client (user, API key, or IP
 * when unauthenticated) per endpoint group, per minute: authentication 10
 * (`/auth/*`), dashboard 60 (`/users`, `/logs`, `/stats`, `/dead-letters`,
 * `/metric-configs`), agents and API keys 100 (`/api-keys`, `/agents`,
 * `/groups`, `/enrolment-tokens`, `/actions`), edge 1000 (what agents call:
 * enrol, config, heartbeat, rotate-token, `/edge/*`; per agent, enrolment
 * per IP), streaming 10 (any path with `/stream`). Every limited answer carries `X-RateLimit-Limit`,
 * `X-RateLimit-Remaining` and `X-RateLimit-Reset` (epoch seconds); a 429
 * also `Retry-After` (seconds). Counting is `@effect/experimental`
 * `RateLimiter` (fixed window) over a store that forgets idle keys.
 *
 * Declared on each group with `.middleware(RateLimit)` before the endpoints'
 * role middleware, which therefore runs first and provides the caller.
 */
import * as RateLimiter from "@effect/experimental/RateLimiter"
import * as HttpApiMiddleware from "@effect/platform/HttpApiMiddleware"
import * as HttpApp from "@effect/platform/HttpApp"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { CurrentAgent } from "./AgentAuthentication.js"
import * as ApiError from "./ApiError.js"
import { CurrentPrincipal } from "./Authentication.js"
import * as RateLimitStore from "./RateLimitStore.js"

/** The endpoint groups that have their own limits. */
export type LimitGroup = "auth" | "dashboard" | "agents" | "edge" | "streaming"

/** Requests per window for each group, and the window. */
export interface RateLimitOptions {
  readonly auth: number
  readonly dashboard: number
  readonly agents: number
  readonly edge: number
  readonly streaming: number
  readonly window: Duration.DurationInput
}

/** SPEC §3: 10, 60, 100, 1000 and 10 per minute. */
export const defaultOptions: RateLimitOptions = {
  auth: 10,
  dashboard: 60,
  agents: 100,
  edge: 1000,
  streaming: 10,
  window: Duration.minutes(1)
}

/** The group of a path under `/api/v1` (SPEC §3). */
export const groupOf = (path: string): LimitGroup => {
  const rest = path.replace(/^\/api\/v1/, "")
  if (/\/stream(\/|$)/.test(rest)) return "streaming"
  if (/^\/auth(\/|$)/.test(rest)) return "auth"
  if (/^\/(agents\/enrol|agents\/[^/]+\/(config|heartbeat|rotate-token)|edge\/.*)$/.test(rest)) return "edge"
  if (/^\/(api-keys|agents|groups|enrolment-tokens|actions)(\/|$)/.test(rest)) return "agents"
  return "dashboard"
}

/** Counts requests and answers 429 past the limit. */
export class RateLimit extends HttpApiMiddleware.Tag<RateLimit>()("@sluice/control-plane/RateLimit", {
  failure: ApiError.Wire.RateLimited
}) {}

const setHeaders = (headers: Record<string, string>) =>
  HttpApp.appendPreResponseHandler((_request, response) =>
    Effect.succeed(HttpServerResponse.setHeaders(response, headers))
  )

/** What one counted request answers: the headers to send, or the 429 (with its headers). */
export interface Counted {
  readonly headers: Readonly<Record<string, string>>
  readonly limited: ApiError.RateLimited | undefined
}

/**
 * Counts requests of a client in a group, for routes served outside the
 * `HttpApi` (the agents' config poll): the same counters as the middleware.
 */
export class RateLimitCounter extends Context.Tag("@sluice/control-plane/RateLimitCounter")<RateLimitCounter, {
  readonly count: (group: LimitGroup, client: string) => Effect.Effect<Counted>
}>() {}

/** The counter over a `RateLimiter`. */
export const makeCounter = (options: RateLimitOptions) =>
  Effect.gen(function*() {
    const limiter = yield* RateLimiter.RateLimiter
    const window = Duration.decode(options.window)
    const count = (group: LimitGroup, client: string): Effect.Effect<Counted> =>
      Effect.gen(function*() {
        const limit = options[group]
        const now = yield* Clock.currentTimeMillis
        const resetAt = (after: Duration.Duration) => String(Math.ceil((now + Duration.toMillis(after)) / 1000))
        return yield* limiter.consume({ key: `${group}|${client}`, limit, window, algorithm: "fixed-window" }).pipe(
          Effect.map((result): Counted => ({
            headers: {
              "x-ratelimit-limit": String(result.limit),
              "x-ratelimit-remaining": String(result.remaining),
              "x-ratelimit-reset": resetAt(result.resetAfter)
            },
            limited: undefined
          })),
          Effect.catchTag("RateLimiterError", (error) =>
            error.reason === "Exceeded"
              ? Effect.succeed<Counted>({
                headers: {
                  "x-ratelimit-limit": String(limit),
                  "x-ratelimit-remaining": "0",
                  "x-ratelimit-reset": resetAt(error.retryAfter),
                  "retry-after": String(Math.max(1, Math.ceil(Duration.toSeconds(error.retryAfter))))
                },
                limited: new ApiError.RateLimited({
                  message: `too many requests: at most ${limit} per ${Duration.format(window)} for this group`
                })
              })
              : Effect.die(error))
        )
      })
    return RateLimitCounter.of({ count })
  })

/** The middleware over the counter. */
export const make = Effect.gen(function*() {
  const counter = yield* RateLimitCounter
  return RateLimit.of(Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const principal = yield* Effect.serviceOption(CurrentPrincipal)
    const agent = yield* Effect.serviceOption(CurrentAgent)
    const group = groupOf(request.url.split("?")[0]!)
    const client = Option.match(principal, {
      onSome: (p) => `${p.kind}:${p.id}`,
      onNone: () =>
        Option.match(agent, {
          onSome: (a) => `agent:${a.agentId}`,
          onNone: () => `ip:${Option.getOrElse(request.remoteAddress, () => "unknown")}`
        })
    })
    const counted = yield* counter.count(group, client)
    yield* setHeaders(counted.headers)
    if (counted.limited !== undefined) return yield* counted.limited
  }))
})

/** `RateLimitCounter` with its limiter and an evicting memory store. */
export const counterLayer = (options: Partial<RateLimitOptions> = {}): Layer.Layer<RateLimitCounter> =>
  Layer.effect(RateLimitCounter, makeCounter({ ...defaultOptions, ...options })).pipe(
    Layer.provide(RateLimiter.layer),
    Layer.provide(RateLimitStore.layer())
  )

/** `RateLimit` (the middleware) and the `RateLimitCounter` it counts with. */
export const layer = (options: Partial<RateLimitOptions> = {}): Layer.Layer<RateLimit | RateLimitCounter> =>
  Layer.effect(RateLimit, make).pipe(Layer.provideMerge(counterLayer(options)))
