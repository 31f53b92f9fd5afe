/**
 * How agents authenticate on the edge API (SPEC §4): `Authorization: Bearer
 * AGT_…` or `X-API-Key: AGT_…`, resolved by one lookup of the token's hash.
 * Unknown or missing → 401; revoked → 403; a token used on another agent's
 * path (`/agents/:id/…`) → 403. The same lookup backs core's `AgentAuth`
 * (`agentAuthLayer`), which ingest routes outside this package (the edge
 * logs route) use.
 */
import * as HttpApiMiddleware from "@effect/platform/HttpApiMiddleware"
import * as HttpApiSecurity from "@effect/platform/HttpApiSecurity"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as SqlClient from "@effect/sql/SqlClient"
import { AgentAuth, AgentForbidden, type AgentIdentity, AgentUnauthorized } from "@sluice/core/AgentAuth"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { type Credentials, credentialsOf } from "./Agents.js"
import * as ApiError from "./ApiError.js"
import { credentialOf } from "./Authentication.js"
import * as Migrations from "./Migrations.js"

/** The agent calling the current request, with its group's config version. */
export class CurrentAgent extends Context.Tag("@sluice/control-plane/CurrentAgent")<CurrentAgent, Credentials>() {}

/** Agents only: provides `CurrentAgent`. */
export class RequireAgent extends HttpApiMiddleware.Tag<RequireAgent>()("@sluice/control-plane/RequireAgent", {
  failure: Schema.Union(ApiError.Wire.Unauthorized, ApiError.Wire.Forbidden),
  provides: CurrentAgent,
  security: {
    bearer: HttpApiSecurity.bearer,
    apiKey: HttpApiSecurity.apiKey({ key: "X-API-Key", in: "header" })
  }
}) {}

const agentPath = /^\/api\/v1\/agents\/([^/?]+)\//

const missing = () =>
  new ApiError.Unauthorized({ message: "missing credentials: send Authorization: Bearer AGT_… or X-API-Key: AGT_…" })

/** Resolves a token: the agent, or why not. */
export const resolve = (
  token: string
): Effect.Effect<Credentials, ApiError.Unauthorized | ApiError.Forbidden, SqlClient.SqlClient> =>
  Effect.flatMap(
    credentialsOf(token),
    (found): Effect.Effect<Credentials, ApiError.Unauthorized | ApiError.Forbidden> => {
      if (Option.isNone(found)) return Effect.fail(new ApiError.Unauthorized({ message: "unknown agent token" }))
      if (found.value.revoked) return Effect.fail(new ApiError.Forbidden({ message: "the agent's token is revoked" }))
      return Effect.succeed(found.value)
    }
  )

/** The middleware over the `SqlClient` in context (migrated). */
export const layer: Layer.Layer<RequireAgent, never, SqlClient.SqlClient> = Layer.effect(
  RequireAgent,
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const authenticate = Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const credential = credentialOf(request, false)
      if (Option.isNone(credential)) return yield* missing()
      const agent = yield* resolve(Redacted.value(credential.value))
      const pathId = agentPath.exec(request.url)?.[1]
      if (pathId !== undefined && decodeURIComponent(pathId) !== agent.agentId) {
        return yield* new ApiError.Forbidden({ message: "this token belongs to another agent" })
      }
      return agent
    }).pipe(Effect.provideService(SqlClient.SqlClient, sql))
    return RequireAgent.of({ bearer: () => authenticate, apiKey: () => authenticate })
  })
)

/**
 * Core's `AgentAuth` over the agents table (for the edge logs route). It
 * migrates the control plane's tables first (a failing migration is a
 * defect here: the control plane's own layer reports it as a start-up error).
 */
export const agentAuthLayer: Layer.Layer<AgentAuth, never, SqlClient.SqlClient> = Layer.effect(
  AgentAuth,
  Effect.map(SqlClient.SqlClient, (sql) =>
    AgentAuth.of({
      authenticate: (token) =>
        credentialsOf(Redacted.value(token).trim()).pipe(
          Effect.provideService(SqlClient.SqlClient, sql),
          Effect.flatMap((found): Effect.Effect<AgentIdentity, AgentUnauthorized | AgentForbidden> => {
            if (Option.isNone(found)) return Effect.fail(new AgentUnauthorized({ reason: "unknown agent token" }))
            if (found.value.revoked) return Effect.fail(new AgentForbidden({ reason: "the agent's token is revoked" }))
            return Effect.succeed({ agentId: found.value.agentId, groupId: found.value.groupId })
          })
        )
    }))
).pipe(Layer.provide(Layer.orDie(Migrations.layer)))
