/**
 * Remote actions (SPEC §3, §4): the state machine as the control plane applies
 * it (agents' reports, operators' cancels, the expiry sweep on the
 * TestClock), what heartbeats are offered, concurrent moves, and the HTTP
 * endpoints (status codes, shapes, roles, pagination, 404/409 bodies).
 *
 * Agents are rows inserted straight into the fleet's `agents` table
 * (migration 0002): `insertAgent` fills whatever NOT NULL columns that table
 * has, so these tests do not depend on the enrolment code.
 */
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import type * as Action from "@sluice/core/Action"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as TestClock from "effect/TestClock"
import { randomUUID } from "node:crypto"
import * as Path from "node:path"
import * as ActionBus from "../src/ActionBus.js"
import * as Migrations from "../src/Migrations.js"
import { adminToken, call, field, serve, tempDir, userWithRole } from "./harness.js"

const uuidV4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

interface ColumnInfo {
  readonly name: string
  readonly type: string
  readonly notnull: number
  readonly dflt_value: unknown
  readonly pk: number
}

/**
 * Inserts a row with placeholder values in every required column, first
 * inserting the rows its foreign keys need (an agent needs its group).
 */
const insertRow = (table: string, id: string): Effect.Effect<string, never, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const columns = yield* sql.unsafe<ColumnInfo>(`PRAGMA table_info(${table})`)
    const keys = yield* sql.unsafe<{ table: string; from: string }>(`PRAGMA foreign_key_list(${table})`)
    const row: Record<string, unknown> = {}
    for (const column of columns) {
      const key = keys.find((k) => k.from === column.name)
      if (column.pk === 1) row[column.name] = id
      else if (key !== undefined) row[column.name] = yield* insertRow(key.table, randomUUID())
      else if (column.notnull === 1 && column.dflt_value === null) {
        row[column.name] = /INT/i.test(column.type) ? 0 : `${column.name}-${id}`
      }
    }
    yield* sql`INSERT INTO ${sql(table)} ${sql.insert(row)}`
    return id
  }).pipe(Effect.orDie)

/** An agent row in the fleet's table (placeholders beside its id). */
const insertAgent = (id: string = randomUUID()) => insertRow("agents", id)

/** The bus over a migrated SQLite file in a temp dir. */
const database = Layer.unwrapScoped(Effect.map(tempDir, (dir) =>
  ActionBus.layer.pipe(
    Layer.provideMerge(Migrations.layer),
    Layer.provideMerge(SqliteClient.layer({ filename: Path.join(dir, "sluice.db") }))
  )))

const bus = ActionBus.ActionBus

/** Runs `self` and answers the warnings it logged too. */
const withWarnings = <A, E, R>(self: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const warnings: Array<string> = []
    const logger = Logger.make(({ logLevel, message }) => {
      if (logLevel._tag === "Warning") warnings.push(Array.isArray(message) ? message.join(" ") : String(message))
    })
    const value = yield* Effect.provide(self, Logger.replace(Logger.defaultLogger, logger))
    return { value, warnings }
  })

/**
 * A clock that runs `between` the first time the time is read, that is
 * between a move's read of the action and its conditional write.
 */
const interleaving = (base: Clock.Clock, between: Effect.Effect<void>): Clock.Clock => {
  let armed = true
  return {
    [Clock.ClockTypeId]: Clock.ClockTypeId,
    currentTimeMillis: Effect.suspend(() => {
      if (!armed) return base.currentTimeMillis
      armed = false
      return Effect.zipRight(between, base.currentTimeMillis)
    }),
    currentTimeNanos: base.currentTimeNanos,
    unsafeCurrentTimeMillis: () => base.unsafeCurrentTimeMillis(),
    unsafeCurrentTimeNanos: () => base.unsafeCurrentTimeNanos(),
    sleep: (duration) => base.sleep(duration)
  }
}

const statusOf = (id: string) => Effect.map(Effect.flatMap(bus, (b) => b.get(id)), (a) => a.status)

const report = (
  agentId: string,
  actionId: string,
  status: Action.ActionReport["status"],
  extra: Partial<Action.ActionReport> = {}
) => Effect.flatMap(bus, (b) => b.report(agentId, [{ actionId, status, ...extra }]))

/** An action in the given status, reached through the legal moves. */
const actionIn = (agentId: string, status: Action.ActionStatus) =>
  Effect.gen(function*() {
    const b = yield* bus
    const created = yield* b.create(agentId, { type: "shell", payload: { command: "df -h" }, deadlineSeconds: 60 })
    const id = created.id
    if (status === "running" || status === "done" || status === "failed") yield* report(agentId, id, "running")
    if (status === "done") yield* report(agentId, id, "done", { result: { ok: true } })
    if (status === "failed") yield* report(agentId, id, "failed", { error: "boom" })
    if (status === "cancelled") yield* b.cancel(id)
    if (status === "expired") {
      yield* TestClock.adjust(Duration.seconds(61))
      yield* b.expire
    }
    assert.strictEqual(yield* statusOf(id), status)
    return id
  })

describe("ActionBus", () => {
  it.scoped("create: pending, UUID v4, ISO times, default deadline 15 min, payload kept", () =>
    Effect.gen(function*() {
      const b = yield* bus
      const agent = yield* insertAgent()
      yield* TestClock.adjust(Duration.seconds(5))
      const action = yield* b.create(agent, { type: "upgrade_agent", payload: { targetVersion: "0.4.2" } })
      assert.match(action.id, uuidV4)
      assert.deepStrictEqual(action, {
        id: action.id,
        agent_id: agent,
        type: "upgrade_agent",
        payload: { targetVersion: "0.4.2" },
        status: "pending",
        result: null,
        created_at: "1970-01-01T00:00:05.000Z",
        updated_at: "1970-01-01T00:00:05.000Z",
        deadline_at: "1970-01-01T00:15:05.000Z"
      })
      const short = yield* b.create(agent, { type: "shell", payload: null, deadlineSeconds: 60 })
      assert.strictEqual(short.deadline_at, "1970-01-01T00:01:05.000Z")
      assert.strictEqual(short.payload, null)
      assert.deepStrictEqual(yield* b.get(action.id), action)
    }).pipe(Effect.provide(database)))

  it.scoped("create refuses an unknown agent (404), a bad type and a deadline outside 1 s..7 days (400)", () =>
    Effect.gen(function*() {
      const b = yield* bus
      const agent = yield* insertAgent()
      const unknown = yield* Effect.flip(b.create(randomUUID(), { type: "shell", payload: {} }))
      assert.strictEqual(unknown._tag, "NotFound")
      const badType = yield* Effect.flip(b.create(agent, { type: "Not A Type", payload: {}, deadlineSeconds: 0 }))
      assert.strictEqual(badType._tag, "ValidationError")
      assert.deepStrictEqual(Object.keys(badType.details ?? {}).sort(), ["deadline_seconds", "type"])
      for (const deadlineSeconds of [0, -1, 1.5, 7 * 24 * 3600 + 1]) {
        const error = yield* Effect.flip(b.create(agent, { type: "shell", payload: {}, deadlineSeconds }))
        assert.strictEqual(error._tag, "ValidationError", String(deadlineSeconds))
        assert.isString(error.details?.["deadline_seconds"], String(deadlineSeconds))
      }
      const longest = yield* b.create(agent, { type: "shell", payload: {}, deadlineSeconds: 7 * 24 * 3600 })
      assert.strictEqual(longest.deadline_at, "1970-01-08T00:00:00.000Z")
      assert.strictEqual(yield* Effect.map(b.list(agent, { page: 1, pageSize: 100 }), (p) => p.total), 1)
    }).pipe(Effect.provide(database)))

  it.scoped("the agent's moves: pending → running → done (result kept), running → failed ({error, …result})", () =>
    Effect.gen(function*() {
      const b = yield* bus
      const agent = yield* insertAgent()
      const ok = yield* b.create(agent, { type: "upgrade_agent", payload: { targetVersion: "0.4.2" } })
      yield* TestClock.adjust(Duration.seconds(1))
      yield* report(agent, ok.id, "running")
      const running = yield* b.get(ok.id)
      assert.strictEqual(running.status, "running")
      assert.strictEqual(running.updated_at, "1970-01-01T00:00:01.000Z")
      assert.strictEqual(running.created_at, "1970-01-01T00:00:00.000Z")
      yield* report(agent, ok.id, "done", { result: { fromVersion: "0.4.1", toVersion: "0.4.2" } })
      const done = yield* b.get(ok.id)
      assert.strictEqual(done.status, "done")
      assert.deepStrictEqual(done.result, { fromVersion: "0.4.1", toVersion: "0.4.2" })

      const bad = yield* b.create(agent, { type: "shell", payload: { command: "false" } })
      yield* report(agent, bad.id, "running")
      yield* report(agent, bad.id, "failed", { error: "exit code 1", result: { stderr: "no such version" } })
      const failed = yield* b.get(bad.id)
      assert.strictEqual(failed.status, "failed")
      assert.deepStrictEqual(failed.result, { stderr: "no such version", error: "exit code 1" })

      // One heartbeat may carry running then done for the same action, applied in order.
      const quick = yield* b.create(agent, { type: "reload_config", payload: {} })
      yield* b.report(agent, [{ actionId: quick.id, status: "running" }, { actionId: quick.id, status: "done" }])
      assert.strictEqual(yield* statusOf(quick.id), "done")
      assert.strictEqual((yield* b.get(quick.id)).result, null)
    }).pipe(Effect.provide(database)))

  it.scoped("illegal moves reported by an agent are logged and ignored; the report never fails", () =>
    Effect.gen(function*() {
      const b = yield* bus
      const agent = yield* insertAgent()
      const other = yield* insertAgent()
      const illegal: ReadonlyArray<readonly [Action.ActionStatus, Action.ActionReport["status"]]> = [
        ["pending", "done"],
        ["pending", "failed"],
        ["running", "running"],
        ["done", "running"],
        ["done", "failed"],
        ["done", "done"],
        ["failed", "running"],
        ["failed", "done"],
        ["cancelled", "running"],
        ["cancelled", "done"],
        ["expired", "running"],
        ["expired", "done"],
        ["expired", "failed"]
      ]
      for (const [from, to] of illegal) {
        const id = yield* actionIn(agent, from)
        const before = yield* b.get(id)
        const { warnings } = yield* withWarnings(report(agent, id, to, { result: { x: 1 }, error: "e" }))
        assert.deepStrictEqual(yield* b.get(id), before, `${from} → ${to}`)
        assert.strictEqual(warnings.length, 1, `${from} → ${to}`)
        assert.include(warnings[0], `illegal move ${from} → ${to}`)
      }
      // Unknown ids and another agent's action: logged, ignored, and the rest of the report still applies.
      const theirs = yield* b.create(other, { type: "shell", payload: {} })
      const mine = yield* b.create(agent, { type: "shell", payload: {} })
      const { warnings } = yield* withWarnings(b.report(agent, [
        { actionId: randomUUID(), status: "running" },
        { actionId: theirs.id, status: "running" },
        { actionId: mine.id, status: "running" }
      ]))
      assert.strictEqual(warnings.length, 2)
      assert.strictEqual(yield* statusOf(theirs.id), "pending")
      assert.strictEqual(yield* statusOf(mine.id), "running")
      yield* b.report(agent, [])
    }).pipe(Effect.provide(database)))

  it.scoped("cancel: only from pending; anything else is a Conflict naming the status", () =>
    Effect.gen(function*() {
      const b = yield* bus
      const agent = yield* insertAgent()
      const pending = yield* actionIn(agent, "pending")
      yield* TestClock.adjust(Duration.seconds(2))
      const cancelled = yield* b.cancel(pending)
      assert.strictEqual(cancelled.status, "cancelled")
      assert.strictEqual(cancelled.updated_at, "1970-01-01T00:00:02.000Z")
      for (const status of ["running", "done", "failed", "cancelled", "expired"] as const) {
        const id = yield* actionIn(agent, status)
        const error = yield* Effect.flip(b.cancel(id))
        assert.strictEqual(error._tag, "Conflict", status)
        assert.include(error.message, status)
        assert.deepStrictEqual(error.details, { status })
        assert.strictEqual(yield* statusOf(id), status)
      }
      assert.strictEqual((yield* Effect.flip(b.cancel(randomUUID())))._tag, "NotFound")
      assert.strictEqual((yield* Effect.flip(b.get(randomUUID())))._tag, "NotFound")
    }).pipe(Effect.provide(database)))

  it.scoped("expire: pending and running past the deadline; nothing else; expired stays expired", () =>
    Effect.gen(function*() {
      const b = yield* bus
      const agent = yield* insertAgent()
      const pending = yield* b.create(agent, { type: "shell", payload: {}, deadlineSeconds: 10 })
      const running = yield* b.create(agent, { type: "shell", payload: {}, deadlineSeconds: 10 })
      yield* report(agent, running.id, "running")
      const finished: Array<string> = []
      for (const status of ["done", "failed", "cancelled"] as const) {
        const id = yield* b.create(agent, { type: "shell", payload: {}, deadlineSeconds: 10 })
        if (status === "cancelled") yield* b.cancel(id.id)
        else {
          yield* report(agent, id.id, "running")
          yield* report(agent, id.id, status)
        }
        finished.push(id.id)
      }
      const later = yield* b.create(agent, { type: "shell", payload: {}, deadlineSeconds: 20 })
      yield* TestClock.adjust(Duration.seconds(9))
      assert.strictEqual(yield* b.expire, 0)
      yield* TestClock.adjust(Duration.seconds(1))
      assert.strictEqual(yield* b.expire, 2)
      assert.strictEqual(yield* statusOf(pending.id), "expired")
      assert.strictEqual(yield* statusOf(running.id), "expired")
      assert.strictEqual((yield* b.get(pending.id)).updated_at, "1970-01-01T00:00:10.000Z")
      assert.deepStrictEqual(
        yield* Effect.forEach(finished, statusOf),
        ["done", "failed", "cancelled"]
      )
      assert.strictEqual(yield* statusOf(later.id), "pending")
      // Expired stays expired: a late agent, an operator, another sweep.
      yield* withWarnings(report(agent, running.id, "done"))
      yield* withWarnings(report(agent, pending.id, "running"))
      assert.strictEqual((yield* Effect.flip(b.cancel(pending.id)))._tag, "Conflict")
      yield* TestClock.adjust(Duration.seconds(10))
      assert.strictEqual(yield* b.expire, 1)
      assert.strictEqual(yield* statusOf(pending.id), "expired")
      assert.strictEqual(yield* statusOf(running.id), "expired")
      assert.strictEqual(yield* statusOf(later.id), "expired")
    }).pipe(Effect.provide(database)))

  it.scoped("the sweep expires actions on its schedule (TestClock, no sleeping)", () =>
    Effect.gen(function*() {
      const b = yield* bus
      const agent = yield* insertAgent()
      yield* Layer.build(ActionBus.sweepLayer("30 seconds"))
      const action = yield* b.create(agent, { type: "shell", payload: {}, deadlineSeconds: 45 })
      yield* TestClock.adjust(Duration.seconds(30))
      assert.strictEqual(yield* statusOf(action.id), "pending")
      yield* TestClock.adjust(Duration.seconds(30))
      assert.strictEqual(yield* statusOf(action.id), "expired")
      assert.strictEqual((yield* b.get(action.id)).updated_at, "1970-01-01T00:01:00.000Z")
    }).pipe(Effect.provide(database)))

  it.scoped("offer: at most 10, oldest first, pending and unexpired only, re-offered until running", () =>
    Effect.gen(function*() {
      const b = yield* bus
      const agent = yield* insertAgent()
      const other = yield* insertAgent()
      yield* b.create(other, { type: "shell", payload: {} })
      const ids: Array<string> = []
      for (let i = 0; i < 12; i++) {
        // Several in the same millisecond: creation order still decides.
        if (i % 4 === 0) yield* TestClock.adjust(Duration.millis(1))
        ids.push((yield* b.create(agent, { type: "shell", payload: { n: i } })).id)
      }
      const first = yield* b.offer(agent)
      assert.deepStrictEqual(first.map((a) => a.id), ids.slice(0, 10))
      assert.deepStrictEqual(first[3], { id: ids[3]!, type: "shell", payload: { n: 3 } })
      // Offered again while pending (the agent ignores ids it took already).
      assert.deepStrictEqual((yield* b.offer(agent)).map((a) => a.id), ids.slice(0, 10))
      assert.deepStrictEqual((yield* b.offer(agent, 3)).map((a) => a.id), ids.slice(0, 3))
      // Running, done, cancelled: no longer offered.
      yield* report(agent, ids[0]!, "running")
      yield* b.report(agent, [{ actionId: ids[1]!, status: "running" }, { actionId: ids[1]!, status: "done" }])
      yield* b.cancel(ids[2]!)
      assert.deepStrictEqual((yield* b.offer(agent)).map((a) => a.id), ids.slice(3, 12))
      // Past the deadline: not offered, even before the sweep has run.
      const soon = yield* b.create(agent, { type: "shell", payload: {}, deadlineSeconds: 1 })
      assert.include((yield* b.offer(agent, 100)).map((a) => a.id), soon.id)
      yield* TestClock.adjust(Duration.seconds(1))
      assert.notInclude((yield* b.offer(agent, 100)).map((a) => a.id), soon.id)
      assert.strictEqual(yield* statusOf(soon.id), "pending")
      yield* b.expire
      assert.notInclude((yield* b.offer(agent, 100)).map((a) => a.id), soon.id)
      assert.deepStrictEqual(yield* b.offer(randomUUID()), [])
    }).pipe(Effect.provide(database)))

  it.scoped("concurrent cancel and report end in exactly one legal state", () =>
    Effect.gen(function*() {
      const b = yield* bus
      const agent = yield* insertAgent()
      const ids: Array<string> = []
      for (let i = 0; i < 40; i++) ids.push((yield* b.create(agent, { type: "shell", payload: {} })).id)
      // Each pair starts its two sides a different number of scheduler turns apart.
      const after = (turns: number) => Effect.repeatN(Effect.yieldNow(), turns)
      const outcomes = yield* Effect.forEach(ids, (id, i) =>
        Effect.all([
          Effect.zipRight(after(i % 8), Effect.either(b.cancel(id))),
          Effect.zipRight(
            after(Math.floor(i / 8)),
            withWarnings(b.report(agent, [{ actionId: id, status: "running" }, { actionId: id, status: "done" }]))
          )
        ], { concurrency: "unbounded" }), { concurrency: "unbounded" })
      for (const [i, [cancelled, reported]] of outcomes.entries()) {
        const final = yield* b.get(ids[i]!)
        if (cancelled._tag === "Right") {
          // The operator won: the agent's moves were refused and logged.
          assert.strictEqual(final.status, "cancelled")
          assert.strictEqual(cancelled.right.status, "cancelled")
          assert.strictEqual(reported.warnings.length, 2)
        } else {
          // The agent won: the cancel was refused naming what it saw.
          assert.strictEqual(cancelled.left._tag, "Conflict")
          assert.strictEqual(final.status, "done")
          assert.strictEqual(reported.warnings.length, 0)
        }
      }
    }).pipe(Effect.provide(database)))

  it.scoped("a move that lands between a read and its write wins; the stale writer is judged again", () =>
    Effect.gen(function*() {
      const b = yield* bus
      const agent = yield* insertAgent()
      const base = yield* Effect.clock
      // The agent's running → done lands after cancel has read `pending` and before it writes.
      const first = yield* b.create(agent, { type: "shell", payload: {} })
      const agentWins = yield* Effect.flip(b.cancel(first.id)).pipe(
        Effect.withClock(interleaving(
          base,
          b.report(agent, [
            { actionId: first.id, status: "running" },
            { actionId: first.id, status: "done", result: { ok: 1 } }
          ])
        ))
      )
      assert.strictEqual(agentWins._tag, "Conflict")
      assert.deepStrictEqual(agentWins.details, { status: "done" })
      assert.deepStrictEqual(yield* b.get(first.id).pipe(Effect.map((a) => [a.status, a.result])), ["done", { ok: 1 }])
      // The operator's cancel lands after the agent's report has read `pending` and before it writes.
      const second = yield* b.create(agent, { type: "shell", payload: {} })
      const { warnings } = yield* withWarnings(b.report(agent, [{ actionId: second.id, status: "running" }])).pipe(
        Effect.withClock(interleaving(base, Effect.asVoid(Effect.orDie(b.cancel(second.id)))))
      )
      assert.strictEqual(yield* statusOf(second.id), "cancelled")
      assert.strictEqual(warnings.length, 1)
      assert.include(warnings[0], "illegal move cancelled → running")
    }).pipe(Effect.provide(database)))

  it.scoped("removeForAgent removes that agent's actions only", () =>
    Effect.gen(function*() {
      const b = yield* bus
      const agent = yield* insertAgent()
      const other = yield* insertAgent()
      const gone = yield* b.create(agent, { type: "shell", payload: {} })
      const kept = yield* b.create(other, { type: "shell", payload: {} })
      yield* b.removeForAgent(agent)
      assert.strictEqual((yield* Effect.flip(b.get(gone.id)))._tag, "NotFound")
      assert.strictEqual((yield* b.get(kept.id)).status, "pending")
      assert.strictEqual((yield* b.list(agent, { page: 1, pageSize: 20 })).total, 0)
    }).pipe(Effect.provide(database)))
})

const withServer = (controlPlane: Parameters<typeof serve>[1] = {}) =>
  Effect.provide(Layer.unwrapScoped(Effect.map(tempDir, (dir) => serve(dir, controlPlane))))

describe("actions API", () => {
  it.scoped("create 201, get, list, cancel 200, and the SPEC bodies of 404 and 409", () =>
    Effect.gen(function*() {
      const token = yield* adminToken
      const operator = yield* userWithRole(token, "operator")
      const agent = yield* insertAgent()
      const created = yield* call("POST", `/api/v1/agents/${agent}/actions`, {
        token: operator.token,
        body: { type: "upgrade_agent", payload: { targetVersion: "0.4.2" }, deadline_seconds: 120 }
      })
      assert.strictEqual(created.status, 201, created.text)
      const id = String(field(created.json, "id"))
      assert.match(id, uuidV4)
      assert.deepStrictEqual(created.json, {
        id,
        agent_id: agent,
        type: "upgrade_agent",
        payload: { targetVersion: "0.4.2" },
        status: "pending",
        result: null,
        created_at: "1970-01-01T00:00:00.000Z",
        updated_at: "1970-01-01T00:00:00.000Z",
        deadline_at: "1970-01-01T00:02:00.000Z"
      })
      assert.strictEqual(created.headers.get("x-ratelimit-limit"), "100")

      const got = yield* call("GET", `/api/v1/actions/${id}`, { token: operator.token })
      assert.strictEqual(got.status, 200)
      assert.deepStrictEqual(got.json, created.json)

      // The agent reports through the service the heartbeat calls.
      const bus = yield* ActionBus.make
      yield* bus.report(agent, [{ actionId: id, status: "running" }])
      const running = yield* call("GET", `/api/v1/actions/${id}`, { token: operator.token })
      assert.strictEqual(field(running.json, "status"), "running")
      const conflict = yield* call("POST", `/api/v1/actions/${id}/cancel`, { token: operator.token })
      assert.strictEqual(conflict.status, 409)
      assert.deepStrictEqual(conflict.json, {
        error: "conflict",
        message: "the action is running: it cannot be cancelled",
        details: { status: "running" }
      })
      yield* bus.report(agent, [{ actionId: id, status: "done", result: { fromVersion: "0.4.1", toVersion: "0.4.2" } }])
      const done = yield* call("GET", `/api/v1/actions/${id}`, { token: operator.token })
      assert.deepStrictEqual(field(done.json, "result"), { fromVersion: "0.4.1", toVersion: "0.4.2" })

      // No payload: an empty object; the default deadline is 15 minutes.
      const bare = yield* call("POST", `/api/v1/agents/${agent}/actions`, {
        token: operator.token,
        body: { type: "restart_pipeline" }
      })
      assert.strictEqual(bare.status, 201, bare.text)
      assert.deepStrictEqual(field(bare.json, "payload"), {})
      assert.strictEqual(field(bare.json, "deadline_at"), "1970-01-01T00:15:00.000Z")
      const bareId = String(field(bare.json, "id"))
      const cancelled = yield* call("POST", `/api/v1/actions/${bareId}/cancel`, { token: operator.token })
      assert.strictEqual(cancelled.status, 200, cancelled.text)
      assert.strictEqual(field(cancelled.json, "status"), "cancelled")
      assert.strictEqual(field(cancelled.json, "id"), bareId)
      const again = yield* call("POST", `/api/v1/actions/${bareId}/cancel`, { token: operator.token })
      assert.strictEqual(again.status, 409)
      assert.strictEqual(field(again.json, "details", "status"), "cancelled")

      const missing = randomUUID()
      for (
        const [method, path] of [
          ["POST", `/api/v1/agents/${missing}/actions`],
          ["GET", `/api/v1/agents/${missing}/actions`],
          ["GET", `/api/v1/actions/${missing}`],
          ["POST", `/api/v1/actions/${missing}/cancel`]
        ] as const
      ) {
        const body = method === "POST" ? { type: "shell", payload: {} } : undefined
        const reply = yield* call(method, path, { token: operator.token, body })
        assert.strictEqual(reply.status, 404, `${method} ${path}: ${reply.text}`)
        assert.strictEqual(field(reply.json, "error"), "not_found")
        assert.include(String(field(reply.json, "message")), missing)
      }
    }).pipe(withServer()))

  it.scoped("400 names each bad field", () =>
    Effect.gen(function*() {
      const token = yield* adminToken
      const agent = yield* insertAgent()
      const path = `/api/v1/agents/${agent}/actions`
      const bad = yield* call("POST", path, { token, body: { type: "Rm -rf", deadline_seconds: 0 } })
      assert.strictEqual(bad.status, 400)
      assert.strictEqual(field(bad.json, "error"), "validation_error")
      assert.deepStrictEqual(Object.keys(field(bad.json, "details") as object).sort(), ["deadline_seconds", "type"])
      for (const deadline of [604801, 2.5, "60"]) {
        const reply = yield* call("POST", path, { token, body: { type: "shell", deadline_seconds: deadline } })
        assert.strictEqual(reply.status, 400, String(deadline))
        assert.deepStrictEqual(Object.keys(field(reply.json, "details") as object), ["deadline_seconds"])
      }
      const noType = yield* call("POST", path, { token, body: { payload: {} } })
      assert.strictEqual(noType.status, 400)
      assert.deepStrictEqual(Object.keys(field(noType.json, "details") as object), ["type"])
      const notJson = yield* call("POST", path, { token, raw: "{" })
      assert.strictEqual(notJson.status, 400)
      const list = yield* call("GET", `/api/v1/agents/${agent}/actions`, { token })
      assert.strictEqual(field(list.json, "total"), 0)
    }).pipe(withServer()))

  it.scoped("roles: viewers read; operators create and cancel; no credentials → 401", () =>
    Effect.gen(function*() {
      const token = yield* adminToken
      const viewer = yield* userWithRole(token, "viewer")
      const agent = yield* insertAgent()
      const body = { type: "shell", payload: { command: "uptime" } }
      const refused = yield* call("POST", `/api/v1/agents/${agent}/actions`, { token: viewer.token, body })
      assert.strictEqual(refused.status, 403)
      assert.strictEqual(field(refused.json, "error"), "forbidden")
      const anonymous = yield* call("POST", `/api/v1/agents/${agent}/actions`, { body })
      assert.strictEqual(anonymous.status, 401)
      assert.strictEqual(field(anonymous.json, "error"), "unauthorized")
      const created = yield* call("POST", `/api/v1/agents/${agent}/actions`, { token, body })
      assert.strictEqual(created.status, 201)
      const id = String(field(created.json, "id"))
      assert.strictEqual((yield* call("GET", `/api/v1/actions/${id}`, { token: viewer.token })).status, 200)
      assert.strictEqual((yield* call("GET", `/api/v1/agents/${agent}/actions`, { token: viewer.token })).status, 200)
      assert.strictEqual((yield* call("GET", `/api/v1/actions/${id}`)).status, 401)
      const cancel = yield* call("POST", `/api/v1/actions/${id}/cancel`, { token: viewer.token })
      assert.strictEqual(cancel.status, 403)
      assert.strictEqual(field((yield* call("GET", `/api/v1/actions/${id}`, { token })).json, "status"), "pending")
    }).pipe(withServer()))

  it.scoped("an agent's actions are paginated, newest first, and only that agent's", () =>
    Effect.gen(function*() {
      const token = yield* adminToken
      const agent = yield* insertAgent()
      const other = yield* insertAgent()
      yield* call("POST", `/api/v1/agents/${other}/actions`, { token, body: { type: "shell", payload: {} } })
      const ids: Array<string> = []
      for (let i = 0; i < 5; i++) {
        const reply = yield* call("POST", `/api/v1/agents/${agent}/actions`, {
          token,
          body: { type: "shell", payload: { n: i } }
        })
        ids.push(String(field(reply.json, "id")))
      }
      const seen: Array<unknown> = []
      for (const page of [1, 2, 3]) {
        const reply = yield* call("GET", `/api/v1/agents/${agent}/actions?page=${page}&page_size=2`, { token })
        assert.strictEqual(reply.status, 200)
        assert.strictEqual(field(reply.json, "total"), 5)
        assert.strictEqual(field(reply.json, "page"), page)
        assert.strictEqual(field(reply.json, "page_size"), 2)
        const items = field(reply.json, "items") as Array<unknown>
        assert.strictEqual(items.length, page < 3 ? 2 : 1)
        for (const item of items) seen.push(field(item, "id"))
      }
      assert.deepStrictEqual(seen, [...ids].reverse())
      const defaults = yield* call("GET", `/api/v1/agents/${agent}/actions`, { token })
      assert.strictEqual(field(defaults.json, "page_size"), 20)
      const tooBig = yield* call("GET", `/api/v1/agents/${agent}/actions?page_size=101`, { token })
      assert.strictEqual(tooBig.status, 400)
      assert.deepStrictEqual(Object.keys(field(tooBig.json, "details") as object), ["page_size"])
    }).pipe(withServer()))

  it.scoped("the control plane's sweep expires actions past their deadline (actionSweepInterval, TestClock)", () =>
    Effect.gen(function*() {
      const token = yield* adminToken
      const agent = yield* insertAgent()
      const created = yield* call("POST", `/api/v1/agents/${agent}/actions`, {
        token,
        body: { type: "shell", payload: {}, deadline_seconds: 5 }
      })
      const id = String(field(created.json, "id"))
      yield* TestClock.adjust(Duration.seconds(4))
      assert.strictEqual(field((yield* call("GET", `/api/v1/actions/${id}`, { token })).json, "status"), "pending")
      yield* TestClock.adjust(Duration.seconds(2))
      const expired = yield* call("GET", `/api/v1/actions/${id}`, { token })
      assert.strictEqual(field(expired.json, "status"), "expired")
      assert.strictEqual(field(expired.json, "updated_at"), "1970-01-01T00:00:06.000Z")
      const cancel = yield* call("POST", `/api/v1/actions/${id}/cancel`, { token })
      assert.strictEqual(cancel.status, 409)
      assert.strictEqual(field(cancel.json, "details", "status"), "expired")
    }).pipe(withServer({ controlPlane: { actionSweepInterval: "3 seconds" } })))
})
