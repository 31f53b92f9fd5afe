/**
 * Enrolment tokens (SPEC §4): `EBT_…`, minted for a group, shown once (only
 * the create answer carries `token`), stored as SHA-256, with an expiry
 * (default 24 h) and a use count (default 100). `consume` counts a use in
 * one conditional `UPDATE … RETURNING` (unexpired, not revoked, below the
 * count), so concurrent enrolments can never use a token more often than
 * its count allows, whatever the database's isolation.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { randomUUID } from "node:crypto"
import * as AgentTokens from "./AgentTokens.js"
import { NotFound } from "./ApiError.js"
import { Groups } from "./Groups.js"
import * as Migrations from "./Migrations.js"
import * as Pagination from "./Pagination.js"
import { countOf, Flag, flag, Int, nowIso } from "./SqlValues.js"

/** An enrolment token on the wire (SPEC §3): never the secret. */
export const EnrolmentToken = Schema.Struct({
  id: Schema.String,
  group_id: Schema.String,
  expires_at: Schema.String,
  max_uses: Schema.Int,
  uses: Schema.Int,
  revoked: Schema.Boolean,
  created_at: Schema.String
}).annotations({ identifier: "EnrolmentToken" })
export type EnrolmentToken = typeof EnrolmentToken.Type

/** The create answer: the token itself, this once. */
export const CreatedEnrolmentToken = Schema.Struct({ ...EnrolmentToken.fields, token: Schema.String }).annotations({
  identifier: "CreatedEnrolmentToken"
})
export type CreatedEnrolmentToken = typeof CreatedEnrolmentToken.Type

/** Defaults of new tokens. */
export interface EnrolmentDefaults {
  /** How long a token is valid (default 24 hours). */
  readonly ttl: Duration.DurationInput
  /** How many enrolments it allows (default 100). */
  readonly maxUses: number
}

/** SPEC §4: 24 hours, 100 uses. */
export const defaultOptions: EnrolmentDefaults = { ttl: Duration.hours(24), maxUses: 100 }

const Row = Schema.Struct({
  id: Schema.String,
  group_id: Schema.String,
  expires_at: Schema.String,
  max_uses: Int,
  uses: Int,
  revoked: Flag,
  created_at: Schema.String
})
const decodeRows = Schema.decodeUnknown(Schema.Array(Row))

const columns = "id, group_id, expires_at, max_uses, uses, revoked, created_at"

/** The enrolment token repository. */
export class EnrolmentTokens extends Context.Tag("@sluice/control-plane/EnrolmentTokens")<EnrolmentTokens, {
  /** Mints a token for a group (`ttlSeconds`, `maxUses` default to the options). */
  readonly create: (
    groupId: string,
    input: { readonly ttlSeconds?: number | undefined; readonly maxUses?: number | undefined }
  ) => Effect.Effect<CreatedEnrolmentToken, NotFound>
  /** One page of a group's tokens, newest first. */
  readonly list: (
    groupId: string,
    page: Pagination.PageParams
  ) => Effect.Effect<{ items: ReadonlyArray<EnrolmentToken>; total: number }, NotFound>
  /** Revokes a token (it is kept, marked revoked). */
  readonly revoke: (id: string) => Effect.Effect<void, NotFound>
  /**
   * Counts one use of a valid token and answers its group; `None` when the
   * token is unknown, expired, exhausted or revoked. Call it inside the
   * transaction of the enrolment, so a failing enrolment gives the use back.
   */
  readonly consume: (token: Redacted.Redacted<string>) => Effect.Effect<Option.Option<{ readonly groupId: string }>>
}>() {}

/** Builds the repository over the `SqlClient` and `Groups` in context. */
export const make = (options: EnrolmentDefaults = defaultOptions) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const groups = yield* Groups
    const ttlMillis = Duration.toMillis(Duration.decode(options.ttl))
    const rows = (statement: Effect.Effect<ReadonlyArray<unknown>, unknown>) =>
      statement.pipe(Effect.flatMap(decodeRows), Effect.orDie)

    const create = (
      groupId: string,
      input: { readonly ttlSeconds?: number | undefined; readonly maxUses?: number | undefined }
    ) =>
      Effect.gen(function*() {
        yield* groups.get(groupId)
        const now = yield* Clock.currentTimeMillis
        const token = AgentTokens.newEnrolmentToken()
        const record: EnrolmentToken = {
          id: randomUUID(),
          group_id: groupId,
          expires_at: new Date(now + (input.ttlSeconds === undefined ? ttlMillis : input.ttlSeconds * 1000))
            .toISOString(),
          max_uses: input.maxUses ?? options.maxUses,
          uses: 0,
          revoked: false,
          created_at: new Date(now).toISOString()
        }
        yield* sql`INSERT INTO enrolment_tokens ${
          sql.insert({ ...record, revoked: flag(false), token_hash: AgentTokens.hash(token) })
        }`.pipe(Effect.orDie)
        return { ...record, token }
      })

    const list = (groupId: string, page: Pagination.PageParams) =>
      Effect.gen(function*() {
        yield* groups.get(groupId)
        return yield* Effect.all({
          items: rows(sql`SELECT ${sql.literal(columns)} FROM enrolment_tokens WHERE group_id = ${groupId}
            ORDER BY created_at DESC, id LIMIT ${page.page_size} OFFSET ${Pagination.offsetOf(page)}`),
          total: Effect.orDie(Effect.map(
            sql<{ n: unknown }>`SELECT count(*) AS n FROM enrolment_tokens WHERE group_id = ${groupId}`,
            countOf
          ))
        })
      })

    const revoke = (id: string) =>
      Effect.gen(function*() {
        const updated = yield* sql<{ id: string }>`UPDATE enrolment_tokens SET revoked = ${flag(true)}
          WHERE id = ${id} RETURNING id`.pipe(Effect.orDie)
        if (updated.length === 0) {
          return yield* new NotFound({ message: "no such enrolment token", details: { id: "not found" } })
        }
      })

    const consume = (token: Redacted.Redacted<string>) =>
      Effect.gen(function*() {
        const given = Redacted.value(token)
        if (!given.startsWith(AgentTokens.enrolmentPrefix)) return Option.none()
        const now = yield* nowIso
        const used = yield* sql<{ group_id: string }>`UPDATE enrolment_tokens SET uses = uses + 1
          WHERE token_hash = ${AgentTokens.hash(given)} AND revoked = 0 AND uses < max_uses
          AND expires_at > ${now} RETURNING group_id`.pipe(Effect.orDie)
        const row = used[0]
        return row === undefined ? Option.none() : Option.some({ groupId: row.group_id })
      })

    return EnrolmentTokens.of({ create, list, revoke, consume })
  })

/** `EnrolmentTokens` over the `SqlClient` and `Groups` in context, after the migrations. */
export const layer = (options: EnrolmentDefaults = defaultOptions) =>
  Layer.effect(EnrolmentTokens, make(options)).pipe(Layer.provide(Migrations.layer))
