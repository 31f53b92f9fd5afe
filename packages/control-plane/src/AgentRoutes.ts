/**
 * The fleet's two hot endpoints, served as plain routes on the shared router
 * instead of through the `HttpApi` pipeline: `GET /api/v1/agents/:id/config`
 * (every agent, every 10 s) and `POST /api/v1/agents/:id/heartbeat` (every
 * 30 s). Measured on the 2-vCPU bench machine, a request through the
 * `HttpApi` stack costs ~600 µs of CPU and a plain route ~230 µs; at 10,000
 * agents that difference is most of a core and decides the p99. Both keep
 * their place in the `HttpApi` (OpenAPI document, docs); `ApiRoutes` leaves
 * their mount to this module.
 *
 * They answer exactly as the `HttpApi` handlers do: the agent middleware's
 * 401/403 (missing, unknown, revoked, another agent's token), the `edge`
 * rate limit with its headers (the same counters as the middleware), 400
 * naming each bad parameter or field, then the endpoint's answer.
 */
import * as HttpLayerRouter from "@effect/platform/HttpLayerRouter"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { ActionBus } from "./ActionBus.js"
import { resolve } from "./AgentAuthentication.js"
import { RenderedConfigs } from "./AgentConfigRender.js"
import { Agents, type Credentials } from "./Agents.js"
import { basePath } from "./Api.js"
import * as ApiError from "./ApiError.js"
import * as ApiRoutes from "./ApiRoutes.js"
import { credentialOf } from "./Authentication.js"
import { answerConfig, answerHeartbeat } from "./EdgeApiHandlers.js"
import { HeartbeatRequest } from "./FleetApi.js"
import { RateLimitCounter } from "./RateLimit.js"

const configPath = `${basePath}/agents/:id/config` as const
const heartbeatPath = `${basePath}/agents/:id/heartbeat` as const

/** The endpoint keys `ApiRoutes` leaves to this module. */
export const endpointKeys: ReadonlySet<string> = new Set([`GET ${configPath}`, `POST ${heartbeatPath}`])

const invalid = (details: Record<string, string>) =>
  new ApiError.ValidationError({ message: "Invalid request parameters", details })

/** `since` as the `HttpApi` decodes it: absent → 0, else an integer of 0 or more. */
const sinceOf = (value: string | null): number | ApiError.ValidationError => {
  if (value === null) return 0
  const n = Number(value)
  if (value.trim() === "" || !Number.isInteger(n)) return invalid({ since: "must be an integer" })
  return n < 0 ? invalid({ since: "must be 0 or more" }) : n
}

const decodeHeartbeat = Schema.decodeUnknownEither(HeartbeatRequest, { errors: "all" })

/** The body's problems as the `HttpApi` reports them: the first message per field. */
const heartbeatOf = (body: unknown): HeartbeatRequest | ApiError.ValidationError => {
  const decoded = decodeHeartbeat(body)
  if (Either.isRight(decoded)) return decoded.right
  const details: Record<string, string> = {}
  for (const issue of ParseResult.ArrayFormatter.formatErrorSync(decoded.left)) {
    details[issue.path.length === 0 ? "request" : issue.path.map(String).join(".")] ??= issue.message
  }
  return invalid(details)
}

const withHeaders = (response: HttpServerResponse.HttpServerResponse, headers: Readonly<Record<string, string>>) =>
  HttpServerResponse.setHeaders(response, headers)

/** The routes as a layer for the shared router. */
export const layer = (options: ApiRoutes.ApiRoutesOptions) =>
  HttpLayerRouter.use((router) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const agents = yield* Agents
      const configs = yield* RenderedConfigs
      const bus = yield* ActionBus
      const counter = yield* RateLimitCounter

      /** Authenticates the agent of the path and counts the request: the agent, or the answer that refuses it. */
      const admit = Effect.gen(function*() {
        const request = yield* HttpServerRequest.HttpServerRequest
        const route = yield* HttpRouter.RouteContext
        const credential = credentialOf(request, false)
        if (Option.isNone(credential)) {
          return Either.left(ApiError.toResponse(
            new ApiError.Unauthorized({
              message: "missing credentials: send Authorization: Bearer AGT_… or X-API-Key: AGT_…"
            })
          ))
        }
        const resolved = yield* Effect.either(
          resolve(Redacted.value(credential.value)).pipe(Effect.provideService(SqlClient.SqlClient, sql))
        )
        if (Either.isLeft(resolved)) return Either.left(ApiError.toResponse(resolved.left))
        const agent = resolved.right
        if (route.params["id"] !== agent.agentId) {
          return Either.left(
            ApiError.toResponse(new ApiError.Forbidden({ message: "this token belongs to another agent" }))
          )
        }
        const counted = yield* counter.count("edge", `agent:${agent.agentId}`)
        if (counted.limited !== undefined) {
          return Either.left(withHeaders(ApiError.toResponse(counted.limited), counted.headers))
        }
        return Either.right({ request, agent, headers: counted.headers })
      })

      const config = (request: HttpServerRequest.HttpServerRequest, agent: Credentials) => {
        const since = sinceOf(new URL(request.url, "http://localhost").searchParams.get("since"))
        return typeof since !== "number"
          ? Effect.succeed(ApiError.toResponse(since))
          : answerConfig(agent, since, request.headers["if-none-match"]).pipe(
            Effect.provideService(Agents, agents),
            Effect.provideService(RenderedConfigs, configs)
          )
      }

      const heartbeat = (request: HttpServerRequest.HttpServerRequest, agent: Credentials) =>
        Effect.gen(function*() {
          const body = yield* Effect.either(request.json)
          if (Either.isLeft(body)) return ApiError.toResponse(invalid({ request: "the body must be JSON" }))
          const payload = heartbeatOf(body.right)
          if (payload instanceof ApiError.ValidationError) return ApiError.toResponse(payload)
          const answer = yield* answerHeartbeat(agent.agentId, payload).pipe(
            Effect.provideService(Agents, agents),
            Effect.provideService(ActionBus, bus)
          )
          return HttpServerResponse.unsafeJson(answer)
        })

      const route = (
        answer: (
          request: HttpServerRequest.HttpServerRequest,
          agent: Credentials
        ) => Effect.Effect<HttpServerResponse.HttpServerResponse>
      ) =>
        ApiRoutes.guard(options)(Effect.gen(function*() {
          const admitted = yield* admit
          if (Either.isLeft(admitted)) return admitted.left
          const { agent, headers, request } = admitted.right
          return withHeaders(yield* answer(request, agent), headers)
        }))

      yield* router.add("GET", configPath, route(config))
      yield* router.add("POST", heartbeatPath, route(heartbeat))
    })
  )
