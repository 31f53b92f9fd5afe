/**
 * The `EventStore` on SQLite. The durable point is a commit log in the main
 * database: one row per group commit holding the whole batch, written in one
 * transaction with the batch's idempotency keys. The search index (per-event
 * rows, a timestamp index and FTS5 over messages) lives in `search.db` and is
 * built from the commit log, in commit order, by a worker thread; how far it
 * is behind is `progress` and the `sluice_store_index_lag_events` gauge.
 *
 * Measured on a 2-core machine (bench/RESULTS.md): the commit log takes
 * several hundred thousand events/s; the indexer about 110k events/s.
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as SqliteMigrator from "@effect/sql-sqlite-node/SqliteMigrator"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as EventBatch from "@sluice/core/EventBatch"
import {
  type EventPage,
  type EventQuery,
  type EventStats,
  EventStore,
  StoreError,
  type StoreProgress
} from "@sluice/core/EventStore"
import type { StoredEvent } from "@sluice/core/LogEvent"
import * as Metrics from "@sluice/core/Metrics"
import { Spool } from "@sluice/core/Spool"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import { Worker } from "node:worker_threads"
import { encodeBatch, idsPerCommit } from "./EventRow.js"
import type { FromIndexer, IndexerSettings, ToIndexer } from "./IndexerProtocol.js"
import { migrate } from "./Migrate.js"
import * as Migrations from "./Migrations.js"
import * as Search from "./Search.js"
import * as SqliteSpool from "./SqliteSpool.js"

/** Settings of the SQLite store. */
export interface SqliteEventStoreOptions {
  /** The main database (commit log), opened by the `SqlClient` in context. */
  readonly commitFile: string
  /** The search database, owned by the store and its indexer. */
  readonly searchFile: string
  /** `synchronous` pragma of the main database: `full` survives power loss. */
  readonly synchronous?: "normal" | "full" | undefined
  /**
   * Page cache of the main database, in KiB (`cache_size`); default the
   * SQLite build's (better-sqlite3's: 16,000 KiB). An agent's spool only
   * appends and reads each commit once, so it keeps 1 MiB (bench:forward phase 1:
   * peak RSS ~150 → ~133 MB).
   */
  readonly cacheKib?: number | undefined
  /**
   * When this store is an agent's spool: retention then never removes what
   * is not forwarded yet (only the quota may, and it counts what it drops).
   */
  readonly forwarding?: boolean | undefined
  readonly spool?: SqliteSpool.SpoolOptions | undefined
  /** Build the search index (default true). An agent that only forwards turns it off. */
  readonly searchIndex?: boolean | undefined
  /**
   * Nice value of the indexer thread (default 10): under full load the
   * durable commit path keeps the cores and the index lags; 0 turns it off.
   */
  readonly indexerNiceness?: number | undefined
  /** Sizes of the search plans (see Search.ts); the defaults suit millions of events. */
  readonly search?: Search.SearchTuning | undefined
}

const idempotencyTtlMs = 24 * 3600_000

/** The largest exact `total` a query reports. */
export const countLimit = Search.countLimit

const storeError = (operation: string) => (error: SqlError | Error) =>
  new StoreError({
    operation,
    reason: error.cause instanceof Error ? `${error.message}: ${error.cause.message}` : error.message
  })

interface EventRowDb {
  readonly id: number
  readonly ts: number
  readonly received_at: number
  readonly level: number
  readonly source: string
  readonly message: string
  readonly entry_type: number
  readonly payload_type: string
  readonly project_id: string | null
  readonly agent_id: string | null
  readonly idx: string
  readonly sourcetype: string
  readonly transport: string
  readonly metadata: string
}

const toStored = (r: EventRowDb): StoredEvent => ({
  id: r.id,
  timestamp: r.ts,
  receivedAt: r.received_at,
  level: r.level,
  source: r.source,
  message: r.message,
  entryType: r.entry_type,
  payloadType: r.payload_type,
  projectId: r.project_id,
  agentId: r.agent_id,
  index: r.idx,
  sourcetype: r.sourcetype,
  transport: r.transport,
  metadata: JSON.parse(r.metadata) as Record<string, unknown>
})

export { migrate }

/** Builds the store: migrates both databases and starts the indexer. */
export const make = (options: SqliteEventStoreOptions) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql.unsafe(`PRAGMA synchronous = ${options.synchronous === "full" ? "FULL" : "NORMAL"}`)
    if (options.cacheKib !== undefined) {
      yield* sql.unsafe(`PRAGMA cache_size = -${Math.max(1, Math.floor(options.cacheKib))}`)
    }
    // Another thread checkpoints the WAL: the indexer (IndexerWorker) or,
    // without the index, the checkpointer (CheckpointWorker); commits on this
    // thread only append to it.
    yield* sql.unsafe("PRAGMA wal_autocheckpoint = 0")
    yield* migrate
    const search = yield* SqliteClient.make({ filename: options.searchFile })
    yield* search.unsafe("PRAGMA synchronous = NORMAL")
    yield* SqliteMigrator.run({ loader: SqliteMigrator.fromRecord(Migrations.search), table: "sluice_migrations" })
      .pipe(
        Effect.provideService(SqlClient.SqlClient, search),
        Effect.provideService(SqliteClient.SqliteClient, search),
        Effect.provide(NodeContext.layer)
      )

    const spoolState = yield* SqliteSpool.loadState(sql)
    const spool = SqliteSpool.make(sql, spoolState, options.spool ?? SqliteSpool.defaultOptions)

    // What the commit log holds beyond the index, for the lag.
    const [head] = yield* sql<{ seq: number }>`SELECT coalesce(max(seq), 0) AS seq FROM commits`
    const [indexState] = yield* search<{ seq: number }>`SELECT seq FROM index_state WHERE id = 1`
    let committedSeq = head!.seq
    let indexedSeq = indexState!.seq
    const unindexed: Array<readonly [seq: number, events: number]> = []
    let lagEvents = 0
    if (options.searchIndex === false) indexedSeq = committedSeq
    const backlog = yield* sql<{ seq: number; event_count: number }>`
      SELECT seq, event_count FROM commits WHERE seq > ${indexedSeq} ORDER BY seq`
    for (const row of backlog) {
      unindexed.push([row.seq, row.event_count])
      lagEvents += row.event_count
    }

    const onIndexed = (seq: number) => {
      indexedSeq = seq
      while (unindexed.length > 0 && unindexed[0]![0] <= seq) lagEvents -= unindexed.shift()![1]
    }

    const settings: IndexerSettings = {
      commitFile: options.commitFile,
      searchFile: options.searchFile,
      commitsPerTransaction: 2,
      pollMillis: 250,
      niceness: options.indexerNiceness ?? 10
    }
    const indexing = options.searchIndex !== false
    // The indexer thread (or the checkpointer, without the index); restarted
    // after a crash (the indexer resumes from its own state).
    let worker: Worker | undefined
    let stopping = false
    const spawn = () => {
      const w = new Worker(new URL(indexing ? "./IndexerWorker.js" : "./CheckpointWorker.js", import.meta.url), {
        workerData: settings,
        // The indexer holds one transaction's commits at a time; a cap keeps V8 from growing its heap lazily.
        resourceLimits: { maxOldGenerationSizeMb: indexing ? 128 : 16 }
      })
      w.on("message", (message: FromIndexer) => {
        if (message.type === "indexed") onIndexed(message.seq)
        if (message.type === "failed") Effect.runFork(Effect.logError("search indexer failed", message.reason))
      })
      w.on("error", (error) =>
        Effect.runFork(Effect.logError(indexing ? "search indexer crashed" : "checkpointer crashed", error.message)))
      w.on("exit", () => {
        if (worker === w) {
          worker = undefined
        }
        if (!stopping) {
          setTimeout(() =>
            stopping || (worker = spawn()), 1000).unref()
        }
      })
      return w
    }
    yield* Effect.acquireRelease(
      Effect.sync(() => {
        worker = spawn()
      }),
      () =>
        Effect.async<void>((resume) => {
          stopping = true
          const w = worker
          if (w === undefined) {
            return resume(Effect.void)
          }
          w.once("exit", () =>
            resume(Effect.void))
          w.postMessage({ type: "stop" } satisfies ToIndexer)
        })
    )
    const tell = (message: ToIndexer) => worker?.postMessage(message)

    const append = (batch: EventBatch.EventBatch, keys: ReadonlyArray<string>) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const count = EventBatch.size(batch)
        // Rows a transport encoded are stored as they are: bytes, cast to TEXT
        // in SQLite (UTF-8 both sides, so no transcoding), never a JS string.
        const text = EventBatch.isEncoded(batch) ? batch.toJson() : encodeBatch(batch)
        const seq = yield* sql.withTransaction(Effect.gen(function*() {
          const [row] = yield* sql<{ seq: number }>`
            INSERT INTO commits (created_at, event_count, bytes, events)
            VALUES (${now}, ${count}, ${text.length}, CAST(${text} AS TEXT)) RETURNING seq`
          for (const key of keys) {
            yield* sql`INSERT OR REPLACE INTO idempotency_keys (key, seq, created_at) VALUES (${key}, ${
              row!.seq
            }, ${now})`
          }
          if (options.forwarding === true) {
            yield* SqliteSpool.addCounts(sql, "received", new Map(EventBatch.transports(batch)))
          }
          return row!.seq
        }))
        spoolState.spoolBytes += text.length
        committedSeq = seq
        if (indexing) {
          unindexed.push([seq, count])
          lagEvents += count
        } else {
          indexedSeq = seq
        }
        tell({ type: "committed", seq })
        yield* Metric.set(Metrics.indexLagEvents, lagEvents)
        return { seq, firstId: seq * idsPerCommit }
      }).pipe(Effect.mapError(storeError("append")))

    const hasIdempotencyKey = (key: string) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const rows = yield* sql<{ n: number }>`
          SELECT count(*) AS n FROM idempotency_keys WHERE key = ${key} AND created_at > ${now - idempotencyTtlMs}`
        return rows[0]!.n > 0
      }).pipe(Effect.mapError(storeError("idempotency lookup")))

    const searcher = Search.make<EventRowDb>(search, options.search)

    const query = (query: EventQuery) =>
      searcher.query(query).pipe(
        Effect.map(({ rows, total }) => ({ items: rows.map(toStored), total }) satisfies EventPage),
        Effect.mapError(storeError("query"))
      )

    const stats = (range: { readonly from?: number | undefined; readonly to?: number | undefined }) =>
      Effect.gen(function*() {
        const { filter } = searcher.columnFilter(range)
        const count = (column: "level" | "source" | "transport") =>
          search<{ k: string; n: number }>`
            SELECT ${search(column)} AS k, count(*) AS n FROM events WHERE ${filter} GROUP BY ${search(column)}`.pipe(
            Effect.map((rows) => Object.fromEntries(rows.map((r) => [String(r.k), r.n])))
          )
        const byLevel = yield* count("level")
        const bySource = yield* count("source")
        const byTransport = yield* count("transport")
        const total = Object.values(byLevel).reduce((a, b) => a + b, 0)
        return { total, byLevel, bySource, byTransport } satisfies EventStats
      }).pipe(Effect.mapError(storeError("stats")))

    const progress = Effect.sync((): StoreProgress => ({ committedSeq, indexedSeq, lagEvents }))

    const retain = (policy: { readonly maxAgeMs: number; readonly maxBytes: number }) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        // Only what is already indexed (and, for a spool, forwarded) may go.
        const last = options.forwarding === true ? Math.min(indexedSeq, spoolState.cursorSeq - 1) : indexedSeq
        const byAge = yield* sql<{ seq: number | null; events: number | null }>`
          SELECT max(seq) AS seq, sum(event_count) AS events FROM commits
          WHERE created_at < ${now - policy.maxAgeMs} AND seq <= ${last}`
        let cutSeq = byAge[0]!.seq ?? 0
        const [size] = yield* sql<
          { bytes: number | null }
        >`SELECT sum(bytes) AS bytes FROM commits WHERE seq > ${cutSeq}`
        let excess = (size!.bytes ?? 0) - policy.maxBytes
        if (excess > 0) {
          const oldest = yield* sql<{ seq: number; bytes: number }>`
            SELECT seq, bytes FROM commits WHERE seq > ${cutSeq} AND seq <= ${last} ORDER BY seq`
          for (const row of oldest) {
            if (excess <= 0) break
            excess -= row.bytes
            cutSeq = row.seq
          }
        }
        yield* sql`DELETE FROM idempotency_keys WHERE created_at < ${now - idempotencyTtlMs}`
        if (cutSeq === 0) return { deletedCommits: 0, deletedEvents: 0 }
        const [gone] = yield* sql<{ commits: number; events: number | null }>`
          SELECT count(*) AS commits, sum(event_count) AS events FROM commits WHERE seq <= ${cutSeq}`
        yield* sql`DELETE FROM commits WHERE seq <= ${cutSeq}`
        tell({ type: "trim", minId: (cutSeq + 1) * idsPerCommit })
        return { deletedCommits: gone!.commits, deletedEvents: gone!.events ?? 0 }
      }).pipe(Effect.mapError(storeError("retention")))

    const ping = sql`SELECT 1`.pipe(Effect.asVoid, Effect.mapError(storeError("ping")))

    return {
      store: EventStore.of({ append, hasIdempotencyKey, query, stats, progress, retain, ping }),
      spool
    }
  }).pipe(Effect.provide(Reactivity.layer))

/** The SQLite `EventStore` of a gateway; needs the main database's `SqlClient`. */
export const layer = (
  options: Omit<SqliteEventStoreOptions, "forwarding" | "spool">
): Layer.Layer<EventStore, SqlError | Error, SqlClient.SqlClient> =>
  Layer.scoped(EventStore, make({ ...options, forwarding: false }).pipe(Effect.map(({ store }) => store)))

/**
 * The SQLite `EventStore` of an agent, with its `Spool`: retention keeps
 * what is not forwarded yet, and the writer asks the spool to admit each
 * group (the quota).
 */
export const layerWithSpool = (
  options: Omit<SqliteEventStoreOptions, "forwarding">
): Layer.Layer<EventStore | Spool, SqlError | Error, SqlClient.SqlClient> =>
  Layer.scopedContext(
    make({ ...options, forwarding: true }).pipe(
      Effect.map(({ spool, store }) => Context.make(EventStore, store).pipe(Context.add(Spool, spool)))
    )
  )

/**
 * The main database's client: WAL, one connection (writes are serialised
 * anyway). A new database gets 16 KiB pages: a commit row is a JSON array of
 * thousands of events, stored in a chain of overflow pages, and 4 KiB pages
 * made writing it slower; 64 KiB pages were faster still for big commits but
 * multiplied what a small one writes (a drain request of 100 events is one
 * commit), halving the drain's rate (docs/store.md). An existing database
 * keeps its page size.
 */
export const clientLayer = (filename: string) =>
  Layer.effectDiscard(Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    // Only takes effect before the first write, so before WAL mode is set.
    yield* sql.unsafe("PRAGMA page_size = 16384")
    yield* sql.unsafe("PRAGMA journal_mode = WAL")
  })).pipe(Layer.provideMerge(SqliteClient.layer({ filename, disableWAL: true })))
