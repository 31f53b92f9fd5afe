// bench:search — the control plane over a large SQLite store: latency of
// GET /api/v1/logs with full text (q) and with filters (p50/p95/p99, goal
// p95 < 200 ms), and the SSE live tail keeping up with an ingest rate
// (goal 50k events/s on one subscriber, bounded memory).
// Usage: npm run bench:search [-- EVENTS [RATE [SECONDS]]]  (defaults 5,000,000 · 50,000/s · 10 s)
// The loaded store is kept in bench/.data/search-<EVENTS> and reused by later runs.
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpLayerRouter from "@effect/platform/HttpLayerRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import { ControlPlane } from "@sluice/control-plane"
import { EventStore } from "@sluice/core/EventStore"
import { Ingest } from "@sluice/core/Ingest"
import * as Pipeline from "@sluice/core/Pipeline"
import { SqliteEventStore } from "@sluice/store-sql"
import { Effect, Layer, ManagedRuntime, Redacted } from "effect"
import * as fs from "node:fs"
import * as http from "node:http"
import * as path from "node:path"
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads"

const N = Number(process.argv[2] ?? 5_000_000)
const RATE = Number(process.argv[3] ?? 50_000)
const SECONDS = Number(process.argv[4] ?? 10)
const QUERIES = 50
const dir = path.resolve("bench/.data", `search-${N}`)
fs.mkdirSync(dir, { recursive: true })
const mainDb = path.join(dir, "sluice.db")
const admin = { email: "bench@example.com", password: "bench password 123" }

const store = SqliteEventStore.layer({ commitFile: mainDb, searchFile: path.join(dir, "search.db") })
const routes = ControlPlane.layer({
  dataDir: dir,
  admin: { email: admin.email, password: Redacted.make(admin.password) },
  rateLimits: { auth: 1e9, dashboard: 1e9, agents: 1e9, streaming: 1e9 }
})
const layer = HttpLayerRouter.serve(routes, { disableLogger: true, disableListenLog: true }).pipe(
  Layer.provideMerge(NodeHttpServer.layer(() => http.createServer(), { host: "127.0.0.1", port: 0 })),
  Layer.provideMerge(Pipeline.layer()),
  Layer.provideMerge(store),
  Layer.provideMerge(SqliteEventStore.clientLayer(mainDb))
)
const runtime = ManagedRuntime.make(layer)

// Shaped like real logs: 40 services, 8 levels (mostly info), 200 projects,
// 2,000 agents, 7 days of timestamps, words from a vocabulary with a long tail.
const DAY = 24 * 3600_000
const t0 = Date.UTC(2026, 0, 1)
const levels = [3, 4, 5, 6, 7, 7, 7, 7, 7, 8]
const verbs = ["accepted", "rejected", "retrying", "timeout", "connected", "closed", "started", "stopped"]
const nouns = ["request", "session", "payment", "upload", "query", "job", "token", "cache"]
const rare = (i) => `code${i % 5000}`
const makeEvent = (i) => ({
  timestamp: t0 + Math.floor((i / N) * 7 * DAY),
  receivedAt: t0 + Math.floor((i / N) * 7 * DAY),
  level: levels[i % 10],
  source: `svc-${i % 40}`,
  message: `${nouns[i % 8]} ${verbs[(i >> 3) % 8]} for user${i % 100_000} from 10.0.${(i >> 8) & 255}.${i & 255} ${
    rare(i)
  }`,
  entryType: 1,
  payloadType: "generic",
  projectId: `project-${i % 200}`,
  agentId: `agent-${i % 2000}`,
  index: i % 10 === 0 ? "audit" : "main",
  sourcetype: "unix",
  transport: i % 3 === 0 ? "http" : "unix",
  metadata: { host: `web-${i % 16}` }
})

// The store's total is capped, so a finished load leaves a marker with its size.
const marker = path.join(dir, "loaded.json")
const load = Effect.gen(function*() {
  const events = yield* EventStore
  if (fs.existsSync(marker)) {
    const { events: have, next } = JSON.parse(fs.readFileSync(marker, "utf8"))
    console.log(
      `store: ${have.toLocaleString()} events already loaded in ${dir}, and ${
        (next - have).toLocaleString()
      } from earlier tail phases`
    )
    return { stored: have, next }
  }
  if ((yield* events.query({ offset: 0, limit: 1 })).total > 0) {
    throw new Error(`${dir} holds an unfinished load: delete it and run again`)
  }
  const have = 0
  const start = performance.now()
  const BATCH = 20_000
  for (let i = have; i < N; i += BATCH) {
    const batch = []
    for (let j = i; j < Math.min(N, i + BATCH); j++) batch.push(makeEvent(j))
    yield* events.append(batch, [])
  }
  const committed = performance.now()
  for (;;) {
    const p = yield* events.progress
    if (p.lagEvents === 0) break
    yield* Effect.promise(() => new Promise((r) => setTimeout(r, 500)))
  }
  const indexed = performance.now()
  console.log(
    `store: ${(N - have).toLocaleString()} events appended in ${((committed - start) / 1000).toFixed(1)} s, ` +
      `indexed after ${((indexed - start) / 1000).toFixed(1)} s`
  )
  fs.writeFileSync(marker, JSON.stringify({ events: N, next: N }))
  return { stored: N, next: N }
})

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]

const main = async () => {
  // Tail phases go on from where earlier runs stopped, so their timestamps keep increasing.
  const { next, stored } = await runtime.runPromise(load)
  const address = await runtime.runPromise(HttpServer.HttpServer)
  const base = `http://127.0.0.1:${address.address.port}`
  const login = await fetch(`${base}/api/v1/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(admin)
  })
  const { token } = await login.json()
  const headers = { authorization: `Bearer ${token}` }

  const day = (d) => new Date(t0 + d * DAY).toISOString()
  const scenarios = [
    ["q=rare word (code1234)", () => `q=code${1000 + Math.floor(Math.random() * 4000)}`],
    ["q=common word (payment)", () => "q=payment"],
    ["q=two words", () => `q=payment%20${verbs[Math.floor(Math.random() * 8)]}`],
    ["level<=4 & source", () => `level=4&source=svc-${10 * Math.floor(Math.random() * 4)}`],
    ["project_id", () => `project_id=project-${Math.floor(Math.random() * 200)}`],
    ["agent_id", () => `agent_id=agent-${Math.floor(Math.random() * 2000)}`],
    ["one hour, from/to", () => {
      const d = Math.random() * 6
      return `from=${day(d)}&to=${day(d + 1 / 24)}`
    }],
    ["index=audit & level<=3", () => "index=audit&level=3"],
    ["no filter, page 50", () => "page=50&page_size=100"],
    ["q + level<=3", () => "q=payment&level=3"],
    ["q + one day", () => `q=timeout&from=${day(4)}&to=${day(5)}`],
    ["q + project (all time)", () => `q=payment&project_id=project-${Math.floor(Math.random() * 200)}`],
    [
      "q rare + source",
      () => `q=code${1000 + Math.floor(Math.random() * 4000)}&source=svc-${Math.floor(Math.random() * 40)}`
    ],
    [
      "q + project + day",
      () => `q=payment&project_id=project-${Math.floor(Math.random() * 200)}&from=${day(2)}&to=${day(3)}`
    ]
  ]
  console.log(`\nGET /api/v1/logs over ${stored.toLocaleString()} events, ${QUERIES} requests each (ms):`)
  console.log("scenario".padEnd(28), "p50".padStart(8), "p95".padStart(8), "p99".padStart(8), "  total matches (last)")
  for (const [name, query] of scenarios) {
    const times = []
    let total = 0
    for (let i = 0; i < QUERIES; i++) {
      const start = performance.now()
      const reply = await fetch(`${base}/api/v1/logs?${query()}`, { headers })
      const body = await reply.json()
      times.push(performance.now() - start)
      if (reply.status !== 200) throw new Error(`${name}: ${reply.status} ${JSON.stringify(body)}`)
      total = body.total
    }
    times.sort((a, b) => a - b)
    console.log(
      name.padEnd(28),
      percentile(times, 50).toFixed(1).padStart(8),
      percentile(times, 95).toFixed(1).padStart(8),
      percentile(times, 99).toFixed(1).padStart(8),
      `  ${total.toLocaleString()}`
    )
  }

  // Live tail: one SSE subscriber in its own thread (as a separate client
  // would be), ingest at RATE events/s through the real pipeline.
  const subscriber = new Worker(new URL(import.meta.url), {
    workerData: { url: `${base}/api/v1/logs/stream`, headers }
  })
  let received = 0
  let notices = 0
  subscriber.on("message", (m) => {
    received = m.received
    notices = m.notices
  })
  await new Promise((resolve) => subscriber.once("message", resolve))
  // Ingests RATE events/s for SECONDS through the real pipeline, sampling memory.
  const ingestPhase = async (offset) => {
    global.gc?.()
    const heapBefore = process.memoryUsage().heapUsed
    let peakHeap = heapBefore
    let peakRss = process.memoryUsage().rss
    const sampler = setInterval(() => {
      const m = process.memoryUsage()
      peakHeap = Math.max(peakHeap, m.heapUsed)
      peakRss = Math.max(peakRss, m.rss)
    }, 100)
    const sent = await runtime.runPromise(Effect.gen(function*() {
      const ingest = yield* Ingest
      const perTick = Math.round(RATE / 100)
      const start = performance.now()
      let n = 0
      let refused = 0
      for (let tick = 0; tick < SECONDS * 100; tick++) {
        const batch = []
        for (let j = 0; j < perTick; j++) batch.push(makeEvent(offset + n + j))
        n += perTick
        // Past the queue's block timeout the pipeline refuses: count it, go on.
        yield* ingest.offer(batch).pipe(
          Effect.catchTag("Backpressure", () => Effect.sync(() => (refused += batch.length)))
        )
        const due = start + (tick + 1) * 10
        const wait = due - performance.now()
        if (wait > 0) yield* Effect.promise(() => new Promise((r) => setTimeout(r, wait)))
      }
      yield* ingest.barrier
      return { n: n - refused, refused, seconds: (performance.now() - start) / 1000 }
    }))
    clearInterval(sampler)
    const memory = `heap ${(heapBefore / 2 ** 20).toFixed(0)} → peak ${(peakHeap / 2 ** 20).toFixed(0)} MiB, ` +
      `peak RSS ${(peakRss / 2 ** 20).toFixed(0)} MiB`
    return { ...sent, memory, rate: Math.round(sent.n / sent.seconds).toLocaleString() }
  }

  const sent = await ingestPhase(next)
  const committed = Date.now()
  while (received < sent.n && Date.now() < committed + 10_000 && notices === 0) {
    await new Promise((r) => setTimeout(r, 50))
  }
  console.log(
    `\nlive tail, one subscriber reading: offered ${sent.n.toLocaleString()} events in ${sent.seconds.toFixed(1)} s ` +
      `(${sent.refused.toLocaleString()} refused by backpressure) ` +
      `(${sent.rate}/s); received ${received.toLocaleString()} (${((received / sent.n) * 100).toFixed(1)}%), ` +
      `skip notices: ${notices}, caught up ${((Date.now() - committed) / 1000).toFixed(2)} s after the last commit; ` +
      sent.memory
  )

  // The same with a subscriber that stops reading: the server must drop for it, not grow.
  const before = received
  subscriber.postMessage("pause")
  const stalled = await ingestPhase(next + sent.n)
  fs.writeFileSync(marker, JSON.stringify({ events: stored, next: next + sent.n + stalled.n }))
  subscriber.postMessage("resume")
  const resumed = Date.now()
  while (Date.now() < resumed + 3_000 && notices === 0) await new Promise((r) => setTimeout(r, 50))
  await new Promise((r) => setTimeout(r, 500))
  console.log(
    `live tail, the subscriber stalled: offered ${stalled.n.toLocaleString()} events (${stalled.rate}/s); ` +
      `after resuming it received ${(received - before).toLocaleString()} and ${notices} skip notice(s); ` +
      stalled.memory
  )
  await subscriber.terminate()
  await runtime.dispose()
  process.exit(0)
}

// The subscriber thread: counts `event: log` and `event: notice`, reports every 50 ms.
const subscribe = ({ url, headers }) => {
  let received = 0
  let notices = 0
  let tail = ""
  http.get(url, { headers }, (res) => {
    parentPort.on("message", (m) => (m === "pause" ? res.pause() : res.resume()))
    res.setEncoding("utf8")
    res.on("data", (chunk) => {
      const text = tail + chunk
      let at = 0
      for (;;) {
        const i = text.indexOf("event: ", at)
        if (i < 0) break
        // Matches that were already complete inside the carried tail were counted before.
        if (text.startsWith("event: log", i) && i + 10 > tail.length) received++
        else if (text.startsWith("event: notice", i) && i + 13 > tail.length) notices++
        at = i + 7
      }
      tail = text.slice(Math.max(0, text.length - 16))
      if (text.includes(": subscribed")) parentPort.postMessage({ received, notices })
    })
  })
  setInterval(() => parentPort.postMessage({ received, notices }), 50)
}

if (isMainThread) {
  main().catch(async (error) => {
    console.error(error)
    // Bounded: a failed run must not linger (and skew the next one).
    await Promise.race([runtime.dispose(), new Promise((r) => setTimeout(r, 5000))])
    process.exit(1)
  })
} else {
  subscribe(workerData)
}
