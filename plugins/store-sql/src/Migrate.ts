/** Runs the main database's migrations on the `SqlClient` in context. */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as SqliteMigrator from "@effect/sql-sqlite-node/SqliteMigrator"
import * as Effect from "effect/Effect"
import * as Migrations from "./Migrations.js"

/** The main database's migrations (commit log, idempotency keys, spool). */
export const migrate = SqliteMigrator.run({
  loader: SqliteMigrator.fromRecord(Migrations.main),
  table: "sluice_migrations"
}).pipe(Effect.provide(NodeContext.layer))
