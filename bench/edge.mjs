// bench:edge — POST /api/v1/edge/logs (what enrolled agents forward to)
// against the real `sluice up` binary, beside POST /v1/drain on the same
// server: batches of 100 and 500 events from 1, 16 and 64 keep-alive
// clients, each cell run on the edge route, then on the drain. One agent is
// enrolled through the control plane (the edge rate limit is raised for the
// load); its events carry the routing fields a forwarder sends (`index`,
// `sourcetype`, `transport`, three routings in turn). Usage: npm run bench:edge [-- SECONDS]
import * as fs from "node:fs"
import * as http from "node:http"
import { load, table } from "./httpload.mjs"
import { drainBody, freePort, machine, peakRssMb, start, stop, tempDir } from "./lib.mjs"

const seconds = Number(process.argv[2] ?? process.env.BENCH_SECONDS ?? 5)
const token = "bench-drain-token-0123456789abcdef"
const email = "bench@example.com"
const password = "bench-password-0123456789"
const sizes = [100, 500]
const concurrencies = [1, 16, 64]
const routings = [["main", "agent_unix", "unix"], ["web", "nginx", "file"], ["main", "agent_tcp", "tcp"]]

const call = (port, method, path, headers, body) =>
  new Promise((resolve, reject) => {
    const data = Buffer.from(JSON.stringify(body))
    const req = http.request({
      host: "127.0.0.1",
      port,
      method,
      path,
      agent: false,
      headers: { "content-type": "application/json", "content-length": data.length, ...headers }
    }, (res) => {
      const chunks = []
      res.on("data", (c) => chunks.push(c))
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString()
        if (res.statusCode >= 300) reject(new Error(`${method} ${path} answered ${res.statusCode}: ${text}`))
        else resolve(JSON.parse(text))
      })
    })
    req.on("error", reject)
    req.end(data)
  })

/** Enrols one agent through the control plane; answers its token. */
const enrol = async (port) => {
  const login = await call(port, "POST", "/api/v1/auth/login", {}, { email, password })
  const user = { authorization: `Bearer ${login.token}` }
  const group = await call(port, "POST", "/api/v1/groups", user, { name: "Bench edge", slug: "bench-edge" })
  const enrolment = await call(port, "POST", `/api/v1/groups/${group.id}/enrolment-tokens`, user, {
    max_uses: 1,
    ttl_seconds: 3600
  })
  const agent = await call(port, "POST", "/api/v1/agents/enrol", {}, {
    bootstrapToken: enrolment.token,
    hostname: "bench-host",
    platform: "linux",
    os: "Ubuntu 24.04",
    kernel: "6.8.0",
    agentVersion: "0.1.0"
  })
  return agent.data.agentToken
}

/** The drain's bench bodies with each event's routing, as a forwarder writes them. */
const edgeBody = (batch, seed) => {
  const body = JSON.parse(drainBody(batch, seed).toString())
  body.events.forEach((e, i) => {
    const [index, sourcetype, transport] = routings[i % routings.length]
    Object.assign(e, { index, sourcetype, transport })
  })
  return Buffer.from(JSON.stringify(body))
}

const main = async () => {
  const dataDir = tempDir("sluice-bench-edge-")
  const port = await freePort()
  const gateway = await start(["up"], {
    SLUICE_DATA_DIR: dataDir,
    SLUICE_HTTP_PORT: String(port),
    SLUICE_SOCKET: `${dataDir}/agent.sock`,
    SLUICE_TCP_PORT: String(await freePort()),
    SLUICE_DRAIN_TOKENS: token,
    SLUICE_ADMIN_EMAIL: email,
    SLUICE_ADMIN_PASSWORD: password,
    SLUICE_RATE_LIMIT_EDGE: "1000000000"
  })
  try {
    const agentToken = await enrol(port)
    const edge = { port, path: "/api/v1/edge/logs", headers: { authorization: `Bearer ${agentToken}` } }
    const drain = { port, path: "/v1/drain", headers: { authorization: token } }
    console.log(`bench:edge  ${new Date().toISOString()}  ${machine()}  ${seconds}s per cell`)
    const edgeRows = []
    const drainRows = []
    for (const batch of sizes) {
      const edgeBodies = Array.from({ length: 16 }, (_, s) => edgeBody(batch, s))
      const drainBodies = Array.from({ length: 16 }, (_, s) => drainBody(batch, s))
      for (const c of concurrencies) {
        edgeRows.push(await load(edge, batch, edgeBodies, c, seconds))
        drainRows.push(await load(drain, batch, drainBodies, c, seconds))
      }
    }
    table("sluice up: POST /api/v1/edge/logs (one enrolled agent, routing fields), 202 = durable", edgeRows)
    table("sluice up: POST /v1/drain, same server, each cell right after the edge's", drainRows)
    console.log("\nbatch  clients   edge × drain")
    edgeRows.forEach((r, i) => {
      console.log(
        `${String(r.batch).padStart(5)}  ${String(r.concurrency).padStart(7)}  ${
          (r.eventsPerSec / drainRows[i].eventsPerSec).toFixed(2).padStart(12)
        }`
      )
    })
    console.log(`\nsluice up peak RSS ${peakRssMb(gateway.pid)} MB`)
  } finally {
    await stop(gateway)
    fs.rmSync(dataDir, { recursive: true, force: true })
  }
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
