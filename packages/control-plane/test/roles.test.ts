/**
 * Roles, enforced per endpoint: a viewer reads logs and itself and gets 403 on
 * every admin endpoint; an operator likewise here (no operator endpoint yet
 * below admin); an admin gets through; API keys carry their own role.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { adminToken, call, field, serve, tempDir, userWithRole } from "./harness.js"

const withServer = Effect.provide(Layer.unwrapScoped(Effect.map(tempDir, (dir) => serve(dir))))

const uuid = "00000000-0000-4000-8000-000000000000"

/** Every endpoint that needs admin, with a body that would be valid. */
const adminEndpoints: ReadonlyArray<readonly [string, string, unknown?]> = [
  ["GET", "/api/v1/users"],
  ["POST", "/api/v1/users", { email: "new@example.com", password: "a long enough password" }],
  ["PATCH", `/api/v1/users/${uuid}`, { role: "viewer" }],
  ["DELETE", `/api/v1/users/${uuid}`],
  ["GET", "/api/v1/api-keys"],
  ["POST", "/api/v1/api-keys", { name: "ci" }],
  ["DELETE", `/api/v1/api-keys/${uuid}`]
]

/** Every endpoint a viewer may call. */
const viewerEndpoints: ReadonlyArray<readonly [string, string]> = [
  ["GET", "/api/v1/auth/me"],
  ["GET", "/api/v1/logs"],
  ["GET", "/api/v1/stats"]
]

describe("roles", () => {
  it.scoped("viewers and operators get 403 on every admin endpoint; admins do not", () =>
    Effect.gen(function*() {
      const token = yield* adminToken
      for (const role of ["viewer", "operator"]) {
        const user = yield* userWithRole(token, role)
        for (const [method, path, body] of adminEndpoints) {
          const reply = yield* call(method, path, { token: user.token, body })
          assert.strictEqual(reply.status, 403, `${role} ${method} ${path}: ${reply.text}`)
          assert.strictEqual(field(reply.json, "error"), "forbidden")
          assert.strictEqual(field(reply.json, "message"), `this needs the admin role; you are ${role}`)
        }
        for (const [method, path] of viewerEndpoints) {
          const reply = yield* call(method, path, { token: user.token })
          assert.strictEqual(reply.status, 200, `${role} ${method} ${path}: ${reply.text}`)
        }
      }
      for (const [method, path, body] of adminEndpoints) {
        const reply = yield* call(method, path, { token, body })
        assert.oneOf(reply.status, [200, 201, 204, 404], `admin ${method} ${path}: ${reply.text}`)
      }
    }).pipe(withServer))

  it.scoped("without credentials every protected endpoint answers 401", () =>
    Effect.gen(function*() {
      for (
        const [method, path, body] of [...adminEndpoints, ...viewerEndpoints, ["GET", "/api/v1/logs/stream"] as const]
      ) {
        const reply = yield* call(method, path, { body })
        assert.strictEqual(reply.status, 401, `${method} ${path}: ${reply.text}`)
        assert.strictEqual(field(reply.json, "error"), "unauthorized")
      }
    }).pipe(withServer))

  it.scoped("a role change takes effect on the next request", () =>
    Effect.gen(function*() {
      const token = yield* adminToken
      const user = yield* userWithRole(token, "viewer")
      assert.strictEqual((yield* call("GET", "/api/v1/users", { token: user.token })).status, 403)
      const promoted = yield* call("PATCH", `/api/v1/users/${user.id}`, { token, body: { role: "admin" } })
      assert.strictEqual(field(promoted.json, "role"), "admin")
      assert.strictEqual((yield* call("GET", "/api/v1/users", { token: user.token })).status, 200)
    }).pipe(withServer))

  it.scoped("an API key acts with its own role", () =>
    Effect.gen(function*() {
      const token = yield* adminToken
      const viewerKey = field(
        (yield* call("POST", "/api/v1/api-keys", { token, body: { name: "reader" } })).json,
        "key"
      )
      const adminKey = field(
        (yield* call("POST", "/api/v1/api-keys", { token, body: { name: "ops", role: "admin" } })).json,
        "key"
      )
      assert.isString(viewerKey)
      assert.isString(adminKey)
      assert.strictEqual((yield* call("GET", "/api/v1/logs", { apiKey: String(viewerKey) })).status, 200)
      assert.strictEqual((yield* call("GET", "/api/v1/users", { apiKey: String(viewerKey) })).status, 403)
      assert.strictEqual((yield* call("GET", "/api/v1/users", { apiKey: String(adminKey) })).status, 200)
      // Also as a bearer token.
      assert.strictEqual((yield* call("GET", "/api/v1/users", { token: String(adminKey) })).status, 200)
      // An API key has no user: /auth/me is refused.
      assert.strictEqual((yield* call("GET", "/api/v1/auth/me", { apiKey: String(adminKey) })).status, 403)
    }).pipe(withServer))
})
