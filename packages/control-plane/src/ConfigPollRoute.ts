/**
 * `GET /api/v1/agents/:id/config` (SPEC §4), the fleet's hottest endpoint
 * (every agent, every 10 s), served as a plain route on the shared router
 * instead of through the `HttpApi` pipeline: measured on the 2-vCPU bench
 * machine, a request through the `HttpApi` stack costs ~600 µs of CPU and a
 * plain route ~230 µs, and at 10,000 agents that difference is most of a
 * core. The endpoint keeps its place in the `HttpApi` (OpenAPI document,
 * docs); `ApiRoutes` leaves its mount to this module.
 *
 * It answers exactly as the `HttpApi` handler did: the agent middleware's
 * 401/403 (missing, unknown, revoked, another agent's token), the rate
 * limit of the `edge` group with its headers (the same counters as the
 * middleware), 400 naming `since`, then 204 / 304 / 200 with the YAML.
 */
import * as HttpLayerRouter from "@effect/platform/HttpLayerRouter"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { resolve } from "./AgentAuthentication.js"
import { RenderedConfigs } from "./AgentConfigRender.js"
import { Agents } from "./Agents.js"
import { basePath } from "./Api.js"
import * as ApiError from "./ApiError.js"
import { credentialOf } from "./Authentication.js"
import { matchesEtag, notModified } from "./EdgeApiHandlers.js"
import { configResponse } from "./FleetHandlers.js"
import { RateLimitCounter } from "./RateLimit.js"

/** The route's path on the router. */
export const path = `${basePath}/agents/:id/config` as const

/** The endpoint key `ApiRoutes` leaves to this module. */
export const endpointKey = `GET ${basePath}/agents/:id/config`

const invalidSince = (rule: string) =>
  new ApiError.ValidationError({ message: "Invalid request parameters", details: { since: rule } })

/** `since` as the `HttpApi` decoded it: absent → 0, else an integer of 0 or more. */
const sinceOf = (value: string | null): number | ApiError.ValidationError => {
  if (value === null) return 0
  const n = Number(value)
  if (value.trim() === "" || !Number.isInteger(n)) return invalidSince("must be an integer")
  return n < 0 ? invalidSince("must be 0 or more") : n
}

const withHeaders = (response: HttpServerResponse.HttpServerResponse, headers: Readonly<Record<string, string>>) =>
  HttpServerResponse.setHeaders(response, headers)

/** The route as a layer for the shared router. */
export const layer = HttpLayerRouter.use((router) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const agents = yield* Agents
    const configs = yield* RenderedConfigs
    const counter = yield* RateLimitCounter
    const current = HttpServerResponse.empty({ status: 204 })

    const handler = Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const route = yield* HttpRouter.RouteContext
      const credential = credentialOf(request, false)
      if (Option.isNone(credential)) {
        return ApiError.toResponse(
          new ApiError.Unauthorized({
            message: "missing credentials: send Authorization: Bearer AGT_… or X-API-Key: AGT_…"
          })
        )
      }
      const resolved = yield* Effect.either(
        resolve(Redacted.value(credential.value)).pipe(Effect.provideService(SqlClient.SqlClient, sql))
      )
      if (resolved._tag === "Left") return ApiError.toResponse(resolved.left)
      const agent = resolved.right
      if (route.params["id"] !== agent.agentId) {
        return ApiError.toResponse(new ApiError.Forbidden({ message: "this token belongs to another agent" }))
      }
      const counted = yield* counter.count("edge", `agent:${agent.agentId}`)
      if (counted.limited !== undefined) return withHeaders(ApiError.toResponse(counted.limited), counted.headers)
      const since = sinceOf(new URL(request.url, "http://localhost").searchParams.get("since"))
      if (typeof since !== "number") return withHeaders(ApiError.toResponse(since), counted.headers)
      // A moved agent counts in its old group's versions until it shows otherwise.
      const otherNumbering = agent.configState === "moved" ||
        (agent.configState === "served" && since > agent.configVersion)
      if (agent.configState === "served" && !otherNumbering) yield* agents.setConfigState(agent.agentId, "current")
      if (!otherNumbering && since >= agent.configVersion) return withHeaders(current, counted.headers)
      const rendered = yield* configs.get(agent.groupId, agent.platform, agent.configVersion).pipe(
        Effect.catchTag("NotFound", () => Effect.dieMessage("an agent's group is missing"))
      )
      if (agent.configState === "moved") yield* agents.setConfigState(agent.agentId, "served")
      const response = matchesEtag(request.headers["if-none-match"], rendered.etag)
        ? notModified(rendered)
        : configResponse(rendered)
      return withHeaders(response, counted.headers)
    }).pipe(Effect.catchAllCause(ApiError.fromCause))

    yield* router.add("GET", path, handler)
  })
)
