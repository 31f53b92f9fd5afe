/**
 * The `Spool` over the SQLite commit log: a forward cursor `(seq, offset)`
 * into the commits, dead letters, the quota, and the loss accounting. The
 * cursor, the dead letters and the counters move in the same transaction, and
 * `received` is counted in the commit's own transaction (SqliteEventStore), so
 * the accounting equation survives any crash.
 *
 * A forward batch is a slice of one commit starting at the cursor: commits
 * never change, so after a restart the same slice is sent again with the
 * same idempotency key and an upstream Sluice stores it once.
 */
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import type { MigrationError } from "@effect/sql/Migrator"
import type * as SqlClient from "@effect/sql/SqlClient"
import * as SqlClientTag from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { drainBody } from "@sluice/core/DrainEvent"
import * as EventBatch from "@sluice/core/EventBatch"
import { StoreError } from "@sluice/core/EventStore"
import { batchSize, type ForwardBatch } from "@sluice/core/Forwarder"
import type { LogEvent } from "@sluice/core/LogEvent"
import { type Accounting, type QuotaPolicy, Spool } from "@sluice/core/Spool"
import * as Clock from "effect/Clock"
import type * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { randomUUID } from "node:crypto"
import { drainSlice } from "./DrainText.js"
import { decodeBatch, encodeBatch, type EventTuple, tupleToEvent } from "./EventRow.js"
import { migrate } from "./Migrate.js"

/** Settings of the spool. */
export interface SpoolOptions {
  /** Bytes of unsent commit log allowed (default 1 GiB). */
  readonly quotaBytes: number
  readonly policy: QuotaPolicy
}

/** Defaults of SPEC §6: 1 GiB, backpressure. */
export const defaultOptions: SpoolOptions = { quotaBytes: 1024 ** 3, policy: "backpressure" }

/** State shared with the store: the cursor, and what the commit log holds beyond it. */
export interface SpoolState {
  cursorSeq: number
  cursorOffset: number
  spoolBytes: number
  readonly instanceId: string
}

const utf8 = new TextDecoder()

const storeError = (operation: string) => (error: SqlError) => new StoreError({ operation, reason: error.message })

/** Counts events by transport (core's `EventBatch.transports`, as a map). */
export const countByTransport = (events: ReadonlyArray<LogEvent>): Map<string, number> =>
  new Map(EventBatch.transports(events))

type Column = "received" | "forwarded" | "dropped" | "dead_lettered"

/** Adds per-transport counts to one accounting column (inside the caller's transaction). */
export const addCounts = (sql: SqlClient.SqlClient, column: Column, counts: Map<string, number>) =>
  Effect.forEach(
    counts,
    ([transport, n]) =>
      sql`INSERT INTO accounting (transport, ${sql(column)}) VALUES (${transport}, ${n})
          ON CONFLICT (transport) DO UPDATE SET ${sql(column)} = ${sql(column)} + ${n}`,
    { discard: true }
  )

/** Loads (or creates) the spool state. */
export const loadState = (sql: SqlClient.SqlClient) =>
  Effect.gen(function*() {
    const rows = yield* sql<{ instance_id: string; cursor_seq: number; cursor_offset: number }>`
      SELECT instance_id, cursor_seq, cursor_offset FROM spool_state WHERE id = 1`
    let state = rows[0]
    if (state === undefined) {
      const [first] = yield* sql<{ seq: number | null }>`SELECT min(seq) AS seq FROM commits`
      state = { instance_id: randomUUID(), cursor_seq: first!.seq ?? 1, cursor_offset: 0 }
      yield* sql`INSERT INTO spool_state (id, instance_id, cursor_seq, cursor_offset)
                 VALUES (1, ${state.instance_id}, ${state.cursor_seq}, 0)`
    }
    const [bytes] = yield* sql<{ bytes: number | null }>`
      SELECT sum(bytes) AS bytes FROM commits WHERE seq >= ${state.cursor_seq}`
    return {
      cursorSeq: state.cursor_seq,
      cursorOffset: state.cursor_offset,
      spoolBytes: bytes!.bytes ?? 0,
      instanceId: state.instance_id
    } satisfies SpoolState
  })

/** Builds the spool over the main database's client and the shared state. */
export const make = (sql: SqlClient.SqlClient, state: SpoolState, options: SpoolOptions) => {
  // Commits read once for all the slices taken from them (the one at the
  // cursor and the one read ahead while a batch is in flight): the row's
  // UTF-8 bytes, decoded into tuples only when a batch's events are read.
  // The forward hot path writes drain bodies from the bytes (DrainText).
  interface Commit {
    readonly seq: number
    readonly count: number
    readonly bytes: number
    readonly text: Uint8Array
    tuples?: ReadonlyArray<EventTuple>
  }
  const cached = new Map<number, Commit>()
  const remember = (commit: Commit) => {
    cached.set(commit.seq, commit)
    for (const seq of cached.keys()) if (seq < state.cursorSeq || cached.size > 2) cached.delete(seq)
  }
  const tuplesOf = (commit: Commit) => (commit.tuples ??= decodeBatch(utf8.decode(commit.text)))

  // Per transport, the events of the slices whose drain JSON was cut (by
  // idempotency key), so acking them needs no decoding: the batch in flight
  // and the one read ahead.
  const transportsBySlice = new Map<string, Map<string, number>>()
  const countsOf = (batch: ForwardBatch) =>
    transportsBySlice.get(batch.idempotencyKey) ?? countByTransport(batch.events)

  /** The first commit with unsent events at or after (seq, offset). */
  const commitFrom = (seq: number, offset: number) =>
    Effect.gen(function*() {
      while (true) {
        const known = cached.get(seq)
        if (known !== undefined && offset < known.count) return { commit: known, offset }
        const [row] = yield* sql<{ seq: number; event_count: number; bytes: number; events: Uint8Array }>`
          SELECT seq, event_count, bytes, CAST(events AS BLOB) AS events FROM commits
          WHERE seq >= ${seq} ORDER BY seq LIMIT 1`
        if (row === undefined) return undefined
        if (row.seq !== seq) {
          seq = row.seq
          offset = 0
        }
        if (offset >= row.event_count) {
          seq = row.seq + 1
          offset = 0
          continue
        }
        const commit: Commit = { seq: row.seq, count: row.event_count, bytes: row.bytes, text: row.events }
        remember(commit)
        return { commit, offset }
      }
    })

  /** A slice of a commit as a batch: its events are decoded only when read. */
  const sliceOf = (commit: Commit, offset: number, maxEvents: number): ForwardBatch => {
    const count = Math.min(maxEvents, commit.count - offset)
    const idempotencyKey = `${state.instanceId}:${commit.seq}:${offset}:${count}`
    let events: ReadonlyArray<LogEvent> | undefined
    const batch: ForwardBatch = {
      seq: commit.seq,
      offset,
      count,
      idempotencyKey,
      get events() {
        return (events ??= tuplesOf(commit).slice(offset, offset + count).map(tupleToEvent))
      },
      drainBody: (shape) => {
        const cut = drainSlice(commit.text, commit.count, offset, count, shape)
        if (cut === undefined) return drainBody(batch.events, shape)
        transportsBySlice.set(idempotencyKey, cut.transports)
        while (transportsBySlice.size > 2) transportsBySlice.delete(transportsBySlice.keys().next().value!)
        return cut.body
      }
    }
    return batch
  }

  const next = (maxEvents: number, after?: ForwardBatch) =>
    Effect.gen(function*() {
      const found = after === undefined
        ? yield* commitFrom(state.cursorSeq, state.cursorOffset)
        : yield* commitFrom(after.seq, after.offset + batchSize(after))
      if (found === undefined) return undefined
      const { commit, offset } = found
      if (after === undefined) {
        state.cursorSeq = commit.seq
        state.cursorOffset = offset
      }
      return sliceOf(commit, offset, maxEvents)
    }).pipe(Effect.mapError(storeError("spool read")))

  // Whether the cursor is already past a batch (only drop_oldest moves it while a batch is in flight).
  const passed = (batch: ForwardBatch) =>
    state.cursorSeq > batch.seq ||
    (state.cursorSeq === batch.seq && state.cursorOffset >= batch.offset + batchSize(batch))

  // Moves the cursor past a batch, in the caller's transaction.
  const advance = (batch: ForwardBatch) =>
    Effect.gen(function*() {
      let seq = batch.seq
      let offset = batch.offset + batchSize(batch)
      const commit = cached.get(batch.seq)
      const done = commit !== undefined && offset >= commit.count
      if (done) {
        seq += 1
        offset = 0
      }
      yield* sql`UPDATE spool_state SET cursor_seq = ${seq}, cursor_offset = ${offset} WHERE id = 1`
      return () => {
        state.cursorSeq = seq
        state.cursorOffset = offset
        if (done) state.spoolBytes -= commit.bytes
      }
    })

  // Counts a batch as forwarded or dead-lettered and moves the cursor past
  // it. When drop_oldest already dropped it while it was in flight (the
  // cursor is past it), it moves from dropped to that column instead and the
  // cursor stays where it is.
  const settle = (batch: ForwardBatch, column: "forwarded" | "dead_lettered", counts: Map<string, number>) =>
    Effect.gen(function*() {
      if (passed(batch)) {
        yield* addCounts(sql, "dropped", new Map([...counts].map(([transport, n]) => [transport, -n])))
        yield* addCounts(sql, column, counts)
        return () => {}
      }
      yield* addCounts(sql, column, counts)
      return yield* advance(batch)
    })

  const ack = (batch: ForwardBatch) =>
    sql.withTransaction(settle(batch, "forwarded", countsOf(batch))).pipe(
      Effect.map((apply) => apply()),
      Effect.mapError(storeError("spool ack"))
    )

  const deadLetter = (batch: ForwardBatch, status: number, response: string) =>
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const apply = yield* sql.withTransaction(Effect.gen(function*() {
        yield* sql`INSERT INTO dead_letters (created_at, status, response, event_count, events)
                   VALUES (${now}, ${status}, ${response.slice(0, 65536)}, ${batch.events.length}, ${
          encodeBatch(batch.events)
        })`
        return yield* settle(batch, "dead_lettered", countByTransport(batch.events))
      }))
      apply()
    }).pipe(Effect.mapError(storeError("dead letter")))

  const deadLetters = (page: { readonly offset: number; readonly limit: number }) =>
    Effect.gen(function*() {
      const rows = yield* sql<{ id: number; created_at: number; status: number; response: string; events: string }>`
        SELECT id, created_at, status, response, events FROM dead_letters ORDER BY id
        LIMIT ${page.limit} OFFSET ${page.offset}`
      const [count] = yield* sql<{ n: number }>`SELECT count(*) AS n FROM dead_letters`
      return {
        items: rows.map((r) => ({
          id: r.id,
          createdAt: r.created_at,
          status: r.status,
          response: r.response,
          events: decodeBatch(r.events).map(tupleToEvent)
        })),
        total: count!.n
      }
    }).pipe(Effect.mapError(storeError("dead letters")))

  const resolveDeadLetters = (ids: ReadonlyArray<number>) =>
    sql.withTransaction(Effect.gen(function*() {
      if (ids.length === 0) return 0
      const rows = yield* sql<{ events: string }>`SELECT events FROM dead_letters WHERE ${sql.in("id", ids)}`
      const counts = countByTransport(rows.flatMap((r) => decodeBatch(r.events).map(tupleToEvent)))
      yield* addCounts(sql, "forwarded", counts)
      yield* Effect.forEach(
        counts,
        ([transport, n]) =>
          sql`UPDATE accounting SET dead_lettered = dead_lettered - ${n} WHERE transport = ${transport}`,
        { discard: true }
      )
      yield* sql`DELETE FROM dead_letters WHERE ${sql.in("id", ids)}`
      return rows.length
    })).pipe(Effect.mapError(storeError("dead letters")))

  const purgeDeadLetters = sql.withTransaction(Effect.gen(function*() {
    const [count] = yield* sql<{ n: number }>`SELECT count(*) AS n FROM dead_letters`
    yield* sql`DELETE FROM dead_letters`
    return count!.n
  })).pipe(Effect.mapError(storeError("dead letters")))

  // Drops the unsent rest of the commit at the cursor, counting what is lost.
  const dropOldest = Effect.gen(function*() {
    const found = yield* commitFrom(state.cursorSeq, state.cursorOffset)
    if (found === undefined) return false
    const { commit, offset } = found
    const lost: Array<LogEvent> = tuplesOf(commit).slice(offset).map(tupleToEvent)
    const batch: ForwardBatch = { seq: commit.seq, offset, events: lost, idempotencyKey: "" }
    const apply = yield* sql.withTransaction(Effect.gen(function*() {
      yield* addCounts(sql, "dropped", countByTransport(lost))
      return yield* advance(batch)
    }))
    apply()
    yield* Effect.logWarning("spool at its quota: dropped the oldest unsent events", { events: lost.length })
    return true
  })

  const admit = (bytes: number) =>
    Effect.gen(function*() {
      while (state.spoolBytes > 0 && state.spoolBytes + bytes > options.quotaBytes) {
        if (options.policy === "drop_oldest") {
          if (!(yield* dropOldest)) return
        } else {
          yield* Effect.sleep("50 millis")
        }
      }
    }).pipe(Effect.mapError(storeError("spool quota")))

  const accounting = Effect.gen(function*() {
    const rows = yield* sql<
      { transport: string; received: number; forwarded: number; dropped: number; dead_lettered: number }
    >`SELECT transport, received, forwarded, dropped, dead_lettered FROM accounting ORDER BY transport`
    const [beyond] = yield* sql<{ n: number | null }>`
      SELECT sum(event_count) AS n FROM commits WHERE seq > ${state.cursorSeq}`
    const [atCursor] = yield* sql<{ n: number | null }>`
      SELECT event_count AS n FROM commits WHERE seq = ${state.cursorSeq}`
    const buffered = (beyond!.n ?? 0) + Math.max(0, (atCursor?.n ?? 0) - state.cursorOffset)
    const byTransport: Record<string, Accounting> = {}
    const total = { received: 0, forwarded: 0, buffered, dropped: 0, deadLettered: 0 }
    for (const r of rows) {
      byTransport[r.transport] = {
        received: r.received,
        forwarded: r.forwarded,
        dropped: r.dropped,
        deadLettered: r.dead_lettered,
        buffered: r.received - r.forwarded - r.dropped - r.dead_lettered
      }
      total.received += r.received
      total.forwarded += r.forwarded
      total.dropped += r.dropped
      total.deadLettered += r.dead_lettered
    }
    return { total, byTransport, spoolBytes: state.spoolBytes, quotaBytes: options.quotaBytes }
  }).pipe(Effect.mapError(storeError("accounting")))

  return Spool.of({ next, ack, deadLetter, deadLetters, resolveDeadLetters, purgeDeadLetters, admit, accounting })
}

/**
 * The spool of a store's main database on its own, for operator tools
 * (`sluice status`, `sluice dlq`) that run beside a live agent: SQLite's WAL
 * lets them read and write while the agent runs.
 */
export const layerFile = (
  filename: string,
  options: SpoolOptions = defaultOptions
): Layer.Layer<Spool, SqlError | MigrationError | ConfigError.ConfigError> =>
  Layer.effect(
    Spool,
    Effect.gen(function*() {
      const sql = yield* SqlClientTag.SqlClient
      yield* migrate
      return make(sql, yield* loadState(sql), options)
    })
  ).pipe(Layer.provide(SqliteClient.layer({ filename })))
