/**
 * Rate limits per client per group: headers on every limited answer, 429 with
 * Retry-After past the limit, the window passing on the TestClock, clients
 * and groups counted apart, unauthenticated auth calls per IP, and the store
 * forgetting idle keys.
 */
import * as RateLimiter from "@effect/experimental/RateLimiter"
import { assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as TestClock from "effect/TestClock"
import * as RateLimit from "../src/RateLimit.js"
import * as RateLimitStore from "../src/RateLimitStore.js"
import { adminToken, call, field, serve, tempDir, userWithRole } from "./harness.js"

const limits = { auth: 10, dashboard: 3, agents: 5, streaming: 2 }
const withServer = Effect.provide(
  Layer.unwrapScoped(Effect.map(tempDir, (dir) => serve(dir, { controlPlane: { rateLimits: limits } })))
)

describe("rate limits", () => {
  it.scoped("X-RateLimit-* on every limited answer; 429 + Retry-After past the limit; the window passes", () =>
    Effect.gen(function*() {
      const token = yield* adminToken
      const viewer = yield* userWithRole(token, "viewer")
      const first = yield* call("GET", "/api/v1/logs", { token: viewer.token })
      assert.strictEqual(first.status, 200)
      assert.strictEqual(first.headers.get("x-ratelimit-limit"), "3")
      assert.strictEqual(first.headers.get("x-ratelimit-remaining"), "2")
      // Epoch seconds: the TestClock is at 0, the window is one minute.
      const reset = Number(first.headers.get("x-ratelimit-reset"))
      assert.isTrue(reset > 0 && reset <= 60, String(reset))
      assert.isNull(first.headers.get("retry-after"))
      assert.strictEqual(
        (yield* call("GET", "/api/v1/stats", { token: viewer.token })).headers.get("x-ratelimit-remaining"),
        "1"
      )
      assert.strictEqual(
        (yield* call("GET", "/api/v1/logs", { token: viewer.token })).headers.get("x-ratelimit-remaining"),
        "0"
      )
      const limited = yield* call("GET", "/api/v1/logs", { token: viewer.token })
      assert.strictEqual(limited.status, 429)
      assert.strictEqual(field(limited.json, "error"), "rate_limited")
      assert.strictEqual(limited.headers.get("x-ratelimit-limit"), "3")
      assert.strictEqual(limited.headers.get("x-ratelimit-remaining"), "0")
      assert.strictEqual(limited.headers.get("retry-after"), "60")
      assert.strictEqual(limited.headers.get("x-ratelimit-reset"), "60")
      // Another client is counted apart; another group too.
      assert.strictEqual((yield* call("GET", "/api/v1/logs", { token })).status, 200)
      assert.strictEqual((yield* call("GET", "/api/v1/auth/me", { token: viewer.token })).status, 200)
      // Errors inside the limit carry the headers too.
      const bad = yield* call("GET", "/api/v1/users?page=0", { token })
      assert.strictEqual(bad.status, 400)
      assert.isNotNull(bad.headers.get("x-ratelimit-remaining"))
      yield* TestClock.adjust(Duration.seconds(59))
      assert.strictEqual((yield* call("GET", "/api/v1/logs", { token: viewer.token })).status, 429)
      yield* TestClock.adjust(Duration.seconds(1))
      const again = yield* call("GET", "/api/v1/logs", { token: viewer.token })
      assert.strictEqual(again.status, 200)
    }).pipe(withServer))

  it.scoped("unauthenticated auth calls are limited per IP", () =>
    Effect.gen(function*() {
      const statuses: Array<number> = []
      for (let i = 0; i < 11; i++) {
        const reply = yield* call("POST", "/api/v1/auth/login", {
          body: { email: "x@example.com", password: "guess " + i }
        })
        statuses.push(reply.status)
        assert.strictEqual(reply.headers.get("x-ratelimit-limit"), "10")
      }
      assert.deepStrictEqual(statuses, [...Array(10).fill(401), 429])
    }).pipe(withServer))

  it.scoped("streams have their own group", () =>
    Effect.gen(function*() {
      const token = yield* adminToken
      const reply = yield* call("GET", "/api/v1/logs/stream?level=nope", { token })
      assert.strictEqual(reply.status, 400)
      assert.strictEqual(reply.headers.get("x-ratelimit-limit"), "2")
    }).pipe(withServer))

  it("groups follow SPEC §3", () => {
    assert.strictEqual(RateLimit.groupOf("/api/v1/auth/login"), "auth")
    assert.strictEqual(RateLimit.groupOf("/api/v1/users/123"), "dashboard")
    assert.strictEqual(RateLimit.groupOf("/api/v1/logs"), "dashboard")
    assert.strictEqual(RateLimit.groupOf("/api/v1/stats"), "dashboard")
    assert.strictEqual(RateLimit.groupOf("/api/v1/dead-letters"), "dashboard")
    assert.strictEqual(RateLimit.groupOf("/api/v1/api-keys"), "agents")
    assert.strictEqual(RateLimit.groupOf("/api/v1/agents/1/stream/logs"), "streaming")
    assert.strictEqual(RateLimit.groupOf("/api/v1/logs/stream"), "streaming")
  })

  it.effect("the store forgets keys whose window has passed", () =>
    Effect.gen(function*() {
      const { stats, store } = yield* RateLimitStore.make(Duration.seconds(10))
      const limiter = yield* RateLimiter.make.pipe(Effect.provideService(RateLimiter.RateLimiterStore, store))
      for (let i = 0; i < 100; i++) {
        yield* limiter.consume({ key: `ip:${i}`, limit: 10, window: "1 minute" })
      }
      assert.strictEqual(stats.keys(), 100)
      // Each key used one token of 6 s: idle after 6 s, forgotten at the next sweep (every 10 s).
      yield* TestClock.adjust(Duration.seconds(7))
      yield* limiter.consume({ key: "ip:new", limit: 10, window: "1 minute" })
      assert.strictEqual(stats.keys(), 101)
      yield* TestClock.adjust(Duration.seconds(4))
      yield* limiter.consume({ key: "ip:new", limit: 10, window: "1 minute" })
      assert.strictEqual(stats.keys(), 1)
      // Counting is unchanged: the limit holds within a window.
      for (let i = 0; i < 8; i++) yield* limiter.consume({ key: "ip:new", limit: 10, window: "1 minute" })
      const over = yield* Effect.flip(limiter.consume({ key: "ip:new", limit: 10, window: "1 minute" }))
      assert.strictEqual(over.reason, "Exceeded")
    }))
})
