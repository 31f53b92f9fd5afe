/**
 * The OpenAPI document at /api/v1/openapi.json lists every endpoint with its
 * security and its errors in the SPEC §3 shape; the docs UI is at /docs.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { call, field, serve, tempDir } from "./harness.js"

const expected: ReadonlyArray<readonly [path: string, method: string, security: ReadonlyArray<string>]> = [
  ["/api/v1/auth/register", "post", []],
  ["/api/v1/auth/login", "post", []],
  ["/api/v1/auth/me", "get", ["bearer", "apiKey"]],
  ["/api/v1/auth/password", "post", ["bearer", "apiKey"]],
  ["/api/v1/users", "get", ["bearer", "apiKey"]],
  ["/api/v1/users", "post", ["bearer", "apiKey"]],
  ["/api/v1/users/{id}", "patch", ["bearer", "apiKey"]],
  ["/api/v1/users/{id}", "delete", ["bearer", "apiKey"]],
  ["/api/v1/api-keys", "get", ["bearer", "apiKey"]],
  ["/api/v1/api-keys", "post", ["bearer", "apiKey"]],
  ["/api/v1/api-keys/{id}", "delete", ["bearer", "apiKey"]],
  ["/api/v1/logs", "get", ["bearer", "apiKey"]],
  ["/api/v1/logs/stream", "get", ["bearer", "apiKey", "token"]],
  ["/api/v1/stats", "get", ["bearer", "apiKey"]],
  ["/api/v1/dead-letters", "get", ["bearer", "apiKey"]],
  ["/api/v1/dead-letters/replay", "post", ["bearer", "apiKey"]],
  ["/api/v1/dead-letters", "delete", ["bearer", "apiKey"]],
  ["/api/v1/agents/{id}/actions", "post", ["bearer", "apiKey"]],
  ["/api/v1/agents/{id}/actions", "get", ["bearer", "apiKey"]],
  ["/api/v1/actions/{id}", "get", ["bearer", "apiKey"]],
  ["/api/v1/actions/{id}/cancel", "post", ["bearer", "apiKey"]],
  ["/api/v1/groups", "get", ["bearer", "apiKey"]],
  ["/api/v1/groups", "post", ["bearer", "apiKey"]],
  ["/api/v1/groups/{id}", "get", ["bearer", "apiKey"]],
  ["/api/v1/groups/{id}", "patch", ["bearer", "apiKey"]],
  ["/api/v1/groups/{id}", "delete", ["bearer", "apiKey"]],
  ["/api/v1/groups/{id}/inputs", "get", ["bearer", "apiKey"]],
  ["/api/v1/groups/{id}/inputs", "post", ["bearer", "apiKey"]],
  ["/api/v1/groups/{id}/inputs/{inputId}", "patch", ["bearer", "apiKey"]],
  ["/api/v1/groups/{id}/inputs/{inputId}", "delete", ["bearer", "apiKey"]],
  ["/api/v1/groups/{id}/config", "get", ["bearer", "apiKey"]],
  ["/api/v1/groups/{id}/enrolment-tokens", "get", ["bearer", "apiKey"]],
  ["/api/v1/groups/{id}/enrolment-tokens", "post", ["bearer", "apiKey"]],
  ["/api/v1/enrolment-tokens/{id}", "delete", ["bearer", "apiKey"]],
  ["/api/v1/agents", "get", ["bearer", "apiKey"]],
  ["/api/v1/agents/{id}", "get", ["bearer", "apiKey"]],
  ["/api/v1/agents/{id}", "patch", ["bearer", "apiKey"]],
  ["/api/v1/agents/{id}", "delete", ["bearer", "apiKey"]],
  ["/api/v1/agents/{id}/revoke", "post", ["bearer", "apiKey"]],
  ["/api/v1/agents/enrol", "post", []],
  ["/api/v1/agents/{id}/config", "get", ["bearer", "apiKey"]],
  ["/api/v1/agents/{id}/heartbeat", "post", ["bearer", "apiKey"]],
  ["/api/v1/agents/{id}/rotate-token", "post", ["bearer", "apiKey"]]
]

describe("OpenAPI", () => {
  it.scoped("lists every endpoint with its security, and SPEC-shaped errors", () =>
    Effect.gen(function*() {
      const reply = yield* call("GET", "/api/v1/openapi.json")
      assert.strictEqual(reply.status, 200)
      const spec = reply.json
      assert.strictEqual(field(spec, "openapi"), "3.1.0")
      const paths = field(spec, "paths") as Record<string, Record<string, unknown>>
      const operations = Object.entries(paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m} ${path}`))
      assert.deepStrictEqual(operations.sort(), expected.map(([path, method]) => `${method} ${path}`).sort())
      for (const [path, method, security] of expected) {
        const op = paths[path]![method]
        const declared = (field(op, "security") as Array<Record<string, unknown>>).flatMap((s) => Object.keys(s))
        assert.deepStrictEqual(declared, security, `${method} ${path}`)
        assert.strictEqual(
          field(op, "responses", "400", "content", "application/json", "schema", "$ref"),
          "#/components/schemas/Error_validation_error",
          `${method} ${path}`
        )
        assert.isDefined(field(op, "responses", "429"), `${method} ${path}`)
        if (security.length > 0) {
          assert.isDefined(field(op, "responses", "401"), `${method} ${path}`)
          assert.isDefined(field(op, "responses", "403"), `${method} ${path}`)
        }
      }
      assert.deepStrictEqual(field(spec, "components", "securitySchemes"), {
        bearer: { type: "http", scheme: "bearer" },
        apiKey: { type: "apiKey", name: "X-API-Key", in: "header" },
        token: { type: "apiKey", name: "token", in: "query" }
      })
      assert.deepStrictEqual(field(spec, "components", "schemas", "Error_not_found", "properties", "error"), {
        type: "string",
        enum: ["not_found"]
      })
      assert.notInclude(reply.text, "HttpApiDecodeError")
      const docs = yield* call("GET", "/docs")
      assert.strictEqual(docs.status, 200)
      assert.include(docs.headers.get("content-type") ?? "", "text/html")
    }).pipe(Effect.provide(Layer.unwrapScoped(Effect.map(tempDir, (dir) => serve(dir))))))
})
