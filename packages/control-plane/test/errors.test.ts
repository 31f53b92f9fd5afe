/**
 * Every failure answers the SPEC §3 body with the right status, including
 * the platform's own decoding errors, malformed JSON, unknown routes under
 * /api/v1, oversized bodies and internal failures (which disclose nothing).
 */
import { assert, describe, it } from "@effect/vitest"
import { EventStore, StoreError } from "@sluice/core/EventStore"
import * as MemoryEventStore from "@sluice/core/MemoryEventStore"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { adminToken, call, field, type Reply, serve, tempDir, userWithRole } from "./harness.js"

const assertError = (reply: Reply, status: number, code: string) => {
  assert.strictEqual(reply.status, status, reply.text)
  assert.strictEqual(reply.headers.get("content-type"), "application/json")
  assert.strictEqual(field(reply.json, "error"), code)
  assert.isString(field(reply.json, "message"))
}

const failingStore = Layer.effect(
  EventStore,
  Effect.map(MemoryEventStore.make, (inner) =>
    EventStore.of({
      ...inner,
      query: () =>
        Effect.fail(new StoreError({ operation: "query", reason: "disk I/O error at /secret/path/search.db" })),
      stats: () => Effect.die(new Error("boom: internal stack detail"))
    }))
)

describe("errors", () => {
  it.scoped("validation_error 400 names each bad field, for bodies and query parameters", () =>
    Effect.gen(function*() {
      const token = yield* adminToken
      const body = yield* call("POST", "/api/v1/users", { token, body: { email: "not-an-email", password: "short" } })
      assertError(body, 400, "validation_error")
      assert.deepStrictEqual(field(body.json, "details"), {
        email: "must be a valid email address",
        password: "must be at least 12 characters"
      })
      const missing = yield* call("POST", "/api/v1/auth/login", { body: { email: "a@b.co" } })
      assertError(missing, 400, "validation_error")
      assert.deepStrictEqual(field(missing.json, "details"), { password: "is missing" })
      const query = yield* call("GET", "/api/v1/logs?level=loud&from=yesterday", { token })
      assertError(query, 400, "validation_error")
      assert.deepStrictEqual(Object.keys(field(query.json, "details") as object).sort(), ["from", "level"])
      const range = yield* call("GET", "/api/v1/logs?from=2025-01-02T00:00:00Z&to=2025-01-01T00:00:00Z", { token })
      assertError(range, 400, "validation_error")
      assert.deepStrictEqual(field(range.json, "details"), { to: "must not be before from" })
      const json = yield* call("POST", "/api/v1/auth/login", { raw: "{\"email\": " })
      assertError(json, 400, "validation_error")
      assert.deepStrictEqual(field(json.json, "details"), { body: "must be valid JSON" })
    }).pipe(Effect.provide(Layer.unwrapScoped(Effect.map(tempDir, (dir) => serve(dir))))))

  it.scoped("unauthorized 401, forbidden 403, not_found 404, conflict 409", () =>
    Effect.gen(function*() {
      const token = yield* adminToken
      assertError(yield* call("GET", "/api/v1/users"), 401, "unauthorized")
      assertError(yield* call("GET", "/api/v1/users", { token: "not.a.jwt" }), 401, "unauthorized")
      assertError(yield* call("GET", "/api/v1/users", { apiKey: "slk_unknown" }), 401, "unauthorized")
      const viewer = yield* userWithRole(token, "viewer")
      assertError(yield* call("GET", "/api/v1/users", { token: viewer.token }), 403, "forbidden")
      assertError(yield* call("GET", "/api/v1/no-such-thing", { token }), 404, "not_found")
      assertError(yield* call("DELETE", "/api/v1/api", { token }), 404, "not_found")
      assertError(yield* call("PUT", "/api/v1/users", { token }), 404, "not_found")
      assertError(
        yield* call("PATCH", "/api/v1/users/00000000-0000-4000-8000-000000000000", { token, body: { role: "admin" } }),
        404,
        "not_found"
      )
      assertError(
        yield* call("POST", "/api/v1/users", {
          token,
          body: { email: viewer.email, password: "another long password" }
        }),
        409,
        "conflict"
      )
    }).pipe(Effect.provide(Layer.unwrapScoped(Effect.map(tempDir, (dir) => serve(dir))))))

  it.scoped("payload_too_large 413 before the body is read", () =>
    Effect.gen(function*() {
      const token = yield* adminToken
      const reply = yield* call("POST", "/api/v1/api-keys", {
        token,
        body: { name: "x".repeat(2048) }
      })
      assertError(reply, 413, "payload_too_large")
    }).pipe(Effect.provide(Layer.unwrapScoped(Effect.map(tempDir, (dir) =>
      serve(dir, { controlPlane: { maxBodyBytes: 1024 } }))))))

  it.scoped("internal_error 500 discloses nothing of the failure", () =>
    Effect.gen(function*() {
      const token = yield* adminToken
      const failed = yield* call("GET", "/api/v1/logs", { token })
      assertError(failed, 500, "internal_error")
      assert.notInclude(failed.text, "secret")
      assert.notInclude(failed.text, "disk")
      const died = yield* call("GET", "/api/v1/stats", { token })
      assertError(died, 500, "internal_error")
      assert.notInclude(died.text, "boom")
      assert.deepStrictEqual(died.json, { error: "internal_error", message: "internal error" })
    }).pipe(Effect.provide(Layer.unwrapScoped(Effect.map(tempDir, (dir) => serve(dir, { store: failingStore }))))))
})
