/**
 * Groups and inputs (SPEC §3 shapes, §4 model): the config version starts at
 * 1 and every edit of the group or its inputs adds exactly one; slugs and
 * input names are unique; routing defaults; the rendered config preview
 * (platform filter, disabled inputs left out, exactly `{}` without inputs);
 * roles per endpoint.
 */
import { assert, describe, it } from "@effect/vitest"
import { AgentConfig } from "@sluice/core/AgentConfig"
import * as TokenVerifier from "@sluice/core/TokenVerifier"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as YAML from "yaml"
import { adminToken, call, createGroup, field, mintEnrolmentToken, serve, tempDir, userWithRole } from "./harness.js"

const withServer = Effect.provide(Layer.unwrapScoped(Effect.map(tempDir, (dir) => serve(dir))))

const versionOf = (token: string, groupId: string) =>
  Effect.map(call("GET", `/api/v1/groups/${groupId}`, { token }), (reply) => field(reply.json, "config_version"))

const decodeConfig = Schema.decodeUnknownSync(AgentConfig)

describe("groups and inputs", () => {
  it.scoped("a group starts at version 1 and every edit of it or its inputs adds exactly one", () =>
    Effect.gen(function*() {
      const token = yield* adminToken
      const created = yield* call("POST", "/api/v1/groups", {
        token,
        body: { name: "Web servers", slug: "web-servers", description: "nginx hosts" }
      })
      assert.strictEqual(created.status, 201, created.text)
      const group = created.json
      const id = String(field(group, "id"))
      assert.match(id, /^[0-9a-f-]{36}$/)
      assert.include(group, { name: "Web servers", slug: "web-servers", description: "nginx hosts", config_version: 1 })
      assert.match(String(field(group, "created_at")), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
      assert.strictEqual(yield* versionOf(token, id), 1)

      const input = yield* call("POST", `/api/v1/groups/${id}/inputs`, {
        token,
        body: { type: "file", name: "syslog", settings: { paths: ["/var/log/syslog"] } }
      })
      assert.strictEqual(input.status, 201, input.text)
      const inputId = String(field(input.json, "id"))
      assert.deepStrictEqual(input.json, {
        id: inputId,
        group_id: id,
        type: "file",
        name: "syslog",
        enabled: true,
        settings: { paths: ["/var/log/syslog"] },
        index: "main",
        sourcetype: "agent_file",
        source: "sluice-agent"
      })
      assert.strictEqual(yield* versionOf(token, id), 2)

      const edits: ReadonlyArray<readonly [string, string, unknown]> = [
        ["PATCH", `/api/v1/groups/${id}/inputs/${inputId}`, { enabled: false }],
        ["PATCH", `/api/v1/groups/${id}/inputs/${inputId}`, { index: "web", sourcetype: "nginx" }],
        ["PATCH", `/api/v1/groups/${id}/inputs/${inputId}`, { settings: { paths: ["/var/log/nginx/*.log"] } }],
        ["PATCH", `/api/v1/groups/${id}`, { name: "Web fleet" }],
        ["PATCH", `/api/v1/groups/${id}`, { description: "" }]
      ]
      let expected = 2
      for (const [method, path, body] of edits) {
        const reply = yield* call(method, path, { token, body })
        assert.strictEqual(reply.status, 200, `${method} ${path}: ${reply.text}`)
        expected++
        assert.strictEqual(yield* versionOf(token, id), expected, `${method} ${path} ${JSON.stringify(body)}`)
      }
      // An override set to null goes back to the default (an edit too).
      const reset = yield* call("PATCH", `/api/v1/groups/${id}/inputs/${inputId}`, { token, body: { index: null } })
      assert.include(reset.json, { index: "main", sourcetype: "nginx", enabled: false })
      assert.strictEqual(yield* versionOf(token, id), ++expected)
      // A patch without fields changes nothing.
      assert.strictEqual((yield* call("PATCH", `/api/v1/groups/${id}`, { token, body: {} })).status, 200)
      assert.strictEqual(yield* versionOf(token, id), expected)

      assert.strictEqual((yield* call("DELETE", `/api/v1/groups/${id}/inputs/${inputId}`, { token })).status, 204)
      assert.strictEqual(yield* versionOf(token, id), ++expected)
      assert.strictEqual((yield* call("DELETE", `/api/v1/groups/${id}/inputs/${inputId}`, { token })).status, 404)
      assert.strictEqual(yield* versionOf(token, id), expected)
      const updated = yield* call("GET", `/api/v1/groups/${id}`, { token })
      assert.strictEqual(field(updated.json, "name"), "Web fleet")
      assert.notStrictEqual(field(updated.json, "updated_at"), undefined)
    }).pipe(withServer))

  it.scoped("slugs are unique and checked; names give a slug; input names are unique in a group", () =>
    Effect.gen(function*() {
      const token = yield* adminToken
      const id = yield* createGroup(token, { name: "Web servers", slug: "web" })
      const taken = yield* call("POST", "/api/v1/groups", { token, body: { name: "Other", slug: "web" } })
      assert.strictEqual(taken.status, 409)
      assert.deepStrictEqual(taken.json, {
        error: "conflict",
        message: "a group with this slug exists",
        details: { slug: "is taken" }
      })
      const bad = yield* call("POST", "/api/v1/groups", { token, body: { name: "", slug: "Web_Servers" } })
      assert.strictEqual(bad.status, 400)
      assert.deepStrictEqual(field(bad.json, "details"), {
        name: "must not be empty",
        slug: "must be 1-64 characters of a-z, 0-9 and -"
      })
      const derived = yield* call("POST", "/api/v1/groups", { token, body: { name: "  Edge Routers (EU)! " } })
      assert.strictEqual(derived.status, 201, derived.text)
      assert.strictEqual(field(derived.json, "slug"), "edge-routers-eu")

      const other = yield* createGroup(token, { name: "DB", slug: "db" })
      const rename = yield* call("PATCH", `/api/v1/groups/${other}`, { token, body: { slug: "web" } })
      assert.strictEqual(rename.status, 409)
      assert.strictEqual(yield* versionOf(token, other), 1)

      const first = yield* call("POST", `/api/v1/groups/${id}/inputs`, { token, body: { type: "journald", name: "j" } })
      assert.strictEqual(first.status, 201)
      assert.include(first.json, { sourcetype: "agent_journald" })
      assert.deepStrictEqual(field(first.json, "settings"), {})
      const again = yield* call("POST", `/api/v1/groups/${id}/inputs`, { token, body: { type: "file", name: "j" } })
      assert.strictEqual(again.status, 409)
      assert.deepStrictEqual(field(again.json, "details"), { name: "is taken" })
      // The same name in another group is fine; a plugin's type is accepted as is.
      const plugin = yield* call("POST", `/api/v1/groups/${other}/inputs`, {
        token,
        body: { type: "my_plugin_2", name: "j", settings: { anything: [1, { deep: true }] } }
      })
      assert.strictEqual(plugin.status, 201, plugin.text)
      const invalid = yield* call("POST", `/api/v1/groups/${id}/inputs`, {
        token,
        body: { type: "File-Logs", name: "x", enabled: "yes", settings: [], index: "" }
      })
      assert.strictEqual(invalid.status, 400)
      assert.deepStrictEqual(Object.keys(field(invalid.json, "details") as object).sort(), [
        "enabled",
        "index",
        "settings",
        "type"
      ])
      assert.strictEqual(field(invalid.json, "details", "type"), "must be 1-64 characters of a-z, 0-9 and _")
      assert.strictEqual(yield* versionOf(token, id), 2)

      const listed = yield* call("GET", `/api/v1/groups/${id}/inputs?page_size=1`, { token })
      assert.include(listed.json, { total: 1, page: 1, page_size: 1 })
      const groups = yield* call("GET", "/api/v1/groups", { token })
      assert.strictEqual(field(groups.json, "total"), 3)
      assert.deepStrictEqual(
        (field(groups.json, "items") as Array<unknown>).map((g) => field(g, "slug")),
        ["db", "edge-routers-eu", "web"]
      )
      const missing = yield* call("GET", "/api/v1/groups/00000000-0000-4000-8000-000000000000", { token })
      assert.strictEqual(missing.status, 404)
      assert.strictEqual(field(missing.json, "error"), "not_found")
      const noGroup = yield* call("POST", "/api/v1/groups/00000000-0000-4000-8000-000000000000/inputs", {
        token,
        body: { type: "file", name: "x" }
      })
      assert.strictEqual(noGroup.status, 404)

      // An empty group can be deleted, with its inputs and tokens.
      yield* mintEnrolmentToken(token, other)
      assert.strictEqual((yield* call("DELETE", `/api/v1/groups/${other}`, { token })).status, 204)
      assert.strictEqual((yield* call("GET", `/api/v1/groups/${other}`, { token })).status, 404)
      assert.strictEqual((yield* call("GET", `/api/v1/groups/${other}/enrolment-tokens`, { token })).status, 404)
    }).pipe(withServer))

  it.scoped("the preview renders the enabled inputs for the platform, or exactly {} without any", () =>
    Effect.gen(function*() {
      const token = yield* adminToken
      const id = yield* createGroup(token, { name: "Mixed", slug: "mixed" })
      const empty = yield* call("GET", `/api/v1/groups/${id}/config`, { token })
      assert.strictEqual(empty.status, 200)
      assert.strictEqual(empty.text, "{}")
      assert.strictEqual(empty.headers.get("content-type"), "application/yaml")
      assert.strictEqual(empty.headers.get("x-config-version"), "1")
      assert.strictEqual(empty.headers.get("x-config-etag"), `sha256:${TokenVerifier.sha256("{}")}`)

      const add = (body: Record<string, unknown>) =>
        Effect.map(call("POST", `/api/v1/groups/${id}/inputs`, { token, body }), (r) => String(field(r.json, "id")))
      const file = yield* add({
        type: "file",
        name: "nginx",
        settings: { paths: ["/var/log/nginx/access.log"] },
        index: "web",
        sourcetype: "nginx"
      })
      const journald = yield* add({ type: "journald", name: "journal", settings: { units: ["sshd"] } })
      const kube = yield* add({ type: "kubernetes_logs", name: "pods" })
      yield* add({ type: "syslog", name: "off", enabled: false })

      const linux = yield* call("GET", `/api/v1/groups/${id}/config?platform=linux`, { token })
      assert.strictEqual(linux.headers.get("x-config-version"), "5")
      assert.strictEqual(linux.headers.get("x-config-etag"), `sha256:${TokenVerifier.sha256(linux.text)}`)
      const parsed = decodeConfig(YAML.parse(linux.text))
      assert.deepStrictEqual(parsed, {
        version: 5,
        group: "mixed",
        inputs: [
          {
            id: file,
            name: "nginx",
            type: "file",
            settings: { paths: ["/var/log/nginx/access.log"] },
            index: "web",
            sourcetype: "nginx",
            source: "sluice-agent"
          },
          {
            id: journald,
            name: "journal",
            type: "journald",
            settings: { units: ["sshd"] },
            index: "main",
            sourcetype: "agent_journald",
            source: "sluice-agent"
          }
        ]
      })
      // Default platform: linux.
      assert.strictEqual((yield* call("GET", `/api/v1/groups/${id}/config`, { token })).text, linux.text)
      const kubernetes = yield* call("GET", `/api/v1/groups/${id}/config?platform=kubernetes`, { token })
      assert.deepStrictEqual(decodeConfig(YAML.parse(kubernetes.text)).inputs.map((i) => i.id), [file, kube])

      // Only kubernetes_logs left for linux: nothing to run.
      yield* call("PATCH", `/api/v1/groups/${id}/inputs/${file}`, { token, body: { enabled: false } })
      yield* call("DELETE", `/api/v1/groups/${id}/inputs/${journald}`, { token })
      const none = yield* call("GET", `/api/v1/groups/${id}/config?platform=linux`, { token })
      assert.strictEqual(none.text, "{}")
      assert.strictEqual(none.headers.get("x-config-version"), "7")

      const bad = yield* call("GET", `/api/v1/groups/${id}/config?platform=windows`, { token })
      assert.strictEqual(bad.status, 400)
      assert.deepStrictEqual(field(bad.json, "details"), { platform: "must be linux or kubernetes" })
    }).pipe(withServer))

  it.scoped("viewers read; operators create, edit and handle enrolment tokens; admins delete", () =>
    Effect.gen(function*() {
      const token = yield* adminToken
      const viewer = (yield* userWithRole(token, "viewer")).token
      const operator = (yield* userWithRole(token, "operator")).token
      const id = yield* createGroup(token)

      for (
        const [method, path] of [["GET", "/api/v1/groups"], ["GET", `/api/v1/groups/${id}`], [
          "GET",
          `/api/v1/groups/${id}/inputs`
        ], ["GET", `/api/v1/groups/${id}/config`]] as const
      ) {
        assert.strictEqual((yield* call(method, path, { token: viewer })).status, 200, `${method} ${path}`)
      }
      const viewerWrites: ReadonlyArray<readonly [string, string, unknown?]> = [
        ["POST", "/api/v1/groups", { name: "v", slug: "v" }],
        ["PATCH", `/api/v1/groups/${id}`, { name: "v" }],
        ["POST", `/api/v1/groups/${id}/inputs`, { type: "file", name: "v" }],
        ["GET", `/api/v1/groups/${id}/enrolment-tokens`],
        ["POST", `/api/v1/groups/${id}/enrolment-tokens`, {}]
      ]
      for (const [method, path, body] of viewerWrites) {
        const reply = yield* call(method, path, { token: viewer, body })
        assert.strictEqual(reply.status, 403, `${method} ${path}: ${reply.text}`)
        assert.strictEqual(field(reply.json, "message"), "this needs the operator role; you are viewer")
      }

      const created = yield* call("POST", "/api/v1/groups", { token: operator, body: { name: "Ops", slug: "ops" } })
      assert.strictEqual(created.status, 201)
      const opsId = String(field(created.json, "id"))
      const input = yield* call("POST", `/api/v1/groups/${opsId}/inputs`, {
        token: operator,
        body: { type: "file", name: "x" }
      })
      assert.strictEqual(input.status, 201)
      const inputId = String(field(input.json, "id"))
      assert.strictEqual(
        (yield* call("PATCH", `/api/v1/groups/${opsId}/inputs/${inputId}`, { token: operator, body: { name: "y" } }))
          .status,
        200
      )
      const minted = yield* call("POST", `/api/v1/groups/${opsId}/enrolment-tokens`, { token: operator, body: {} })
      assert.strictEqual(minted.status, 201)
      assert.strictEqual(
        (yield* call("GET", `/api/v1/groups/${opsId}/enrolment-tokens`, { token: operator })).status,
        200
      )
      const tokenId = String(field(minted.json, "id"))
      assert.strictEqual(
        (yield* call("DELETE", `/api/v1/enrolment-tokens/${tokenId}`, { token: operator })).status,
        204
      )

      for (const path of [`/api/v1/groups/${opsId}/inputs/${inputId}`, `/api/v1/groups/${opsId}`]) {
        const reply = yield* call("DELETE", path, { token: operator })
        assert.strictEqual(reply.status, 403, path)
        assert.strictEqual(field(reply.json, "message"), "this needs the admin role; you are operator")
        assert.strictEqual((yield* call("DELETE", path, { token })).status, 204, path)
      }
      // No credentials: 401 everywhere.
      assert.strictEqual((yield* call("GET", "/api/v1/groups")).status, 401)
      assert.strictEqual((yield* call("DELETE", `/api/v1/enrolment-tokens/${tokenId}`)).status, 401)
    }).pipe(withServer))
})
