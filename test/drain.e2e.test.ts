/**
 * The drain through the real binary: a 202 means committed, events survive a
 * restart of the process, and a graceful stop persists what was accepted.
 */
import { afterEach, describe, expect, it } from "vitest"
import { eventually, type Gateway, startGateway, storedEvents } from "./harness.js"

const running: Array<Gateway> = []
afterEach(async () => {
  await Promise.all(running.splice(0).map((g) => g.stop("SIGKILL")))
})

const post = (g: Gateway, events: ReadonlyArray<Record<string, unknown>>) =>
  fetch(`${g.httpUrl}/v1/drain`, {
    method: "POST",
    headers: { authorization: `Bearer ${g.drainToken}`, "content-type": "application/json" },
    body: JSON.stringify({ events })
  })

const drainEvent = (i: number) => ({
  project_id: "proj-e2e",
  timestamp: "2025-08-31T10:30:00Z",
  level: "error",
  service: "checkout",
  message: `order ${i} failed`
})

/** The messages the gateway stored, sorted. */
const storedMessages = async (dataDir: string) => (await storedEvents(dataDir)).map((e) => e.message).sort()

describe("drain through the binary", () => {
  it("202'd events survive a restart of the process", async () => {
    const first = await startGateway()
    running.push(first)
    const r = await post(first, [drainEvent(1), drainEvent(2)])
    expect(r.status).toBe(202)
    expect(await r.json()).toEqual({ status: "accepted" })
    // SIGKILL: no graceful stop. A 202 was only given after the commit.
    await first.stop("SIGKILL")

    const second = await startGateway({ dataDir: first.dataDir })
    running.push(second)
    expect((await post(second, [drainEvent(3)])).status).toBe(202)
    expect(await second.stop("SIGTERM")).toBe(0)
    const messages = await eventually(async () => {
      const m = await storedMessages(first.dataDir)
      return m.length === 3 ? m : undefined
    })
    expect(messages).toEqual(["order 1 failed", "order 2 failed", "order 3 failed"])
  })

  it("health and readiness answer on the HTTP port", async () => {
    const g = await startGateway()
    running.push(g)
    const health = await fetch(`${g.httpUrl}/health`)
    expect(health.status).toBe(200)
    expect(await health.json()).toEqual({ status: "ok" })
    expect((await fetch(`${g.httpUrl}/health/ready`)).status).toBe(200)
    expect((await post(g, [drainEvent(1)])).status).toBe(202)
    const metrics = await (await fetch(`${g.httpUrl}/metrics`)).text()
    expect(metrics).toContain("# TYPE sluice_events_accepted_total counter")
    expect(metrics).toContain(`sluice_events_accepted_total{transport="http"} 1`)
  })
})
