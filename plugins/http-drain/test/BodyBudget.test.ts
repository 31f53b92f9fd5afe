/**
 * The drain's body budget (`BodyBudget`), over a real server: the bytes of
 * request bodies a route holds at once are bounded. A request that would pass
 * the budget is answered 429 (server saturated, `Retry-After`, and the
 * connection closed so its body is not read), and nothing of it is kept; the
 * batch already accepted is not touched. The budget comes back as requests
 * end, and a request alone may take more than the whole budget.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Http from "node:http"
import {
  baseUrl,
  drainEvents,
  get,
  holdWriter,
  postDrain,
  request,
  serve,
  type ServerOptions,
  storedMessages,
  TestControls,
  tokens
} from "./harness.js"

const withServer = (options: ServerOptions = {}) => Effect.provide(serve(options))

/** A batch of `n` events of ~`size` bytes each. */
const batch = (prefix: string, n: number, size = 1000) => ({
  events: drainEvents(prefix, n).map((e) => ({ ...e, message: `${e["message"]} ${"x".repeat(size)}` }))
})

const bodyBytes = (body: unknown) => Buffer.byteLength(JSON.stringify(body))

/** The `sluice_http_drain_body_bytes_held` gauge from /metrics. */
const heldBytes = Effect.map(
  get("/metrics"),
  (reply) => Number(/^sluice_http_drain_body_bytes_held (\S+)$/m.exec(reply.text)?.[1])
)

const saturated = { error: "server saturated", code: "backpressure_triggered" }

// Room for one ~100 KB request (its body and its decoded rows), not two.
const oneRequest = 2 * bodyBytes(batch("a", 100)) + 1024 + 10_000

describe("POST /v1/drain: the body budget", () => {
  it.live("refuses a request past the budget with 429 and a closed connection, keeps the held batch, then recovers", () =>
    Effect.gen(function*() {
      const controls = yield* TestControls
      const first = yield* holdWriter(batch("a", 100))
      expect(yield* heldBytes).toBeGreaterThan(bodyBytes(batch("a", 100)))
      // On a keep-alive connection: the refusal closes it rather than read the body.
      const agent = new Http.Agent({ keepAlive: true })
      const url = yield* baseUrl
      const refused = yield* request(`${url}/v1/drain`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: tokens[0] },
        body: JSON.stringify(batch("b", 100)),
        agent
      }).pipe(Effect.ensuring(Effect.sync(() => agent.destroy())))
      expect(refused.status).toBe(429)
      expect(refused.json).toEqual(saturated)
      expect(refused.headers["retry-after"]).toBe("1")
      expect(refused.headers["connection"]).toBe("close")
      yield* controls.gate.open
      expect((yield* Fiber.join(first)).status).toBe(202)
      expect(yield* heldBytes).toBe(0)
      expect((yield* postDrain(batch("b", 100))).status).toBe(202)
      const messages = yield* storedMessages
      expect(messages).toHaveLength(200)
      expect(new Set(messages).size).toBe(200)
    }).pipe(withServer({ drain: { maxInFlightBytes: oneRequest } })))

  it.live("charges a chunked body as it arrives, and refuses it once the budget is spent", () =>
    Effect.gen(function*() {
      const controls = yield* TestControls
      const first = yield* holdWriter(batch("a", 100))
      const text = JSON.stringify(batch("c", 100))
      const url = yield* baseUrl
      const refused = yield* request(`${url}/v1/drain`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: tokens[0] },
        chunks: [text.slice(0, 40_000), text.slice(40_000)]
      })
      expect(refused.status).toBe(429)
      expect(refused.json).toEqual(saturated)
      yield* controls.gate.open
      expect((yield* Fiber.join(first)).status).toBe(202)
      expect(yield* heldBytes).toBe(0)
      const messages = yield* storedMessages
      expect(messages).toHaveLength(100)
      expect(messages.every((m) => m.startsWith("a-"))).toBe(true)
    }).pipe(withServer({ drain: { maxInFlightBytes: oneRequest } })))

  it.live("lets a request alone take more than the whole budget", () =>
    Effect.gen(function*() {
      const reply = yield* postDrain(batch("big", 50))
      expect(reply.status).toBe(202)
      expect(yield* storedMessages).toHaveLength(50)
      expect(yield* heldBytes).toBe(0)
    }).pipe(withServer({ drain: { maxInFlightBytes: 1024 } })))
})
