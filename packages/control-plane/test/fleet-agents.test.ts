/**
 * The agents resource (SPEC §3) and the offline sweep (SPEC §4): list
 * filters (group, status, tag, search on hostname or label), label and tags,
 * a group move that resets the applied config version so the next poll gets
 * the new group's config, deletion, roles; an agent silent past the
 * threshold is recorded offline by the sweep (driven by `TestClock`) and its
 * next heartbeat clears it.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as TestClock from "effect/TestClock"
import * as YAML from "yaml"
import * as ActionBus from "../src/ActionBus.js"
import {
  adminToken,
  call,
  createGroup,
  enrol,
  eventually,
  field,
  mintEnrolmentToken,
  serve,
  tempDir,
  userWithRole
} from "./harness.js"

const withServer = Effect.provide(Layer.unwrapScoped(Effect.map(tempDir, (dir) => serve(dir))))

const hostnames = (reply: { readonly json: unknown }) =>
  (field(reply.json, "items") as Array<unknown>).map((a) => field(a, "hostname"))

describe("agents", () => {
  it.scoped("list filters, label and tags, roles", () =>
    Effect.gen(function*() {
      const token = yield* adminToken
      const web = yield* createGroup(token, { name: "Web", slug: "web" })
      const db = yield* createGroup(token, { name: "DB", slug: "db" })
      const webBootstrap = yield* mintEnrolmentToken(token, web)
      const dbBootstrap = yield* mintEnrolmentToken(token, db)
      const web1 = yield* enrol(webBootstrap, { hostname: "web-1.example.com" })
      const web2 = yield* enrol(webBootstrap, { hostname: "web-2.example.com" })
      const db1 = yield* enrol(dbBootstrap, { hostname: "db-1.example.com", platform: "kubernetes" })

      const operator = (yield* userWithRole(token, "operator")).token
      const viewer = (yield* userWithRole(token, "viewer")).token
      const patched = yield* call("PATCH", `/api/v1/agents/${web1.agentId}`, {
        token: operator,
        body: { label: "Frontend A", tags: ["prod", "eu_west", "prod"] }
      })
      assert.strictEqual(patched.status, 200, patched.text)
      assert.include(patched.json, { label: "Frontend A" })
      assert.deepStrictEqual(field(patched.json, "tags"), ["prod", "eu_west"])
      yield* call("PATCH", `/api/v1/agents/${db1.agentId}`, { token, body: { tags: ["prod", "eu%west"] } })
      yield* call("PATCH", `/api/v1/agents/${web2.agentId}`, { token, body: { tags: ["staging"] } })
      assert.strictEqual(
        (yield* call("PATCH", `/api/v1/agents/${web2.agentId}`, { token: viewer, body: { label: "x" } })).status,
        403
      )

      const list = (query: string) => call("GET", `/api/v1/agents${query}`, { token: viewer })
      const all = yield* list("")
      assert.strictEqual(all.status, 200, all.text)
      assert.include(all.json, { total: 3, page: 1, page_size: 20 })
      assert.deepStrictEqual(hostnames(all), ["db-1.example.com", "web-1.example.com", "web-2.example.com"])
      assert.deepStrictEqual(hostnames(yield* list(`?group_id=${web}`)), ["web-1.example.com", "web-2.example.com"])
      assert.deepStrictEqual(hostnames(yield* list("?tag=prod")), ["db-1.example.com", "web-1.example.com"])
      // `_` and `%` are not wildcards.
      assert.deepStrictEqual(hostnames(yield* list("?tag=eu_west")), ["web-1.example.com"])
      assert.deepStrictEqual(hostnames(yield* list("?tag=eu%25west")), ["db-1.example.com"])
      assert.deepStrictEqual(hostnames(yield* list("?tag=pro")), [])
      assert.deepStrictEqual(hostnames(yield* list("?search=WEB-2")), ["web-2.example.com"])
      assert.deepStrictEqual(hostnames(yield* list("?search=frontend")), ["web-1.example.com"])
      assert.deepStrictEqual(hostnames(yield* list("?status=online&tag=prod&group_id=" + web)), ["web-1.example.com"])
      assert.deepStrictEqual(hostnames(yield* list("?status=offline")), [])
      const paged = yield* list("?page=2&page_size=2")
      assert.include(paged.json, { total: 3, page: 2, page_size: 2 })
      assert.deepStrictEqual(hostnames(paged), ["web-2.example.com"])
      const bad = yield* list("?status=dead&page_size=500")
      assert.strictEqual(bad.status, 400)
      assert.deepStrictEqual(Object.keys(field(bad.json, "details") as object).sort(), ["page_size", "status"])
      // Never a token or its hash in answers.
      for (const agent of [web1, web2, db1]) assert.notInclude(all.text, agent.agentToken.slice(4))
      assert.notInclude(all.text, "token")

      // Clearing the label; a missing agent is 404.
      const cleared = yield* call("PATCH", `/api/v1/agents/${web1.agentId}`, { token, body: { label: null } })
      assert.strictEqual(field(cleared.json, "label"), null)
      const missing = "00000000-0000-4000-8000-000000000000"
      assert.strictEqual((yield* call("GET", `/api/v1/agents/${missing}`, { token })).status, 404)
      assert.strictEqual((yield* call("PATCH", `/api/v1/agents/${missing}`, { token, body: {} })).status, 404)
    }).pipe(withServer))

  it.scoped("a group move resets the applied version and the next poll gets the new group's config", () =>
    Effect.gen(function*() {
      const token = yield* adminToken
      const web = yield* createGroup(token, { name: "Web", slug: "web" })
      const db = yield* createGroup(token, { name: "DB", slug: "db" })
      for (let i = 0; i < 6; i++) {
        yield* call("POST", `/api/v1/groups/${web}/inputs`, { token, body: { type: "file", name: `f${i}` } })
      }
      yield* call("POST", `/api/v1/groups/${db}/inputs`, { token, body: { type: "journald", name: "journal" } })
      const agent = yield* enrol(yield* mintEnrolmentToken(token, web))
      const poll = (since: number) =>
        call("GET", `/api/v1/agents/${agent.agentId}/config?since=${since}`, { token: agent.agentToken })
      const beat = (applied: number) =>
        call("POST", `/api/v1/agents/${agent.agentId}/heartbeat`, {
          token: agent.agentToken,
          body: { appliedConfigVersion: applied }
        })
      assert.strictEqual((yield* poll(0)).headers.get("x-config-version"), "7")
      yield* beat(7)
      assert.strictEqual((yield* poll(7)).status, 204)

      const moved = yield* call("PATCH", `/api/v1/agents/${agent.agentId}`, { token, body: { group_id: db } })
      assert.strictEqual(moved.status, 200, moved.text)
      assert.include(moved.json, { group_id: db, applied_config_version: 0 })
      // What the agent applied before it fetched the new config belongs to the old group.
      yield* beat(7)
      assert.strictEqual(
        field((yield* call("GET", `/api/v1/agents/${agent.agentId}`, { token })).json, "applied_config_version"),
        0
      )
      // Its version (7) is above the new group's (2), yet it gets the new config,
      // and again while it still polls with the old group's numbering (say its apply failed).
      for (let i = 0; i < 2; i++) {
        const fresh = yield* poll(7)
        assert.strictEqual(fresh.status, 200)
        assert.strictEqual(fresh.headers.get("x-config-version"), "2")
        assert.include(YAML.parse(fresh.text), { group: "db", version: 2 })
      }
      yield* beat(2)
      assert.strictEqual(
        field((yield* call("GET", `/api/v1/agents/${agent.agentId}`, { token })).json, "applied_config_version"),
        2
      )
      // Once it polls within the new group's versions, the usual rule holds again.
      assert.strictEqual((yield* poll(2)).status, 204)
      assert.strictEqual((yield* poll(7)).status, 204)

      const nowhere = yield* call("PATCH", `/api/v1/agents/${agent.agentId}`, {
        token,
        body: { group_id: "00000000-0000-4000-8000-000000000000" }
      })
      assert.strictEqual(nowhere.status, 404)
      assert.deepStrictEqual(field(nowhere.json, "details"), { group_id: "not found" })

      // A group with agents cannot be deleted.
      const busy = yield* call("DELETE", `/api/v1/groups/${db}`, { token })
      assert.strictEqual(busy.status, 409)
      assert.deepStrictEqual(field(busy.json, "details"), { id: "has agents" })
    }).pipe(withServer))

  it.scoped("deleting an agent (admins) removes it and its actions; its token stops working", () =>
    Effect.gen(function*() {
      const token = yield* adminToken
      const group = yield* createGroup(token)
      const agent = yield* enrol(yield* mintEnrolmentToken(token, group))
      const bus = yield* ActionBus.make
      const action = yield* bus.create(agent.agentId, { type: "reload_config", payload: {} })
      const operator = (yield* userWithRole(token, "operator")).token
      const refused = yield* call("DELETE", `/api/v1/agents/${agent.agentId}`, { token: operator })
      assert.strictEqual(refused.status, 403)
      assert.strictEqual((yield* call("DELETE", `/api/v1/agents/${agent.agentId}`, { token })).status, 204)
      assert.strictEqual((yield* call("GET", `/api/v1/agents/${agent.agentId}`, { token })).status, 404)
      assert.strictEqual((yield* call("DELETE", `/api/v1/agents/${agent.agentId}`, { token })).status, 404)
      assert.strictEqual((yield* Effect.flip(bus.get(action.id)))._tag, "NotFound")
      const poll = yield* call("GET", `/api/v1/agents/${agent.agentId}/config`, { token: agent.agentToken })
      assert.strictEqual(poll.status, 401)
      // The group is empty again.
      assert.strictEqual((yield* call("DELETE", `/api/v1/groups/${group}`, { token })).status, 204)
    }).pipe(withServer))

  it.scoped("the sweep records an agent silent past the threshold; its next heartbeat clears it", () =>
    Effect.gen(function*() {
      const token = yield* adminToken
      const group = yield* createGroup(token)
      const bootstrap = yield* mintEnrolmentToken(token, group)
      const silent = yield* enrol(bootstrap, { hostname: "silent" })
      const chatty = yield* enrol(bootstrap, { hostname: "chatty" })
      const beat = (agent: { agentId: string; agentToken: string }) =>
        call("POST", `/api/v1/agents/${agent.agentId}/heartbeat`, { token: agent.agentToken, body: {} })
      const resource = (agent: { agentId: string }) =>
        Effect.map(call("GET", `/api/v1/agents/${agent.agentId}`, { token }), (reply) => reply.json)
      yield* beat(silent)

      // 4 minutes: both online (the sweep ran 8 times and marked nobody).
      yield* TestClock.adjust("4 minutes")
      yield* beat(chatty)
      assert.include(yield* resource(silent), { status: "online", went_offline_at: null })

      // Past 5 minutes without a heartbeat: offline; the sweep that ran at 5:00 recorded it then.
      yield* TestClock.adjust("61 seconds")
      assert.include(yield* resource(silent), { status: "offline" })
      const recorded = yield* eventually(
        Effect.map(resource(silent), (json) => field(json, "went_offline_at") !== null),
        5_000
      )
      assert.isTrue(recorded)
      assert.strictEqual(field(yield* resource(silent), "went_offline_at"), new Date(5 * 60_000).toISOString())
      // Later sweeps keep the first time.
      yield* TestClock.adjust("2 minutes")
      assert.strictEqual(field(yield* resource(silent), "went_offline_at"), new Date(5 * 60_000).toISOString())
      assert.include(yield* resource(chatty), { status: "online", went_offline_at: null })
      const listed = yield* call("GET", "/api/v1/agents?status=offline", { token })
      assert.deepStrictEqual(hostnames(listed), ["silent"])

      // The next heartbeat clears it.
      assert.strictEqual((yield* beat(silent)).status, 200)
      assert.include(yield* resource(silent), { status: "online", went_offline_at: null })
      assert.deepStrictEqual(hostnames(yield* call("GET", "/api/v1/agents?status=online", { token })), [
        "chatty",
        "silent"
      ])
    }).pipe(withServer))
})
