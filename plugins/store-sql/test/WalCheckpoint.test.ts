/**
 * The commit log's checkpointer keeps the WAL bounded while commits go on.
 *
 * Under load, a commit lands while each checkpoint pass runs, so no pass
 * ever copies the WAL to its last frame. SQLite starts a WAL over only when
 * a commit finds all of it copied, so the WAL grows with every commit. Here
 * that is played on one thread, without timing: during each passive pass
 * a reader holds the snapshot of when the pass began, and a commit lands
 * after it. The control is the same load with restarts off: its WAL grows
 * to the size of everything written.
 */
import { describe, expect, it } from "@effect/vitest"
import Database from "better-sqlite3"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as WalCheckpoint from "../src/WalCheckpoint.js"

const megabyte = 1024 * 1024

/** Commits ~64 KiB rows around `cycles` checkpoints; answers the largest WAL file seen, and the rows kept. */
const run = (restartBytes: number, cycles: number) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-wal-"))
  const file = path.join(dir, "commits.db")
  const writer = new Database(file)
  writer.pragma("journal_mode = WAL")
  writer.pragma("synchronous = NORMAL")
  writer.pragma("wal_autocheckpoint = 0")
  writer.exec("CREATE TABLE commits (seq INTEGER PRIMARY KEY, events BLOB)")
  const reader = new Database(file, { readonly: true })
  const checkpointer = new Database(file)
  try {
    const insert = writer.prepare("INSERT INTO commits (events) VALUES (?)")
    const row = Buffer.alloc(64 * 1024, 0x61)
    const commit = () => insert.run(row)
    const readAll = reader.prepare("SELECT count(*) AS n FROM commits")
    // Each passive pass overlaps a commit: it copies only up to where it began.
    const overlapped: Pick<Database.Database, "pragma"> = {
      pragma: (source: string, options?: Database.PragmaOptions) => {
        if (source !== "wal_checkpoint(PASSIVE)") return checkpointer.pragma(source, options)
        reader.exec("BEGIN")
        readAll.get()
        commit()
        try {
          return checkpointer.pragma(source, options)
        } finally {
          reader.exec("COMMIT")
        }
      }
    }
    const checkpoint = WalCheckpoint.make(overlapped, { busyTimeoutMillis: 1000, restartBytes })
    let largest = 0
    for (let i = 0; i < cycles; i++) {
      commit()
      commit()
      checkpoint()
      largest = Math.max(largest, fs.statSync(`${file}-wal`).size)
    }
    const kept = (writer.prepare("SELECT count(*) AS n FROM commits").get() as { n: number }).n
    return { largest, kept }
  } finally {
    reader.close()
    checkpointer.close()
    writer.close()
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

describe("the commit log's checkpointer", () => {
  it("keeps the WAL near its restart size while every pass overlaps a commit", () => {
    const bounded = run(2 * megabyte, 150)
    const control = run(Number.MAX_SAFE_INTEGER, 150)
    // 150 cycles write at least 450 rows of 64 KiB (~29 MB).
    expect(control.largest, "the WAL without restarts").toBeGreaterThan(25 * megabyte)
    expect(bounded.largest, "the WAL with restarts at 2 MiB").toBeLessThan(6 * megabyte)
    expect(bounded.kept, "every row committed is there").toBeGreaterThanOrEqual(450)
  })
})
