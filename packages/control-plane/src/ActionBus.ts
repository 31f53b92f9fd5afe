/**
 * The server side of remote actions (SPEC §4): operators queue actions for
 * one agent, the agent is offered its pending ones in heartbeat answers and
 * reports how they went, a sweep expires those past their deadline.
 *
 * Guarantees: every move goes through core's state machine
 * (`Action.transition`, the one encoding of the rules) and is written as a
 * conditional UPDATE (`… WHERE id = ? AND status = <the status it was read
 * in>`), so concurrent moves (an operator cancelling while the agent reports
 * running, two control-plane processes, the sweep) can never leave an action
 * in a state the machine does not allow: the loser re-reads and is judged
 * again. Agents' reports never fail (illegal moves, unknown ids and other
 * agents' ids are logged and ignored). Times come from `Clock`; ids are
 * UUID v4; times are ISO 8601 UTC with `Z`.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Action from "@sluice/core/Action"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import { randomUUID } from "node:crypto"
import { Conflict, NotFound, ValidationError } from "./ApiError.js"

/** The deadline of an action created without one: 15 minutes. */
export const defaultDeadlineSeconds = 15 * 60

/** The longest deadline: 7 days. */
export const maxDeadlineSeconds = 7 * 24 * 60 * 60

/** How often the control plane expires actions past their deadline. */
export const defaultSweepInterval: Duration.DurationInput = "30 seconds"

/** How many actions one heartbeat answer offers at most (SPEC §4). */
export const defaultOfferLimit = 10

/** `deadline_seconds`: a whole number of seconds from 1 to 7 days. */
export const DeadlineSeconds = Schema.Number.pipe(
  Schema.int({ message: () => `must be an integer from 1 to ${maxDeadlineSeconds}` }),
  Schema.between(1, maxDeadlineSeconds, { message: () => `must be an integer from 1 to ${maxDeadlineSeconds}` })
)

/** An action on the wire (SPEC §3). `result` is `null` until the agent reports one. */
export const ActionRecord = Schema.Struct({
  id: Schema.String,
  agent_id: Schema.String,
  type: Schema.String,
  payload: Schema.Unknown,
  status: Action.ActionStatus,
  result: Schema.Unknown,
  created_at: Schema.String,
  updated_at: Schema.String,
  deadline_at: Schema.String
}).annotations({ identifier: "Action" })
export type ActionRecord = typeof ActionRecord.Type

/** What `create` takes. */
export interface NewAction {
  readonly type: string
  readonly payload: unknown
  readonly deadlineSeconds?: number | undefined
}

/** The action service of the control plane. */
export class ActionBus extends Context.Tag("@sluice/control-plane/ActionBus")<ActionBus, {
  /** Queues an action (`pending`) for an existing agent. */
  readonly create: (
    agentId: string,
    input: { type: string; payload: unknown; deadlineSeconds?: number }
  ) => Effect.Effect<ActionRecord, NotFound | ValidationError>
  /** One page of an agent's actions, newest first. */
  readonly list: (
    agentId: string,
    page: { page: number; pageSize: number }
  ) => Effect.Effect<{ items: ReadonlyArray<ActionRecord>; total: number }, NotFound>
  readonly get: (id: string) => Effect.Effect<ActionRecord, NotFound>
  /** Operator: pending → cancelled; any other status → Conflict (409) naming it. */
  readonly cancel: (id: string) => Effect.Effect<ActionRecord, NotFound | Conflict>
  /** Up to `limit` (default 10) pending, unexpired actions of the agent, oldest first (re-offered until the agent reports running). */
  readonly offer: (agentId: string, limit?: number) => Effect.Effect<ReadonlyArray<Action.PendingAction>>
  /** Applies an agent's reports in order through the state machine; illegal moves, unknown ids and other agents' ids are logged (Effect.logWarning) and ignored — never fail. */
  readonly report: (agentId: string, reports: ReadonlyArray<Action.ActionReport>) => Effect.Effect<void>
  /** Sweep: pending|running past deadline → expired; answers how many. */
  readonly expire: Effect.Effect<number>
  /** Removes an agent's actions (agent deletion). */
  readonly removeForAgent: (agentId: string) => Effect.Effect<void>
}>() {}

const columns = "id, agent_id, type, payload, status, result, created_at, updated_at, deadline_at"

const Json = Schema.parseJson()

/** A row as stored: payload and result as JSON text (result NULL until reported). */
const Row = Schema.Struct({
  id: Schema.String,
  agent_id: Schema.String,
  type: Schema.String,
  payload: Json,
  status: Action.ActionStatus,
  result: Schema.NullOr(Json),
  created_at: Schema.String,
  updated_at: Schema.String,
  deadline_at: Schema.String
})
const decodeRows = Schema.decodeUnknown(Schema.Array(Row))
const encodeJson = Schema.encode(Json)

const StatusRow = Schema.Struct({ id: Schema.String, agent_id: Schema.String, status: Action.ActionStatus })
const decodeStatusRows = Schema.decodeUnknown(Schema.Array(StatusRow))

const Offered = Schema.Struct({ id: Schema.String, type: Schema.String, payload: Json })
const decodeOffered = Schema.decodeUnknown(Schema.Array(Offered))

const CreateInput = Schema.Struct({
  type: Action.ActionType,
  deadline_seconds: Schema.optional(DeadlineSeconds)
}).annotations({ parseOptions: { errors: "all" } })

const invalid = (error: ParseResult.ParseError) => {
  const details: Record<string, string> = {}
  for (const issue of ParseResult.ArrayFormatter.formatErrorSync(error)) {
    details[issue.path.map(String).join(".") || "request"] ??= issue.message
  }
  return new ValidationError({ message: "Invalid request parameters", details })
}

const noAgent = (agentId: string) =>
  new NotFound({ message: `no such agent: ${agentId}`, details: { agent_id: "not found" } })

const noAction = (id: string) => new NotFound({ message: `no such action: ${id}`, details: { id: "not found" } })

const isRecord = (u: unknown): u is Readonly<Record<string, unknown>> =>
  typeof u === "object" && u !== null && !Array.isArray(u)

/** What a `failed` action keeps: the error beside whatever the agent sent with it. */
const failedResult = (report: Action.ActionReport): Record<string, unknown> => {
  const extra: Record<string, unknown> = isRecord(report.result)
    ? { ...report.result }
    : report.result === undefined || report.result === null
    ? {}
    : { result: report.result }
  const fromResult = extra["error"]
  return { ...extra, error: report.error ?? (typeof fromResult === "string" ? fromResult : null) }
}

/** The statuses the sweep may expire, read from the state machine. */
const expirable = Action.ActionStatus.literals.filter((status) => Action.canMove(status, "expired", "sweep"))

const isoOf = (ms: number) => new Date(ms).toISOString()

/** Builds the service over the `SqlClient` in context (the control plane's tables must be migrated). */
export const make: Effect.Effect<ActionBus["Type"], never, SqlClient.SqlClient> = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient

  const select = (statement: Effect.Effect<ReadonlyArray<unknown>, unknown>) =>
    statement.pipe(Effect.flatMap(decodeRows), Effect.orDie)

  const agentExists = (agentId: string) =>
    sql`SELECT 1 AS found FROM agents WHERE id = ${agentId}`.pipe(
      Effect.map((rows) => rows.length > 0),
      Effect.orDie
    )

  const find = (id: string) =>
    select(sql`SELECT ${sql.literal(columns)} FROM actions WHERE id = ${id}`).pipe(
      Effect.map((rows) => Option.fromNullable(rows[0]))
    )

  const get = (id: string) =>
    Effect.flatMap(find(id), Option.match({ onNone: () => Effect.fail(noAction(id)), onSome: Effect.succeed }))

  /**
   * The one write of a move: only if the action is still in `from` (and, for
   * an agent, still its own). `None` when it no longer is.
   */
  const move = (
    id: string,
    from: Action.ActionStatus,
    to: Action.ActionStatus,
    options: { readonly result?: string | undefined; readonly agentId?: string | undefined } = {}
  ) =>
    Effect.gen(function*() {
      const now = isoOf(yield* Clock.currentTimeMillis)
      const set = options.result === undefined
        ? sql.update({ status: to, updated_at: now })
        : sql.update({ status: to, updated_at: now, result: options.result })
      const ownedBy = options.agentId === undefined ? sql.literal("") : sql`AND agent_id = ${options.agentId}`
      const rows = yield* select(
        sql`UPDATE actions SET ${set} WHERE id = ${id} AND status = ${from} ${ownedBy} RETURNING ${
          sql.literal(columns)
        }`
      )
      return Option.fromNullable(rows[0])
    })

  const create = (agentId: string, input: NewAction) =>
    Effect.gen(function*() {
      const valid = yield* Schema.decodeUnknown(CreateInput)({
        type: input.type,
        ...(input.deadlineSeconds === undefined ? {} : { deadline_seconds: input.deadlineSeconds })
      }).pipe(Effect.mapError(invalid))
      const payload = yield* encodeJson(input.payload === undefined ? {} : input.payload).pipe(
        Effect.mapError(() =>
          new ValidationError({ message: "Invalid request parameters", details: { payload: "must be JSON" } })
        )
      )
      if (!(yield* agentExists(agentId))) return yield* noAgent(agentId)
      const now = yield* Clock.currentTimeMillis
      const id = randomUUID()
      const deadline = now + (valid.deadline_seconds ?? defaultDeadlineSeconds) * 1000
      // `seq` orders actions created within the same millisecond (oldest first).
      yield* sql`INSERT INTO actions (id, agent_id, type, payload, status, result, created_at, updated_at, deadline_at, seq)
        VALUES (${id}, ${agentId}, ${valid.type}, ${payload}, ${"pending"}, NULL, ${isoOf(now)}, ${isoOf(now)},
          ${isoOf(deadline)}, (SELECT COALESCE(MAX(seq), 0) + 1 FROM actions))`.pipe(Effect.orDie)
      return yield* get(id).pipe(Effect.orDie)
    })

  const list = (agentId: string, page: { readonly page: number; readonly pageSize: number }) =>
    Effect.gen(function*() {
      if (!(yield* agentExists(agentId))) return yield* noAgent(agentId)
      const offset = (page.page - 1) * page.pageSize
      return yield* Effect.all({
        items: select(
          sql`SELECT ${sql.literal(columns)} FROM actions WHERE agent_id = ${agentId}
            ORDER BY created_at DESC, seq DESC LIMIT ${page.pageSize} OFFSET ${offset}`
        ),
        total: sql<{ n: unknown }>`SELECT count(*) AS n FROM actions WHERE agent_id = ${agentId}`.pipe(
          Effect.map((rows) => Number(rows[0]?.n ?? 0)),
          Effect.orDie
        )
      })
    })

  const cancel = (id: string) =>
    Effect.gen(function*() {
      // Each pass either moves, refuses, or lost a race to another move and
      // judges again; the machine has no cycles, so this ends.
      while (true) {
        const current = yield* get(id)
        const next = Action.transition(current.status, "cancelled", "operator")
        if (Option.isNone(next)) {
          return yield* new Conflict({
            message: `the action is ${current.status}: it cannot be cancelled`,
            details: { status: current.status }
          })
        }
        const moved = yield* move(id, current.status, next.value)
        if (Option.isSome(moved)) return moved.value
      }
    })

  const offer = (agentId: string, limit: number = defaultOfferLimit) =>
    Effect.gen(function*() {
      const now = isoOf(yield* Clock.currentTimeMillis)
      const rows = yield* sql`SELECT id, type, payload FROM actions
        WHERE agent_id = ${agentId} AND status = ${"pending"} AND deadline_at > ${now}
        ORDER BY created_at, seq LIMIT ${Math.max(0, Math.floor(limit))}`.pipe(
        Effect.flatMap(decodeOffered),
        Effect.orDie
      )
      return rows.map((row): Action.PendingAction => ({ id: row.id, type: row.type, payload: row.payload }))
    })

  const readStatuses = (ids: ReadonlyArray<string>) =>
    sql`SELECT id, agent_id, status FROM actions WHERE id IN ${sql.in(ids)}`.pipe(
      Effect.flatMap(decodeStatusRows),
      Effect.orDie,
      Effect.map((rows) => new Map(rows.map((row) => [row.id, row])))
    )

  const ignore = (agentId: string, report: Action.ActionReport, reason: string) =>
    Effect.logWarning(`action report ignored: ${reason}`).pipe(
      Effect.annotateLogs({ agentId, actionId: report.actionId, reported: report.status })
    )

  const applyOne = (
    agentId: string,
    report: Action.ActionReport,
    known: Map<string, typeof StatusRow.Type>
  ) =>
    Effect.gen(function*() {
      const result = report.status === "done"
        ? yield* encodeJson(report.result === undefined ? null : report.result).pipe(Effect.orElseSucceed(() => "null"))
        : report.status === "failed"
        ? yield* encodeJson(failedResult(report)).pipe(Effect.orElseSucceed(() => "{\"error\":null}"))
        : undefined
      while (true) {
        const row = known.get(report.actionId)
        if (row === undefined || row.agent_id !== agentId) return yield* ignore(agentId, report, "no such action")
        const next = Action.transition(row.status, report.status, "agent")
        if (Option.isNone(next)) {
          return yield* ignore(agentId, report, `illegal move ${row.status} → ${report.status}`)
        }
        const moved = yield* move(report.actionId, row.status, next.value, { result, agentId })
        if (Option.isSome(moved)) {
          known.set(row.id, { ...row, status: moved.value.status })
          return
        }
        // Moved meanwhile (cancelled, expired): read it again and judge again.
        const fresh = yield* readStatuses([report.actionId])
        const again = fresh.get(report.actionId)
        if (again === undefined) known.delete(report.actionId)
        else known.set(again.id, again)
      }
    })

  const report = (agentId: string, reports: ReadonlyArray<Action.ActionReport>) =>
    reports.length === 0 ? Effect.void : Effect.gen(function*() {
      const known = yield* readStatuses([...new Set(reports.map((r) => r.actionId))])
      for (const one of reports) yield* applyOne(agentId, one, known)
    }).pipe(sql.withTransaction, Effect.orDie)

  const expire = Effect.gen(function*() {
    const now = isoOf(yield* Clock.currentTimeMillis)
    const rows = yield* sql`UPDATE actions SET status = ${"expired"}, updated_at = ${now}
      WHERE status IN ${sql.in(expirable)} AND deadline_at <= ${now} RETURNING id`.pipe(Effect.orDie)
    return rows.length
  })

  return ActionBus.of({
    create,
    list,
    get,
    cancel,
    offer,
    report,
    expire,
    removeForAgent: (agentId) => sql`DELETE FROM actions WHERE agent_id = ${agentId}`.pipe(Effect.asVoid, Effect.orDie)
  })
})

/**
 * `ActionBus` over the `SqlClient` in context. It touches the database only
 * when called, so it needs the control plane's migrations (`Migrations.layer`,
 * table `actions`) to have run by then, as `ControlPlane.layer` arranges.
 */
export const layer: Layer.Layer<ActionBus, never, SqlClient.SqlClient> = Layer.effect(ActionBus, make)

/**
 * The expiry sweep as a scoped fiber: `expire` at start and then every
 * `interval` (`Schedule.spaced` over `Clock`). A failing pass is logged and
 * the next one runs.
 */
export const sweepLayer = (interval: Duration.DurationInput): Layer.Layer<never, never, ActionBus> =>
  Layer.scopedDiscard(Effect.gen(function*() {
    const bus = yield* ActionBus
    const pass = bus.expire.pipe(
      Effect.tap((n) => n > 0 ? Effect.logInfo(`expired ${n} action(s) past their deadline`) : Effect.void),
      Effect.catchAllCause((cause) => Effect.logError("action expiry sweep failed", cause))
    )
    yield* Effect.forkScoped(Effect.repeat(pass, Schedule.spaced(interval)))
  }))
