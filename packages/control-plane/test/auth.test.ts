/**
 * Authentication: registration (first user admin, then closed → 403 or open
 * → viewer), login, me, password change, JWT expiry on the TestClock, a
 * disabled user's token, the first admin from settings, and `createUser`.
 */
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import { assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as ControlPlane from "../src/ControlPlane.js"
import { admin, adminToken, call, field, login, serve, tempDir, userWithRole } from "./harness.js"

const withServer = (options: Parameters<typeof serve>[1] = {}) =>
  Effect.provide(Layer.unwrapScoped(Effect.map(tempDir, (dir) => serve(dir, options))))

describe("auth", () => {
  it.scoped("the first registration becomes admin; then registration is closed (403)", () =>
    Effect.gen(function*() {
      const first = yield* call("POST", "/api/v1/auth/register", {
        body: { email: "  First@Example.com ", password: "a long enough password" }
      })
      assert.strictEqual(first.status, 201, first.text)
      assert.strictEqual(field(first.json, "role"), "admin")
      assert.strictEqual(field(first.json, "email"), "first@example.com")
      assert.match(
        String(field(first.json, "id")),
        /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/
      )
      assert.match(String(field(first.json, "created_at")), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
      assert.notInclude(first.text, "password")
      const second = yield* call("POST", "/api/v1/auth/register", {
        body: { email: "second@example.com", password: "a long enough password" }
      })
      assert.strictEqual(second.status, 403, second.text)
      assert.strictEqual(field(second.json, "error"), "forbidden")
    }).pipe(withServer({ noAdmin: true })))

  it.scoped("two first registrations at once: one admin, the other refused", () =>
    Effect.gen(function*() {
      const register = (email: string) =>
        call("POST", "/api/v1/auth/register", { body: { email, password: "a long enough password" } })
      const replies = yield* Effect.all([register("a@example.com"), register("b@example.com")], { concurrency: 2 })
      assert.deepStrictEqual(replies.map((r) => r.status).sort(), [201, 403])
      assert.strictEqual(field(replies.find((r) => r.status === 201)!.json, "role"), "admin")
    }).pipe(withServer({ noAdmin: true })))

  it.scoped("open registration makes viewers, and refuses a higher role", () =>
    Effect.gen(function*() {
      const reply = yield* call("POST", "/api/v1/auth/register", {
        body: { email: "someone@example.com", password: "a long enough password" }
      })
      assert.strictEqual(reply.status, 201, reply.text)
      assert.strictEqual(field(reply.json, "role"), "viewer")
      const higher = yield* call("POST", "/api/v1/auth/register", {
        body: { email: "other@example.com", password: "a long enough password", role: "admin" }
      })
      assert.strictEqual(higher.status, 403)
      const taken = yield* call("POST", "/api/v1/auth/register", {
        body: { email: "someone@example.com", password: "a long enough password" }
      })
      assert.strictEqual(taken.status, 409)
    }).pipe(withServer({ controlPlane: { openRegistration: true } })))

  it.scoped("login answers {token, expires_at, user}; wrong passwords and unknown users get the same 401", () =>
    Effect.gen(function*() {
      const reply = yield* call("POST", "/api/v1/auth/login", {
        body: { email: admin.email, password: admin.password }
      })
      assert.strictEqual(reply.status, 200, reply.text)
      assert.isString(field(reply.json, "token"))
      // TestClock starts at 0: the default expiry is one hour.
      assert.strictEqual(field(reply.json, "expires_at"), "1970-01-01T01:00:00.000Z")
      assert.strictEqual(field(reply.json, "user", "email"), admin.email)
      assert.strictEqual(field(reply.json, "user", "role"), "admin")
      const wrong = yield* call("POST", "/api/v1/auth/login", {
        body: { email: admin.email, password: "wrong password!" }
      })
      const unknown = yield* call("POST", "/api/v1/auth/login", { body: { email: "no@example.com", password: "x" } })
      assert.strictEqual(wrong.status, 401)
      assert.deepStrictEqual(wrong.json, unknown.json)
      const me = yield* call("GET", "/api/v1/auth/me", { token: String(field(reply.json, "token")) })
      assert.strictEqual(me.status, 200)
      assert.strictEqual(field(me.json, "email"), admin.email)
    }).pipe(withServer()))

  it.scoped("a token expires after the configured expiry (TestClock)", () =>
    Effect.gen(function*() {
      const token = yield* adminToken
      assert.strictEqual((yield* call("GET", "/api/v1/auth/me", { token })).status, 200)
      yield* TestClock.adjust(Duration.minutes(9))
      assert.strictEqual((yield* call("GET", "/api/v1/auth/me", { token })).status, 200)
      yield* TestClock.adjust(Duration.minutes(1))
      const expired = yield* call("GET", "/api/v1/auth/me", { token })
      assert.strictEqual(expired.status, 401)
      assert.deepStrictEqual(expired.json, { error: "unauthorized", message: "the token has expired" })
    }).pipe(withServer({ controlPlane: { jwtExpiry: Duration.minutes(10) } })))

  it.scoped("a disabled user's token stops working at once, and works again when enabled", () =>
    Effect.gen(function*() {
      const token = yield* adminToken
      const viewer = yield* userWithRole(token, "viewer")
      assert.strictEqual((yield* call("GET", "/api/v1/auth/me", { token: viewer.token })).status, 200)
      const disabled = yield* call("PATCH", `/api/v1/users/${viewer.id}`, { token, body: { disabled: true } })
      assert.strictEqual(disabled.status, 200, disabled.text)
      assert.strictEqual(field(disabled.json, "disabled"), true)
      const refused = yield* call("GET", "/api/v1/auth/me", { token: viewer.token })
      assert.strictEqual(refused.status, 401)
      assert.strictEqual(field(refused.json, "message"), "the user is disabled")
      const relogin = yield* call("POST", "/api/v1/auth/login", {
        body: { email: viewer.email, password: viewer.password }
      })
      assert.strictEqual(relogin.status, 401)
      yield* call("PATCH", `/api/v1/users/${viewer.id}`, { token, body: { disabled: false } })
      assert.strictEqual((yield* call("GET", "/api/v1/auth/me", { token: viewer.token })).status, 200)
    }).pipe(withServer()))

  it.scoped("a deleted user's token is refused; the last enabled admin cannot be removed (409)", () =>
    Effect.gen(function*() {
      const token = yield* adminToken
      const me = yield* call("GET", "/api/v1/auth/me", { token })
      const id = String(field(me.json, "id"))
      for (const change of [{ disabled: true }, { role: "viewer" }]) {
        const reply = yield* call("PATCH", `/api/v1/users/${id}`, { token, body: change })
        assert.strictEqual(reply.status, 409, reply.text)
        assert.strictEqual(field(reply.json, "error"), "conflict")
      }
      assert.strictEqual((yield* call("DELETE", `/api/v1/users/${id}`, { token })).status, 409)
      const viewer = yield* userWithRole(token, "viewer")
      const deleted = yield* call("DELETE", `/api/v1/users/${viewer.id}`, { token })
      assert.strictEqual(deleted.status, 204)
      assert.strictEqual(deleted.text, "")
      assert.strictEqual((yield* call("GET", "/api/v1/auth/me", { token: viewer.token })).status, 401)
    }).pipe(withServer()))

  it.scoped("password change: current + new; the old password stops working", () =>
    Effect.gen(function*() {
      const token = yield* adminToken
      const wrong = yield* call("POST", "/api/v1/auth/password", {
        token,
        body: { current_password: "not it at all", new_password: "a brand new password" }
      })
      assert.strictEqual(wrong.status, 400)
      assert.deepStrictEqual(field(wrong.json, "details"), { current_password: "is wrong" })
      const short = yield* call("POST", "/api/v1/auth/password", {
        token,
        body: { current_password: admin.password, new_password: "short" }
      })
      assert.strictEqual(short.status, 400)
      assert.deepStrictEqual(field(short.json, "details"), { new_password: "must be at least 12 characters" })
      const changed = yield* call("POST", "/api/v1/auth/password", {
        token,
        body: { current_password: admin.password, new_password: "a brand new password" }
      })
      assert.strictEqual(changed.status, 204, changed.text)
      const old = yield* call("POST", "/api/v1/auth/login", { body: { email: admin.email, password: admin.password } })
      assert.strictEqual(old.status, 401)
      assert.isString(yield* login(admin.email, "a brand new password"))
    }).pipe(withServer()))

  it.scoped("the JWT key is created in the data dir with mode 0600 and reused across restarts", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const token = yield* adminToken.pipe(Effect.provide(serve(dir)))
      const key = Path.join(dir, "jwt.key")
      assert.strictEqual(Fs.statSync(key).mode & 0o777, 0o600)
      const me = yield* call("GET", "/api/v1/auth/me", { token }).pipe(Effect.provide(serve(dir)))
      assert.strictEqual(me.status, 200, me.text)
    }))

  it.scoped("createUser (sluice admin create-user) validates like the API and writes the database", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const db = SqliteClient.layer({ filename: Path.join(dir, "sluice.db") })
      const bad = yield* ControlPlane.createUser({ email: "nope", password: Redacted.make("short"), role: "operator" })
        .pipe(
          Effect.flip,
          Effect.provide(db)
        )
      assert.strictEqual(bad._tag, "ValidationError")
      const user = yield* ControlPlane.createUser({
        email: "ops@example.com",
        password: Redacted.make("operator password"),
        role: "operator"
      }).pipe(Effect.provide(db))
      assert.strictEqual(user.role, "operator")
      const again = yield* ControlPlane.createUser({
        email: "ops@example.com",
        password: Redacted.make("operator password"),
        role: "operator"
      }).pipe(Effect.flip, Effect.provide(db))
      assert.strictEqual(again._tag, "Conflict")
      // The server over the same database knows the user.
      const token = yield* login("ops@example.com", "operator password").pipe(
        Effect.provide(serve(dir, { noAdmin: true }))
      )
      assert.isString(token)
    }))

  it.scoped("a first admin password under 12 characters stops the start naming the setting", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const error = yield* Layer.build(serve(dir, {
        noAdmin: true,
        controlPlane: { admin: { email: "a@example.com", password: Redacted.make("short") } }
      })).pipe(Effect.flip)
      assert.include(String(error), "SLUICE_ADMIN_PASSWORD")
    }))
})
