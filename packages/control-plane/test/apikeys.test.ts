/**
 * API keys: the key is shown once (create), never in lists; stored hashed;
 * `last_used_at` is set on use; the exported verifier accepts keys (and the
 * drain tokens it is composed with) and refuses a revoked key.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import * as TokenVerifier from "@sluice/core/TokenVerifier"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as ControlPlane from "../src/ControlPlane.js"
import { adminToken, call, field, serve, tempDir } from "./harness.js"

describe("API keys", () => {
  it.scoped("shown once, listed without the secret, stored hashed, verified, revoked → rejected", () =>
    Effect.gen(function*() {
      const token = yield* adminToken
      const created = yield* call("POST", "/api/v1/api-keys", { token, body: { name: "ci", role: "operator" } })
      assert.strictEqual(created.status, 201, created.text)
      const key = String(field(created.json, "key"))
      const id = String(field(created.json, "id"))
      assert.match(key, /^slk_[A-Za-z0-9_-]{43}$/)
      assert.strictEqual(field(created.json, "prefix"), key.slice(0, 12))
      assert.strictEqual(field(created.json, "role"), "operator")
      assert.strictEqual(field(created.json, "last_used_at"), null)

      const listed = yield* call("GET", "/api/v1/api-keys", { token })
      assert.strictEqual(listed.status, 200)
      assert.notInclude(listed.text, key)
      assert.notInclude(listed.text, key.slice(12))
      assert.strictEqual(field(listed.json, "total"), 1)
      assert.isUndefined(field(listed.json, "items", 0, "key"))

      // Stored as its SHA-256, never in clear.
      const sql = yield* SqlClient.SqlClient
      const rows = yield* sql<{ key_hash: string }>`SELECT key_hash FROM api_keys`
      assert.deepStrictEqual(rows.map((r) => r.key_hash), [TokenVerifier.sha256(key)])

      // The verifier the CLI composes for the drain: drain tokens and API keys.
      const verifier = yield* TokenVerifier.TokenVerifier.pipe(
        Effect.provide(ControlPlane.tokenVerifier([Redacted.make("drain-token-1")]))
      )
      const principal = yield* verifier.verify(Redacted.make(key))
      assert.deepStrictEqual(principal, { kind: "api-key", id })
      assert.strictEqual((yield* verifier.verify(Redacted.make("drain-token-1"))).kind, "drain-token")
      assert.strictEqual((yield* Effect.flip(verifier.verify(Redacted.make("slk_nope"))))._tag, "InvalidToken")

      // Used: last_used_at is set.
      assert.strictEqual((yield* call("GET", "/api/v1/logs", { apiKey: key })).status, 200)
      const after = yield* call("GET", "/api/v1/api-keys", { token })
      assert.isString(field(after.json, "items", 0, "last_used_at"))

      const revoked = yield* call("DELETE", `/api/v1/api-keys/${id}`, { token })
      assert.strictEqual(revoked.status, 204)
      assert.strictEqual((yield* call("DELETE", `/api/v1/api-keys/${id}`, { token })).status, 404)
      assert.strictEqual((yield* Effect.flip(verifier.verify(Redacted.make(key))))._tag, "InvalidToken")
      assert.strictEqual((yield* call("GET", "/api/v1/logs", { apiKey: key })).status, 401)
      assert.strictEqual(field((yield* call("GET", "/api/v1/api-keys", { token })).json, "total"), 0)
    }).pipe(Effect.provide(Layer.unwrapScoped(Effect.map(tempDir, (dir) => serve(dir))))))

  it.scoped("a key needs a name", () =>
    Effect.gen(function*() {
      const token = yield* adminToken
      const reply = yield* call("POST", "/api/v1/api-keys", { token, body: { name: "", role: "root" } })
      assert.strictEqual(reply.status, 400)
      assert.deepStrictEqual(field(reply.json, "details"), {
        name: "must not be empty",
        role: "must be one of viewer, operator, admin"
      })
    }).pipe(Effect.provide(Layer.unwrapScoped(Effect.map(tempDir, (dir) => serve(dir))))))
})
