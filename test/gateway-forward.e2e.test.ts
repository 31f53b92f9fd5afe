/**
 * A gateway that forwards (`sluice server --upstream URL --token T`), through
 * the real binary: what it accepts is stored and searchable locally AND
 * delivered upstream; a batch the upstream refuses for good lands in the
 * dead letters, which the operator lists, replays and purges through
 * `/api/v1/dead-letters`. A gateway without an upstream answers 404 there.
 */
import * as http from "node:http"
import type * as net from "node:net"
import * as zlib from "node:zlib"
import { afterEach, describe, expect, it } from "vitest"
import { eventually, type Gateway, startGateway } from "./harness.js"

const admin = { email: "admin@example.com", password: "admin-password-123456" }

interface Upstream {
  readonly url: string
  readonly received: Array<string>
  /** Refuse batches holding a message with this word (400). */
  refuse: string | undefined
  close(): Promise<void>
}

const startUpstream = async (): Promise<Upstream> => {
  const received: Array<string> = []
  const state: { refuse: string | undefined } = { refuse: "poison" }
  const server = http.createServer((req, res) => {
    const chunks: Array<Buffer> = []
    req.on("data", (c: Buffer) => chunks.push(c))
    req.on("end", () => {
      const raw = Buffer.concat(chunks)
      const text = req.headers["content-encoding"] === "gzip" ? zlib.gunzipSync(raw).toString() : raw.toString()
      const messages = (JSON.parse(text) as { events: Array<{ message: string }> }).events.map((e) => e.message)
      if (state.refuse !== undefined && messages.some((m) => m.includes(state.refuse!))) {
        res.writeHead(400, { "content-type": "application/json" })
        res.end(JSON.stringify({ error: "validation_error", message: "poisoned batch" }))
        return
      }
      received.push(...messages)
      res.writeHead(202, { "content-type": "application/json" })
      res.end("{\"status\":\"accepted\"}")
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const port = (server.address() as net.AddressInfo).port
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    get refuse() {
      return state.refuse
    },
    set refuse(word) {
      state.refuse = word
    },
    close: () => new Promise((resolve) => server.close(() => resolve()))
  }
}

const running: Array<{ stop(): Promise<unknown> }> = []
afterEach(async () => {
  await Promise.all(running.splice(0).map((r) => r.stop()))
})

const json = async (response: Response) => ({ status: response.status, body: await response.json() as unknown })

const login = async (gateway: Gateway) => {
  const r = await fetch(`${gateway.httpUrl}/api/v1/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(admin)
  })
  expect(r.status).toBe(200)
  return { authorization: `Bearer ${((await r.json()) as { token: string }).token}` }
}

const drain = (gateway: Gateway, messages: ReadonlyArray<string>) =>
  fetch(`${gateway.httpUrl}/v1/drain`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: gateway.drainToken },
    body: JSON.stringify({
      events: messages.map((message) => ({
        project_id: "p1",
        timestamp: "2026-11-24T10:00:00Z",
        level: "info",
        service: "billing",
        message
      }))
    })
  })

describe("a forwarding gateway", () => {
  it("stores, forwards, and keeps refused batches as dead letters the API lists, replays and purges", async () => {
    const upstream = await startUpstream()
    running.push({ stop: () => upstream.close() })
    const gateway = await startGateway({
      args: ["server", "--upstream", upstream.url, "--token", "upstream-token-0123456789"],
      env: { SLUICE_ADMIN_EMAIL: admin.email, SLUICE_ADMIN_PASSWORD: admin.password }
    })
    running.push(gateway)
    const auth = await login(gateway)

    expect((await drain(gateway, ["good-1", "good-2"])).status).toBe(202)
    expect((await drain(gateway, ["poison-1"])).status).toBe(202)
    expect((await drain(gateway, ["good-3"])).status).toBe(202)
    await eventually(async () => upstream.received.includes("good-3") ? true : undefined)
    expect(upstream.received).toEqual(["good-1", "good-2", "good-3"])

    // Stored and searchable locally as well.
    const local = await eventually(async () => {
      const r = await json(await fetch(`${gateway.httpUrl}/api/v1/logs?page_size=10`, { headers: auth }))
      return (r.body as { total: number }).total === 4 ? r.body : undefined
    })
    expect((local as { items: Array<{ message: string }> }).items.map((e) => e.message).sort()).toEqual([
      "good-1",
      "good-2",
      "good-3",
      "poison-1"
    ])

    const letters = await json(await fetch(`${gateway.httpUrl}/api/v1/dead-letters`, { headers: auth }))
    expect(letters.status).toBe(200)
    expect(letters.body).toMatchObject({ total: 1, page: 1, page_size: 20 })
    const [letter] = (letters.body as {
      items: Array<{ status: number; response: string; event_count: number; events: Array<{ message: string }> }>
    }).items
    expect(letter!.status).toBe(400)
    expect(letter!.response).toContain("poisoned batch")
    expect(letter!.event_count).toBe(1)
    expect(letter!.events[0]!.message).toBe("poison-1")

    // Still refused: the replay leaves it.
    const again = await json(
      await fetch(`${gateway.httpUrl}/api/v1/dead-letters/replay`, { method: "POST", headers: auth })
    )
    expect(again).toEqual({ status: 200, body: { delivered: 0, remaining: 1 } })

    // The upstream is fixed: the replay delivers it once and it leaves the table.
    upstream.refuse = undefined
    const replay = await json(
      await fetch(`${gateway.httpUrl}/api/v1/dead-letters/replay`, { method: "POST", headers: auth })
    )
    expect(replay).toEqual({ status: 200, body: { delivered: 1, remaining: 0 } })
    expect(upstream.received.filter((m) => m === "poison-1")).toHaveLength(1)
    const after = await json(await fetch(`${gateway.httpUrl}/api/v1/dead-letters`, { headers: auth }))
    expect(after.body).toMatchObject({ total: 0, items: [] })

    // Purge (admin) removes them for good.
    upstream.refuse = "poison"
    expect((await drain(gateway, ["poison-2"])).status).toBe(202)
    await eventually(async () => {
      const r = await json(await fetch(`${gateway.httpUrl}/api/v1/dead-letters`, { headers: auth }))
      return (r.body as { total: number }).total === 1 ? true : undefined
    })
    const purge = await fetch(`${gateway.httpUrl}/api/v1/dead-letters`, { method: "DELETE", headers: auth })
    expect(purge.status).toBe(204)
    const purged = await json(await fetch(`${gateway.httpUrl}/api/v1/dead-letters`, { headers: auth }))
    expect(purged.body).toMatchObject({ total: 0 })

    // Without credentials: 401.
    expect((await fetch(`${gateway.httpUrl}/api/v1/dead-letters`)).status).toBe(401)
  })

  it("a gateway without an upstream answers 404 saying why", async () => {
    const gateway = await startGateway({
      args: ["server"],
      env: { SLUICE_ADMIN_EMAIL: admin.email, SLUICE_ADMIN_PASSWORD: admin.password }
    })
    running.push(gateway)
    const auth = await login(gateway)
    const r = await json(await fetch(`${gateway.httpUrl}/api/v1/dead-letters`, { headers: auth }))
    expect(r.status).toBe(404)
    expect(r.body).toMatchObject({ error: "not_found", message: expect.stringContaining("--upstream") })
  })
})
