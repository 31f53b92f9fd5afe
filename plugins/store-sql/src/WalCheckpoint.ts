/**
 * Checkpoints of the commit log's WAL, run on a connection of their own in a
 * worker thread (the indexer's, or the checkpointer's without an index), so
 * that a commit on the main thread only appends to the WAL.
 *
 * A passive checkpoint never blocks the committing connection. But SQLite only
 * starts the WAL over when a writer finds all of it checkpointed, and under
 * steady commits a passive pass never catches up with the last frame. So the
 * WAL grows as long as commits go on: 1.6 GB after 21 s of bench:drain's
 * 500 × 64 cell, as large as the database itself. So once the WAL holds
 * `restartBytes` and a passive pass has copied all of it, a `RESTART`
 * checkpoint copies the few frames committed since, and has the next commit
 * write from the WAL's start. A `RESTART` holds back commits while it runs.
 * With its busy timeout set to `restartWaitMillis`, it never waits on a
 * reader for longer than that; a `RESTART` that cannot finish is tried again
 * on a later pass.
 */
import type Database from "better-sqlite3"

/** The WAL size at which a checkpoint also starts the WAL over. */
export const restartBytes = 64 * 1024 * 1024

/** The longest a restarting checkpoint waits for a reader (it holds back commits meanwhile). */
export const restartWaitMillis = 50

/** Passive passes a restart may wait for; the frames a pass may copy, and a restart have left to copy, to go ahead. */
const maxCatchUpPasses = 8
const catchUpFrames = 64

interface CheckpointResult {
  readonly busy: number
  readonly log: number
  readonly checkpointed: number
}

/** Settings of a checkpointer. */
export interface Options {
  /** The connection's own busy timeout, restored after a restart. */
  readonly busyTimeoutMillis: number
  /** The WAL size at which a checkpoint also starts the WAL over (default `restartBytes`). */
  readonly restartBytes?: number | undefined
}

/**
 * A checkpointer over `db`, a connection of its own to the commit log (it
 * turns autocheckpoint off there): call it after commits, at most every few
 * hundred milliseconds.
 */
export const make = (db: Pick<Database.Database, "pragma">, options: Options) => {
  db.pragma("wal_autocheckpoint = 0")
  const pageSize = db.pragma("page_size", { simple: true }) as number
  const restartFrames = Math.ceil((options.restartBytes ?? restartBytes) / pageSize)
  const checkpoint = (mode: "PASSIVE" | "RESTART"): CheckpointResult | undefined =>
    (db.pragma(`wal_checkpoint(${mode})`) as Array<CheckpointResult>)[0]
  // The WAL's length when it was last restarted: until a commit starts it over, there is nothing to do.
  let restartedAt = -1
  return (): void => {
    let pass = checkpoint("PASSIVE")
    if (pass === undefined || pass.log < restartFrames || pass.log === restartedAt) return
    // Catch up with the commits made during the last pass (a pass reports the
    // WAL as it was when it began), so that the restart, which holds commits
    // back, has only a few frames left to copy.
    let caughtUp = false
    for (let i = 0; i < maxCatchUpPasses && !caughtUp; i++) {
      const next = checkpoint("PASSIVE")
      if (next === undefined) return
      caughtUp = next.checkpointed - pass.checkpointed <= catchUpFrames && next.log - next.checkpointed <= catchUpFrames
      pass = next
    }
    if (!caughtUp) return
    db.pragma(`busy_timeout = ${restartWaitMillis}`)
    try {
      const restart = checkpoint("RESTART")
      if (restart?.busy === 0) restartedAt = restart.log
    } finally {
      db.pragma(`busy_timeout = ${options.busyTimeoutMillis}`)
    }
  }
}
