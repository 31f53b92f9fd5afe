// bench:drain — POST /v1/drain against the real `sluice up` binary: batches of
// 100 and 500 events from 1, 16 and 64 concurrent keep-alive clients; prints
// events/s and p50/p99 latency of the 202 (the batch durable in SQLite). In the
// same run, a bare Node `http` server that reads the body and answers 202 (the
// runtime's ceiling on this machine), an empty route on the HTTP framework
// sluice is built on (the framework's ceiling), and the drain's own work with
// no HTTP at all — scan and durable commit in one process, bench/drain-core.mjs
// (the store's ceiling). Usage: npm run bench:drain [-- SECONDS]
import { execFileSync, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as http from "node:http"
import * as path from "node:path"
import { load, post, sleep, table } from "./httpload.mjs"
import { drainBody as makeBody, freePort, machine, peakRssMb, start, stop, tempDir } from "./lib.mjs"

const seconds = Number(process.argv[2] ?? process.env.BENCH_SECONDS ?? 5)
const token = "bench-drain-token-0123456789abcdef"
const sizes = [100, 500]
const concurrencies = [1, 16, 64]

const waitFor = async (check, timeoutMs, what) => {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await check()) return
    await sleep(50)
  }
  throw new Error(`timed out waiting for ${what}`)
}

const get = (port, p) =>
  new Promise((resolve) => {
    http.get({ host: "127.0.0.1", port, path: p, agent: false }, (res) => {
      res.resume()
      res.on("end", () => resolve(res.statusCode))
    }).on("error", () => resolve(0))
  })

const bareServer = `
import * as http from "node:http"
http.createServer((req, res) => {
  const chunks = []
  req.on("data", (c) => chunks.push(c))
  req.on("end", () => {
    Buffer.concat(chunks)
    res.writeHead(202, { "content-type": "application/json" })
    res.end('{"status":"accepted"}')
  })
}).listen(Number(process.env.PORT), "127.0.0.1")
process.on("SIGTERM", () => process.exit(0))
`

// The same route on the HTTP framework sluice is built on (an HttpLayerRouter
// route on NodeHttpServer, no tracing span, as sluice up serves it): reads
// the body, answers 202. What any Effect route costs before it does anything.
const platformServer = `
import * as HttpLayerRouter from "@effect/platform/HttpLayerRouter"
import * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { createServer } from "node:http"
const route = HttpLayerRouter.use((router) =>
  router.add("POST", "/v1/drain", (request) =>
    Effect.as(request.arrayBuffer, HttpServerResponse.unsafeJson({ status: "accepted" }, { status: 202 }))))
const server = HttpLayerRouter.serve(route, { disableLogger: true, disableListenLog: true }).pipe(
  Layer.provide(NodeHttpServer.layer(createServer, { host: "127.0.0.1", port: Number(process.env.PORT) }))
)
NodeRuntime.runMain(Layer.launch(Layer.locally(server, HttpMiddleware.currentTracerDisabledWhen, () => true)))
`

const bodiesOf = (batch) => Array.from({ length: 16 }, (_, s) => makeBody(batch, s))
const drainTarget = (port) => ({ port, path: "/v1/drain", headers: { authorization: token } })

const matrix = async (port) => {
  const rows = []
  for (const batch of sizes) {
    for (const c of concurrencies) rows.push(await load(drainTarget(port), batch, bodiesOf(batch), c, seconds))
  }
  return rows
}

// The same cells through bench/drain-core.mjs, one child process each (latency is not measured there).
const coreMatrix = () => {
  const rows = []
  for (const batch of sizes) {
    for (const c of concurrencies) {
      const out = execFileSync(
        process.execPath,
        [path.join(import.meta.dirname, "drain-core.mjs"), batch, c, seconds],
        {
          encoding: "utf8"
        }
      )
      const r = JSON.parse(out)
      rows.push({ ...r, requestsPerSec: Math.round(r.eventsPerSec / batch), p50: NaN, p99: NaN, failed: 0 })
    }
  }
  return rows
}

const main = async () => {
  const dataDir = tempDir("sluice-bench-drain-")
  const httpPort = await freePort()
  const barePort = await freePort()
  const platformPort = await freePort()
  const gateway = await start(["up"], {
    SLUICE_DATA_DIR: dataDir,
    SLUICE_HTTP_PORT: String(httpPort),
    SLUICE_SOCKET: path.join(dataDir, "agent.sock"),
    SLUICE_TCP_PORT: String(await freePort()),
    SLUICE_DRAIN_TOKENS: token
  })
  const bare = spawn(process.execPath, ["--input-type=module", "-e", bareServer], {
    env: { ...process.env, PORT: String(barePort) },
    stdio: "ignore"
  })
  const platform = spawn(process.execPath, ["--input-type=module", "-e", platformServer], {
    cwd: path.resolve(import.meta.dirname, ".."),
    env: { ...process.env, PORT: String(platformPort) },
    stdio: "ignore"
  })
  try {
    await waitFor(async () => (await get(barePort, "/")) !== 0, 10_000, "the bare server")
    await waitFor(async () => (await get(platformPort, "/")) !== 0, 10_000, "the platform route")
    const probe = await post(false, drainTarget(httpPort), makeBody(1, 0))
    if (probe.status !== 202) throw new Error(`sluice up answered ${probe.status} to POST /v1/drain`)
    console.log(`bench:drain  ${new Date().toISOString()}  ${machine()}  ${seconds}s per cell`)
    const sluice = await matrix(httpPort)
    table("sluice up: POST /v1/drain, 202 = durable in SQLite", sluice)
    const bareRows = await matrix(barePort)
    table("Bare Node http server: read the body, answer 202 (the runtime's ceiling)", bareRows)
    const platformRows = await matrix(platformPort)
    table("An empty HttpLayerRouter route: read the body, answer 202 (the framework's ceiling)", platformRows)
    const coreRows = coreMatrix()
    table("The drain's work with no HTTP: scan + durable commit, in one process (the store's ceiling)", coreRows)
    console.log("\nevents/s as a share of the bare server, and sluice up's as a share of the other ceilings")
    console.log("batch  clients   sluice up   framework   no HTTP   sluice up × framework   sluice up × no HTTP")
    const ratio = (a, b) => (a.eventsPerSec / b.eventsPerSec).toFixed(2)
    sluice.forEach((r, i) => {
      console.log(
        `${String(r.batch).padStart(5)}  ${String(r.concurrency).padStart(7)}  ${ratio(r, bareRows[i]).padStart(10)}  ${
          ratio(platformRows[i], bareRows[i]).padStart(10)
        }  ${ratio(coreRows[i], bareRows[i]).padStart(8)}  ${ratio(r, platformRows[i]).padStart(22)}  ${
          ratio(r, coreRows[i]).padStart(20)
        }`
      )
    })
    console.log(`\nsluice up peak RSS ${peakRssMb(gateway.pid)} MB`)
    const t0 = performance.now()
    const code = await stop(gateway)
    console.log(`sluice up stopped in ${((performance.now() - t0) / 1000).toFixed(1)} s with exit code ${code}`)
  } finally {
    if (gateway.exitCode === null) gateway.kill("SIGKILL")
    bare.kill("SIGKILL")
    platform.kill("SIGKILL")
    fs.rmSync(dataDir, { recursive: true, force: true })
  }
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
