/**
 * Enrolled agents (SPEC §3 shape, §4 model). Guarantees: an agent is created
 * only by an enrolment that consumed a valid enrolment token, in the same
 * transaction (a failed enrolment gives the use back); its token is stored
 * as SHA-256 and never leaves this module except once, at enrolment or
 * rotation; authenticating is one lookup through the unique token index
 * (joined with the group's config version, so a config poll needs no other
 * query). `status` is `online` while the last heartbeat (or, before the
 * first, the enrolment) is more recent than the offline threshold. Moving an
 * agent to another group resets its applied config version to 0 and marks
 * its config pending (`ConfigState`) until it has fetched the new group's
 * config and counts in its versions.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { Platform } from "@sluice/core/Input"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { randomUUID } from "node:crypto"
import * as AgentTokens from "./AgentTokens.js"
import { NotFound, Unauthorized } from "./ApiError.js"
import { EnrolmentTokens } from "./EnrolmentTokens.js"
import { Groups } from "./Groups.js"
import * as Migrations from "./Migrations.js"
import * as Pagination from "./Pagination.js"
import { countOf, Flag, flag, Int, JsonObject } from "./SqlValues.js"

/** `online` or `offline` (SPEC §3). */
export const AgentStatus = Schema.Literal("online", "offline").annotations({
  message: () => ({ message: "must be online or offline", override: true })
})
export type AgentStatus = typeof AgentStatus.Type

/** An agent on the wire (SPEC §3, plus its engine version, extra enrolment fields and revocation). */
export const Agent = Schema.Struct({
  id: Schema.String,
  hostname: Schema.String,
  platform: Schema.String,
  os: Schema.NullOr(Schema.String),
  kernel: Schema.NullOr(Schema.String),
  agent_version: Schema.NullOr(Schema.String),
  engine_version: Schema.NullOr(Schema.String),
  group_id: Schema.String,
  label: Schema.NullOr(Schema.String),
  tags: Schema.Array(Schema.String),
  applied_config_version: Schema.Int,
  pipeline_running: Schema.Boolean,
  pipeline_started_at: Schema.NullOr(Schema.String),
  last_config_error: Schema.NullOr(Schema.String),
  last_heartbeat_at: Schema.NullOr(Schema.String),
  went_offline_at: Schema.NullOr(Schema.String),
  status: AgentStatus,
  metrics: Schema.NullOr(Schema.Record({ key: Schema.String, value: Schema.Unknown })),
  extra: Schema.Record({ key: Schema.String, value: Schema.Unknown }),
  revoked: Schema.Boolean,
  created_at: Schema.String
}).annotations({ identifier: "Agent" })
export type Agent = typeof Agent.Type

/** What an enrolling agent says about itself. */
export interface Enrolment {
  readonly bootstrapToken: Redacted.Redacted<string>
  readonly hostname: string
  readonly platform: Platform
  readonly os: string | null
  readonly kernel: string | null
  readonly agentVersion: string | null
  readonly groupSlug: string | undefined
  /** Every other field of the request, kept as sent. */
  readonly extra: Readonly<Record<string, unknown>>
}

/** The enrolment answer. */
export interface Enrolled {
  readonly agentId: string
  readonly agentToken: string
  readonly groupId: string
  readonly configVersion: number
}

/** What one token lookup tells about its agent. */
export interface Credentials {
  readonly agentId: string
  readonly groupId: string
  readonly platform: Platform
  readonly revoked: boolean
  /** The agent's group's current config version. */
  readonly configVersion: number
  /** Where the agent is after a group move (see `ConfigState`). */
  readonly configState: ConfigState
}

/**
 * After a group move: `moved` until the agent was served its new group's
 * config, then `served` until a poll shows it counts in the new group's
 * versions (`since` not above them), then `current` again.
 */
export type ConfigState = "current" | "moved" | "served"

const configStates: ReadonlyArray<ConfigState> = ["current", "moved", "served"]
const stateCode = (state: ConfigState): number => configStates.indexOf(state)

/** A heartbeat's facts; an absent field leaves the stored value as it is. */
export interface Heartbeat {
  readonly agentVersion?: string | undefined
  readonly engineVersion?: string | undefined
  readonly appliedConfigVersion?: number | undefined
  readonly pipelineRunning?: boolean | undefined
  readonly pipelineUptimeSeconds?: number | undefined
  readonly lastConfigError?: string | null | undefined
  readonly metrics?: Readonly<Record<string, unknown>> | undefined
  readonly hostname?: string | undefined
  readonly os?: string | undefined
  readonly kernel?: string | undefined
}

/** The filters of `GET /agents`. */
export interface AgentFilters {
  readonly group_id?: string | undefined
  readonly status?: AgentStatus | undefined
  readonly tag?: string | undefined
  readonly search?: string | undefined
}

/** `PATCH /agents/:id`. */
export interface AgentPatch {
  readonly label?: string | null | undefined
  readonly tags?: ReadonlyArray<string> | undefined
  readonly group_id?: string | undefined
}

/** Settings of the repository. */
export interface AgentsOptions {
  /** An agent without a heartbeat for this long is offline (default 5 minutes). */
  readonly offlineAfter: Duration.DurationInput
}

/** SPEC §4: 5 minutes. */
export const defaultOptions: AgentsOptions = { offlineAfter: Duration.minutes(5) }

const Tags = Schema.parseJson(Schema.Array(Schema.String))

const Row = Schema.Struct({
  id: Schema.String,
  revoked: Flag,
  hostname: Schema.String,
  platform: Schema.String,
  os: Schema.NullOr(Schema.String),
  kernel: Schema.NullOr(Schema.String),
  agent_version: Schema.NullOr(Schema.String),
  engine_version: Schema.NullOr(Schema.String),
  group_id: Schema.String,
  label: Schema.NullOr(Schema.String),
  tags: Tags,
  applied_config_version: Int,
  pipeline_running: Flag,
  pipeline_started_at: Schema.NullOr(Schema.String),
  last_config_error: Schema.NullOr(Schema.String),
  last_heartbeat_at: Schema.NullOr(Schema.String),
  went_offline_at: Schema.NullOr(Schema.String),
  metrics: Schema.NullOr(JsonObject),
  extra: JsonObject,
  created_at: Schema.String
})
type Row = typeof Row.Type
const decodeRows = Schema.decodeUnknown(Schema.Array(Row))

const columns = "id, revoked, hostname, platform, os, kernel, agent_version, engine_version, group_id, label, tags, " +
  "applied_config_version, pipeline_running, pipeline_started_at, last_config_error, last_heartbeat_at, " +
  "went_offline_at, metrics, extra, created_at"

const CredentialsRow = Schema.Struct({
  id: Schema.String,
  group_id: Schema.String,
  platform: Schema.Literal("linux", "kubernetes"),
  revoked: Flag,
  config_version: Int,
  config_pending: Schema.Literal(0, 1, 2)
})
const decodeCredentials = Schema.decodeUnknown(Schema.Array(CredentialsRow))

const noAgent = () => new NotFound({ message: "no such agent", details: { id: "not found" } })

/** `%` and `_` match themselves in a `LIKE … ESCAPE '\'` pattern. */
const escapeLike = (text: string): string => text.replace(/[\\%_]/g, (c) => `\\${c}`)

/**
 * The agent of a token and its group's config version, in one lookup through
 * the unique token-hash index; `None` for anything that is not a known `AGT_`
 * token.
 */
export const credentialsOf = (
  token: string
): Effect.Effect<Option.Option<Credentials>, never, SqlClient.SqlClient> =>
  token.startsWith(AgentTokens.agentPrefix)
    ? Effect.flatMap(SqlClient.SqlClient, (sql) =>
      sql`SELECT a.id, a.group_id, a.platform, a.revoked, a.config_pending, g.config_version
        FROM agents a JOIN agent_groups g ON g.id = a.group_id
        WHERE a.token_hash = ${AgentTokens.hash(token)}`.pipe(
        Effect.flatMap(decodeCredentials),
        Effect.orDie,
        Effect.map((rows) =>
          Option.map(Option.fromNullable(rows[0]), (row): Credentials => ({
            agentId: row.id,
            groupId: row.group_id,
            platform: row.platform,
            revoked: row.revoked,
            configVersion: row.config_version,
            configState: configStates[row.config_pending]!
          }))
        )
      ))
    : Effect.succeed(Option.none())

/** The agent repository. */
export class Agents extends Context.Tag("@sluice/control-plane/Agents")<Agents, {
  /**
   * Enrols an agent: counts one use of the bootstrap token and creates the
   * agent, in one transaction. `Unauthorized` for an unknown, expired,
   * exhausted or revoked token; `NotFound` for an unknown `groupSlug`.
   */
  readonly enrol: (input: Enrolment) => Effect.Effect<Enrolled, Unauthorized | NotFound>
  /** The agent of a token (by its hash), with its group's config version. */
  readonly credentials: (token: string) => Effect.Effect<Option.Option<Credentials>>
  /** One page, by hostname. */
  readonly list: (
    filters: AgentFilters,
    page: Pagination.PageParams
  ) => Effect.Effect<{ items: ReadonlyArray<Agent>; total: number }>
  readonly get: (id: string) => Effect.Effect<Agent, NotFound>
  /** Label, tags, group move (resets the applied config version to 0). */
  readonly update: (id: string, patch: AgentPatch) => Effect.Effect<Agent, NotFound>
  readonly remove: (id: string) => Effect.Effect<void, NotFound>
  /** Revokes the agent's token: every agent call answers 403 from now on. */
  readonly revoke: (id: string) => Effect.Effect<Agent, NotFound>
  /** Records a heartbeat and clears the went-offline time. */
  readonly heartbeat: (id: string, heartbeat: Heartbeat) => Effect.Effect<void>
  /** A new token for the agent; the old one is invalid from now on. */
  readonly rotateToken: (id: string) => Effect.Effect<string, NotFound>
  /** Records where the agent is after a group move. */
  readonly setConfigState: (id: string, state: ConfigState) => Effect.Effect<void>
  /** Records `went_offline_at` for agents silent past the threshold; answers how many. */
  readonly markOffline: Effect.Effect<number>
}>() {}

/** Builds the repository over the `SqlClient`, `Groups` and `EnrolmentTokens` in context. */
export const make = (options: AgentsOptions = defaultOptions) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const groups = yield* Groups
    const tokens = yield* EnrolmentTokens
    const offlineMillis = Duration.toMillis(Duration.decode(options.offlineAfter))

    const toAgent = (row: Row, now: number): Agent => {
      const lastSeen = Date.parse(row.last_heartbeat_at ?? row.created_at)
      return {
        id: row.id,
        hostname: row.hostname,
        platform: row.platform,
        os: row.os,
        kernel: row.kernel,
        agent_version: row.agent_version,
        engine_version: row.engine_version,
        group_id: row.group_id,
        label: row.label,
        tags: row.tags,
        applied_config_version: row.applied_config_version,
        pipeline_running: row.pipeline_running,
        pipeline_started_at: row.pipeline_started_at,
        last_config_error: row.last_config_error,
        last_heartbeat_at: row.last_heartbeat_at,
        went_offline_at: row.went_offline_at,
        status: now - lastSeen < offlineMillis ? "online" : "offline",
        metrics: row.metrics,
        extra: row.extra,
        revoked: row.revoked,
        created_at: row.created_at
      }
    }

    const agents = (statement: Effect.Effect<ReadonlyArray<unknown>, unknown>) =>
      Effect.gen(function*() {
        const rows = yield* statement.pipe(Effect.flatMap(decodeRows), Effect.orDie)
        const now = yield* Clock.currentTimeMillis
        return rows.map((row) => toAgent(row, now))
      })

    const get = (id: string) =>
      Effect.flatMap(
        agents(sql`SELECT ${sql.literal(columns)} FROM agents WHERE id = ${id}`),
        (found) => found[0] === undefined ? Effect.fail(noAgent()) : Effect.succeed(found[0])
      )

    const iso = (ms: number) => new Date(ms).toISOString()

    const enrol = (input: Enrolment) =>
      sql.withTransaction(Effect.gen(function*() {
        const consumed = yield* tokens.consume(input.bootstrapToken)
        if (Option.isNone(consumed)) {
          return yield* new Unauthorized({ message: "the enrolment token is unknown, expired, used up or revoked" })
        }
        const group = input.groupSlug === undefined
          ? yield* groups.get(consumed.value.groupId)
          : yield* groups.findBySlug(input.groupSlug).pipe(
            Effect.flatMap(Option.match({
              onNone: () =>
                Effect.fail(new NotFound({ message: "no group with this slug", details: { groupSlug: "not found" } })),
              onSome: Effect.succeed
            }))
          )
        const now = iso(yield* Clock.currentTimeMillis)
        const id = randomUUID()
        const agentToken = AgentTokens.newAgentToken()
        yield* sql`INSERT INTO agents ${
          sql.insert({
            id,
            token_hash: AgentTokens.hash(agentToken),
            revoked: flag(false),
            hostname: input.hostname,
            platform: input.platform,
            os: input.os,
            kernel: input.kernel,
            agent_version: input.agentVersion,
            engine_version: null,
            group_id: group.id,
            label: null,
            tags: "[]",
            applied_config_version: 0,
            config_pending: stateCode("current"),
            pipeline_running: flag(false),
            pipeline_started_at: null,
            last_config_error: null,
            last_heartbeat_at: null,
            went_offline_at: null,
            metrics: null,
            extra: JSON.stringify(input.extra),
            created_at: now,
            updated_at: now
          })
        }`.pipe(Effect.orDie)
        return { agentId: id, agentToken, groupId: group.id, configVersion: group.config_version }
      })).pipe(Effect.catchTag("SqlError", Effect.die))

    const list = (filters: AgentFilters, page: Pagination.PageParams) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const cutoff = iso(now - offlineMillis)
        const clauses = []
        if (filters.group_id !== undefined) clauses.push(sql`group_id = ${filters.group_id}`)
        if (filters.status === "online") clauses.push(sql`COALESCE(last_heartbeat_at, created_at) > ${cutoff}`)
        if (filters.status === "offline") clauses.push(sql`COALESCE(last_heartbeat_at, created_at) <= ${cutoff}`)
        if (filters.tag !== undefined) {
          clauses.push(sql`tags LIKE ${`%${escapeLike(JSON.stringify(filters.tag))}%`} ESCAPE '\\'`)
        }
        if (filters.search !== undefined) {
          const pattern = `%${escapeLike(filters.search.toLowerCase())}%`
          clauses.push(
            sql`(lower(hostname) LIKE ${pattern} ESCAPE '\\' OR lower(COALESCE(label, '')) LIKE ${pattern} ESCAPE '\\')`
          )
        }
        const where = sql.and(clauses)
        return yield* Effect.all({
          items: agents(sql`SELECT ${sql.literal(columns)} FROM agents WHERE ${where}
            ORDER BY hostname, id LIMIT ${page.page_size} OFFSET ${Pagination.offsetOf(page)}`),
          total: Effect.orDie(Effect.map(sql<{ n: unknown }>`SELECT count(*) AS n FROM agents WHERE ${where}`, countOf))
        })
      })

    const update = (id: string, patch: AgentPatch) =>
      sql.withTransaction(Effect.gen(function*() {
        const current = yield* get(id)
        const now = iso(yield* Clock.currentTimeMillis)
        const sets = [sql`updated_at = ${now}`]
        if (patch.label !== undefined) sets.push(sql`label = ${patch.label}`)
        if (patch.tags !== undefined) sets.push(sql`tags = ${JSON.stringify(patch.tags)}`)
        if (patch.group_id !== undefined && patch.group_id !== current.group_id) {
          yield* groups.get(patch.group_id).pipe(
            Effect.mapError(() =>
              new NotFound({ message: "no such group to move the agent to", details: { group_id: "not found" } })
            )
          )
          sets.push(
            sql`group_id = ${patch.group_id}`,
            sql`applied_config_version = 0`,
            sql`config_pending = ${stateCode("moved")}`
          )
        }
        yield* sql`UPDATE agents SET ${sql.join(", ", false)(sets)} WHERE id = ${id}`.pipe(Effect.orDie)
        return yield* get(id)
      })).pipe(Effect.catchTag("SqlError", Effect.die))

    const remove = (id: string) =>
      Effect.gen(function*() {
        const gone = yield* sql<{ id: string }>`DELETE FROM agents WHERE id = ${id} RETURNING id`.pipe(Effect.orDie)
        if (gone.length === 0) return yield* noAgent()
      })

    const revoke = (id: string) =>
      Effect.gen(function*() {
        const now = iso(yield* Clock.currentTimeMillis)
        const updated = yield* sql<{ id: string }>`UPDATE agents SET revoked = ${flag(true)}, updated_at = ${now}
          WHERE id = ${id} RETURNING id`.pipe(Effect.orDie)
        if (updated.length === 0) return yield* noAgent()
        return yield* get(id)
      })

    const heartbeat = (id: string, beat: Heartbeat) =>
      Effect.gen(function*() {
        const nowMs = yield* Clock.currentTimeMillis
        const now = iso(nowMs)
        const sets = [sql`last_heartbeat_at = ${now}`, sql`went_offline_at = NULL`, sql`updated_at = ${now}`]
        if (beat.agentVersion !== undefined) sets.push(sql`agent_version = ${beat.agentVersion}`)
        if (beat.engineVersion !== undefined) sets.push(sql`engine_version = ${beat.engineVersion}`)
        if (beat.hostname !== undefined) sets.push(sql`hostname = ${beat.hostname}`)
        if (beat.os !== undefined) sets.push(sql`os = ${beat.os}`)
        if (beat.kernel !== undefined) sets.push(sql`kernel = ${beat.kernel}`)
        if (beat.appliedConfigVersion !== undefined) {
          // Until a moved agent has fetched its new group's config, what it applied belongs to the old group.
          sets.push(sql`applied_config_version = CASE WHEN config_pending = ${stateCode("moved")}
            THEN applied_config_version ELSE ${beat.appliedConfigVersion} END`)
        }
        if (beat.pipelineRunning === false) {
          sets.push(sql`pipeline_running = ${flag(false)}`, sql`pipeline_started_at = NULL`)
        } else if (beat.pipelineRunning === true || beat.pipelineUptimeSeconds !== undefined) {
          if (beat.pipelineRunning === true) sets.push(sql`pipeline_running = ${flag(true)}`)
          sets.push(
            beat.pipelineUptimeSeconds === undefined
              ? sql`pipeline_started_at = COALESCE(pipeline_started_at, ${now})`
              : sql`pipeline_started_at = ${iso(nowMs - Math.round(beat.pipelineUptimeSeconds * 1000))}`
          )
        }
        if (beat.lastConfigError !== undefined) sets.push(sql`last_config_error = ${beat.lastConfigError}`)
        if (beat.metrics !== undefined) sets.push(sql`metrics = ${JSON.stringify(beat.metrics)}`)
        yield* sql`UPDATE agents SET ${sql.join(", ", false)(sets)} WHERE id = ${id}`.pipe(Effect.orDie)
      })

    const rotateToken = (id: string) =>
      Effect.gen(function*() {
        const token = AgentTokens.newAgentToken()
        const now = iso(yield* Clock.currentTimeMillis)
        const updated = yield* sql<{ id: string }>`UPDATE agents SET token_hash = ${AgentTokens.hash(token)},
          updated_at = ${now} WHERE id = ${id} AND revoked = 0 RETURNING id`.pipe(Effect.orDie)
        return updated.length === 0 ? yield* noAgent() : token
      })

    const markOffline = Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const marked = yield* sql<{ id: string }>`UPDATE agents SET went_offline_at = ${iso(now)}
        WHERE went_offline_at IS NULL AND COALESCE(last_heartbeat_at, created_at) <= ${iso(now - offlineMillis)}
        RETURNING id`.pipe(Effect.orDie)
      return marked.length
    })

    return Agents.of({
      enrol,
      credentials: (token) => Effect.provideService(credentialsOf(token), SqlClient.SqlClient, sql),
      list,
      get,
      update,
      remove,
      revoke,
      heartbeat,
      rotateToken,
      setConfigState: (id, state) =>
        sql`UPDATE agents SET config_pending = ${stateCode(state)} WHERE id = ${id}`.pipe(Effect.asVoid, Effect.orDie),
      markOffline
    })
  })

/** `Agents` over the `SqlClient`, `Groups` and `EnrolmentTokens` in context, after the migrations. */
export const layer = (options: AgentsOptions = defaultOptions) =>
  Layer.effect(Agents, make(options)).pipe(Layer.provide(Migrations.layer))
