/**
 * Schema migrations (run by the `@effect/sql` Migrator). The commit log and
 * idempotency keys live in the main database; the search index (per-event
 * rows, secondary indexes, FTS5) lives in its own file so the indexer can
 * write it on another core without taking the commit log's write lock.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"

/** Events per row of the search database's `blocks` table. */
export const blockEvents = 4096

/** The spool: forward cursor, dead letters and loss accounting (main database). */
const spool = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  Effect.all([
    sql`CREATE TABLE spool_state (
      id INTEGER PRIMARY KEY CHECK (id = 1),
      instance_id TEXT NOT NULL,
      cursor_seq INTEGER NOT NULL,
      cursor_offset INTEGER NOT NULL
    )`,
    sql`CREATE TABLE dead_letters (
      id INTEGER PRIMARY KEY,
      created_at INTEGER NOT NULL,
      status INTEGER NOT NULL,
      response TEXT NOT NULL,
      event_count INTEGER NOT NULL,
      events TEXT NOT NULL
    )`,
    sql`CREATE TABLE accounting (
      transport TEXT PRIMARY KEY,
      received INTEGER NOT NULL DEFAULT 0,
      forwarded INTEGER NOT NULL DEFAULT 0,
      dropped INTEGER NOT NULL DEFAULT 0,
      dead_lettered INTEGER NOT NULL DEFAULT 0
    )`
  ], { discard: true }))

/** Migrations of the main database (`sluice.db`). */
export const main = {
  "0001_commit_log": Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.all([
      sql`CREATE TABLE commits (
        seq INTEGER PRIMARY KEY,
        created_at INTEGER NOT NULL,
        event_count INTEGER NOT NULL,
        bytes INTEGER NOT NULL,
        events TEXT NOT NULL
      )`,
      sql`CREATE INDEX commits_created_at ON commits (created_at)`,
      sql`CREATE TABLE idempotency_keys (
        key TEXT PRIMARY KEY,
        seq INTEGER NOT NULL,
        created_at INTEGER NOT NULL
      )`,
      sql`CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at)`
    ], { discard: true })),
  "0002_spool": spool
}

/** Migrations of the search database (`search.db`). */
export const search = {
  "0001_search_index": Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.all([
      sql`CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        ts INTEGER NOT NULL,
        received_at INTEGER NOT NULL,
        level INTEGER NOT NULL,
        source TEXT NOT NULL,
        message TEXT NOT NULL,
        entry_type INTEGER NOT NULL,
        payload_type TEXT NOT NULL,
        project_id TEXT,
        agent_id TEXT,
        idx TEXT NOT NULL,
        sourcetype TEXT NOT NULL,
        transport TEXT NOT NULL,
        metadata TEXT NOT NULL
      )`,
      sql`CREATE INDEX events_ts ON events (ts)`,
      sql`CREATE VIRTUAL TABLE events_fts USING fts5(message, content='', contentless_delete=1, detail=none)`,
      sql`CREATE TABLE index_state (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, events INTEGER NOT NULL)`,
      sql`INSERT INTO index_state (id, seq, events) VALUES (1, 0, 0)`
    ], { discard: true })),
  // Events from agents (the edge API) carry an agent id; socket and drain events do
  // not, so this index costs nothing on their ingest path.
  "0002_agent_index": Effect.flatMap(
    SqlClient.SqlClient,
    (sql) => sql`CREATE INDEX events_agent_ts ON events (agent_id, ts) WHERE agent_id IS NOT NULL`
  ),
  // Time bounds of consecutive id ranges (about `blockEvents` events each), so
  // a search driven by the full-text index in id order knows when no older
  // event can be newer than what it found (see Search.ts). Backfilled once.
  "0003_search_blocks": Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.all([
      sql`CREATE TABLE blocks (
        first_id INTEGER PRIMARY KEY,
        last_id INTEGER NOT NULL,
        min_ts INTEGER NOT NULL,
        max_ts INTEGER NOT NULL,
        events INTEGER NOT NULL
      )`,
      sql`INSERT INTO blocks (first_id, last_id, min_ts, max_ts, events)
          SELECT min(id), max(id), min(ts), max(ts), count(*)
          FROM (SELECT id, ts, (row_number() OVER (ORDER BY id) - 1) / ${blockEvents} AS b FROM events)
          GROUP BY b`
    ], { discard: true })),
  // Project is the tenant of a drain event: filtering and counting by it must not scan.
  "0004_project_index": Effect.flatMap(
    SqlClient.SqlClient,
    (sql) => sql`CREATE INDEX events_project_ts ON events (project_id, ts) WHERE project_id IS NOT NULL`
  )
}
