/**
 * API keys: `slk_` + 32 random bytes (base64url), shown once at creation and
 * stored as their SHA-256 (a fast hash is enough for a high-entropy secret),
 * with a display prefix, a role and `last_used_at`. A key authenticates on
 * the API (`X-API-Key`) with its role, and on the ingest endpoints as a drain
 * token through core's `TokenVerifier` (`verifier`). A deleted (revoked) key
 * is refused at once. `last_used_at` is written at most once a minute per key,
 * so a busy drain client does not turn every request into a write.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as TokenVerifier from "@sluice/core/TokenVerifier"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { randomBytes, randomUUID } from "node:crypto"
import { NotFound } from "./ApiError.js"
import * as Migrations from "./Migrations.js"
import * as Pagination from "./Pagination.js"
import { Role } from "./Role.js"

/** How every key starts; tells keys from session tokens. */
export const keyPrefix = "slk_"

/** An API key on the wire (SPEC §3): never the secret. */
export const ApiKey = Schema.Struct({
  id: Schema.String,
  name: Schema.String,
  prefix: Schema.String,
  role: Role,
  created_at: Schema.String,
  last_used_at: Schema.NullOr(Schema.String)
}).annotations({ identifier: "ApiKey" })
export type ApiKey = typeof ApiKey.Type

/** The create answer: the key itself, this once. */
export const CreatedApiKey = Schema.Struct({ ...ApiKey.fields, key: Schema.String }).annotations({
  identifier: "CreatedApiKey"
})
export type CreatedApiKey = typeof CreatedApiKey.Type

const decodeRows = Schema.decodeUnknown(Schema.Array(ApiKey))

/** How often `last_used_at` is written for one key at most. */
const touchIntervalMs = 60_000

/** The API key repository. */
export class ApiKeys extends Context.Tag("@sluice/control-plane/ApiKeys")<ApiKeys, {
  readonly create: (input: { readonly name: string; readonly role: Role }) => Effect.Effect<CreatedApiKey>
  /** One page, newest first. */
  readonly list: (page: Pagination.PageParams) => Effect.Effect<{ items: ReadonlyArray<ApiKey>; total: number }>
  readonly revoke: (id: string) => Effect.Effect<void, NotFound>
  /** The key a secret belongs to (and marks it used), or `None`. */
  readonly authenticate: (secret: Redacted.Redacted<string>) => Effect.Effect<Option.Option<ApiKey>>
}>() {}

const columns = "id, name, prefix, role, created_at, last_used_at"

/** Builds the repository over the `SqlClient` in context (migrated). */
export const make = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const lastTouched = new Map<string, number>()
  const select = (statement: Effect.Effect<ReadonlyArray<unknown>, unknown>) =>
    statement.pipe(Effect.flatMap(decodeRows), Effect.orDie)

  const create = (input: { readonly name: string; readonly role: Role }) =>
    Effect.gen(function*() {
      const key = keyPrefix + randomBytes(32).toString("base64url")
      const now = new Date(yield* Clock.currentTimeMillis).toISOString()
      const record: ApiKey = {
        id: randomUUID(),
        name: input.name,
        prefix: key.slice(0, 12),
        role: input.role,
        created_at: now,
        last_used_at: null
      }
      yield* sql`INSERT INTO api_keys ${sql.insert({ ...record, key_hash: TokenVerifier.sha256(key) })}`.pipe(
        Effect.orDie
      )
      return { ...record, key }
    })

  const authenticate = (secret: Redacted.Redacted<string>) =>
    Effect.gen(function*() {
      const given = Redacted.value(secret)
      if (!given.startsWith(keyPrefix)) return Option.none()
      const hash = TokenVerifier.sha256(given)
      const rows = yield* sql<{ key_hash: string }>`SELECT ${
        sql.literal(columns)
      }, key_hash FROM api_keys WHERE key_hash = ${hash}`
        .pipe(Effect.orDie)
      const row = rows[0]
      // The lookup is by hash; compare again in constant time all the same.
      if (row === undefined || !TokenVerifier.constantTimeEqual(row.key_hash, hash)) return Option.none()
      const [key] = yield* select(Effect.succeed([row]))
      if (key === undefined) return Option.none()
      const now = yield* Clock.currentTimeMillis
      if (now - (lastTouched.get(key.id) ?? -Infinity) < touchIntervalMs) return Option.some(key)
      lastTouched.set(key.id, now)
      const usedAt = new Date(now).toISOString()
      yield* sql`UPDATE api_keys SET last_used_at = ${usedAt} WHERE id = ${key.id}`.pipe(Effect.orDie)
      return Option.some({ ...key, last_used_at: usedAt })
    })

  return ApiKeys.of({
    create,
    list: (page) =>
      Effect.all({
        items: select(
          sql`SELECT ${
            sql.literal(columns)
          } FROM api_keys ORDER BY created_at DESC, id LIMIT ${page.page_size} OFFSET ${Pagination.offsetOf(page)}`
        ),
        total: sql<{ n: unknown }>`SELECT count(*) AS n FROM api_keys`.pipe(
          Effect.map((rs) => Number(rs[0]?.n ?? 0)),
          Effect.orDie
        )
      }),
    revoke: (id) =>
      Effect.gen(function*() {
        const gone = yield* sql<{ id: string }>`DELETE FROM api_keys WHERE id = ${id} RETURNING id`.pipe(Effect.orDie)
        lastTouched.delete(id)
        if (gone.length === 0) return yield* new NotFound({ message: "no such API key", details: { id: "not found" } })
      }),
    authenticate
  })
})

/** `ApiKeys` over the `SqlClient` in context, after the control plane's migrations. */
export const layer = Layer.effect(ApiKeys, make).pipe(Layer.provide(Migrations.layer))

/**
 * API keys as ingest tokens: a core `TokenVerifier.Verify` for the drain and
 * the edge API. Compose it with the drain tokens:
 * `TokenVerifier.firstOf([TokenVerifier.fromTokens(drainTokens), verify])`.
 */
export const verifier: Effect.Effect<TokenVerifier.Verify, never, ApiKeys> = Effect.map(
  ApiKeys,
  (keys) => (token) =>
    keys.authenticate(token).pipe(
      Effect.flatMap(Option.match({
        onNone: () => Effect.fail(new TokenVerifier.InvalidToken({ reason: "unknown API key" })),
        onSome: (key) => Effect.succeed<TokenVerifier.Principal>({ kind: "api-key", id: key.id })
      }))
    )
)
