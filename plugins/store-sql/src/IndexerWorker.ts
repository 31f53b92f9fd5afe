/**
 * The search indexer, run in a worker thread so that indexing uses the
 * second core and never blocks ingest. It reads the commit log in commit
 * order and writes per-event rows and the FTS index into the search
 * database, recording how far it got in the same transaction, so a restart
 * resumes exactly where it stopped (no event indexed twice or missed).
 *
 * This is a tight synchronous loop over prepared statements: it uses the
 * `better-sqlite3` driver that `@effect/sql-sqlite-node` wraps, because a
 * per-row Effect statement would cost more than the index itself.
 */
import Database from "better-sqlite3"
import * as os from "node:os"
import { parentPort, workerData } from "node:worker_threads"
import { decodeBatch, idsPerCommit } from "./EventRow.js"
import type { FromIndexer, IndexerSettings, ToIndexer } from "./IndexerProtocol.js"
import { blockEvents } from "./Migrations.js"
import * as WalCheckpoint from "./WalCheckpoint.js"

const settings = workerData as IndexerSettings
const port = parentPort!

// Durable ingest comes first: on Linux a thread has its own nice value, so
// this lowers only the indexer. When the other threads are busy it yields the
// cores to them (the index lags, which the gauge shows); otherwise it runs at
// full speed.
if (settings.niceness > 0) {
  try {
    os.setPriority(0, settings.niceness)
  } catch {
    // Not permitted or not supported: index at normal priority.
  }
}

const commits = new Database(settings.commitFile, { readonly: true, timeout: 10_000 })
// A separate connection only to checkpoint the commit log's WAL into the
// database file (see WalCheckpoint).
const checkpointer = new Database(settings.commitFile, { timeout: 10_000 })
const walCheckpoint = WalCheckpoint.make(checkpointer, { busyTimeoutMillis: 10_000 })
let lastCheckpoint = 0
const checkpoint = (force: boolean) => {
  const now = Date.now()
  if (!force && now - lastCheckpoint < 200) return
  lastCheckpoint = now
  walCheckpoint()
}
const search = new Database(settings.searchFile, { timeout: 10_000 })
search.pragma("journal_mode = WAL")
search.pragma("synchronous = NORMAL")

const readCommits = commits.prepare<[number, number], { seq: number; events: string }>(
  "SELECT seq, events FROM commits WHERE seq > ? ORDER BY seq LIMIT ?"
)
const columns = 14
const rowsPerInsert = 50
const placeholders = `(${new Array(columns).fill("?").join(",")})`
const insertMany = search.prepare(`INSERT INTO events VALUES ${new Array(rowsPerInsert).fill(placeholders).join(",")}`)
const insertOne = search.prepare(`INSERT INTO events VALUES ${placeholders}`)
const insertFts = search.prepare(
  "INSERT INTO events_fts (rowid, message) SELECT id, message FROM events WHERE id >= ? AND id < ?"
)
const readState = search.prepare<[], { seq: number; events: number }>(
  "SELECT seq, events FROM index_state WHERE id = 1"
)
const writeState = search.prepare("UPDATE index_state SET seq = ?, events = ? WHERE id = 1")
const trimEvents = search.prepare("DELETE FROM events WHERE id < ?")
const trimBlocks = search.prepare("DELETE FROM blocks WHERE last_id < ?")
interface Block {
  first_id: number
  last_id: number
  min_ts: number
  max_ts: number
  events: number
}
const readOpenBlock = search.prepare<[], Block>(
  "SELECT first_id, last_id, min_ts, max_ts, events FROM blocks ORDER BY first_id DESC LIMIT 1"
)
const writeBlock = search.prepare(
  "INSERT OR REPLACE INTO blocks (first_id, last_id, min_ts, max_ts, events) VALUES (?, ?, ?, ?, ?)"
)
// The newest block, filled up to `blockEvents` before the next one starts.
let openBlock: Block | undefined = readOpenBlock.get()
const extendBlocks = (id: number, ts: number) => {
  const b = openBlock
  if (b === undefined || b.events >= blockEvents) {
    openBlock = { first_id: id, last_id: id, min_ts: ts, max_ts: ts, events: 1 }
    return
  }
  b.last_id = id
  if (ts < b.min_ts) b.min_ts = ts
  if (ts > b.max_ts) b.max_ts = ts
  b.events++
}
const trimFts = search.prepare("DELETE FROM events_fts WHERE rowid < ?")

let state = readState.get() ?? { seq: 0, events: 0 }

const indexRows = search.transaction((rows: ReadonlyArray<{ seq: number; events: string }>) => {
  let count = 0
  const params: Array<unknown> = []
  // Every block touched by this transaction is written in it (a rollback leaves none half-done).
  const touched: Array<Block> = []
  for (const row of rows) {
    const tuples = decodeBatch(row.events)
    const first = row.seq * idsPerCommit
    for (let i = 0; i < tuples.length; i++) {
      const t = tuples[i]!
      const before = openBlock
      extendBlocks(first + i, t[0])
      if (openBlock !== before || touched.length === 0) touched.push(openBlock!)
      params.push(
        first + i,
        t[0],
        t[1],
        t[2],
        t[3],
        t[4],
        t[5],
        t[6],
        t[7],
        t[8],
        t[9],
        t[10],
        t[11],
        JSON.stringify(t[12])
      )
      if (params.length === rowsPerInsert * columns) {
        insertMany.run(params)
        params.length = 0
      }
    }
    for (let j = 0; j < params.length; j += columns) insertOne.run(params.slice(j, j + columns))
    params.length = 0
    insertFts.run(first, first + tuples.length)
    count += tuples.length
  }
  for (const b of touched) writeBlock.run(b.first_id, b.last_id, b.min_ts, b.max_ts, b.events)
  const last = rows[rows.length - 1]!.seq
  writeState.run(last, state.events + count)
  return { seq: last, events: state.events + count }
})

const trim = search.transaction((minId: number) => {
  trimFts.run(minId)
  trimBlocks.run(minId)
  if (openBlock !== undefined && openBlock.last_id < minId) openBlock = undefined
  return trimEvents.run(minId).changes
})

const post = (message: FromIndexer) => port.postMessage(message)

let wake: (() => void) | undefined
let stopping = false
let pendingTrim: number | undefined

port.on("message", (message: ToIndexer) => {
  if (message.type === "stop") stopping = true
  if (message.type === "trim") pendingTrim = Math.max(pendingTrim ?? 0, message.minId)
  const w = wake
  wake = undefined
  w?.()
})

const loop = async () => {
  post({ type: "indexed", seq: state.seq })
  while (true) {
    if (pendingTrim !== undefined) {
      const deleted = trim(pendingTrim)
      pendingTrim = undefined
      post({ type: "trimmed", deleted })
    }
    // A stop does not wait for the backlog: the next start resumes from index_state.
    if (stopping) break
    const rows = readCommits.all(state.seq, settings.commitsPerTransaction)
    if (rows.length > 0) {
      state = indexRows(rows)
      post({ type: "indexed", seq: state.seq })
      checkpoint(false)
      // Let the main thread's messages (stop, trim) in between transactions.
      await new Promise<void>((resolve) => setImmediate(resolve))
      continue
    }
    checkpoint(true)
    if (stopping) break
    await new Promise<void>((resolve) => {
      wake = resolve
      // A commit notice can be lost between the read and the wait: re-check soon.
      setTimeout(resolve, settings.pollMillis)
    })
  }
  checkpoint(true)
  commits.close()
  checkpointer.close()
  search.close()
  process.exit(0)
}

loop().catch((error: unknown) => {
  post({ type: "failed", reason: error instanceof Error ? error.message : String(error) })
  process.exit(1)
})
