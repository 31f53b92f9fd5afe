/**
 * A store without a search index (an agent's spool): a new database gets
 * 16 KiB pages, commits only append to the WAL (no automatic checkpoints on
 * the committing connection), and the checkpointer thread copies the WAL
 * into the database file.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import { EventStore } from "@sluice/core/EventStore"
import type { LogEvent } from "@sluice/core/LogEvent"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
// The package build: the checkpointer runs from its compiled worker file.
import { SqliteEventStore } from "@sluice/store-sql"

const event = (i: number): LogEvent => ({
  timestamp: Date.UTC(2025, 7, 31, 10) + i,
  receivedAt: Date.UTC(2025, 7, 31, 10) + i,
  level: 6,
  source: "checkpoint-test",
  message: `event ${i} `.padEnd(200, "x"),
  entryType: 1,
  payloadType: "generic",
  projectId: null,
  agentId: null,
  index: "main",
  sourcetype: "unix",
  transport: "unix",
  metadata: { seq: String(i) }
})

describe("the spool's checkpointer", () => {
  it.live("copies the WAL into the database file while commits only append", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-checkpoint-"))
    const file = path.join(dir, "sluice.db")
    const layer = SqliteEventStore.layerWithSpool({
      commitFile: file,
      searchFile: path.join(dir, "search.db"),
      searchIndex: false
    }).pipe(Layer.provideMerge(SqliteEventStore.clientLayer(file)))
    return Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const [page] = yield* sql<{ page_size: number }>`PRAGMA page_size`
      assert.strictEqual(page!.page_size, 16384)
      const [auto] = yield* sql<{ wal_autocheckpoint: number }>`PRAGMA wal_autocheckpoint`
      assert.strictEqual(auto!.wal_autocheckpoint, 0)
      const before = fs.statSync(file).size
      const store = yield* EventStore
      // ~5 MB of commit rows.
      for (let c = 0; c < 20; c++) {
        yield* store.append(Array.from({ length: 1000 }, (_, i) => event(c * 1000 + i)), [])
      }
      const [sum] = yield* sql<{ bytes: number }>`SELECT sum(bytes) AS bytes FROM commits`
      // The rows reach the database file only through a checkpoint (polled, ≤ 10 s).
      yield* Effect.suspend(() => fs.statSync(file).size >= before + sum!.bytes ? Effect.void : Effect.fail("not yet"))
        .pipe(Effect.retry(Schedule.spaced("20 millis").pipe(Schedule.intersect(Schedule.recurs(500)))))
    }).pipe(
      Effect.provide(layer),
      Effect.ensuring(Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
    )
  })
})
