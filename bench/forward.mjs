// bench:forward — agent → gateway on loopback through the real binaries.
// 1. The upstream is down: 1M entries go into the agent's Unix socket
//    (4 connections, each ending with flush) and stay in its spool; the
//    agent's peak RSS while holding that backlog.
// 2. The gateway starts on the upstream's port: the agent forwards the whole
//    backlog; events/s until the gateway has committed them all.
// Usage: npm run bench:forward [-- N]
import * as fs from "node:fs"
import * as path from "node:path"
import { blast, freePort, machine, metricValue, peakRssMb, start, stop, tempDir } from "./lib.mjs"

const N = Number(process.argv[2] ?? 1_000_000)
const token = "bench-drain-token-0123456789abcdef"
const httpPort = await freePort()

const agentDir = tempDir("sluice-bench-agent-")
const socket = path.join(agentDir, "agent.sock")
const agent = await start(["agent", "run", "--upstream", `http://127.0.0.1:${httpPort}`, "--token", token], {
  SLUICE_AGENT_STATE_DIR: path.join(agentDir, "agent"),
  SLUICE_SOCKET: socket,
  SLUICE_TCP_PORT: String(await freePort()),
  SLUICE_SHARED_SECRET: "x".repeat(48)
})
const t0 = performance.now()
const accepted = await blast(socket, N, 4)
const acceptSeconds = (performance.now() - t0) / 1000
const backlogRss = peakRssMb(agent.pid)

const gwDir = tempDir("sluice-bench-gw-")
const gateway = await start(["up"], {
  SLUICE_DATA_DIR: gwDir,
  SLUICE_HTTP_PORT: String(httpPort),
  SLUICE_SOCKET: path.join(gwDir, "gw.sock"),
  SLUICE_TCP_PORT: String(await freePort()),
  SLUICE_DRAIN_TOKENS: token,
  SLUICE_SHARED_SECRET: "y".repeat(48)
})
const cpuSeconds = (pid) => {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ")
  return (Number(fields[11]) + Number(fields[12])) / 100
}
const agentCpu0 = cpuSeconds(agent.pid)
const gatewayCpu0 = cpuSeconds(gateway.pid)
const t1 = performance.now()
let committed = 0
while (committed < accepted) {
  await new Promise((r) => setTimeout(r, 100))
  committed = metricValue(
    await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text(),
    "sluice_events_committed_total"
  )
}
const forwardSeconds = (performance.now() - t1) / 1000
const agentCpu = cpuSeconds(agent.pid) - agentCpu0
const gatewayCpu = cpuSeconds(gateway.pid) - gatewayCpu0
const result = {
  date: new Date().toISOString(),
  machine: machine(),
  events: N,
  accepted_by_agent: accepted,
  agent_accept_events_per_s: Math.round(accepted / acceptSeconds),
  backlog_agent_peak_rss_mb: backlogRss,
  forward_events_per_s: Math.round(committed / forwardSeconds),
  forward_seconds: +forwardSeconds.toFixed(2),
  // CPU seconds each process spent while forwarding (2 cores = 2 s per second).
  agent_cpu_s: +agentCpu.toFixed(2),
  gateway_cpu_s: +gatewayCpu.toFixed(2),
  agent_peak_rss_mb: peakRssMb(agent.pid),
  gateway_peak_rss_mb: peakRssMb(gateway.pid)
}
await stop(agent)
await stop(gateway)
console.log(JSON.stringify(result, null, 2))
