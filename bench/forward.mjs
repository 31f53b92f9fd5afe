// bench:forward — agent → gateway on loopback through the real binaries:
// 1M entries into the agent's Unix socket (4 connections, each ending with
// flush), forwarded to the gateway's drain; events/s until the gateway has
// committed them all. Then the agent alone with its upstream down, holding a
// 1M-event backlog: its peak RSS. Usage: npm run bench:forward [-- N]
import * as path from "node:path"
import { blast, freePort, machine, metricValue, peakRssMb, start, stop, tempDir } from "./lib.mjs"

const N = Number(process.argv[2] ?? 1_000_000)
const token = "bench-drain-token-0123456789abcdef"

const agentEnv = async (dir, upstreamPort) => ({
  args: ["agent", "run", "--upstream", `http://127.0.0.1:${upstreamPort}`, "--token", token],
  env: {
    SLUICE_AGENT_STATE_DIR: path.join(dir, "agent"),
    SLUICE_SOCKET: path.join(dir, "agent.sock"),
    SLUICE_TCP_PORT: String(await freePort()),
    SLUICE_SHARED_SECRET: "x".repeat(48)
  }
})

// 1. Throughput: agent → gateway.
const gwDir = tempDir("sluice-bench-gw-")
const httpPort = await freePort()
const gateway = await start(["up"], {
  SLUICE_DATA_DIR: gwDir,
  SLUICE_HTTP_PORT: String(httpPort),
  SLUICE_SOCKET: path.join(gwDir, "gw.sock"),
  SLUICE_TCP_PORT: String(await freePort()),
  SLUICE_DRAIN_TOKENS: token,
  SLUICE_SHARED_SECRET: "y".repeat(48)
})
const agentDir = tempDir("sluice-bench-agent-")
const a = await agentEnv(agentDir, httpPort)
const agent = await start(a.args, a.env)
const t0 = performance.now()
const accepted = await blast(a.env.SLUICE_SOCKET, N, 4)
const tAccepted = performance.now()
let committed = 0
while (committed < accepted) {
  await new Promise((r) => setTimeout(r, 100))
  committed = metricValue(await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text(), "sluice_events_committed_total")
}
const tForwarded = performance.now()
const agentRss = peakRssMb(agent.pid)
const gatewayRss = peakRssMb(gateway.pid)
await stop(agent)
await stop(gateway)

// 2. Backlog: the upstream is down; the agent keeps 1M events in its spool.
const deadPort = await freePort()
const backlogDir = tempDir("sluice-bench-backlog-")
const b = await agentEnv(backlogDir, deadPort)
const lonely = await start(b.args, b.env)
const heldAccepted = await blast(b.env.SLUICE_SOCKET, N, 4)
await new Promise((r) => setTimeout(r, 3000))
const backlogRss = peakRssMb(lonely.pid)
await stop(lonely)

const result = {
  date: new Date().toISOString(),
  machine: machine(),
  events: N,
  accepted_by_agent: accepted,
  agent_accept_events_per_s: Math.round(accepted / ((tAccepted - t0) / 1000)),
  end_to_end_events_per_s: Math.round(committed / ((tForwarded - t0) / 1000)),
  end_to_end_seconds: +((tForwarded - t0) / 1000).toFixed(2),
  agent_peak_rss_mb: agentRss,
  gateway_peak_rss_mb: gatewayRss,
  backlog_events_held: heldAccepted,
  backlog_agent_peak_rss_mb: backlogRss
}
console.log(JSON.stringify(result, null, 2))
