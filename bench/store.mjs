// bench:store — durable group commits into SQLite through the real pipeline
// (Ingest → EventQueue → CommitWriter → SqliteEventStore), how fast the
// search index catches up, and peak RSS. Usage: npm run bench:store [-- N]
import { EventStore } from "@sluice/core/EventStore"
import { Ingest } from "@sluice/core/Ingest"
import * as Pipeline from "@sluice/core/Pipeline"
import { SqliteEventStore } from "@sluice/store-sql"
import { Effect, Layer } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

const N = Number(process.argv[2] ?? 1_000_000)
const BATCH = 100
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-bench-store-"))
const sync = process.env.SLUICE_SQLITE_SYNCHRONOUS === "full" ? "full" : "normal"
const mainDb = path.join(dir, "sluice.db")

const store = SqliteEventStore.layer({ commitFile: mainDb, searchFile: path.join(dir, "search.db"), synchronous: sync })
  .pipe(Layer.provide(SqliteEventStore.clientLayer(mainDb)))
const layer = Pipeline.layer().pipe(Layer.provideMerge(store))

const now = Date.now()
const levels = [3, 4, 5, 6, 7, 7, 7, 8]
const services = ["auth-service", "billing", "gateway", "search", "mailer"]
// ~250 bytes per event, 3 metadata keys, shaped like SPEC §1's example.
const makeEvent = (i) => ({
  timestamp: now + i,
  receivedAt: now + i,
  level: levels[i % 8],
  source: services[i % 5],
  message: `User login attempt from 10.0.${(i >> 8) & 255}.${i & 255} for account user${i} accepted after mfa check #${
    i % 977
  }`,
  entryType: 1,
  payloadType: "generic",
  projectId: null,
  agentId: null,
  index: "main",
  sourcetype: "unix",
  transport: "unix",
  metadata: { seq: String(i), host: `web-${i % 16}`, region: "eu-west-1" }
})

// A pool of 10,000 events (100 batches), offered round and round, so the
// figure is the pipeline and the store rather than the generator.
const pool = Array.from({ length: 100 }, (_, b) => Array.from({ length: BATCH }, (_, j) => makeEvent(b * BATCH + j)))

let peakRss = 0
let peakMem = {}
const sample = setInterval(() => {
  const m = process.memoryUsage()
  if (m.rss > peakRss) {
    peakRss = m.rss
    peakMem = m
  }
}, 50)

const program = Effect.gen(function*() {
  const ingest = yield* Ingest
  const events = yield* EventStore
  const t0 = performance.now()
  for (let i = 0, b = 0; i < N; i += BATCH, b = (b + 1) % pool.length) yield* ingest.offer(pool[b])
  yield* ingest.barrier
  const tDurable = performance.now()
  let maxLag = 0
  while (true) {
    const p = yield* events.progress
    maxLag = Math.max(maxLag, p.lagEvents)
    if (p.lagEvents === 0) break
    yield* Effect.sleep("20 millis")
  }
  const tIndexed = performance.now()
  const found = yield* events.stats({})
  return { t0, tDurable, tIndexed, maxLag, total: found.total }
})

const r = await Effect.runPromise(program.pipe(Effect.provide(layer), Effect.scoped))
clearInterval(sample)
peakRss = Math.max(peakRss, process.resourceUsage().maxRSS * 1024)
const durableS = (r.tDurable - r.t0) / 1000
const indexedS = (r.tIndexed - r.t0) / 1000
const result = {
  events: N,
  synchronous: sync,
  durable_events_per_s: Math.round(N / durableS),
  durable_seconds: +durableS.toFixed(2),
  searchable_events_per_s: Math.round(N / indexedS),
  index_lag_after_durable_s: +((r.tIndexed - r.tDurable) / 1000).toFixed(2),
  index_lag_when_durable_events: r.maxLag,
  searchable_count: r.total,
  peak_rss_mb: Math.round(peakRss / 1024 / 1024),
  db_mb: Math.round((fs.statSync(mainDb).size + fs.statSync(path.join(dir, "search.db")).size) / 1024 / 1024)
}
console.log(JSON.stringify(result, null, 2))
if (process.env.BENCH_VERBOSE) {
  console.log(Object.fromEntries(Object.entries(peakMem).map(([k, v]) => [k, Math.round(v / 1048576)])))
}
fs.rmSync(dir, { recursive: true, force: true })
