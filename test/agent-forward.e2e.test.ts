/**
 * The whole path with real processes: app → agent Unix socket → spool →
 * gateway `/v1/drain` → gateway store, searchable. Then the agent is killed
 * with SIGKILL at random points ten times and restarted: every event the
 * agent acknowledged (`flushed`) is in the gateway exactly once, nothing is
 * stored twice, and the loss-accounting equation holds.
 */
import * as net from "node:net"
import * as path from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { eventually, freePort, type Gateway, runSluice, startGateway, storedEvents, tempDir } from "./harness.js"

const running: Array<Gateway> = []
afterEach(async () => {
  await Promise.all(running.splice(0).map((g) => g.stop("SIGKILL")))
})

const startAgent = async (gateway: Gateway, stateDir: string, socketPath: string) => {
  const agent = await startGateway({
    args: ["agent", "run", "--upstream", gateway.httpUrl, "--token", gateway.drainToken],
    env: {
      SLUICE_AGENT_STATE_DIR: stateDir,
      SLUICE_SOCKET: socketPath,
      SLUICE_TCP_PORT: String(await freePort()),
      SLUICE_FORWARD_BATCH_EVENTS: "37"
    }
  })
  running.push(agent)
  return agent
}

/** Sends entries `from … to-1` in batches over one connection and flushes; answers the flushed count (or the error). */
const sendAndFlush = (socketPath: string, from: number, to: number, killAfterBytes?: () => void) =>
  new Promise<number | "lost">((resolve) => {
    const socket = net.createConnection({ path: socketPath })
    let buffer = ""
    let done = false
    const finish = (value: number | "lost") => {
      if (done) return
      done = true
      socket.destroy()
      resolve(value)
    }
    socket.on("error", () => finish("lost"))
    socket.on("close", () => finish("lost"))
    socket.on("data", (d: Buffer) => {
      buffer += d.toString()
      const lines = buffer.split("\n")
      buffer = lines.pop()!
      for (const line of lines) {
        const reply = JSON.parse(line) as { status?: string; accepted?: number; error?: string }
        if (reply.status === "flushed") finish(reply.accepted!)
        else if (reply.error !== undefined) finish("lost")
      }
    })
    socket.on("connect", () => {
      for (let i = from; i < to; i += 10) {
        const entries = []
        for (let j = i; j < Math.min(i + 10, to); j++) {
          entries.push({
            payload: `event ${j}`,
            entryType: 1,
            source: "chaos-app",
            logLevel: 6,
            metadata: { seq: String(j) }
          })
        }
        socket.write(JSON.stringify({ version: "1.0", entries }) + "\n")
      }
      killAfterBytes?.()
      socket.write("{\"version\":\"1.0\",\"action\":\"flush\"}\n")
    })
  })

/** Every `seq` the gateway stored, with how many times. */
const gatewaySeqs = async (dataDir: string) => {
  const counts = new Map<number, number>()
  for (const e of await storedEvents(dataDir, "chaos-app")) {
    const seq = Number(e.metadata.seq)
    counts.set(seq, (counts.get(seq) ?? 0) + 1)
  }
  return counts
}

describe("agent → gateway", () => {
  it("every acknowledged event reaches the gateway exactly once across ten SIGKILLs", async () => {
    const gateway = await startGateway()
    running.push(gateway)
    const dir = tempDir()
    const stateDir = path.join(dir, "agent-state")
    const socketPath = path.join(dir, "agent.sock")
    let agent = await startAgent(gateway, stateDir, socketPath)

    const acknowledged = new Set<number>()
    let next = 0
    for (let round = 0; round < 10; round++) {
      // A clean round: acknowledged entries.
      const from = next
      next += 200
      const flushed = await sendAndFlush(socketPath, from, next)
      expect(flushed).toBe(200)
      for (let s = from; s < next; s++) acknowledged.add(s)
      // A round cut by SIGKILL at a random point: unacknowledged, may or may not arrive, never twice.
      const cutFrom = next
      next += 300
      const victim = agent
      const delay = Math.floor(Math.random() * 40)
      const cut = sendAndFlush(socketPath, cutFrom, next, () => {
        setTimeout(() => victim.process.kill("SIGKILL"), delay)
      })
      await victim.stop("SIGKILL")
      await cut
      agent = await startAgent(gateway, stateDir, socketPath)
    }
    const last = await sendAndFlush(socketPath, next, next + 100)
    expect(last).toBe(100)
    for (let s = next; s < next + 100; s++) acknowledged.add(s)

    // Everything acknowledged arrives (the agent forwards what it spooled before each kill too).
    const counts = await eventually(async () => {
      const c = await gatewaySeqs(gateway.dataDir)
      return [...acknowledged].every((s) => c.has(s)) ? c : undefined
    }, { timeoutMs: 60_000, intervalMs: 200 })
    const duplicated = [...counts.entries()].filter(([, n]) => n > 1)
    expect(duplicated).toEqual([])
    expect([...acknowledged].filter((s) => counts.get(s) !== 1)).toEqual([])

    // And the books balance on the agent.
    await agent.stop("SIGTERM")
    const status = await runSluice(["status"], { env: { SLUICE_AGENT_STATE_DIR: stateDir } })
    expect(status.code).toBe(0)
    expect(status.stdout).toContain("received = forwarded + buffered + dropped + dead_lettered: holds")
    const total = status.stdout.split("\n").find((l) => l.startsWith("total"))!.trim().split(/\s+/).map(Number)
    // received, forwarded, buffered, dropped, dead-lettered
    expect(total[1]).toBeGreaterThanOrEqual(acknowledged.size)
    expect(total[3]).toBe(0)
    expect(total[4]).toBe(0)
    expect(total[5]).toBe(0)
    expect(total[1]).toBe(total[2])
  }, 180_000)
})
