/**
 * `POST /api/v1/edge/logs` (SPEC §3 edge API): the drain's body and answers,
 * authenticated as an enrolled agent (`Authorization: Bearer AGT_…`, or
 * `X-API-Key: AGT_…`) through core's `AgentAuth`: unknown token → 401,
 * revoked → 403. Every event gets the agent's id. An agent's forwarder also
 * sends, per event, the routing its input stamped (`index`, `sourcetype`)
 * and the input's type (`transport`); these extension fields are kept (1 to
 * 64 characters each), and without them an event has index `main`,
 * sourcetype `edge` and transport `edge`.
 */
import * as HttpLayerRouter from "@effect/platform/HttpLayerRouter"
import { AgentAuth } from "@sluice/core/AgentAuth"
import type { LogEvent } from "@sluice/core/LogEvent"
import type { Principal } from "@sluice/core/TokenVerifier"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Redacted from "effect/Redacted"
import * as DrainBatch from "./DrainBatch.js"
import { defaultOptions, type Door, type DrainOptions, makeHandler, tokenOf } from "./DrainRoutes.js"
import * as ErrorBody from "./ErrorBody.js"

/** The edge logs path. */
export const path = "/api/v1/edge/logs"

/** The longest routing field an agent may send. */
export const maxRoutingLength = DrainBatch.maxRoutingLength

const routingFields = ["index", "sourcetype", "transport"] as const

/** Stamps the agent id and the per-event routing an agent sent. */
export const stamp = (
  events: ReadonlyArray<LogEvent>,
  raw: unknown,
  principal: Principal
): Either.Either<ReadonlyArray<LogEvent>, DrainBatch.InvalidBatch> => {
  const rawEvents: ReadonlyArray<unknown> = DrainBatch.isJsonObject(raw) && Array.isArray(raw.events) ? raw.events : []
  const details: Record<string, string> = {}
  const out = new Array<LogEvent>(events.length)
  for (let i = 0; i < events.length; i++) {
    const e = rawEvents[i]
    const fields: Record<string, string | undefined> = {}
    for (const name of routingFields) {
      const value = DrainBatch.isJsonObject(e) ? e[name] : undefined
      if (value === undefined) continue
      if (typeof value !== "string" || value.length < 1 || value.length > maxRoutingLength) {
        details[`events[${i}].${name}`] = `must be 1 to ${maxRoutingLength} characters`
      } else {
        fields[name] = value
      }
    }
    out[i] = {
      ...events[i]!,
      agentId: principal.agentId ?? null,
      index: fields["index"] ?? DrainBatch.edgeRoutingDefaults.index,
      sourcetype: fields["sourcetype"] ?? DrainBatch.edgeRoutingDefaults.sourcetype,
      transport: fields["transport"] ?? DrainBatch.edgeRoutingDefaults.transport
    }
  }
  const problems = Object.keys(details).length
  return problems === 0 ? Either.right(out) : Either.left(
    new DrainBatch.InvalidBatch({
      reason: `${problems} problem${problems === 1 ? "" : "s"} in the batch; nothing was stored`,
      details,
      events: events.length
    })
  )
}

/** The edge door: agent tokens only. */
export const edgeDoor: Effect.Effect<Door, never, AgentAuth> = Effect.map(AgentAuth, (auth) => ({
  transport: "edge",
  scanner: "edge",
  stamp,
  authenticate: (headers) =>
    Effect.gen(function*() {
      const token = tokenOf(headers["authorization"]) ?? tokenOf(headers["x-api-key"])
      if (token === undefined) {
        return Either.left(ErrorBody.error(
          "unauthorized",
          "missing credentials: send Authorization: Bearer AGT_… or X-API-Key: AGT_…"
        ))
      }
      return yield* auth.authenticate(Redacted.make(token)).pipe(
        Effect.map((agent): Either.Either<Principal, never> =>
          Either.right({ kind: "agent", id: `agent:${agent.agentId}`, agentId: agent.agentId })
        ),
        Effect.catchTags({
          AgentUnauthorized: () => Effect.succeed(Either.left(ErrorBody.error("unauthorized", "invalid agent token"))),
          AgentForbidden: (e) => Effect.succeed(Either.left(ErrorBody.error("forbidden", e.reason)))
        })
      )
    })
}))

/**
 * The edge logs route as a layer for the shared `HttpLayerRouter`; needs the
 * pipeline, the `EventStore` (idempotency keys) and `AgentAuth`.
 */
export const layer = (options: Partial<DrainOptions> = {}) =>
  HttpLayerRouter.use((router) =>
    edgeDoor.pipe(
      Effect.flatMap((door) => makeHandler({ ...defaultOptions, ...options }, door)),
      Effect.flatMap((handler) => router.add("POST", path, handler))
    )
  )
