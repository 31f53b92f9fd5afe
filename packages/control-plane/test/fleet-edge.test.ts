/**
 * The edge API as an agent sees it (SPEC §4): config polls (204 when
 * current, YAML with version and etag, 304 on a matching If-None-Match,
 * the platform filter), agent credentials (401 unknown, 403 another agent's
 * or revoked, X-API-Key or Bearer), token rotation, heartbeats (every field
 * and alias, 400 naming bad fields, pending actions offered and reports
 * applied, illegal moves ignored), and core's `AgentAuth` layer.
 */
import { assert, describe, it } from "@effect/vitest"
import { AgentAuth } from "@sluice/core/AgentAuth"
import * as TokenVerifier from "@sluice/core/TokenVerifier"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as YAML from "yaml"
import * as ActionBus from "../src/ActionBus.js"
import * as ControlPlane from "../src/ControlPlane.js"
import {
  adminToken,
  call,
  createGroup,
  enrol,
  field,
  mintEnrolmentToken,
  serve,
  tempDir,
  userWithRole
} from "./harness.js"

const withServer = Effect.provide(Layer.unwrapScoped(Effect.map(tempDir, (dir) => serve(dir))))

/** A group with an enrolment token, and one agent enrolled into it. */
const fleet = Effect.gen(function*() {
  const token = yield* adminToken
  const groupId = yield* createGroup(token)
  const bootstrap = yield* mintEnrolmentToken(token, groupId)
  const agent = yield* enrol(bootstrap)
  return { token, groupId, bootstrap, agent }
})

const poll = (agent: { agentId: string; agentToken: string }, since: number | string, headers = {}) =>
  call("GET", `/api/v1/agents/${agent.agentId}/config?since=${since}`, { token: agent.agentToken, headers })

const heartbeat = (agent: { agentId: string; agentToken: string }, body: unknown) =>
  call("POST", `/api/v1/agents/${agent.agentId}/heartbeat`, { token: agent.agentToken, body })

describe("edge API", () => {
  it.scoped("config polls: YAML with version and etag, 204 when current, 304 on If-None-Match", () =>
    Effect.gen(function*() {
      const { agent, bootstrap, groupId, token } = yield* fleet
      const first = yield* poll(agent, 0)
      assert.strictEqual(first.status, 200, first.text)
      assert.strictEqual(first.text, "{}")
      assert.strictEqual(first.headers.get("content-type"), "application/yaml")
      assert.strictEqual(first.headers.get("x-config-version"), "1")
      assert.strictEqual(first.headers.get("x-config-etag"), `sha256:${TokenVerifier.sha256("{}")}`)
      for (const since of [1, 5]) {
        const current = yield* poll(agent, since)
        assert.strictEqual(current.status, 204)
        assert.strictEqual(current.text, "")
      }

      yield* call("POST", `/api/v1/groups/${groupId}/inputs`, {
        token,
        body: { type: "file", name: "app", settings: { paths: ["/var/log/app.log"] }, source: "frontend" }
      })
      yield* call("POST", `/api/v1/groups/${groupId}/inputs`, { token, body: { type: "journald", name: "journal" } })
      const changed = yield* poll(agent, 1)
      assert.strictEqual(changed.status, 200)
      assert.strictEqual(changed.headers.get("x-config-version"), "3")
      const etag = `sha256:${TokenVerifier.sha256(changed.text)}`
      assert.strictEqual(changed.headers.get("x-config-etag"), etag)
      const config = YAML.parse(changed.text)
      assert.include(config, { version: 3, group: "web" })
      assert.deepStrictEqual(config.inputs.map((i: { name: string }) => i.name), ["app", "journal"])
      assert.include(config.inputs[0], { index: "main", sourcetype: "agent_file", source: "frontend" })
      // The same text as the preview.
      assert.strictEqual((yield* call("GET", `/api/v1/groups/${groupId}/config`, { token })).text, changed.text)

      const same = yield* poll(agent, 1, { "if-none-match": `"${etag}"` })
      assert.strictEqual(same.status, 304)
      assert.strictEqual(same.headers.get("x-config-version"), "3")
      assert.strictEqual(same.headers.get("x-config-etag"), etag)
      const stale = yield* poll(agent, 1, { "if-none-match": first.headers.get("x-config-etag") ?? "" })
      assert.strictEqual(stale.status, 200)

      // X-API-Key works too; a kubernetes agent does not get journald.
      const kube = yield* enrol(bootstrap, { hostname: "node-1", platform: "kubernetes" })
      const byKey = yield* call("GET", `/api/v1/agents/${kube.agentId}/config?since=0`, {
        apiKey: kube.agentToken
      })
      assert.strictEqual(byKey.status, 200, byKey.text)
      assert.deepStrictEqual(YAML.parse(byKey.text).inputs.map((i: { name: string }) => i.name), ["app"])
      assert.strictEqual(
        (yield* call("GET", `/api/v1/agents/${kube.agentId}/config`, { apiKey: kube.agentToken }))
          .status,
        200
      )

      for (const since of ["-1", "abc", "1.5"]) {
        const bad = yield* poll(agent, since)
        assert.strictEqual(bad.status, 400, `since=${since}`)
        assert.strictEqual(field(bad.json, "error"), "validation_error")
        assert.isString(field(bad.json, "details", "since"))
      }
      // The limit headers of the edge group.
      assert.strictEqual(first.headers.get("x-ratelimit-limit"), "1000")
    }).pipe(withServer))

  it.scoped("credentials: unknown 401, another agent's 403, revoked 403 everywhere, rotation invalidates at once", () =>
    Effect.gen(function*() {
      const { agent, bootstrap, token } = yield* fleet
      const other = yield* enrol(bootstrap, { hostname: "web-2" })
      const path = `/api/v1/agents/${agent.agentId}`
      const missing = yield* call("GET", `${path}/config`)
      assert.strictEqual(missing.status, 401)
      assert.strictEqual(field(missing.json, "error"), "unauthorized")
      assert.strictEqual((yield* call("GET", `${path}/config`, { token: `AGT_${"x".repeat(43)}` })).status, 401)
      // A user's session is not an agent token.
      assert.strictEqual((yield* call("GET", `${path}/config`, { token })).status, 401)
      for (
        const [method, suffix, body] of [["GET", "/config", undefined], ["POST", "/heartbeat", {}], [
          "POST",
          "/rotate-token",
          undefined
        ]] as const
      ) {
        const reply = yield* call(method, `${path}${suffix}`, { token: other.agentToken, body })
        assert.strictEqual(reply.status, 403, `${method} ${suffix}`)
        assert.deepStrictEqual(reply.json, { error: "forbidden", message: "this token belongs to another agent" })
      }

      // Rotation: the new token works, the old one is unknown at once.
      const rotated = yield* call("POST", `${path}/rotate-token`, { token: agent.agentToken })
      assert.strictEqual(rotated.status, 200, rotated.text)
      const fresh = String(field(rotated.json, "data", "agentToken"))
      assert.match(fresh, /^AGT_[A-Za-z0-9_-]{43}$/)
      assert.notStrictEqual(fresh, agent.agentToken)
      assert.strictEqual((yield* poll(agent, 0)).status, 401)
      const renewed = { agentId: agent.agentId, agentToken: fresh }
      assert.strictEqual((yield* poll(renewed, 0)).status, 200)

      // Revocation (an operator may): 403 on every agent call; the other agent is unaffected.
      const operator = (yield* userWithRole(token, "operator")).token
      const revoked = yield* call("POST", `${path}/revoke`, { token: operator })
      assert.strictEqual(revoked.status, 200, revoked.text)
      assert.strictEqual(field(revoked.json, "revoked"), true)
      for (
        const reply of [
          yield* poll(renewed, 0),
          yield* heartbeat(renewed, {}),
          yield* call("POST", `${path}/rotate-token`, { token: fresh }),
          yield* call("GET", `${path}/config`, { apiKey: fresh })
        ]
      ) {
        assert.strictEqual(reply.status, 403, reply.text)
        assert.deepStrictEqual(reply.json, { error: "forbidden", message: "the agent's token is revoked" })
      }
      assert.strictEqual((yield* poll(other, 0)).status, 200)
      const viewer = (yield* userWithRole(token, "viewer")).token
      assert.strictEqual((yield* call("POST", `/api/v1/agents/${other.agentId}/revoke`, { token: viewer })).status, 403)

      // Core's AgentAuth (the edge logs route uses it) agrees.
      const auth = yield* AgentAuth.pipe(Effect.provide(ControlPlane.agentAuth))
      assert.deepStrictEqual(yield* auth.authenticate(Redacted.make(other.agentToken)), {
        agentId: other.agentId,
        groupId: field(revoked.json, "group_id")
      })
      assert.strictEqual((yield* Effect.flip(auth.authenticate(Redacted.make(fresh))))._tag, "AgentForbidden")
      assert.strictEqual(
        (yield* Effect.flip(auth.authenticate(Redacted.make(agent.agentToken))))._tag,
        "AgentUnauthorized"
      )
      assert.strictEqual((yield* Effect.flip(auth.authenticate(Redacted.make("nope"))))._tag, "AgentUnauthorized")
    }).pipe(withServer))

  it.scoped("a heartbeat records every field and alias; a bad body is a 400 naming its fields", () =>
    Effect.gen(function*() {
      const { agent, token } = yield* fleet
      const reply = yield* heartbeat(agent, {
        agentVersion: "0.4.1",
        appliedConfigVersion: 8,
        pipelineRunning: true,
        pipelineUptimeSeconds: 1837,
        lastConfigError: null,
        metrics: { cpu_percent: 12.4, mem_percent: 45, disk_percent: 62, uptime_s: 86400 },
        actionResults: []
      })
      assert.strictEqual(reply.status, 200, reply.text)
      assert.deepStrictEqual(reply.json, { data: { pendingActions: [] } })
      const resource = yield* call("GET", `/api/v1/agents/${agent.agentId}`, { token })
      assert.include(resource.json, {
        agent_version: "0.4.1",
        applied_config_version: 8,
        pipeline_running: true,
        // TestClock: now is the epoch, the pipeline started 1837 s before.
        pipeline_started_at: new Date(-1837_000).toISOString(),
        last_config_error: null,
        last_heartbeat_at: "1970-01-01T00:00:00.000Z",
        went_offline_at: null,
        status: "online"
      })
      assert.deepStrictEqual(field(resource.json, "metrics"), {
        cpu_percent: 12.4,
        mem_percent: 45,
        disk_percent: 62,
        uptime_s: 86400
      })

      // The vector* aliases; absent fields are left as they were.
      yield* heartbeat(agent, { vectorVersion: "0.40.1", vectorRunning: false, lastConfigError: "settings.paths: bad" })
      const aliased = yield* call("GET", `/api/v1/agents/${agent.agentId}`, { token })
      assert.include(aliased.json, {
        agent_version: "0.4.1",
        engine_version: "0.40.1",
        applied_config_version: 8,
        pipeline_running: false,
        pipeline_started_at: null,
        last_config_error: "settings.paths: bad"
      })
      yield* heartbeat(agent, { vectorRunning: true, vectorUptimeSeconds: 5, lastConfigError: null })
      assert.include((yield* call("GET", `/api/v1/agents/${agent.agentId}`, { token })).json, {
        pipeline_running: true,
        pipeline_started_at: new Date(-5_000).toISOString(),
        last_config_error: null
      })

      const bad = yield* heartbeat(agent, {
        appliedConfigVersion: "eight",
        pipelineRunning: "yes",
        pipelineUptimeSeconds: -1,
        metrics: [1],
        actionResults: [{ actionId: "a", status: "bogus" }]
      })
      assert.strictEqual(bad.status, 400)
      assert.strictEqual(field(bad.json, "error"), "validation_error")
      assert.deepStrictEqual(field(bad.json, "details"), {
        "actionResults.0.status": "Expected \"running\", actual \"bogus\"",
        appliedConfigVersion: "must be an integer of 0 or more",
        metrics: "must be an object",
        pipelineRunning: "must be true or false",
        pipelineUptimeSeconds: "must be a number of 0 or more"
      })
      const notJson = yield* call("POST", `/api/v1/agents/${agent.agentId}/heartbeat`, {
        token: agent.agentToken,
        raw: "{nope"
      })
      assert.strictEqual(notJson.status, 400)
    }).pipe(withServer))

  it.scoped("the edge rate limit counts per agent (enrolment per address)", () =>
    Effect.gen(function*() {
      const token = yield* adminToken
      const groupId = yield* createGroup(token)
      const bootstrap = yield* mintEnrolmentToken(token, groupId)
      const a = yield* enrol(bootstrap, { hostname: "a" })
      const b = yield* enrol(bootstrap, { hostname: "b" })
      // Three enrolments from this address use its budget of 3: the fourth call is refused.
      yield* enrol(bootstrap, { hostname: "c" })
      const fourth = yield* call("POST", "/api/v1/agents/enrol", { body: { bootstrapToken: bootstrap } })
      assert.strictEqual(fourth.status, 429)
      for (let i = 0; i < 3; i++) assert.strictEqual((yield* poll(a, 0)).status, 200)
      const limited = yield* poll(a, 0)
      assert.strictEqual(limited.status, 429)
      assert.strictEqual(field(limited.json, "error"), "rate_limited")
      assert.isNotNull(limited.headers.get("retry-after"))
      assert.strictEqual(limited.headers.get("x-ratelimit-limit"), "3")
      // Another agent has its own budget.
      assert.strictEqual((yield* poll(b, 0)).status, 200)
    }).pipe(
      Effect.provide(
        Layer.unwrapScoped(Effect.map(tempDir, (dir) => serve(dir, { controlPlane: { rateLimits: { edge: 3 } } })))
      )
    ))

  it.scoped("a heartbeat offers pending actions and applies reports; illegal moves never fail it", () =>
    Effect.gen(function*() {
      const { agent, bootstrap } = yield* fleet
      const other = yield* enrol(bootstrap, { hostname: "web-2" })
      const bus = yield* ActionBus.make
      const upgrade = yield* bus.create(agent.agentId, { type: "upgrade_agent", payload: { targetVersion: "0.4.2" } })
      const shell = yield* bus.create(agent.agentId, { type: "shell", payload: { command: "df -h" } })
      const foreign = yield* bus.create(other.agentId, { type: "reload_config", payload: {} })

      const first = yield* heartbeat(agent, {})
      assert.deepStrictEqual(first.json, {
        data: {
          pendingActions: [
            { id: upgrade.id, type: "upgrade_agent", payload: { targetVersion: "0.4.2" } },
            { id: shell.id, type: "shell", payload: { command: "df -h" } }
          ]
        }
      })
      // Running then done in one heartbeat; another agent's action and an unknown id are ignored.
      const second = yield* heartbeat(agent, {
        actionResults: [
          { actionId: upgrade.id, status: "running" },
          { actionId: upgrade.id, status: "done", result: { previousVersion: "0.4.0" } },
          { actionId: foreign.id, status: "running" },
          { actionId: "00000000-0000-4000-8000-000000000000", status: "done" }
        ]
      })
      assert.strictEqual(second.status, 200, second.text)
      assert.deepStrictEqual(
        (field(second.json, "data", "pendingActions") as Array<unknown>).map((a) => field(a, "id")),
        [shell.id]
      )
      assert.include(yield* bus.get(upgrade.id), { status: "done" })
      assert.deepStrictEqual((yield* bus.get(upgrade.id)).result, { previousVersion: "0.4.0" })
      assert.include(yield* bus.get(foreign.id), { status: "pending" })

      // done never goes back to running: ignored, and the heartbeat still answers 200.
      const illegal = yield* heartbeat(agent, { actionResults: [{ actionId: upgrade.id, status: "running" }] })
      assert.strictEqual(illegal.status, 200)
      assert.include(yield* bus.get(upgrade.id), { status: "done" })
    }).pipe(withServer))
})
