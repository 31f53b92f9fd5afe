/**
 * `POST /v1/drain` over a real HTTP server and a real client: every row of
 * SPEC §2 (statuses, bodies, headers), the field rules at their boundaries,
 * the three timestamp formats and the level words, compression, durability,
 * backpressure and idempotency.
 */
import { describe, expect, it } from "@effect/vitest"
import { EventQueue } from "@sluice/core/EventQueue"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as TestClock from "effect/TestClock"
import * as Http from "node:http"
import * as Zlib from "node:zlib"
import {
  baseUrl,
  drainEvent,
  drainEvents,
  eventually,
  get,
  holdWriter,
  postDrain,
  queueUp,
  request,
  serve,
  type ServerOptions,
  stored,
  storedMessages,
  TestControls,
  tokens
} from "./harness.js"

const withServer = (options: ServerOptions = {}) => Effect.provide(serve(options))

const accepted = { status: "accepted" }

describe("POST /v1/drain: accepted batches", () => {
  it.live("answers 202 {status: accepted} and stores every event with the drain mapping", () =>
    Effect.gen(function*() {
      const before = Date.now()
      const reply = yield* postDrain({
        events: [
          drainEvent("first", { metadata: { request_id: "r-1", nested: { a: [1, 2] }, n: 3, ok: true, none: null } }),
          drainEvent("second", { level: "ERROR", service: "billing", project_id: "org/7" })
        ]
      })
      const after = Date.now()
      expect(reply.status).toBe(202)
      expect(reply.json).toEqual(accepted)
      expect(reply.headers["content-type"]).toMatch(/^application\/json/)
      const events = yield* stored
      expect(events).toHaveLength(2)
      const first = events.find((e) => e.message === "first")
      const second = events.find((e) => e.message === "second")
      expect(first).toMatchObject({
        timestamp: Date.UTC(2025, 7, 31, 10, 30),
        level: 7,
        source: "auth-service",
        message: "first",
        entryType: 1,
        payloadType: "generic",
        projectId: "proj-1",
        agentId: null,
        index: "main",
        sourcetype: "http",
        transport: "http",
        metadata: { request_id: "r-1", nested: { a: [1, 2] }, n: 3, ok: true, none: null }
      })
      expect(first?.receivedAt).toBeGreaterThanOrEqual(before)
      expect(first?.receivedAt).toBeLessThanOrEqual(after)
      expect(second).toMatchObject({ level: 4, source: "billing", projectId: "org/7", metadata: {} })
    }).pipe(withServer()))

  it.effect("stamps receivedAt from the Clock", () =>
    Effect.gen(function*() {
      const now = Date.UTC(2031, 0, 2, 3, 4, 5, 678)
      yield* TestClock.setTime(now)
      const reply = yield* postDrain({ events: [drainEvent("clocked")] })
      expect(reply.status).toBe(202)
      const [event] = yield* stored
      expect(event?.receivedAt).toBe(now)
    }).pipe(withServer()))

  it.live("accepts the three timestamp formats, stored in UTC", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [string, number]> = [
        ["2025-08-31T10:30:00Z", Date.UTC(2025, 7, 31, 10, 30)],
        ["2025-08-31T12:30:00+02:00", Date.UTC(2025, 7, 31, 10, 30)],
        ["2025-08-31T05:30:00.250-05:00", Date.UTC(2025, 7, 31, 10, 30, 0, 250)],
        ["2025-08-31T10:30:00", Date.UTC(2025, 7, 31, 10, 30)],
        ["2025-08-31T10:30:00.5", Date.UTC(2025, 7, 31, 10, 30, 0, 500)],
        ["2025-08-31 10:30:00", Date.UTC(2025, 7, 31, 10, 30)],
        ["2025-08-31 10:30:00.123456", Date.UTC(2025, 7, 31, 10, 30, 0, 123)]
      ]
      const reply = yield* postDrain({ events: cases.map(([timestamp], i) => drainEvent(`t${i}`, { timestamp })) })
      expect(reply.status).toBe(202)
      const events = yield* stored
      for (const [i, [, expected]] of cases.entries()) {
        expect(events.find((e) => e.message === `t${i}`)?.timestamp).toBe(expected)
      }
    }).pipe(withServer()))

  it.live("maps every level word, in any case, onto 1–8", () =>
    Effect.gen(function*() {
      const words: ReadonlyArray<readonly [string, number]> = [
        ["emergency", 1],
        ["emerg", 1],
        ["alert", 2],
        ["critical", 3],
        ["crit", 3],
        ["fatal", 3],
        ["error", 4],
        ["err", 4],
        ["warning", 5],
        ["warn", 5],
        ["notice", 6],
        ["info", 7],
        ["debug", 8],
        ["trace", 8]
      ]
      const cased = words.flatMap(([w, n]) =>
        [[w, n], [w.toUpperCase(), n], [w[0]!.toUpperCase() + w.slice(1), n]] as const
      )
      const reply = yield* postDrain({ events: cased.map(([level], i) => drainEvent(`l${i}`, { level })) })
      expect(reply.status).toBe(202)
      const events = yield* stored
      for (const [i, [, expected]] of cased.entries()) {
        expect(events.find((e) => e.message === `l${i}`)?.level).toBe(expected)
      }
    }).pipe(withServer()))

  it.live("takes the raw token or Bearer <token>, and every configured token", () =>
    Effect.gen(function*() {
      for (const authorization of [tokens[0], `Bearer ${tokens[0]}`, `bearer ${tokens[1]}`]) {
        const reply = yield* postDrain({ events: [drainEvent(authorization)] }, { authorization })
        expect(reply.status).toBe(202)
      }
      expect(yield* storedMessages).toHaveLength(3)
    }).pipe(withServer()))

  it.live("decompresses gzip (and deflate, br) bodies", () =>
    Effect.gen(function*() {
      const url = yield* baseUrl
      const encoders: ReadonlyArray<readonly [string, (b: Buffer) => Buffer]> = [
        ["gzip", Zlib.gzipSync],
        ["deflate", Zlib.deflateSync],
        ["br", Zlib.brotliCompressSync]
      ]
      for (const [encoding, encode] of encoders) {
        const reply = yield* request(`${url}/v1/drain`, {
          method: "POST",
          headers: { authorization: tokens[0], "content-type": "application/json", "content-encoding": encoding },
          body: encode(Buffer.from(JSON.stringify({ events: drainEvents(encoding, 3) })))
        })
        expect(reply.status).toBe(202)
      }
      expect(yield* storedMessages).toEqual([
        "br-0",
        "br-1",
        "br-2",
        "deflate-0",
        "deflate-1",
        "deflate-2",
        "gzip-0",
        "gzip-1",
        "gzip-2"
      ])
    }).pipe(withServer()))

  it.live("accepts a chunked body with no Content-Length", () =>
    Effect.gen(function*() {
      const url = yield* baseUrl
      const json = JSON.stringify({ events: drainEvents("chunked", 4) })
      const reply = yield* request(`${url}/v1/drain`, {
        method: "POST",
        headers: { authorization: tokens[0], "content-type": "application/json" },
        chunks: [json.slice(0, 10), json.slice(10, 50), json.slice(50)]
      })
      expect(reply.status).toBe(202)
      expect(yield* storedMessages).toEqual(["chunked-0", "chunked-1", "chunked-2", "chunked-3"])
    }).pipe(withServer()))
})

describe("POST /v1/drain: 401", () => {
  it.live("answers 401 with the error body for a missing or wrong token, and stores nothing", () =>
    Effect.gen(function*() {
      const url = yield* baseUrl
      const body = JSON.stringify({ events: [drainEvent("nope")] })
      const missing = yield* request(`${url}/v1/drain`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body
      })
      expect(missing.status).toBe(401)
      expect(missing.json).toEqual({ error: "unauthorized", message: expect.any(String) })
      for (const authorization of ["wrong", "Bearer wrong", "Bearer ", `${tokens[0]}x`]) {
        const reply = yield* postDrain(body, { authorization })
        expect(reply.status).toBe(401)
        expect(reply.json).toEqual({ error: "unauthorized", message: expect.any(String) })
      }
      expect(yield* stored).toHaveLength(0)
    }).pipe(withServer()))
})

describe("POST /v1/drain: 400", () => {
  it.live("refuses a body that is not JSON, or has no events array", () =>
    Effect.gen(function*() {
      for (const body of ["{not json", "", "[]", "\"events\"", "{}", "{\"events\":3}", "{\"events\":{}}", "null"]) {
        const reply = yield* postDrain(body)
        expect(reply.status, body).toBe(400)
        expect(reply.json, body).toMatchObject({ error: "validation_error", message: expect.any(String) })
      }
      const noArray = yield* postDrain({ events: "x" })
      expect(noArray.json).toEqual({
        error: "validation_error",
        message: expect.any(String),
        details: { events: "must be an array of events" }
      })
      const missing = yield* postDrain({ batch: [] })
      expect(missing.json).toMatchObject({ details: { events: "is required" } })
      expect(yield* stored).toHaveLength(0)
    }).pipe(withServer()))

  it.live("names each bad event index and field, and keeps nothing of the batch", () =>
    Effect.gen(function*() {
      const { project_id: _, ...noProject } = drainEvent("no project")
      const reply = yield* postDrain({
        events: [
          drainEvent("fine"),
          drainEvent("bad level", { level: "loud" }),
          drainEvent("bad time", { timestamp: "31/08/2025 10:30" }),
          noProject,
          drainEvent("long service", { service: "s".repeat(257) }),
          drainEvent("x", { message: 42 }),
          drainEvent("array metadata", { metadata: ["a"] }),
          "not an object",
          drainEvent("two at once", { level: 7, project_id: "" }),
          drainEvent("feb 30", { timestamp: "2025-02-30 10:00:00" }),
          drainEvent("null metadata", { metadata: null })
        ]
      })
      expect(reply.status).toBe(400)
      expect(reply.json).toEqual({
        error: "validation_error",
        message: expect.any(String),
        details: {
          "events[1].level": expect.stringContaining("emergency"),
          "events[2].timestamp": expect.stringContaining("RFC 3339"),
          "events[3].project_id": "is required",
          "events[4].service": "must be 1 to 256 characters",
          "events[5].message": "must be a string",
          "events[6].metadata": "must be a JSON object",
          "events[7]": "must be a JSON object",
          "events[8].level": "must be a string",
          "events[8].project_id": "must be 1 to 256 characters",
          "events[9].timestamp": expect.stringContaining("RFC 3339"),
          "events[10].metadata": "must be a JSON object"
        }
      })
      expect(yield* stored).toHaveLength(0)
      // Corrected, the same batch is accepted whole.
      const fixed = yield* postDrain({ events: [drainEvent("fine"), drainEvent("bad level", { level: "warn" })] })
      expect(fixed.status).toBe(202)
      expect(yield* storedMessages).toEqual(["bad level", "fine"])
    }).pipe(withServer()))

  it.live("project_id and service: 1 to 256 characters", () =>
    Effect.gen(function*() {
      const ok = yield* postDrain({ events: [drainEvent("edge", { project_id: "p".repeat(256), service: "s" })] })
      expect(ok.status).toBe(202)
      for (const [field, value] of [["project_id", ""], ["project_id", "p".repeat(257)], ["service", ""]] as const) {
        const reply = yield* postDrain({ events: [drainEvent("bad", { [field]: value })] })
        expect(reply.status).toBe(400)
        expect(reply.json).toMatchObject({ details: { [`events[0].${field}`]: "must be 1 to 256 characters" } })
      }
      expect(yield* storedMessages).toEqual(["edge"])
    }).pipe(withServer()))

  it.live("message: at most the limit in UTF-8 bytes (exactly at it passes, one over fails)", () =>
    Effect.gen(function*() {
      // "é" is 2 bytes of UTF-8: 5 of them are exactly 10 bytes.
      const atLimit = yield* postDrain({ events: [drainEvent("é".repeat(5))] })
      expect(atLimit.status).toBe(202)
      const over = yield* postDrain({ events: [drainEvent("é".repeat(5) + "a")] })
      expect(over.status).toBe(400)
      expect(over.json).toMatchObject({ details: { "events[0].message": "must be at most 10 bytes of UTF-8" } })
      expect(yield* storedMessages).toEqual(["ééééé"])
    }).pipe(withServer({ drain: { maxMessageBytes: 10 } })))

  it.live("message: 1 MiB by default", () =>
    Effect.gen(function*() {
      const atLimit = yield* postDrain({ events: [drainEvent("m".repeat(1024 * 1024))] })
      expect(atLimit.status).toBe(202)
      const over = yield* postDrain({ events: [drainEvent("m".repeat(1024 * 1024 + 1))] })
      expect(over.status).toBe(400)
      expect(over.json).toMatchObject({ details: { "events[0].message": "must be at most 1048576 bytes of UTF-8" } })
    }).pipe(withServer()))
})

/** A batch of `n` events whose JSON is exactly `bytes` long. */
const batchOfSize = (bytes: number, n = 1): string => {
  const padding = bytes - JSON.stringify({ events: drainEvents("", n) }).length
  const each = Math.floor(padding / n)
  const events = drainEvents("", n).map((e, i) => ({
    ...e,
    message: `${e.message}${"x".repeat(i === 0 ? padding - each * (n - 1) : each)}`
  }))
  const json = JSON.stringify({ events })
  if (json.length !== bytes) throw new Error(`batchOfSize: ${json.length} !== ${bytes}`)
  return json
}

describe("POST /v1/drain: 413", () => {
  const limit = 2000

  it.live("refuses a body over the limit by its Content-Length (exactly at the limit passes)", () =>
    Effect.gen(function*() {
      const at = batchOfSize(limit)
      expect(Buffer.byteLength(at)).toBe(limit)
      expect((yield* postDrain(at)).status).toBe(202)
      const over = yield* postDrain(batchOfSize(limit + 1))
      expect(over.status).toBe(413)
      expect(over.json).toEqual({ error: "payload_too_large", message: expect.any(String) })
      expect(yield* stored).toHaveLength(1)
    }).pipe(withServer({ drain: { maxBodyBytes: limit } })))

  it.live("answers 413 from the Content-Length alone, before the body arrives", () =>
    Effect.gen(function*() {
      const url = yield* baseUrl
      const reply = yield* request(`${url}/v1/drain`, {
        method: "POST",
        headers: { authorization: tokens[0], "content-length": String(limit + 1) },
        chunks: ["{\"events\":["],
        keepOpen: true
      }).pipe(
        Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => new Error("the server waited for the body") })
      )
      expect(reply.status).toBe(413)
    }).pipe(withServer({ drain: { maxBodyBytes: limit } })))

  it.live("counts a chunked body as it arrives, and still answers 413", () =>
    Effect.gen(function*() {
      const url = yield* baseUrl
      const send = (json: string) =>
        request(`${url}/v1/drain`, {
          method: "POST",
          headers: { authorization: tokens[0], "content-type": "application/json" },
          chunks: [json.slice(0, 700), json.slice(700, 1400), json.slice(1400)]
        })
      expect((yield* send(batchOfSize(limit))).status).toBe(202)
      const over = yield* send(batchOfSize(limit + 1))
      expect(over.status).toBe(413)
      expect(over.json).toEqual({ error: "payload_too_large", message: expect.any(String) })
      expect(yield* stored).toHaveLength(1)
    }).pipe(withServer({ drain: { maxBodyBytes: limit } })))

  it.live("discards the rest of a body far over the limit, so the connection stays usable", () =>
    Effect.gen(function*() {
      const url = yield* baseUrl
      // One kept-alive connection: the second request can only go once the first body is consumed.
      const agent = new Http.Agent({ keepAlive: true, maxSockets: 1 })
      yield* Effect.addFinalizer(() => Effect.sync(() => agent.destroy()))
      const chunk = "x".repeat(64 * 1024)
      const huge = yield* request(`${url}/v1/drain`, {
        method: "POST",
        headers: { authorization: tokens[0] },
        chunks: ["{\"events\":[{\"message\":\"", ...Array.from({ length: 256 }, () => chunk), "\"}]}"],
        agent
      })
      expect(huge.status).toBe(413)
      const next = yield* request(`${url}/v1/drain`, {
        method: "POST",
        headers: { authorization: tokens[0] },
        body: JSON.stringify({ events: [drainEvent("after")] }),
        agent
      }).pipe(Effect.timeoutFail({ duration: "2 seconds", onTimeout: () => new Error("the connection was stuck") }))
      expect(next.status).toBe(202)
      expect(yield* storedMessages).toEqual(["after"])
    }).pipe(Effect.scoped, withServer({ drain: { maxBodyBytes: limit } })))

  it.live("applies the limit after decompression", () =>
    Effect.gen(function*() {
      const url = yield* baseUrl
      const send = (json: string) =>
        request(`${url}/v1/drain`, {
          method: "POST",
          headers: { authorization: tokens[0], "content-encoding": "gzip" },
          body: Zlib.gzipSync(Buffer.from(json))
        })
      const at = batchOfSize(limit)
      expect(Zlib.gzipSync(Buffer.from(at)).length).toBeLessThan(limit / 4)
      expect((yield* send(at)).status).toBe(202)
      const over = yield* send(batchOfSize(limit + 1))
      expect(over.status).toBe(413)
      expect(over.json).toEqual({ error: "payload_too_large", message: expect.stringContaining("decompression") })
      expect(yield* stored).toHaveLength(1)
    }).pipe(withServer({ drain: { maxBodyBytes: limit } })))

  it.live("refuses more events than the limit (exactly the limit passes)", () =>
    Effect.gen(function*() {
      expect((yield* postDrain({ events: drainEvents("five", 5) })).status).toBe(202)
      const over = yield* postDrain({ events: drainEvents("six", 6) })
      expect(over.status).toBe(413)
      expect(over.json).toEqual({ error: "payload_too_large", message: expect.stringContaining("6 events") })
      expect(yield* stored).toHaveLength(5)
    }).pipe(withServer({ drain: { maxEvents: 5 } })))

  it.live("10 MiB and 10,000 events by default", () =>
    Effect.gen(function*() {
      expect((yield* postDrain({ events: drainEvents("max", 10_000) })).status).toBe(202)
      expect((yield* postDrain({ events: drainEvents("over", 10_001) })).status).toBe(413)
      expect((yield* postDrain(batchOfSize(10 * 1024 * 1024, 20))).status).toBe(202)
      expect((yield* postDrain(batchOfSize(10 * 1024 * 1024 + 1, 20))).status).toBe(413)
    }).pipe(withServer()))
})

describe("POST /v1/drain: other refusals", () => {
  it.live("answers 415 for a Content-Encoding it cannot decode, 400 for a corrupt one", () =>
    Effect.gen(function*() {
      const url = yield* baseUrl
      const send = (encoding: string, body: string | Uint8Array) =>
        request(`${url}/v1/drain`, {
          method: "POST",
          headers: { authorization: tokens[0], "content-encoding": encoding },
          body
        })
      const zstd = yield* send("zstd", JSON.stringify({ events: [drainEvent("z")] }))
      expect(zstd.status).toBe(415)
      expect(zstd.json).toEqual({ error: "unsupported_media_type", message: expect.any(String) })
      const corrupt = yield* send("gzip", "not gzip at all")
      expect(corrupt.status).toBe(400)
      expect(corrupt.json).toEqual({ error: "validation_error", message: expect.stringContaining("gzip") })
      expect(yield* stored).toHaveLength(0)
    }).pipe(withServer()))
})

describe("POST /v1/drain: durability and backpressure", () => {
  it.live("answers 202 only once the batch is committed", () =>
    Effect.gen(function*() {
      const controls = yield* TestControls
      const post = yield* holdWriter({ events: drainEvents("durable", 3) })
      // A full round trip on another connection: a premature 202 would have arrived by now.
      expect((yield* get("/health")).status).toBe(200)
      expect(post.unsafePoll()).toBeNull()
      expect(yield* stored).toHaveLength(0)
      yield* controls.gate.open
      const reply = yield* Fiber.join(post)
      expect(reply.status).toBe(202)
      expect(yield* storedMessages).toEqual(["durable-0", "durable-1", "durable-2"])
    }).pipe(withServer()))

  it.live("answers 429 {server saturated} with Retry-After above the high watermark, and recovers", () =>
    Effect.gen(function*() {
      const controls = yield* TestControls
      const first = yield* holdWriter({ events: drainEvents("a", 1) })
      const second = yield* queueUp({ events: drainEvents("b", 8) }, 8)
      const refused = yield* postDrain({ events: drainEvents("c", 1) })
      expect(refused.status).toBe(429)
      expect(refused.json).toEqual({ error: "server saturated", code: "backpressure_triggered" })
      expect(refused.headers["retry-after"]).toBe("7")
      yield* controls.gate.open
      expect((yield* Fiber.join(first)).status).toBe(202)
      expect((yield* Fiber.join(second)).status).toBe(202)
      const later = yield* postDrain({ events: drainEvents("d", 1) })
      expect(later.status).toBe(202)
      const messages = yield* storedMessages
      expect(messages).toHaveLength(10)
      expect(messages).not.toContain("c-0")
    }).pipe(withServer({ queue: { maxEvents: 10 }, drain: { retryAfterSeconds: 7 } })))

  it.live("answers 429 when the queue refuses the batch (Backpressure)", () =>
    Effect.gen(function*() {
      const controls = yield* TestControls
      const first = yield* holdWriter({ events: drainEvents("a", 1) })
      // 6 of 10 queued: under the 0.8 watermark, but no room for 6 more.
      const second = yield* queueUp({ events: drainEvents("b", 6) }, 6)
      const refused = yield* postDrain({ events: drainEvents("c", 6) })
      expect(refused.status).toBe(429)
      expect(refused.json).toEqual({ error: "server saturated", code: "backpressure_triggered" })
      expect(refused.headers["retry-after"]).toBe("1")
      yield* controls.gate.open
      expect((yield* Fiber.join(first)).status).toBe(202)
      expect((yield* Fiber.join(second)).status).toBe(202)
      expect(yield* storedMessages).toHaveLength(7)
    }).pipe(withServer({ queue: { maxEvents: 10, fullPolicy: "reject" } })))

  it.live("answers 503 with Retry-After once the gateway is shutting down", () =>
    Effect.gen(function*() {
      const queue = yield* EventQueue
      yield* queue.close
      const reply = yield* postDrain({ events: [drainEvent("late")] })
      expect(reply.status).toBe(503)
      expect(reply.json).toEqual({ error: "service_unavailable", message: expect.any(String) })
      expect(reply.headers["retry-after"]).toBe("1")
    }).pipe(withServer()))
})

describe("POST /v1/drain: Idempotency-Key", () => {
  it.live("answers a retry 202 without storing twice; the key is scoped by token", () =>
    Effect.gen(function*() {
      const batch = { events: drainEvents("once", 3) }
      const first = yield* postDrain(batch, { "idempotency-key": "k-1" })
      const retry = yield* postDrain(batch, { "idempotency-key": "k-1" })
      expect(first.status).toBe(202)
      expect(retry.status).toBe(202)
      expect(retry.json).toEqual(accepted)
      expect(yield* stored).toHaveLength(3)
      // Another key, or the same key from another token, is another batch.
      expect((yield* postDrain(batch, { "idempotency-key": "k-2" })).status).toBe(202)
      expect((yield* postDrain(batch, { "idempotency-key": "k-1", authorization: tokens[1] })).status).toBe(202)
      expect(yield* stored).toHaveLength(9)
    }).pipe(withServer()))

  it.live("a refused attempt does not burn the key", () =>
    Effect.gen(function*() {
      const bad = yield* postDrain({ events: [drainEvent("x", { level: "loud" })] }, { "idempotency-key": "k" })
      expect(bad.status).toBe(400)
      const good = yield* postDrain({ events: [drainEvent("x")] }, { "idempotency-key": "k" })
      expect(good.status).toBe(202)
      expect(yield* storedMessages).toEqual(["x"])
    }).pipe(withServer()))

  it.live("answers 503 with Retry-After when the store cannot say whether the key was used", () =>
    Effect.gen(function*() {
      const controls = yield* TestControls
      controls.setUnreachable(true)
      const reply = yield* postDrain({ events: [drainEvent("x")] }, { "idempotency-key": "k" })
      expect(reply.status).toBe(503)
      expect(reply.json).toEqual({ error: "service_unavailable", message: "the store is unreachable" })
      expect(reply.headers["retry-after"]).toBe("1")
      expect(yield* stored).toHaveLength(0)
      controls.setUnreachable(false)
      expect((yield* postDrain({ events: [drainEvent("x")] }, { "idempotency-key": "k" })).status).toBe(202)
      expect(yield* storedMessages).toEqual(["x"])
    }).pipe(withServer()))

  it.live("refuses an empty or over-long key", () =>
    Effect.gen(function*() {
      for (const key of ["", "k".repeat(256)]) {
        const reply = yield* postDrain({ events: [drainEvent("x")] }, { "idempotency-key": key })
        expect(reply.status).toBe(400)
        expect(reply.json).toMatchObject({
          error: "validation_error",
          details: { "Idempotency-Key": "must be 1 to 255 characters" }
        })
      }
      expect(yield* stored).toHaveLength(0)
      const longest = yield* postDrain({ events: [drainEvent("x")] }, { "idempotency-key": "k".repeat(255) })
      expect(longest.status).toBe(202)
    }).pipe(withServer()))

  it.live("concurrent retries of a key still in flight are stored once", () =>
    Effect.gen(function*() {
      const controls = yield* TestControls
      const queue = yield* EventQueue
      const batch = { events: drainEvents("inflight", 4) }
      const first = yield* holdWriter(batch, { "idempotency-key": "same" })
      const received = controls.requestsReceived()
      const retries = yield* Effect.fork(
        Effect.forEach(Array.from({ length: 9 }), () => postDrain(batch, { "idempotency-key": "same" }), {
          concurrency: "unbounded"
        })
      )
      yield* eventually(
        Effect.sync(() => controls.requestsReceived() === received + 9),
        "every retry reached the server"
      )
      expect((yield* get("/health")).status).toBe(200)
      // The retries wait for the first attempt instead of queueing the batch again.
      expect(queue.stats().events).toBe(0)
      yield* controls.gate.open
      expect((yield* Fiber.join(first)).status).toBe(202)
      for (const reply of yield* Fiber.join(retries)) expect(reply.status).toBe(202)
      expect(yield* stored).toHaveLength(4)
    }).pipe(withServer()))
})

describe("POST /v1/drain: many clients", () => {
  it.live("50 concurrent posters (each batch sent twice with its key): every event stored exactly once", () =>
    Effect.gen(function*() {
      const posters = 50
      const batchesEach = 4
      const perBatch = 25
      const replies = yield* Effect.forEach(
        Array.from({ length: posters }, (_, p) => p),
        (p) =>
          Effect.forEach(Array.from({ length: batchesEach }, (_, b) => b), (b) => {
            const batch = { events: drainEvents(`p${p}-b${b}`, perBatch) }
            const headers = { "idempotency-key": `p${p}-b${b}` }
            return Effect.all([postDrain(batch, headers), postDrain(batch, headers)], { concurrency: 2 })
          }),
        { concurrency: posters }
      )
      for (const reply of replies.flat(2)) expect(reply.status).toBe(202)
      const expected = Array.from(
        { length: posters },
        (_, p) =>
          Array.from({ length: batchesEach }, (_, b) => Array.from({ length: perBatch }, (_, i) => `p${p}-b${b}-${i}`))
      ).flat(2).sort()
      expect(yield* storedMessages).toEqual(expected)
    }).pipe(withServer()))
})
