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
    ], { discard: true })),
  /**
   * The fleet (SPEC §4): groups and their inputs, enrolment tokens, agents.
   * Secrets are stored as SHA-256 hex; tags, settings, metrics and extra
   * enrolment fields as JSON text. `config_pending` (0, 1, 2: see
   * `Agents.ConfigState`) follows an agent moved to another group until it
   * has fetched that group's config and counts in its versions.
   */
  "0002_fleet": Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.all([
      sql`CREATE TABLE agent_groups (
        id VARCHAR(36) PRIMARY KEY,
        name VARCHAR(256) NOT NULL,
        slug VARCHAR(64) NOT NULL UNIQUE,
        description TEXT NOT NULL,
        config_version INTEGER NOT NULL,
        created_at VARCHAR(32) NOT NULL,
        updated_at VARCHAR(32) NOT NULL
      )`,
      sql`CREATE INDEX agent_groups_created_at ON agent_groups (created_at)`,
      sql`CREATE TABLE group_inputs (
        id VARCHAR(36) PRIMARY KEY,
        group_id VARCHAR(36) NOT NULL REFERENCES agent_groups (id),
        type VARCHAR(64) NOT NULL,
        name VARCHAR(256) NOT NULL,
        enabled INTEGER NOT NULL,
        settings TEXT NOT NULL,
        index_name VARCHAR(64),
        sourcetype VARCHAR(64),
        source VARCHAR(64),
        position INTEGER NOT NULL,
        created_at VARCHAR(32) NOT NULL,
        updated_at VARCHAR(32) NOT NULL,
        UNIQUE (group_id, name)
      )`,
      sql`CREATE INDEX group_inputs_position ON group_inputs (group_id, position)`,
      sql`CREATE TABLE enrolment_tokens (
        id VARCHAR(36) PRIMARY KEY,
        group_id VARCHAR(36) NOT NULL REFERENCES agent_groups (id),
        token_hash VARCHAR(64) NOT NULL UNIQUE,
        expires_at VARCHAR(32) NOT NULL,
        max_uses INTEGER NOT NULL,
        uses INTEGER NOT NULL,
        revoked INTEGER NOT NULL,
        created_at VARCHAR(32) NOT NULL
      )`,
      sql`CREATE INDEX enrolment_tokens_group ON enrolment_tokens (group_id, created_at)`,
      sql`CREATE TABLE agents (
        id VARCHAR(36) PRIMARY KEY,
        token_hash VARCHAR(64) NOT NULL UNIQUE,
        revoked INTEGER NOT NULL,
        hostname VARCHAR(256) NOT NULL,
        platform VARCHAR(16) NOT NULL,
        os VARCHAR(256),
        kernel VARCHAR(256),
        agent_version VARCHAR(64),
        engine_version VARCHAR(64),
        group_id VARCHAR(36) NOT NULL REFERENCES agent_groups (id),
        label VARCHAR(256),
        tags TEXT NOT NULL,
        applied_config_version INTEGER NOT NULL,
        config_pending INTEGER NOT NULL,
        pipeline_running INTEGER NOT NULL,
        pipeline_started_at VARCHAR(32),
        last_config_error TEXT,
        last_heartbeat_at VARCHAR(32),
        went_offline_at VARCHAR(32),
        metrics TEXT,
        extra TEXT NOT NULL,
        created_at VARCHAR(32) NOT NULL,
        updated_at VARCHAR(32) NOT NULL
      )`,
      sql`CREATE INDEX agents_group ON agents (group_id)`,
      sql`CREATE INDEX agents_hostname ON agents (hostname, id)`,
      sql`CREATE INDEX agents_offline ON agents (went_offline_at, last_heartbeat_at)`
    ], { discard: true })),
  /**
   * Remote actions (SPEC §4), one row per action: payload and result as JSON
   * text, `seq` orders actions created in the same millisecond. `agent_id`
   * is indexed, not a foreign key (the agent's deletion removes its actions).
   * Indexes: the heartbeat's offer (agent, status, age), an agent's list,
   * and the expiry sweep (status, deadline).
   */
  "0003_actions": Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.all([
      sql`CREATE TABLE actions (
        id VARCHAR(36) PRIMARY KEY,
        agent_id VARCHAR(36) NOT NULL,
        type VARCHAR(64) NOT NULL,
        payload TEXT NOT NULL,
        status VARCHAR(16) NOT NULL,
        result TEXT,
        created_at VARCHAR(32) NOT NULL,
        updated_at VARCHAR(32) NOT NULL,
        deadline_at VARCHAR(32) NOT NULL,
        seq BIGINT NOT NULL
      )`,
      sql`CREATE INDEX actions_offer ON actions (agent_id, status, created_at, seq)`,
      sql`CREATE INDEX actions_agent ON actions (agent_id, created_at, seq)`,
      sql`CREATE INDEX actions_deadline ON actions (status, deadline_at)`,
      sql`CREATE INDEX actions_seq ON actions (seq)`
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
