/**
 * Agent groups and their inputs (SPEC §3 shapes, §4 model). Guarantees: a
 * group's slug is unique (`Conflict`), an input's name is unique within its
 * group (`Conflict`), and `config_version` starts at 1 and goes up by exactly
 * one on every edit of the group or of its inputs, in the same transaction
 * as the edit, so a config is never served under a version it does not
 * belong to. `snapshot` reads a group and its inputs in one transaction for
 * rendering. A group that still has agents cannot be deleted (`Conflict`);
 * deleting one removes its inputs and enrolment tokens with it.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { defaultRouting } from "@sluice/core/Input"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { randomUUID } from "node:crypto"
import { Conflict, NotFound } from "./ApiError.js"
import * as Migrations from "./Migrations.js"
import * as Pagination from "./Pagination.js"
import { countOf, Flag, flag, Int, JsonObject, nowIso } from "./SqlValues.js"

/** A group on the wire (SPEC §3). */
export const Group = Schema.Struct({
  id: Schema.String,
  name: Schema.String,
  slug: Schema.String,
  description: Schema.String,
  config_version: Schema.Int,
  created_at: Schema.String,
  updated_at: Schema.String
}).annotations({ identifier: "Group" })
export type Group = typeof Group.Type

/** An input's type-specific settings (the agent validates them). */
export const Settings = Schema.Record({ key: Schema.String, value: Schema.Unknown })
export type Settings = typeof Settings.Type

/** An input on the wire (SPEC §3): routing shows the effective values (override or default). */
export const GroupInput = Schema.Struct({
  id: Schema.String,
  group_id: Schema.String,
  type: Schema.String,
  name: Schema.String,
  enabled: Schema.Boolean,
  settings: Settings,
  index: Schema.String,
  sourcetype: Schema.String,
  source: Schema.String
}).annotations({ identifier: "GroupInput" })
export type GroupInput = typeof GroupInput.Type

/** A new group. */
export interface NewGroup {
  readonly name: string
  readonly slug: string
  readonly description: string
}

/** A change to a group; each given field is an edit. */
export interface GroupPatch {
  readonly name?: string | undefined
  readonly slug?: string | undefined
  readonly description?: string | undefined
}

/** A routing override; `null` (or absent at creation) means the default. */
type Override = string | null

/** A new input. */
export interface NewInput {
  readonly type: string
  readonly name: string
  readonly enabled: boolean
  readonly settings: Settings
  readonly index: Override
  readonly sourcetype: Override
  readonly source: Override
}

/** A change to an input; `null` routing resets to the default. */
export interface InputPatch {
  readonly type?: string | undefined
  readonly name?: string | undefined
  readonly enabled?: boolean | undefined
  readonly settings?: Settings | undefined
  readonly index?: Override | undefined
  readonly sourcetype?: Override | undefined
  readonly source?: Override | undefined
}

/** A group and all its inputs, read together. */
export interface Snapshot {
  readonly group: Group
  readonly inputs: ReadonlyArray<GroupInput>
}

const GroupRow = Schema.Struct({
  id: Schema.String,
  name: Schema.String,
  slug: Schema.String,
  description: Schema.String,
  config_version: Int,
  created_at: Schema.String,
  updated_at: Schema.String
})
const decodeGroups = Schema.decodeUnknown(Schema.Array(GroupRow))

const InputRow = Schema.Struct({
  id: Schema.String,
  group_id: Schema.String,
  type: Schema.String,
  name: Schema.String,
  enabled: Flag,
  settings: JsonObject,
  index_name: Schema.NullOr(Schema.String),
  sourcetype: Schema.NullOr(Schema.String),
  source: Schema.NullOr(Schema.String)
})
type InputRow = typeof InputRow.Type
const decodeInputs = Schema.decodeUnknown(Schema.Array(InputRow))

const toInput = (row: InputRow): GroupInput => {
  const defaults = defaultRouting(row.type)
  return {
    id: row.id,
    group_id: row.group_id,
    type: row.type,
    name: row.name,
    enabled: row.enabled,
    settings: row.settings,
    index: row.index_name ?? defaults.index,
    sourcetype: row.sourcetype ?? defaults.sourcetype,
    source: row.source ?? defaults.source
  }
}

const noGroup = () => new NotFound({ message: "no such group", details: { id: "not found" } })
const noInput = () => new NotFound({ message: "no such input in this group", details: { inputId: "not found" } })
const slugTaken = () => new Conflict({ message: "a group with this slug exists", details: { slug: "is taken" } })
const nameTaken = () =>
  new Conflict({ message: "an input with this name exists in the group", details: { name: "is taken" } })

/** The group and input repository. */
export class Groups extends Context.Tag("@sluice/control-plane/Groups")<Groups, {
  /** One page, by name. */
  readonly list: (page: Pagination.PageParams) => Effect.Effect<{ items: ReadonlyArray<Group>; total: number }>
  readonly create: (input: NewGroup) => Effect.Effect<Group, Conflict>
  readonly get: (id: string) => Effect.Effect<Group, NotFound>
  readonly findBySlug: (slug: string) => Effect.Effect<Option.Option<Group>>
  /** Applies the patch and bumps the version (when the patch has a field). */
  readonly update: (id: string, patch: GroupPatch) => Effect.Effect<Group, NotFound | Conflict>
  /** Deletes an empty group (no agents) with its inputs and enrolment tokens. */
  readonly remove: (id: string) => Effect.Effect<void, NotFound | Conflict>
  /** One page of a group's inputs, in creation order. */
  readonly inputs: (
    groupId: string,
    page: Pagination.PageParams
  ) => Effect.Effect<{ items: ReadonlyArray<GroupInput>; total: number }, NotFound>
  readonly addInput: (groupId: string, input: NewInput) => Effect.Effect<GroupInput, NotFound | Conflict>
  readonly updateInput: (
    groupId: string,
    inputId: string,
    patch: InputPatch
  ) => Effect.Effect<GroupInput, NotFound | Conflict>
  readonly removeInput: (groupId: string, inputId: string) => Effect.Effect<void, NotFound>
  /** The group and all its inputs, consistent with each other. */
  readonly snapshot: (groupId: string) => Effect.Effect<Snapshot, NotFound>
}>() {}

/** Builds the repository over the `SqlClient` in context (migrated). */
export const make = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const groupRows = (statement: Effect.Effect<ReadonlyArray<unknown>, unknown>) =>
    statement.pipe(Effect.flatMap(decodeGroups), Effect.orDie)
  const inputRows = (statement: Effect.Effect<ReadonlyArray<unknown>, unknown>) =>
    statement.pipe(Effect.flatMap(decodeInputs), Effect.map((rows) => rows.map(toInput)), Effect.orDie)
  const count = (statement: Effect.Effect<ReadonlyArray<{ readonly n: unknown }>, unknown>) =>
    Effect.orDie(Effect.map(statement, countOf))
  const transaction = <A, E>(effect: Effect.Effect<A, E>) =>
    sql.withTransaction(effect).pipe(Effect.catchTag("SqlError", Effect.die))

  const find = (id: string) =>
    Effect.map(groupRows(sql`SELECT * FROM agent_groups WHERE id = ${id}`), (rows) => Option.fromNullable(rows[0]))
  const get = (id: string) =>
    Effect.flatMap(find(id), Option.match({ onNone: () => Effect.fail(noGroup()), onSome: Effect.succeed }))
  const findBySlug = (slug: string) =>
    Effect.map(groupRows(sql`SELECT * FROM agent_groups WHERE slug = ${slug}`), (rows) => Option.fromNullable(rows[0]))

  /** Bumps the version of a group that exists (inside the edit's transaction). */
  const bump = (id: string) =>
    Effect.gen(function*() {
      const now = yield* nowIso
      const rows = yield* groupRows(sql`UPDATE agent_groups
        SET config_version = config_version + 1, updated_at = ${now} WHERE id = ${id} RETURNING *`)
      const group = rows[0]
      return group === undefined ? yield* noGroup() : group
    })

  const findInput = (groupId: string, inputId: string) =>
    Effect.map(
      inputRows(sql`SELECT * FROM group_inputs WHERE id = ${inputId} AND group_id = ${groupId}`),
      (rows) => Option.fromNullable(rows[0])
    )
  const nameFree = (groupId: string, name: string, except: string) =>
    Effect.map(
      count(sql<{ n: unknown }>`SELECT count(*) AS n FROM group_inputs
        WHERE group_id = ${groupId} AND name = ${name} AND id <> ${except}`),
      (n) => n === 0
    )

  const create = (input: NewGroup) =>
    transaction(Effect.gen(function*() {
      if (Option.isSome(yield* findBySlug(input.slug))) return yield* slugTaken()
      const now = yield* nowIso
      const group: Group = {
        id: randomUUID(),
        name: input.name,
        slug: input.slug,
        description: input.description,
        config_version: 1,
        created_at: now,
        updated_at: now
      }
      yield* sql`INSERT INTO agent_groups ${sql.insert(group)}`.pipe(Effect.orDie)
      return group
    }))

  const update = (id: string, patch: GroupPatch) =>
    transaction(Effect.gen(function*() {
      const current = yield* get(id)
      if (patch.name === undefined && patch.slug === undefined && patch.description === undefined) return current
      if (patch.slug !== undefined && patch.slug !== current.slug) {
        if (Option.isSome(yield* findBySlug(patch.slug))) return yield* slugTaken()
      }
      const name = patch.name ?? current.name
      const slug = patch.slug ?? current.slug
      const description = patch.description ?? current.description
      yield* sql`UPDATE agent_groups SET name = ${name}, slug = ${slug}, description = ${description}
        WHERE id = ${id}`.pipe(Effect.orDie)
      return yield* bump(id)
    }))

  const remove = (id: string) =>
    transaction(Effect.gen(function*() {
      yield* get(id)
      const agents = yield* count(sql<{ n: unknown }>`SELECT count(*) AS n FROM agents WHERE group_id = ${id}`)
      if (agents > 0) {
        return yield* new Conflict({
          message: `the group has ${agents} agent${agents === 1 ? "" : "s"}: move or delete them first`,
          details: { id: "has agents" }
        })
      }
      yield* sql`DELETE FROM group_inputs WHERE group_id = ${id}`.pipe(Effect.orDie)
      yield* sql`DELETE FROM enrolment_tokens WHERE group_id = ${id}`.pipe(Effect.orDie)
      yield* sql`DELETE FROM agent_groups WHERE id = ${id}`.pipe(Effect.orDie)
    }))

  const inputs = (groupId: string, page: Pagination.PageParams) =>
    Effect.gen(function*() {
      yield* get(groupId)
      return yield* Effect.all({
        items: inputRows(sql`SELECT * FROM group_inputs WHERE group_id = ${groupId}
          ORDER BY position LIMIT ${page.page_size} OFFSET ${Pagination.offsetOf(page)}`),
        total: count(sql<{ n: unknown }>`SELECT count(*) AS n FROM group_inputs WHERE group_id = ${groupId}`)
      })
    })

  const addInput = (groupId: string, input: NewInput) =>
    transaction(Effect.gen(function*() {
      yield* get(groupId)
      if (!(yield* nameFree(groupId, input.name, ""))) return yield* nameTaken()
      const now = yield* nowIso
      const id = randomUUID()
      const last = yield* count(sql<{ n: unknown }>`SELECT COALESCE(MAX(position), 0) AS n FROM group_inputs
        WHERE group_id = ${groupId}`)
      yield* sql`INSERT INTO group_inputs ${
        sql.insert({
          id,
          group_id: groupId,
          type: input.type,
          name: input.name,
          enabled: flag(input.enabled),
          settings: JSON.stringify(input.settings),
          index_name: input.index,
          sourcetype: input.sourcetype,
          source: input.source,
          position: last + 1,
          created_at: now,
          updated_at: now
        })
      }`.pipe(Effect.orDie)
      yield* bump(groupId)
      const created = yield* findInput(groupId, id)
      return Option.isSome(created) ? created.value : yield* Effect.dieMessage("the new input vanished")
    }))

  const updateInput = (groupId: string, inputId: string, patch: InputPatch) =>
    transaction(Effect.gen(function*() {
      yield* get(groupId)
      const rows = yield* Effect.orDie(Effect.flatMap(
        sql`SELECT * FROM group_inputs WHERE id = ${inputId} AND group_id = ${groupId}`,
        decodeInputs
      ))
      const row = rows[0]
      if (row === undefined) return yield* noInput()
      const given = Object.values(patch).some((value) => value !== undefined)
      if (!given) return toInput(row)
      if (patch.name !== undefined && !(yield* nameFree(groupId, patch.name, inputId))) return yield* nameTaken()
      const next: InputRow = {
        ...row,
        type: patch.type ?? row.type,
        name: patch.name ?? row.name,
        enabled: patch.enabled ?? row.enabled,
        settings: patch.settings ?? row.settings,
        index_name: patch.index === undefined ? row.index_name : patch.index,
        sourcetype: patch.sourcetype === undefined ? row.sourcetype : patch.sourcetype,
        source: patch.source === undefined ? row.source : patch.source
      }
      const now = yield* nowIso
      yield* sql`UPDATE group_inputs SET type = ${next.type}, name = ${next.name}, enabled = ${flag(next.enabled)},
        settings = ${JSON.stringify(next.settings)}, index_name = ${next.index_name},
        sourcetype = ${next.sourcetype}, source = ${next.source}, updated_at = ${now}
        WHERE id = ${inputId}`.pipe(Effect.orDie)
      yield* bump(groupId)
      return toInput(next)
    }))

  const removeInput = (groupId: string, inputId: string) =>
    transaction(Effect.gen(function*() {
      yield* get(groupId)
      const gone = yield* sql<{ id: string }>`DELETE FROM group_inputs
        WHERE id = ${inputId} AND group_id = ${groupId} RETURNING id`.pipe(Effect.orDie)
      if (gone.length === 0) return yield* noInput()
      yield* bump(groupId)
    }))

  const snapshot = (groupId: string) =>
    transaction(Effect.gen(function*() {
      const group = yield* get(groupId)
      const all = yield* inputRows(sql`SELECT * FROM group_inputs WHERE group_id = ${groupId} ORDER BY position`)
      return { group, inputs: all }
    }))

  return Groups.of({
    list: (page) =>
      Effect.all({
        items: groupRows(
          sql`SELECT * FROM agent_groups ORDER BY lower(name), id
            LIMIT ${page.page_size} OFFSET ${Pagination.offsetOf(page)}`
        ),
        total: count(sql<{ n: unknown }>`SELECT count(*) AS n FROM agent_groups`)
      }),
    create,
    get,
    findBySlug,
    update,
    remove,
    inputs,
    addInput,
    updateInput,
    removeInput,
    snapshot
  })
})

/** `Groups` over the `SqlClient` in context, after the control plane's migrations. */
export const layer = Layer.effect(Groups, make).pipe(Layer.provide(Migrations.layer))
