/**
 * `POST /api/v1/edge/logs` over a real server: the drain's body and answers,
 * authenticated as an agent (401 unknown, 403 revoked), the agent id stamped
 * on every event, and the routing an agent's input stamped kept.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { baseUrl, drainEvent, request, serve, stored } from "./harness.js"

const postEdge = (body: unknown, headers: Readonly<Record<string, string>>) =>
  Effect.flatMap(baseUrl, (url) =>
    request(`${url}/api/v1/edge/logs`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify(body)
    }))

const withEdge = Effect.provide(serve({ edge: true }))

describe("POST /api/v1/edge/logs", () => {
  it.live("stores the events with the agent's id and the routing its input sent", () =>
    Effect.gen(function*() {
      const reply = yield* postEdge({
        events: [
          drainEvent("from-file", { index: "web", sourcetype: "nginx", transport: "file" }),
          drainEvent("from-socket")
        ]
      }, { authorization: "Bearer AGT_agent_one" })
      expect(reply.status).toBe(202)
      expect(reply.json).toEqual({ status: "accepted" })
      const events = yield* stored
      expect(events.map((e) => [e.message, e.agentId, e.index, e.sourcetype, e.transport])).toEqual([
        ["from-file", "agent-1", "web", "nginx", "file"],
        ["from-socket", "agent-1", "main", "edge", "edge"]
      ])
    }).pipe(withEdge))

  it.live("takes the agent token from X-API-Key too", () =>
    Effect.gen(function*() {
      const reply = yield* postEdge({ events: [drainEvent("by-key")] }, { "x-api-key": "AGT_agent_two" })
      expect(reply.status).toBe(202)
      expect((yield* stored).map((e) => e.agentId)).toEqual(["agent-2"])
    }).pipe(withEdge))

  it.live("answers 401 without or with an unknown token, 403 for a revoked one, and stores nothing", () =>
    Effect.gen(function*() {
      const body = { events: [drainEvent("nope")] }
      const none = yield* postEdge(body, {})
      expect(none.status).toBe(401)
      expect(none.json).toMatchObject({ error: "unauthorized" })
      const unknown = yield* postEdge(body, { authorization: "Bearer AGT_unknown" })
      expect(unknown.status).toBe(401)
      // A drain token is not an agent token.
      const drainToken = yield* postEdge(body, { authorization: "drain-token-one" })
      expect(drainToken.status).toBe(401)
      const revoked = yield* postEdge(body, { authorization: "Bearer AGT_revoked" })
      expect(revoked.status).toBe(403)
      expect(revoked.json).toMatchObject({ error: "forbidden" })
      expect(yield* stored).toEqual([])
    }).pipe(withEdge))

  it.live("refuses a bad routing field by name, and keeps nothing of the batch", () =>
    Effect.gen(function*() {
      const reply = yield* postEdge({
        events: [drainEvent("ok"), drainEvent("bad", { index: "", sourcetype: "x".repeat(65) })]
      }, { authorization: "Bearer AGT_agent_one" })
      expect(reply.status).toBe(400)
      expect(reply.json).toMatchObject({
        error: "validation_error",
        details: {
          "events[1].index": "must be 1 to 64 characters",
          "events[1].sourcetype": "must be 1 to 64 characters"
        }
      })
      expect(yield* stored).toEqual([])
    }).pipe(withEdge))

  it.live("answers like the drain for a bad event (field named), and the drain still ignores routing fields", () =>
    Effect.gen(function*() {
      const bad = yield* postEdge({ events: [drainEvent("x", { level: "loud" })] }, {
        authorization: "Bearer AGT_agent_one"
      })
      expect(bad.status).toBe(400)
      expect(Object.keys((bad.json as { details: Record<string, string> }).details)).toEqual(["events[0].level"])
      const url = yield* baseUrl
      const drained = yield* request(`${url}/v1/drain`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: "drain-token-one" },
        body: JSON.stringify({ events: [drainEvent("plain", { index: "web", transport: "file" })] })
      })
      expect(drained.status).toBe(202)
      const events = yield* stored
      expect(events.map((e) => [e.agentId, e.index, e.transport])).toEqual([[null, "main", "http"]])
    }).pipe(withEdge))
})
