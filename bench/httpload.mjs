// Shared by the HTTP benchmarks: keep-alive clients posting bodies in a loop
// for a measured window, and the table they print.
import * as http from "node:http"

const warmupMs = 1000

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** POSTs `body` to `target` ({ port, path, headers }); resolves with the status and the latency in ms. */
export const post = (agent, target, body) =>
  new Promise((resolve) => {
    const t0 = performance.now()
    const req = http.request({
      host: "127.0.0.1",
      port: target.port,
      path: target.path,
      method: "POST",
      agent,
      headers: { "content-type": "application/json", "content-length": body.length, ...target.headers }
    }, (res) => {
      res.resume()
      res.on("end", () => resolve({ status: res.statusCode, ms: performance.now() - t0 }))
    })
    req.on("error", (e) => resolve({ status: 0, ms: performance.now() - t0, error: e.message }))
    req.end(body)
  })

const percentile = (sorted, p) =>
  sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]

/**
 * `concurrency` clients post `bodies` (of `batch` events each) in turn to
 * `target` for a 1 s warm-up, then `seconds` measured: events/s and
 * requests/s of the 202s answered inside the measured window, the p50/p99
 * latency of those also sent inside it, and the other answers.
 */
export const load = async (target, batch, bodies, concurrency, seconds) => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency })
  const latencies = []
  let events = 0
  let requests = 0
  let failed = 0
  let firstError
  let measuring = false
  let done = false
  const client = async (c) => {
    let i = c
    while (!done) {
      // Latency counts only for requests sent inside the window: the first
      // request of each new connection, sent during the warm-up, can take
      // over a second, and counted it made the p99 of a 64-client cell.
      const sentInWindow = measuring
      const r = await post(agent, target, bodies[i++ % bodies.length])
      if (!measuring) continue
      requests++
      if (r.status === 202) {
        events += batch
        if (sentInWindow) latencies.push(r.ms)
      } else {
        failed++
        firstError ??= r.error ?? `HTTP ${r.status}`
      }
    }
  }
  const clients = Array.from({ length: concurrency }, (_, c) => client(c))
  await sleep(warmupMs)
  measuring = true
  const t0 = performance.now()
  await sleep(seconds * 1000)
  measuring = false
  const elapsed = (performance.now() - t0) / 1000
  done = true
  await Promise.all(clients)
  agent.destroy()
  latencies.sort((a, b) => a - b)
  return {
    batch,
    concurrency,
    eventsPerSec: Math.round(events / elapsed),
    requestsPerSec: Math.round(requests / elapsed),
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    failed,
    firstError
  }
}

const ms = (x) => (Number.isNaN(x) ? "-" : x.toFixed(2)).padStart(7)

/** Prints rows of `load` under a title. */
export const table = (title, rows) => {
  console.log(`\n${title}`)
  console.log("batch  clients   events/s      req/s   p50 ms   p99 ms  non-202")
  for (const r of rows) {
    console.log(
      `${String(r.batch).padStart(5)}  ${String(r.concurrency).padStart(7)}  ${String(r.eventsPerSec).padStart(9)}  ${
        String(r.requestsPerSec).padStart(9)
      }  ${ms(r.p50)}  ${ms(r.p99)}  ${String(r.failed).padStart(7)}${r.firstError ? `  (${r.firstError})` : ""}`
    )
  }
}
