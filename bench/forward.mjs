// bench:forward — agent → gateway on loopback through the real binaries.
// 1. The upstream is down: 1M entries go into the agent's Unix socket
//    (4 connections, each ending with flush) and stay in its spool; the
//    agent's peak RSS while holding that backlog.
// 2. The gateway starts on the upstream's port: the agent forwards the whole
//    backlog; events/s until the gateway has committed them all.
// Usage: npm run bench:forward [-- N] [--phase1]
//   --phase1: only phase 1; prints the agent's memory while it takes the
//   backlog (VmHWM and VmRSS of every process of the agent, summed; the
//   largest anon/file resident parts seen by sampling /proc every 50 ms).
import * as fs from "node:fs"
import * as path from "node:path"
import { blast, freePort, machine, metricValue, peakRssMb, start, stop, tempDir } from "./lib.mjs"

const args = process.argv.slice(2)
const phase1Only = args.includes("--phase1")
const N = Number(args.find((a) => !a.startsWith("--")) ?? 1_000_000)
const token = "bench-drain-token-0123456789abcdef"
const httpPort = await freePort()

const agentDir = tempDir("sluice-bench-agent-")
const socket = path.join(agentDir, "agent.sock")
const agent = await start(["agent", "run", "--upstream", `http://127.0.0.1:${httpPort}`, "--token", token], {
  SLUICE_AGENT_STATE_DIR: path.join(agentDir, "agent"),
  SLUICE_SOCKET: socket,
  SLUICE_TCP_PORT: String(await freePort()),
  SLUICE_SHARED_SECRET: "x".repeat(48),
  // Experiments: node options for the agent only (e.g. "--max-old-space-size=256").
  ...(process.env.BENCH_AGENT_NODE_OPTIONS ? { NODE_OPTIONS: process.env.BENCH_AGENT_NODE_OPTIONS } : {})
})
// Every process of the agent: its pid and all its descendants.
const processTree = (root) => {
  const children = new Map()
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const ppid = Number(fs.readFileSync(`/proc/${entry}/stat`, "utf8").split(") ")[1].split(" ")[1])
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)])
    } catch { /* gone */ }
  }
  const out = [root]
  for (let i = 0; i < out.length; i++) out.push(...(children.get(out[i]) ?? []))
  return out
}
const statusKb = (pid, field) => {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+)`).exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))
    return m === null ? 0 : Number(m[1])
  } catch {
    return 0
  }
}
const treeKb = (field) => processTree(agent.pid).reduce((sum, pid) => sum + statusKb(pid, field), 0)
const cpuSeconds = (pid) => {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ")
  return (Number(fields[11]) + Number(fields[12])) / 100
}
const idleRss = Math.round(treeKb("VmRSS") / 1024)
const acceptCpu0 = cpuSeconds(agent.pid)
const peakSeen = { VmRSS: 0, RssAnon: 0, RssFile: 0, RssShmem: 0 }
const sampler = setInterval(() => {
  for (const field of Object.keys(peakSeen)) peakSeen[field] = Math.max(peakSeen[field], treeKb(field))
}, 50)
const t0 = performance.now()
const accepted = await blast(socket, N, 4)
const acceptSeconds = (performance.now() - t0) / 1000
clearInterval(sampler)
const acceptCpu = cpuSeconds(agent.pid) - acceptCpu0
const backlogRss = Math.round(treeKb("VmHWM") / 1024)
if (phase1Only) {
  const result = {
    date: new Date().toISOString(),
    machine: machine(),
    load: fs.readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" "),
    events: N,
    accepted_by_agent: accepted,
    agent_accept_events_per_s: Math.round(accepted / acceptSeconds),
    // CPU seconds the agent spent taking the backlog (less load-sensitive than events/s).
    agent_accept_cpu_s: +acceptCpu.toFixed(2),
    agent_processes: processTree(agent.pid).length,
    backlog_agent_peak_rss_mb: backlogRss,
    // Largest values seen by sampling (summed over the agent's processes).
    sampled_peak_mb: Object.fromEntries(Object.entries(peakSeen).map(([k, v]) => [k, Math.round(v / 1024)])),
    rss_idle_mb: idleRss,
    rss_after_mb: Math.round(treeKb("VmRSS") / 1024)
  }
  if (process.env.BENCH_SMAPS) fs.writeFileSync(process.env.BENCH_SMAPS, fs.readFileSync(`/proc/${agent.pid}/smaps`))
  await stop(agent)
  console.log(JSON.stringify(result, null, 2))
  process.exit(0)
}

const gwDir = tempDir("sluice-bench-gw-")
const gateway = await start(["up"], {
  SLUICE_DATA_DIR: gwDir,
  SLUICE_HTTP_PORT: String(httpPort),
  SLUICE_SOCKET: path.join(gwDir, "gw.sock"),
  SLUICE_TCP_PORT: String(await freePort()),
  SLUICE_DRAIN_TOKENS: token,
  SLUICE_SHARED_SECRET: "y".repeat(48),
  // Experiments: node options for the gateway only.
  ...(process.env.BENCH_GATEWAY_NODE_OPTIONS ? { NODE_OPTIONS: process.env.BENCH_GATEWAY_NODE_OPTIONS } : {})
})
const agentCpu0 = cpuSeconds(agent.pid)
const gatewayCpu0 = cpuSeconds(gateway.pid)
const t1 = performance.now()
// The agent retried with backoff while the upstream was down, so its next
// attempt comes up to one backoff step after the gateway is up: the rate is
// measured from the first delivered batch, and that wait is printed apart.
let firstDelivery
let committed = 0
while (committed < accepted) {
  await new Promise((r) => setTimeout(r, firstDelivery === undefined ? 10 : 100))
  committed = metricValue(
    await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text(),
    "sluice_events_committed_total"
  )
  if (committed > 0 && firstDelivery === undefined) firstDelivery = performance.now()
}
const forwardSeconds = (performance.now() - firstDelivery) / 1000
const agentCpu = cpuSeconds(agent.pid) - agentCpu0
const gatewayCpu = cpuSeconds(gateway.pid) - gatewayCpu0
const result = {
  date: new Date().toISOString(),
  machine: machine(),
  events: N,
  accepted_by_agent: accepted,
  agent_accept_events_per_s: Math.round(accepted / acceptSeconds),
  backlog_agent_peak_rss_mb: backlogRss,
  // From the first delivered batch to the last commit.
  forward_events_per_s: Math.round(committed / forwardSeconds),
  forward_seconds: +forwardSeconds.toFixed(2),
  // From the gateway being up to the agent's first delivery (its retry backoff).
  first_delivery_after_s: +((firstDelivery - t1) / 1000).toFixed(2),
  // CPU seconds each process spent while forwarding (2 cores = 2 s per second).
  agent_cpu_s: +agentCpu.toFixed(2),
  gateway_cpu_s: +gatewayCpu.toFixed(2),
  agent_peak_rss_mb: Math.round(treeKb("VmHWM") / 1024),
  gateway_peak_rss_mb: peakRssMb(gateway.pid)
}
await stop(agent)
await stop(gateway)
console.log(JSON.stringify(result, null, 2))
