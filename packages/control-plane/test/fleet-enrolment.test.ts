/**
 * Enrolment tokens and enrolment (SPEC §3, §4): tokens are shown once and
 * stored hashed; enrolment answers exactly the SPEC shape and keeps extra
 * fields; unknown, expired, used-up and revoked tokens answer 401; an
 * unknown group slug answers 404 without spending a use; concurrent
 * enrolments never exceed the use count.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import * as TokenVerifier from "@sluice/core/TokenVerifier"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as TestClock from "effect/TestClock"
import {
  adminToken,
  call,
  createGroup,
  enrol,
  enrolment,
  field,
  mintEnrolmentToken,
  serve,
  tempDir
} from "./harness.js"

const withServer = Effect.provide(Layer.unwrapScoped(Effect.map(tempDir, (dir) => serve(dir))))

const tokensOf = (token: string, groupId: string) =>
  Effect.map(
    call("GET", `/api/v1/groups/${groupId}/enrolment-tokens`, { token }),
    (reply) => field(reply.json, "items") as ReadonlyArray<Record<string, unknown>>
  )

describe("enrolment", () => {
  it.scoped("a token is shown once and stored hashed; enrolment answers the SPEC shape and keeps extra fields", () =>
    Effect.gen(function*() {
      const token = yield* adminToken
      const groupId = yield* createGroup(token)
      const minted = yield* call("POST", `/api/v1/groups/${groupId}/enrolment-tokens`, { token, body: {} })
      assert.strictEqual(minted.status, 201, minted.text)
      const bootstrap = String(field(minted.json, "token"))
      assert.match(bootstrap, /^EBT_[A-Za-z0-9_-]{43}$/)
      assert.deepStrictEqual(minted.json, {
        id: field(minted.json, "id"),
        group_id: groupId,
        token: bootstrap,
        expires_at: "1970-01-02T00:00:00.000Z",
        max_uses: 100,
        uses: 0,
        revoked: false,
        created_at: "1970-01-01T00:00:00.000Z"
      })
      const listed = yield* call("GET", `/api/v1/groups/${groupId}/enrolment-tokens`, { token })
      assert.notInclude(listed.text, bootstrap.slice(4))
      assert.isUndefined(field(listed.json, "items", 0, "token"))
      const sql = yield* SqlClient.SqlClient
      const stored = yield* sql<{ token_hash: string }>`SELECT token_hash FROM enrolment_tokens`
      assert.deepStrictEqual(stored.map((r) => r.token_hash), [TokenVerifier.sha256(bootstrap)])

      const reply = yield* call("POST", "/api/v1/agents/enrol", {
        body: enrolment(bootstrap, { engineVersion: "0.40.0", labels: { rack: "r1" } })
      })
      assert.strictEqual(reply.status, 201, reply.text)
      const data = field(reply.json, "data")
      assert.deepStrictEqual(Object.keys(reply.json as object), ["data"])
      assert.deepStrictEqual(Object.keys(data as object).sort(), ["agentId", "agentToken", "configVersion", "groupId"])
      const agentId = String(field(data, "agentId"))
      const agentToken = String(field(data, "agentToken"))
      assert.match(agentId, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
      assert.match(agentToken, /^AGT_[A-Za-z0-9_-]{43}$/)
      assert.include(data, { groupId, configVersion: 1 })

      const agent = yield* call("GET", `/api/v1/agents/${agentId}`, { token })
      assert.strictEqual(agent.status, 200, agent.text)
      assert.include(agent.json, {
        id: agentId,
        hostname: "fw1.prod.example.com",
        platform: "linux",
        os: "Ubuntu 24.04",
        kernel: "6.8.0-35-generic",
        agent_version: "0.4.1",
        group_id: groupId,
        label: null,
        applied_config_version: 0,
        pipeline_running: false,
        last_config_error: null,
        last_heartbeat_at: null,
        went_offline_at: null,
        status: "online",
        metrics: null,
        revoked: false
      })
      assert.deepStrictEqual(field(agent.json, "tags"), [])
      assert.deepStrictEqual(field(agent.json, "extra"), { engineVersion: "0.40.0", labels: { rack: "r1" } })
      assert.notInclude(agent.text, agentToken.slice(4))
      assert.notInclude(agent.text, TokenVerifier.sha256(agentToken))
      const agents = yield* sql<{ token_hash: string }>`SELECT token_hash FROM agents`
      assert.deepStrictEqual(agents.map((r) => r.token_hash), [TokenVerifier.sha256(agentToken)])
      assert.strictEqual((yield* tokensOf(token, groupId))[0]?.["uses"], 1)
    }).pipe(withServer))

  it.scoped("unknown, expired, used-up and revoked tokens answer 401; an unknown group slug 404", () =>
    Effect.gen(function*() {
      const token = yield* adminToken
      const groupId = yield* createGroup(token)
      const otherId = yield* createGroup(token, { name: "Databases", slug: "db" })
      const refused = (bootstrap: string) =>
        Effect.map(call("POST", "/api/v1/agents/enrol", { body: enrolment(bootstrap) }), (reply) => {
          assert.strictEqual(reply.status, 401, reply.text)
          assert.deepStrictEqual(reply.json, {
            error: "unauthorized",
            message: "the enrolment token is unknown, expired, used up or revoked"
          })
        })

      yield* refused(`EBT_${"A".repeat(43)}`)
      yield* refused("not-a-token")

      // groupSlug overrides the token's group; an unknown one is 404 and spends nothing.
      const bootstrap = yield* mintEnrolmentToken(token, groupId, { max_uses: 2 })
      const unknown = yield* call("POST", "/api/v1/agents/enrol", { body: enrolment(bootstrap, { groupSlug: "nope" }) })
      assert.strictEqual(unknown.status, 404)
      assert.deepStrictEqual(field(unknown.json, "details"), { groupSlug: "not found" })
      assert.strictEqual((yield* tokensOf(token, groupId))[0]?.["uses"], 0)
      const moved = yield* call("POST", "/api/v1/agents/enrol", { body: enrolment(bootstrap, { groupSlug: "db" }) })
      assert.strictEqual(field(moved.json, "data", "groupId"), otherId)
      yield* enrol(bootstrap)
      // Used up.
      yield* refused(bootstrap)
      assert.include((yield* tokensOf(token, groupId))[0], { uses: 2, max_uses: 2 })

      // Expired.
      const shortLived = yield* mintEnrolmentToken(token, groupId, { ttl_seconds: 60 })
      yield* TestClock.adjust("59 seconds")
      yield* enrol(shortLived)
      yield* TestClock.adjust("1 second")
      yield* refused(shortLived)

      // Revoked.
      const revokable = yield* mintEnrolmentToken(token, groupId)
      const id = String(field((yield* tokensOf(token, groupId)).find((t) => t["uses"] === 0), "id"))
      assert.strictEqual((yield* call("DELETE", `/api/v1/enrolment-tokens/${id}`, { token })).status, 204)
      yield* refused(revokable)
      assert.strictEqual((yield* tokensOf(token, groupId)).find((t) => t["id"] === id)?.["revoked"], true)
      assert.strictEqual(
        (yield* call("DELETE", "/api/v1/enrolment-tokens/00000000-0000-4000-8000-000000000000", { token })).status,
        404
      )

      // A malformed request names its fields.
      const bad = yield* call("POST", "/api/v1/agents/enrol", {
        body: { hostname: "", platform: "windows", kernel: 5 }
      })
      assert.strictEqual(bad.status, 400)
      assert.deepStrictEqual(Object.keys(field(bad.json, "details") as object).sort(), [
        "bootstrapToken",
        "hostname",
        "kernel",
        "platform"
      ])
      assert.strictEqual(field(bad.json, "details", "platform"), "must be linux or kubernetes")
      const invalidToken = yield* call("POST", "/api/v1/groups/x/enrolment-tokens", {
        token,
        body: { ttl_seconds: 0, max_uses: 1.5 }
      })
      assert.strictEqual(invalidToken.status, 400)
      assert.deepStrictEqual(Object.keys(field(invalidToken.json, "details") as object).sort(), [
        "max_uses",
        "ttl_seconds"
      ])
    }).pipe(withServer))

  it.scoped("concurrent enrolments never exceed the use count", () =>
    Effect.gen(function*() {
      const token = yield* adminToken
      const groupId = yield* createGroup(token)
      const bootstrap = yield* mintEnrolmentToken(token, groupId, { max_uses: 5 })
      const replies = yield* Effect.all(
        Array.from(
          { length: 40 },
          (_, i) => call("POST", "/api/v1/agents/enrol", { body: enrolment(bootstrap, { hostname: `host-${i}` }) })
        ),
        { concurrency: "unbounded" }
      )
      const statuses = replies.map((r) => r.status)
      assert.strictEqual(statuses.filter((s) => s === 201).length, 5, JSON.stringify(statuses))
      assert.strictEqual(statuses.filter((s) => s === 401).length, 35)
      assert.include((yield* tokensOf(token, groupId))[0], { uses: 5, max_uses: 5 })
      const agents = yield* call("GET", `/api/v1/agents?group_id=${groupId}`, { token })
      assert.strictEqual(field(agents.json, "total"), 5)
    }).pipe(withServer))
})
