/**
 * The roles of SPEC §3, ordered: `viewer` (read) < `operator` (also acts on
 * agents) < `admin` (also users, API keys, delete, deploy).
 */
import * as Schema from "effect/Schema"

/** A role. */
export const Role = Schema.Literal("viewer", "operator", "admin").annotations({
  identifier: "Role",
  message: () => ({ message: "must be one of viewer, operator, admin", override: true })
})
export type Role = typeof Role.Type

const rank: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 }

/** Whether `role` includes everything `required` may do. */
export const atLeast = (role: Role, required: Role): boolean => rank[role] >= rank[required]
