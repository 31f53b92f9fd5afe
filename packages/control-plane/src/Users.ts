/**
 * Users in the main database: e-mail (unique, lower-cased), scrypt password
 * hash, role, disabled flag. Guarantees: the first user ever created is an
 * admin, and closed registration admits only that one (both checked and
 * inserted in one transaction); the last enabled admin
 * cannot be demoted, disabled or deleted (the control plane would be left
 * without one); password hashes never leave this module.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { randomUUID } from "node:crypto"
import { Conflict, Forbidden, NotFound } from "./ApiError.js"
import * as Migrations from "./Migrations.js"
import * as Pagination from "./Pagination.js"
import * as Password from "./Password.js"
import { Role } from "./Role.js"

/** An e-mail address as sent: trimmed and lower-cased, at most 254 characters. */
export const Email = Schema.Trim.pipe(
  Schema.compose(Schema.Lowercase),
  Schema.pattern(/^[^\s@]+@[^\s@]+\.[^\s@]+$/, { message: () => "must be a valid email address" }),
  Schema.maxLength(254, { message: () => "must be a valid email address" })
)

/** A user on the wire (SPEC §3). */
export const User = Schema.Struct({
  id: Schema.String,
  email: Schema.String,
  role: Role,
  disabled: Schema.Boolean,
  created_at: Schema.String
}).annotations({ identifier: "User" })
export type User = typeof User.Type

/** A user as stored (the hash stays inside). */
export interface UserRecord {
  readonly user: User
  readonly passwordHash: string
}

const Row = Schema.Struct({
  id: Schema.String,
  email: Schema.String,
  password_hash: Schema.String,
  role: Role,
  disabled: Schema.Union(Schema.Number, Schema.Boolean),
  created_at: Schema.String
})
const decodeRows = Schema.decodeUnknown(Schema.Array(Row))

const toRecord = (row: typeof Row.Type): UserRecord => ({
  user: {
    id: row.id,
    email: row.email,
    role: row.role,
    disabled: row.disabled === true || row.disabled === 1,
    created_at: row.created_at
  },
  passwordHash: row.password_hash
})

/** What creating a user takes. */
export interface NewUser {
  readonly email: string
  readonly password: Redacted.Redacted<string>
  /** The role; ignored (admin) for the very first user when `firstIsAdmin`. */
  readonly role: Role
  /** Make the first user of an empty database an admin (registration). */
  readonly firstIsAdmin?: boolean | undefined
  /** Create only into an empty database (closed registration), else `Forbidden`. */
  readonly onlyIfFirst?: boolean | undefined
}

/** A change of role or disabled flag. */
export interface UserPatch {
  readonly role?: Role | undefined
  readonly disabled?: boolean | undefined
}

const lastAdmin = () =>
  new Conflict({
    message: "the last enabled admin cannot be demoted, disabled or deleted",
    details: { id: "is the last enabled admin" }
  })

/** The user repository. */
export class Users extends Context.Tag("@sluice/control-plane/Users")<Users, {
  /** How many users exist. */
  readonly count: Effect.Effect<number>
  /** Creates a user; `Conflict` when the e-mail is taken. */
  readonly create: (input: NewUser) => Effect.Effect<User, Conflict | Forbidden>
  readonly findById: (id: string) => Effect.Effect<Option.Option<UserRecord>>
  readonly findByEmail: (email: string) => Effect.Effect<Option.Option<UserRecord>>
  /** One page, oldest first. */
  readonly list: (page: Pagination.PageParams) => Effect.Effect<{ items: ReadonlyArray<User>; total: number }>
  readonly update: (id: string, patch: UserPatch) => Effect.Effect<User, NotFound | Conflict>
  readonly remove: (id: string) => Effect.Effect<void, NotFound | Conflict>
  readonly setPassword: (id: string, password: Redacted.Redacted<string>) => Effect.Effect<void, NotFound>
}>() {}

const nowIso = Effect.map(Clock.currentTimeMillis, (ms) => new Date(ms).toISOString())

/** Builds the repository over the `SqlClient` in context (migrated). */
export const make = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const rows = (statement: Effect.Effect<ReadonlyArray<unknown>, unknown>) =>
    statement.pipe(Effect.flatMap(decodeRows), Effect.map((rs) => rs.map(toRecord)), Effect.orDie)
  const one = (statement: Effect.Effect<ReadonlyArray<unknown>, unknown>) =>
    Effect.map(rows(statement), (rs) => Option.fromNullable(rs[0]))
  const countWhere = (statement: Effect.Effect<ReadonlyArray<{ readonly n: unknown }>, unknown>) =>
    statement.pipe(Effect.map((rs) => Number(rs[0]?.n ?? 0)), Effect.orDie)

  const findById = (id: string) => one(sql`SELECT * FROM users WHERE id = ${id}`)
  const findByEmail = (email: string) => one(sql`SELECT * FROM users WHERE email = ${email.toLowerCase()}`)
  const enabledAdmins = countWhere(
    sql<{ n: unknown }>`SELECT count(*) AS n FROM users WHERE role = 'admin' AND disabled = 0`
  )

  const create = (input: NewUser) =>
    Effect.gen(function*() {
      const passwordHash = yield* Password.hash(input.password)
      const now = yield* nowIso
      const email = input.email.toLowerCase()
      return yield* sql.withTransaction(Effect.gen(function*() {
        if (Option.isSome(yield* findByEmail(email))) {
          return yield* new Conflict({ message: "a user with this email exists", details: { email: "is taken" } })
        }
        const total = yield* countWhere(sql<{ n: unknown }>`SELECT count(*) AS n FROM users`)
        if (input.onlyIfFirst === true && total > 0) {
          return yield* new Forbidden({ message: "registration is closed: an admin creates users" })
        }
        const role: Role = input.firstIsAdmin === true && total === 0 ? "admin" : input.role
        const user: User = { id: randomUUID(), email, role, disabled: false, created_at: now }
        yield* sql`INSERT INTO users ${
          sql.insert({
            id: user.id,
            email,
            password_hash: passwordHash,
            role,
            disabled: 0,
            created_at: now,
            updated_at: now
          })
        }`.pipe(Effect.orDie)
        return user
      })).pipe(Effect.catchTag("SqlError", Effect.die))
    })

  const update = (id: string, patch: UserPatch) =>
    sql.withTransaction(Effect.gen(function*() {
      const found = yield* findById(id)
      if (Option.isNone(found)) return yield* new NotFound({ message: "no such user", details: { id: "not found" } })
      const current = found.value.user
      const role = patch.role ?? current.role
      const disabled = patch.disabled ?? current.disabled
      const wasAdmin = current.role === "admin" && !current.disabled
      if (wasAdmin && (role !== "admin" || disabled) && (yield* enabledAdmins) <= 1) return yield* lastAdmin()
      const now = yield* nowIso
      yield* sql`UPDATE users SET role = ${role}, disabled = ${disabled ? 1 : 0}, updated_at = ${now} WHERE id = ${id}`
        .pipe(Effect.orDie)
      return { ...current, role, disabled }
    })).pipe(Effect.catchTag("SqlError", Effect.die))

  const remove = (id: string) =>
    sql.withTransaction(Effect.gen(function*() {
      const found = yield* findById(id)
      if (Option.isNone(found)) return yield* new NotFound({ message: "no such user", details: { id: "not found" } })
      const current = found.value.user
      if (current.role === "admin" && !current.disabled && (yield* enabledAdmins) <= 1) return yield* lastAdmin()
      yield* sql`DELETE FROM users WHERE id = ${id}`.pipe(Effect.orDie)
    })).pipe(Effect.catchTag("SqlError", Effect.die))

  const setPassword = (id: string, password: Redacted.Redacted<string>) =>
    Effect.gen(function*() {
      const passwordHash = yield* Password.hash(password)
      const now = yield* nowIso
      const updated = yield* sql<{ id: string }>`
        UPDATE users SET password_hash = ${passwordHash}, updated_at = ${now} WHERE id = ${id} RETURNING id`
        .pipe(Effect.orDie)
      if (updated.length === 0) return yield* new NotFound({ message: "no such user", details: { id: "not found" } })
    })

  return Users.of({
    count: countWhere(sql<{ n: unknown }>`SELECT count(*) AS n FROM users`),
    create,
    findById,
    findByEmail,
    list: (page) =>
      Effect.all({
        items: Effect.map(
          rows(
            sql`SELECT * FROM users ORDER BY created_at, id LIMIT ${page.page_size} OFFSET ${Pagination.offsetOf(page)}`
          ),
          (rs) => rs.map((r) => r.user)
        ),
        total: countWhere(sql<{ n: unknown }>`SELECT count(*) AS n FROM users`)
      }),
    update,
    remove,
    setPassword
  })
})

/** `Users` over the `SqlClient` in context, after the control plane's migrations. */
export const layer = Layer.effect(Users, make).pipe(Layer.provide(Migrations.layer))
