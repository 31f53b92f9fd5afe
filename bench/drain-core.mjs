// The drain's own work with no HTTP at all: each body scanned into rows
// (DrainScanner, as POST /v1/drain does) and offered durable into the real
// pipeline and SQLite store with `sluice up`'s defaults, from CONC fibers at
// once, each waiting for its commit as a request would. What any HTTP stack
// in front of this store could reach at best on this machine.
// Usage: node bench/drain-core.mjs BATCH CONC SECONDS  → one JSON line.
import { ByteWriter } from "@sluice/core/ByteWriter"
import { EncodedEvents } from "@sluice/core/EventBatch"
import { Ingest } from "@sluice/core/Ingest"
import * as Pipeline from "@sluice/core/Pipeline"
import { defaultLimits } from "@sluice/http-drain/DrainBatch"
import { DrainScanner, fallback } from "@sluice/http-drain/DrainScanner"
import { SqliteEventStore } from "@sluice/store-sql"
import { Effect, Layer } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { drainBody, tempDir } from "./lib.mjs"

const [batch, concurrency, seconds] = process.argv.slice(2).map(Number)
const dir = tempDir("sluice-bench-drain-core-")
const mainDb = path.join(dir, "sluice.db")
const store = SqliteEventStore.layer({
  commitFile: mainDb,
  searchFile: path.join(dir, "search.db"),
  synchronous: "normal"
})
  .pipe(Layer.provide(SqliteEventStore.clientLayer(mainDb)))
const layer = Pipeline.layer().pipe(Layer.provideMerge(store))
const bodies = Array.from({ length: 16 }, (_, s) => drainBody(batch, s))

const program = Effect.gen(function*() {
  const ingest = yield* Ingest
  let events = 0
  let measuring = false
  let done = false
  const client = (c) =>
    Effect.gen(function*() {
      const scanner = new DrainScanner(defaultLimits)
      for (let i = c; !done; i++) {
        const body = bodies[i % bodies.length]
        const rows = new ByteWriter(body.length + 1024)
        const count = scanner.scan(body, Date.now(), rows)
        if (count === fallback) throw new Error("the scanner refused a bench body")
        yield* ingest.offer(new EncodedEvents(count, rows.buffer.subarray(0, rows.length), [["http", count]]), {
          durable: true,
          transport: "http",
          bytes: body.length
        })
        if (measuring) events += count
      }
    })
  const fibers = yield* Effect.forEach(Array.from({ length: concurrency }, (_, c) => c), (c) => Effect.fork(client(c)))
  yield* Effect.sleep("1 second")
  measuring = true
  const t0 = performance.now()
  yield* Effect.sleep(`${seconds} seconds`)
  measuring = false
  const elapsed = (performance.now() - t0) / 1000
  done = true
  for (const f of fibers) yield* f.await
  return Math.round(events / elapsed)
})

const eventsPerSec = await Effect.runPromise(program.pipe(Effect.provide(layer), Effect.scoped))
console.log(JSON.stringify({ batch, concurrency, eventsPerSec }))
fs.rmSync(dir, { recursive: true, force: true })
