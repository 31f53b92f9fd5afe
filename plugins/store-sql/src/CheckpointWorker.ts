/**
 * The checkpointer of a store without a search index (an agent's spool):
 * copies the commit log's WAL into the database file on its own connection
 * and thread, so a commit on the main thread only appends to the WAL. A
 * checkpoint copies every committed page a second time and syncs both files;
 * on the committing thread it took ~6 % of the agent's socket ingest rate
 * (bench-peers, 2026-11-24). With the index on, the indexer thread does this
 * (`IndexerWorker`).
 *
 * How the WAL is kept bounded: `WalCheckpoint`.
 */
import Database from "better-sqlite3"
import { parentPort, workerData } from "node:worker_threads"
import type { IndexerSettings, ToIndexer } from "./IndexerProtocol.js"
import * as WalCheckpoint from "./WalCheckpoint.js"

const settings = workerData as Pick<IndexerSettings, "commitFile">
const port = parentPort!

const db = new Database(settings.commitFile, { timeout: 10_000 })
const walCheckpoint = WalCheckpoint.make(db, { busyTimeoutMillis: 10_000 })

/** At most one checkpoint per this many milliseconds. */
const intervalMillis = 200
let last = 0
let timer: ReturnType<typeof setTimeout> | undefined

const checkpoint = () => {
  timer = undefined
  last = Date.now()
  walCheckpoint()
}

port.on("message", (message: ToIndexer) => {
  switch (message.type) {
    case "committed":
      // The first commit after a checkpoint schedules the next one.
      timer ??= setTimeout(checkpoint, Math.max(0, last + intervalMillis - Date.now()))
      return
    case "stop":
      if (timer !== undefined) clearTimeout(timer)
      checkpoint()
      db.close()
      port.close()
      return
    case "trim":
      return
  }
})
