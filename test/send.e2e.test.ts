/**
 * `sluice send` against a running `sluice up`: text lines wrapped with
 * `--source`/`--level`, NDJSON as given, over the Unix socket and over TCP
 * with the shared secret; it reports what the agent accepted (durable) and
 * every error the agent answered.
 */
import { afterEach, describe, expect, it } from "vitest"
import { type Gateway, runSluice, startGateway, storedEvents } from "./harness.js"

const running: Array<Gateway> = []
afterEach(async () => {
  await Promise.all(running.splice(0).map((g) => g.stop("SIGKILL")))
})

describe("sluice send", () => {
  it("wraps text lines, sends NDJSON as given, over unix and tcp; errors make exit 1", async () => {
    const g = await startGateway()
    running.push(g)
    const text = await runSluice(["send", "--source", "cron", "--level", "warn"], {
      env: g.env,
      input: "backup started\nbackup done\n"
    })
    expect(text.code).toBe(0)
    expect(text.stdout).toContain(`accepted 2 entries (durable) at unix:${g.socketPath}`)

    const ndjson = [
      JSON.stringify({ version: "1.0", payload: "from tcp", entryType: 1, source: "api", logLevel: 3 }),
      JSON.stringify({ version: "1.0", payload: "bad", entryType: 7, source: "api", logLevel: 3 })
    ].join("\n")
    const tcp = await runSluice(["send", "--tcp"], { env: g.env, input: ndjson + "\n" })
    expect(tcp.code).toBe(1)
    expect(tcp.stdout).toContain(`accepted 1 entries (durable) at tcp://127.0.0.1:${g.tcpPort}`)
    expect(tcp.stderr).toContain("entryType")

    expect(await g.stop("SIGTERM")).toBe(0)
    const stored = await storedEvents(g.dataDir)
    const byMessage = new Map(stored.map((e) => [e.message, e]))
    expect([...byMessage.keys()].sort()).toEqual(["backup done", "backup started", "from tcp"])
    expect(byMessage.get("backup done")!.source).toBe("cron")
    expect(byMessage.get("backup done")!.level).toBe(5)
    expect(byMessage.get("backup done")!.transport).toBe("unix")
    expect(byMessage.get("from tcp")!.transport).toBe("tcp")
    expect(byMessage.get("from tcp")!.level).toBe(3)
  })

  it("a missing agent socket is one line and exit 2", async () => {
    const r = await runSluice(["send"], { env: { SLUICE_SOCKET: "/nonexistent/agent.sock" }, input: "x\n" })
    expect(r.code).toBe(2)
    expect(r.stderr.trim().split("\n")).toHaveLength(1)
    expect(r.stderr).toContain("/nonexistent/agent.sock")
  })
})
