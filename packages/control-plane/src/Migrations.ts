/**
 * The control plane's tables in the main database, migrated by the
 * `@effect/sql` Migrator under its own table
 * (`sluice_control_plane_migrations`) so it never collides with the store's.
 * Portable SQL (SQLite now, Postgres later): text ids (UUID v4), ISO 8601
 * UTC text timestamps, integer flags.
 */
import * as Migrator from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import { StartupError } from "@sluice/core/StartupError"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

/** The migrations table of this package. */
export const table = "sluice_control_plane_migrations"

/** The migrations, in order. */
export const migrations = {
  "0001_users_and_api_keys": Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.all([
      sql`CREATE TABLE users (
        id VARCHAR(36) PRIMARY KEY,
        email VARCHAR(254) NOT NULL UNIQUE,
        password_hash TEXT NOT NULL,
        role VARCHAR(16) NOT NULL,
        disabled INTEGER NOT NULL DEFAULT 0,
        created_at VARCHAR(32) NOT NULL,
        updated_at VARCHAR(32) NOT NULL
      )`,
      sql`CREATE TABLE api_keys (
        id VARCHAR(36) PRIMARY KEY,
        name VARCHAR(256) NOT NULL,
        prefix VARCHAR(16) NOT NULL,
        key_hash VARCHAR(64) NOT NULL UNIQUE,
        role VARCHAR(16) NOT NULL,
        created_at VARCHAR(32) NOT NULL,
        last_used_at VARCHAR(32)
      )`,
      sql`CREATE INDEX api_keys_created_at ON api_keys (created_at)`,
      sql`CREATE INDEX users_created_at ON users (created_at)`
    ], { discard: true }))
}

/** Runs the pending migrations on the `SqlClient` in context. */
export const run = Migrator.make({})({ loader: Migrator.fromRecord(migrations), table })

/** The migrations as a layer (build it once; services depend on it). */
export const layer: Layer.Layer<never, StartupError, SqlClient.SqlClient> = Layer.effectDiscard(
  Effect.mapError(run, (error) =>
    new StartupError({
      setting: "SLUICE_DATA_DIR",
      detail: `cannot migrate the control plane's tables: ${error.message}`
    }))
)
