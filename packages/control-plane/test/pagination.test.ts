/** Pagination, shared by every list: bounds (400 outside), defaults, and the answer's shape. */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { adminToken, call, field, serve, tempDir } from "./harness.js"

describe("pagination", () => {
  it.scoped("page from 1, page_size 1..100 (default 20); anything else is a 400 naming the parameter", () =>
    Effect.gen(function*() {
      const token = yield* adminToken
      for (const list of ["/api/v1/users", "/api/v1/api-keys", "/api/v1/logs"]) {
        for (
          const [query, param] of [
            ["page=0", "page"],
            ["page=-1", "page"],
            ["page=1.5", "page"],
            ["page=x", "page"],
            ["page_size=0", "page_size"],
            ["page_size=101", "page_size"],
            ["page_size=abc", "page_size"]
          ] as const
        ) {
          const reply = yield* call("GET", `${list}?${query}`, { token })
          assert.strictEqual(reply.status, 400, `${list}?${query}: ${reply.text}`)
          assert.strictEqual(field(reply.json, "error"), "validation_error")
          assert.deepStrictEqual(Object.keys(field(reply.json, "details") as object), [param], reply.text)
        }
        const defaults = yield* call("GET", list, { token })
        assert.strictEqual(defaults.status, 200)
        assert.strictEqual(field(defaults.json, "page"), 1)
        assert.strictEqual(field(defaults.json, "page_size"), 20)
        const max = yield* call("GET", `${list}?page=1&page_size=100`, { token })
        assert.strictEqual(max.status, 200)
        assert.strictEqual(field(max.json, "page_size"), 100)
      }
    }).pipe(Effect.provide(Layer.unwrapScoped(Effect.map(tempDir, (dir) => serve(dir))))))

  it.scoped("pages walk the list: items, total, page, page_size", () =>
    Effect.gen(function*() {
      const token = yield* adminToken
      for (let i = 0; i < 4; i++) {
        yield* call("POST", "/api/v1/api-keys", { token, body: { name: `key-${i}` } })
      }
      const names: Array<unknown> = []
      for (const page of [1, 2, 3]) {
        const reply = yield* call("GET", `/api/v1/api-keys?page=${page}&page_size=2`, { token })
        assert.strictEqual(field(reply.json, "total"), 4)
        assert.strictEqual(field(reply.json, "page"), page)
        assert.strictEqual(field(reply.json, "page_size"), 2)
        const items = field(reply.json, "items")
        assert.isArray(items)
        assert.strictEqual((items as Array<unknown>).length, page < 3 ? 2 : 0)
        for (const item of items as Array<unknown>) names.push(field(item, "name"))
      }
      assert.deepStrictEqual([...names].sort(), ["key-0", "key-1", "key-2", "key-3"])
    }).pipe(Effect.provide(Layer.unwrapScoped(Effect.map(tempDir, (dir) =>
      serve(dir, { controlPlane: { rateLimits: { agents: 1000 } } }))))))
})
