/**
 * The edge API's handlers (SPEC §4): enrolment, config polling, heartbeats
 * and token rotation. The two hot ones stay cheap: the agent middleware's
 * one indexed lookup already carries the group's config version, so a poll
 * that is current answers 204 with no other query, and a poll that needs a
 * config takes the rendered text from `RenderedConfigs`; a heartbeat is one
 * `UPDATE`, the action reports it carries, and one read of pending actions.
 *
 * Decisions: a poll whose `If-None-Match` names the current etag answers
 * 304 (with the version and etag headers), so an agent holding that text
 * advances its version without a body; after a group move, polls answer the
 * new group's config whatever `since` says, until the agent polls with a
 * `since` within the new group's versions (it applied that numbering).
 */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import { ActionBus } from "./ActionBus.js"
import { CurrentAgent } from "./AgentAuthentication.js"
import { type Rendered, RenderedConfigs } from "./AgentConfigRender.js"
import { Agents, type Credentials, type Heartbeat } from "./Agents.js"
import { Api } from "./Api.js"
import type { HeartbeatRequest } from "./FleetApi.js"
import { configResponse } from "./FleetHandlers.js"

/** Whether an `If-None-Match` header names this etag (quoted or not, weak or not, in a list). */
export const matchesEtag = (header: string | undefined, etag: string): boolean => {
  if (header === undefined) return false
  for (const part of header.split(",")) {
    const tag = part.trim().replace(/^W\//, "").replace(/^"(.*)"$/, "$1")
    if (tag === etag) return true
  }
  return false
}

export const notModified = (rendered: Rendered) =>
  HttpServerResponse.empty({
    status: 304,
    headers: {
      "x-config-version": String(rendered.version),
      "x-config-etag": rendered.etag,
      etag: `"${rendered.etag}"`
    }
  })

const current = HttpServerResponse.empty({ status: 204 })

/** The heartbeat's facts, aliases resolved (the SPEC names win over the `vector*` ones). */
export const toHeartbeat = (body: HeartbeatRequest): Heartbeat => ({
  agentVersion: body.agentVersion,
  engineVersion: body.engineVersion ?? body.vectorVersion,
  appliedConfigVersion: body.appliedConfigVersion,
  pipelineRunning: body.pipelineRunning ?? body.vectorRunning,
  pipelineUptimeSeconds: body.pipelineUptimeSeconds ?? body.vectorUptimeSeconds,
  lastConfigError: body.lastConfigError,
  metrics: body.metrics,
  hostname: body.hostname,
  os: body.os,
  kernel: body.kernel
})

/**
 * A config poll's answer for an authenticated agent: 204 when `since` is
 * current, else the rendered YAML, or 304 when `If-None-Match` names it.
 */
export const answerConfig = (agent: Credentials, since: number, ifNoneMatch: string | undefined) =>
  Effect.gen(function*() {
    const agents = yield* Agents
    const configs = yield* RenderedConfigs
    // A moved agent counts in its old group's versions until it shows otherwise.
    const otherNumbering = agent.configState === "moved" ||
      (agent.configState === "served" && since > agent.configVersion)
    if (agent.configState === "served" && !otherNumbering) yield* agents.setConfigState(agent.agentId, "current")
    if (!otherNumbering && since >= agent.configVersion) return current
    const rendered = yield* configs.get(agent.groupId, agent.platform, agent.configVersion).pipe(
      Effect.catchTag("NotFound", () => Effect.dieMessage("an agent's group is missing"))
    )
    if (agent.configState === "moved") yield* agents.setConfigState(agent.agentId, "served")
    return matchesEtag(ifNoneMatch, rendered.etag) ? notModified(rendered) : configResponse(rendered)
  })

/**
 * A heartbeat's work: record the facts, apply the action reports in order,
 * answer the pending actions (at most 10).
 */
export const answerHeartbeat = (agentId: string, payload: HeartbeatRequest) =>
  Effect.gen(function*() {
    const agents = yield* Agents
    const bus = yield* ActionBus
    yield* agents.heartbeat(agentId, toHeartbeat(payload))
    const reports = payload.actionResults ?? []
    if (reports.length > 0) yield* bus.report(agentId, reports)
    const pendingActions = yield* bus.offer(agentId)
    return { data: { pendingActions } }
  })

/** The handlers of the `edge` group. */
export const layer = HttpApiBuilder.group(Api, "edge", (handlers) =>
  Effect.gen(function*() {
    const agents = yield* Agents
    const configs = yield* RenderedConfigs
    const bus = yield* ActionBus
    return handlers
      .handle("enrol", ({ payload }) => {
        const { agentVersion, bootstrapToken, groupSlug, hostname, kernel, os, platform, ...extra } = payload
        return Effect.map(
          agents.enrol({
            bootstrapToken,
            hostname,
            platform,
            os: os ?? null,
            kernel: kernel ?? null,
            agentVersion: agentVersion ?? null,
            groupSlug,
            extra
          }),
          (data) => ({ data })
        )
      })
      .handle("config", ({ request, urlParams }) =>
        Effect.flatMap(CurrentAgent, (agent) =>
          answerConfig(agent, urlParams.since, request.headers["if-none-match"]).pipe(
            Effect.provideService(Agents, agents),
            Effect.provideService(RenderedConfigs, configs)
          )))
      .handle("heartbeat", ({ payload }) =>
        Effect.flatMap(CurrentAgent, (agent) =>
          answerHeartbeat(agent.agentId, payload).pipe(
            Effect.provideService(Agents, agents),
            Effect.provideService(ActionBus, bus)
          )))
      .handle("rotateToken", () =>
        Effect.gen(function*() {
          const agent = yield* CurrentAgent
          const agentToken = yield* agents.rotateToken(agent.agentId).pipe(
            Effect.catchTag("NotFound", () =>
              Effect.dieMessage("the agent vanished while rotating its token"))
          )
          return { data: { agentToken } }
        }))
  }))
