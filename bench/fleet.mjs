// bench:fleet — 10,000 simulated agents against one real `sluice server` on
// SQLite: each enrols, then polls its config every 10 s and heartbeats every
// 30 s (random phases, keep-alive connections) for the run's duration.
// Midway an input is added to the group; the bench measures the time until
// 99 % of the agents have fetched the new version. Prints errors, p50/p99/max
// latency of polls and heartbeats, the server's peak RSS.
// Usage: npm run bench:fleet [-- SECONDS [AGENTS]]   (default 300 s, 10,000)
import * as fs from "node:fs"
import * as http from "node:http"
import { monitorEventLoopDelay } from "node:perf_hooks"
import { freePort, machine, peakRssMb, start, stop, tempDir } from "./lib.mjs"

const seconds = Number(process.argv[2] ?? process.env.BENCH_SECONDS ?? 300)
const agentCount = Number(process.argv[3] ?? process.env.BENCH_AGENTS ?? 10_000)
const pollMs = 10_000
const heartbeatMs = 30_000
const email = "bench@example.com"
const password = "bench-password-0123456789"

const pool = new http.Agent({ keepAlive: true, maxSockets: 256 })
let port = 0

const call = (method, path, { headers = {}, body } = {}) =>
  new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body))
    const started = performance.now()
    const req = http.request({
      host: "127.0.0.1",
      port,
      method,
      path,
      agent: pool,
      headers: { ...headers, ...(data ? { "content-type": "application/json", "content-length": data.length } : {}) }
    }, (res) => {
      const chunks = []
      res.on("data", (c) => chunks.push(c))
      res.on("end", () =>
        resolve({
          status: res.statusCode,
          headers: res.headers,
          text: Buffer.concat(chunks).toString(),
          ms: performance.now() - started
        }))
    })
    req.on("error", reject)
    if (data) req.write(data)
    req.end()
  })

const json = (r) => JSON.parse(r.text)

/** CPU seconds a process has used (all its threads). */
const cpuSeconds = (pid) => {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ")
  return (Number(fields[11]) + Number(fields[12])) / 100
}
const must = (r, status, what) => {
  if (r.status !== status) throw new Error(`${what}: expected ${status}, got ${r.status} ${r.text}`)
  return r
}

const percentile = (sorted, p) =>
  sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]
const summary = (samples) => {
  const s = Float64Array.from(samples).sort()
  return { n: s.length, p50: percentile(s, 0.5), p99: percentile(s, 0.99), max: s[s.length - 1] }
}

const main = async () => {
  port = await freePort()
  const dataDir = tempDir("sluice-bench-fleet-")
  const server = await start(["server"], {
    SLUICE_DATA_DIR: dataDir,
    SLUICE_HTTP_PORT: String(port),
    SLUICE_ADMIN_EMAIL: email,
    SLUICE_ADMIN_PASSWORD: password,
    // Enrolment is limited per IP (1,000/min); the bench enrols 10,000 agents from one.
    SLUICE_RATE_LIMIT_EDGE: "1000000"
  })
  let rssTimer
  try {
    const login = json(must(await call("POST", "/api/v1/auth/login", { body: { email, password } }), 200, "login"))
    const user = { authorization: `Bearer ${login.token}` }
    const group = json(
      must(
        await call("POST", "/api/v1/groups", { headers: user, body: { name: "Bench fleet", slug: "bench-fleet" } }),
        201,
        "create group"
      )
    )
    must(
      await call("POST", `/api/v1/groups/${group.id}/inputs`, {
        headers: user,
        body: { type: "file", name: "syslog", settings: { paths: ["/var/log/syslog"] } }
      }),
      201,
      "create input"
    )
    const enrolment = json(
      must(
        await call("POST", `/api/v1/groups/${group.id}/enrolment-tokens`, {
          headers: user,
          body: { max_uses: agentCount, ttl_seconds: 3600 }
        }),
        201,
        "create enrolment token"
      )
    )

    // Enrol every agent (64 at a time).
    const t0 = performance.now()
    const agents = new Array(agentCount)
    let next = 0
    await Promise.all(Array.from({ length: 64 }, async () => {
      while (next < agentCount) {
        const i = next++
        const r = must(
          await call("POST", "/api/v1/agents/enrol", {
            body: {
              bootstrapToken: enrolment.token,
              hostname: `host-${i}.bench.example.com`,
              platform: "linux",
              os: "Ubuntu 24.04",
              kernel: "6.8.0-35-generic",
              agentVersion: "0.4.1"
            }
          }),
          201,
          "enrol"
        )
        const data = json(r).data
        agents[i] = { id: data.agentId, auth: { authorization: `Bearer ${data.agentToken}` }, version: 0, seenAt: 0 }
      }
    }))
    const enrolSeconds = (performance.now() - t0) / 1000
    console.log(`enrolled ${agentCount} agents in ${enrolSeconds.toFixed(1)} s`)

    const polls = []
    const heartbeats = []
    const errors = new Map()
    const countError = (what) => errors.set(what, (errors.get(what) ?? 0) + 1)
    let rss = 0
    rssTimer = setInterval(() => (rss = Math.max(rss, peakRssMb(server.pid))), 1000)

    // The client's own event-loop delay: latency it adds to every figure below.
    const clientLag = monitorEventLoopDelay({ resolution: 10 })
    clientLag.enable()
    let running = true
    const endAt = performance.now() + seconds * 1000
    let changeAt = Infinity
    let targetVersion = Infinity
    const poll = async (a) => {
      try {
        const r = await call("GET", `/api/v1/agents/${a.id}/config?since=${a.version}`, { headers: a.auth })
        polls.push(r.ms)
        if (r.status === 200) {
          a.version = Number(r.headers["x-config-version"])
          if (a.version >= targetVersion && a.seenAt === 0) a.seenAt = performance.now()
        } else if (r.status !== 204) countError(`poll ${r.status}`)
      } catch (e) {
        countError(`poll ${e.code ?? e.message}`)
      }
    }
    const heartbeat = async (a, started) => {
      try {
        const r = await call("POST", `/api/v1/agents/${a.id}/heartbeat`, {
          headers: a.auth,
          body: {
            agentVersion: "0.4.1",
            appliedConfigVersion: a.version,
            pipelineRunning: true,
            pipelineUptimeSeconds: Math.round((performance.now() - started) / 1000),
            lastConfigError: null,
            metrics: { cpu_percent: 12.4, mem_percent: 45, disk_percent: 62, uptime_s: 86400 },
            actionResults: []
          }
        })
        heartbeats.push(r.ms)
        if (r.status !== 200) countError(`heartbeat ${r.status}`)
      } catch (e) {
        countError(`heartbeat ${e.code ?? e.message}`)
      }
    }
    const timers = []
    const cpu0 = cpuSeconds(server.pid)
    const started = performance.now()
    for (const a of agents) {
      const loop = (fn, period) => {
        const tick = async () => {
          if (!running) return
          await fn(a, started)
          if (running) timers.push(setTimeout(tick, period))
        }
        timers.push(setTimeout(tick, Math.random() * period))
      }
      loop(poll, pollMs)
      loop(heartbeat, heartbeatMs)
    }

    // The config change, midway (at least one poll period before the end).
    const changeDelay = Math.max(0, Math.min(seconds * 500, seconds * 1000 - 3 * pollMs))
    await new Promise((r) => setTimeout(r, changeDelay))
    // The version the change will make, known before it is made, so no poll between the edit and
    // the bench learning the number goes uncounted.
    const before = json(must(await call("GET", `/api/v1/groups/${group.id}`, { headers: user }), 200, "get group"))
    targetVersion = before.config_version + 1
    changeAt = performance.now()
    must(
      await call("POST", `/api/v1/groups/${group.id}/inputs`, {
        headers: user,
        body: { type: "file", name: "nginx", settings: { paths: ["/var/log/nginx/access.log"] } }
      }),
      201,
      "add input"
    )

    await new Promise((r) => setTimeout(r, Math.max(0, endAt - performance.now())))
    running = false
    for (const t of timers) clearTimeout(t)

    const reached = agents.map((a) => a.seenAt).filter((t) => t > 0).map((t) => (t - changeAt) / 1000).sort((x, y) =>
      x - y
    )
    const p99Reach = reached.length >= Math.ceil(agentCount * 0.99) ? reached[Math.ceil(agentCount * 0.99) - 1] : NaN
    const p = summary(polls)
    const h = summary(heartbeats)
    rss = Math.max(rss, peakRssMb(server.pid))
    const elapsed = (performance.now() - started) / 1000
    const serverCpu = cpuSeconds(server.pid) - cpu0
    console.log(`machine: ${machine()}`)
    console.log(
      `run: ${agentCount} agents, ${elapsed.toFixed(0)} s (poll ${pollMs / 1000} s, heartbeat ${heartbeatMs / 1000} s)`
    )
    console.log(
      `polls:      ${p.n} (${(p.n / elapsed).toFixed(0)}/s)  p50 ${p.p50.toFixed(1)} ms  p99 ${
        p.p99.toFixed(1)
      } ms  max ${p.max.toFixed(1)} ms`
    )
    console.log(
      `heartbeats: ${h.n} (${(h.n / elapsed).toFixed(0)}/s)  p50 ${h.p50.toFixed(1)} ms  p99 ${
        h.p99.toFixed(1)
      } ms  max ${h.max.toFixed(1)} ms`
    )
    clientLag.disable()
    console.log(
      `client event-loop delay: p50 ${(clientLag.percentile(50) / 1e6).toFixed(1)} ms  p99 ${
        (clientLag.percentile(99) / 1e6).toFixed(1)
      } ms  max ${(clientLag.max / 1e6).toFixed(1)} ms`
    )
    console.log(`errors: ${errors.size === 0 ? "none" : JSON.stringify(Object.fromEntries(errors))}`)
    console.log(
      `config change v${targetVersion}: reached ${reached.length}/${agentCount} agents; 99 % after ${
        Number.isNaN(p99Reach) ? "n/a" : `${p99Reach.toFixed(1)} s`
      }`
    )
    console.log(`server peak RSS: ${rss} MB; server CPU ${(100 * serverCpu / elapsed).toFixed(0)} % of one core`)
  } finally {
    clearInterval(rssTimer)
    pool.destroy()
    await stop(server)
  }
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
