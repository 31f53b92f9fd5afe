/**
 * Searching the search database: a page of events newest first (`ts DESC,
 * id DESC`) and a `total` exact up to `countLimit`. Three plans, picked per
 * query by what is cheap for it:
 *
 * - **columns**: no full text. One SQL statement over the timestamp, agent
 *   or project index, and a capped count.
 * - **candidates**: full text with an `agent_id` or `project_id` filter that
 *   matches at most `candidateLimit` events. The index lists them (id and
 *   timestamp), one pass over the full-text matches keeps those that match.
 * - **full text**: the FTS index drives. Its matches come newest id first,
 *   cheaply, in growing batches; each batch is checked against the other
 *   filters. Ids follow commit order, not timestamps, so the `blocks` table
 *   (time bounds of consecutive id ranges, kept by the indexer) says when no
 *   older id can hold an event newer than the page found so far: then the
 *   page is exact and the scan stops (a common word takes one batch).
 *
 * Every plan reads inside one transaction, so the indexer committing
 * meanwhile cannot shift what a later statement sees.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import type { EventQuery } from "@sluice/core/EventStore"
import * as Effect from "effect/Effect"

/**
 * The FTS5 MATCH expression for `q`: every word of it must match. A word is
 * split where the index's tokenizer splits (anything but letters and digits),
 * so `user-42` or `10.0.0.1` needs each of its parts: the index keeps no
 * positions (`detail=none`), so FTS5 cannot match them as a phrase. Each part
 * is quoted: operators in user input are literal.
 */
export const ftsQuery = (q: string): string | undefined => {
  const tokens = q.split(/[^\p{L}\p{N}\p{Co}]+/u).filter((w) => w.length > 0)
  if (tokens.length === 0) return undefined
  return tokens.map((w) => `"${w}"`).join(" ")
}

/** The largest exact `total` a query reports. */
export const countLimit = 10_000

/** Above this many events, an indexed filter is not used to list candidates. */
export const candidateLimit = 50_000

/** The first batch of full-text matches; each next one is 4× larger, up to `maxBatch`. */
const firstBatch = 1024
const maxBatch = 65_536

/** Sizes of the plans (the defaults suit millions of events; tests make them small). */
export interface SearchTuning {
  readonly candidateLimit?: number | undefined
  readonly firstBatch?: number | undefined
  readonly seekEvents?: number | undefined
}

interface Hit {
  readonly id: number
  readonly ts: number
}

const newestFirst = (a: Hit, b: Hit) => b.ts - a.ts || b.id - a.id

/** A page of matching rows and the capped total. */
export interface SearchResult<Row> {
  readonly rows: ReadonlyArray<Row>
  readonly total: number
}

interface Block {
  readonly first_id: number
  readonly last_id: number
  readonly min_ts: number
  readonly max_ts: number
  readonly events: number
}

/** Seeking in the FTS index costs ~15 ms; streaming past fewer events than this is cheaper. */
const seekEvents = 100_000

/** Index of the block holding `id`, or of the newest block below it (-1: none). */
const blockAt = (blocks: ReadonlyArray<Block>, id: number) => {
  let lo = 0
  let hi = blocks.length - 1
  let found = -1
  while (lo <= hi) {
    const mid = (lo + hi) >> 1
    if (blocks[mid]!.first_id <= id) {
      found = mid
      lo = mid + 1
    } else {
      hi = mid - 1
    }
  }
  return found
}

/** The search plans over the search database's client. */
export const make = <Row extends { readonly id: number }>(sql: SqlClient.SqlClient, tuning: SearchTuning = {}) => {
  const candidates = tuning.candidateLimit ?? candidateLimit
  const batch = tuning.firstBatch ?? firstBatch
  const seekPast = tuning.seekEvents ?? seekEvents
  /** Every filter but `q`, on the `events` columns. */
  const columnFilter = (query: Omit<EventQuery, "offset" | "limit">) => {
    const clauses = []
    if (query.from !== undefined) clauses.push(sql`ts >= ${query.from}`)
    if (query.to !== undefined) clauses.push(sql`ts <= ${query.to}`)
    if (query.level !== undefined) clauses.push(sql`level <= ${query.level}`)
    if (query.source !== undefined) clauses.push(sql`source = ${query.source}`)
    if (query.agentId !== undefined) clauses.push(sql`agent_id = ${query.agentId}`)
    if (query.projectId !== undefined) clauses.push(sql`project_id = ${query.projectId}`)
    if (query.index !== undefined) clauses.push(sql`idx = ${query.index}`)
    return { filter: clauses.length === 0 ? sql`1 = 1` : sql.and(clauses), any: clauses.length > 0 }
  }

  /** The rows of `ids`, in that order. */
  const rowsOf = (ids: ReadonlyArray<number>) =>
    Effect.gen(function*() {
      if (ids.length === 0) return []
      const rows = yield* sql<Row>`SELECT * FROM events WHERE id IN (SELECT value FROM json_each(${
        JSON.stringify(ids)
      }))`
      const byId = new Map(rows.map((r) => [r.id, r]))
      return ids.flatMap((id) => byId.get(id) ?? [])
    })

  const byColumns = (query: EventQuery) =>
    Effect.gen(function*() {
      const { filter } = columnFilter(query)
      const rows = yield* sql<Row>`
        SELECT * FROM events WHERE ${filter} ORDER BY ts DESC, id DESC LIMIT ${query.limit} OFFSET ${query.offset}`
      // Counting every match of a broad filter over millions of rows costs seconds:
      // the total is exact up to `countLimit`, and says `countLimit` beyond it.
      const [count] = yield* sql<{ n: number }>`
        SELECT count(*) AS n FROM (SELECT 1 FROM events WHERE ${filter} LIMIT ${countLimit})`
      return { rows, total: count!.n }
    })

  /** Full text with an indexed filter: its candidates, or `undefined` when there are too many. */
  const byCandidates = (query: EventQuery, match: string) =>
    Effect.gen(function*() {
      const { filter } = columnFilter(query)
      const listed = yield* sql<Hit>`SELECT id, ts FROM events WHERE ${filter} LIMIT ${candidates + 1}`
      if (listed.length > candidates) return undefined
      if (listed.length === 0) return { rows: [], total: 0 }
      // `+rowid` keeps the id list out of the FTS table's own constraints: the
      // full-text matches stream once and each is looked up in the list.
      const matched = yield* sql<{ id: number }>`
        SELECT rowid AS id FROM events_fts WHERE events_fts MATCH ${match}
        AND +rowid IN (SELECT value FROM json_each(${JSON.stringify(listed.map((c) => c.id))}))`
      const keep = new Set(matched.map((m) => m.id))
      const hits = listed.filter((c) => keep.has(c.id)).sort(newestFirst)
      const rows = yield* rowsOf(hits.slice(query.offset, query.offset + query.limit).map((h) => h.id))
      return { rows, total: Math.min(hits.length, countLimit) }
    })

  const byFullText = (query: EventQuery, match: string) =>
    Effect.gen(function*() {
      const { any, filter } = columnFilter(query)
      const blocks = yield* sql<Block>`SELECT first_id, last_id, min_ts, max_ts, events FROM blocks ORDER BY first_id`
      // The blocks that can hold an event of the time range at all.
      const inRange = (b: Block) =>
        (query.from === undefined || b.max_ts >= query.from) && (query.to === undefined || b.min_ts <= query.to)
      const first = blocks.findIndex(inRange)
      if (first === -1) return { rows: [], total: 0 }
      let last = blocks.length - 1
      while (!inRange(blocks[last]!)) last--
      const lo = blocks[first]!.first_id
      const hi = blocks[last]!.last_id
      const eventsBetween = (from: number, to: number) => {
        let n = 0
        for (let i = from; i <= to; i++) n += blocks[i]!.events
        return n
      }

      // The total: one statement that stops at `countLimit` matches. Without
      // other filters the FTS index counts by itself.
      const [count] = any
        ? yield* sql<{ n: number }>`
            SELECT count(*) AS n FROM (
              SELECT 1 FROM (SELECT rowid AS id FROM events_fts WHERE events_fts MATCH ${match}) AS m
              JOIN events AS e ON e.id = m.id WHERE m.id BETWEEN ${lo} AND ${hi} AND ${filter}
              LIMIT ${countLimit})`
        : yield* sql<{ n: number }>`
            SELECT count(*) AS n FROM (SELECT 1 FROM events_fts WHERE events_fts MATCH ${match} LIMIT ${countLimit})`
      const total = count!.n
      if (total === 0) return { rows: [], total: 0 }

      // The page: matches newest id first, in growing batches. Once the page
      // is full, blocks that hold nothing newer than its last entry are
      // skipped (a seek when that passes many events), and when no older
      // block can, the page is exact.
      const depth = query.offset + query.limit
      let page: Array<Hit> = []
      let ceiling = last < blocks.length - 1 && eventsBetween(last + 1, blocks.length - 1) > seekPast
        ? hi
        : undefined
      let offset = 0
      let size = batch
      while (true) {
        const below = ceiling === undefined ? sql`` : sql`AND rowid <= ${ceiling}`
        const rows = yield* sql<{ id: number | null; ts: number; meta: number }>`
          WITH m AS MATERIALIZED (
            SELECT rowid AS id FROM events_fts WHERE events_fts MATCH ${match} ${below}
            ORDER BY rowid DESC LIMIT ${size} OFFSET ${offset})
          SELECT e.id AS id, e.ts AS ts, 0 AS meta FROM m JOIN events AS e ON e.id = m.id
          WHERE m.id BETWEEN ${lo} AND ${hi} AND ${filter}
          UNION ALL SELECT min(id), count(*), 1 FROM m`
        const summary = rows.find((r) => r.meta === 1)!
        const hits = rows.filter((r) => r.meta === 0) as Array<Hit>
        if (hits.length > 0) page = [...page, ...hits].sort(newestFirst).slice(0, depth)
        const scanned = summary.ts
        const lowest = summary.id
        if (scanned < size || lowest === null || lowest <= lo) break
        offset += scanned
        size = Math.min(size * 4, maxBatch)
        if (page.length < depth) continue
        // The newest block below `lowest` that may hold an event newer than the page's last.
        const oldest = page[depth - 1]!.ts
        const here = blockAt(blocks, lowest - 1)
        let next = here
        while (next >= first && blocks[next]!.max_ts <= oldest) next--
        if (next < first) break
        const target = blocks[next]!
        if (target.last_id < lowest - 1 && eventsBetween(next + 1, here) > seekPast) {
          // A jump lands where at most `depth` events can still enter the page.
          ceiling = target.last_id
          offset = 0
          size = batch
        }
      }
      const rows = yield* rowsOf(page.slice(query.offset, depth).map((h) => h.id))
      return { rows, total }
    })

  /** A page of `query`, newest first, with its capped total. */
  const query = (query: EventQuery): Effect.Effect<SearchResult<Row>, SqlError> => {
    const match = query.q === undefined ? undefined : ftsQuery(query.q)
    if (match === undefined) return byColumns(query)
    const plan = query.agentId !== undefined || query.projectId !== undefined
      ? Effect.flatMap(
        byCandidates(query, match),
        (result): Effect.Effect<SearchResult<Row>, SqlError> =>
          result === undefined ? byFullText(query, match) : Effect.succeed(result)
      )
      : byFullText(query, match)
    return sql.withTransaction(plan)
  }

  return { query, columnFilter }
}
