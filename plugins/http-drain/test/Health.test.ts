/**
 * `GET /health`, `GET /health/ready` and `GET /metrics` on a real server:
 * readiness follows saturation, the store's ping and shutdown; the metrics
 * are Prometheus text with HELP/TYPE and the drain's counts.
 */
import { describe, expect, it } from "@effect/vitest"
import { EventQueue } from "@sluice/core/EventQueue"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import {
  drainEvents,
  eventually,
  get,
  holdWriter,
  postDrain,
  queueUp,
  serve,
  type ServerOptions,
  TestControls
} from "./harness.js"

const withServer = (options: ServerOptions = {}) => Effect.provide(serve(options))

describe("GET /health", () => {
  it.live("answers 200 {status: ok}", () =>
    Effect.gen(function*() {
      const reply = yield* get("/health")
      expect(reply.status).toBe(200)
      expect(reply.json).toEqual({ status: "ok" })
      expect(reply.headers["content-type"]).toMatch(/^application\/json/)
    }).pipe(withServer()))
})

describe("GET /health/ready", () => {
  it.live("flips to 503 while the queue is above its high watermark, and back once it drains", () =>
    Effect.gen(function*() {
      const controls = yield* TestControls
      expect(yield* get("/health/ready")).toMatchObject({ status: 200, json: { status: "ready" } })
      const first = yield* holdWriter({ events: drainEvents("a", 1) })
      const second = yield* queueUp({ events: drainEvents("b", 7) }, 7)
      // 7 of 10 is under the 0.8 watermark: still ready.
      expect((yield* get("/health/ready")).status).toBe(200)
      const third = yield* queueUp({ events: drainEvents("c", 1) }, 8)
      const saturated = yield* get("/health/ready")
      expect(saturated.status).toBe(503)
      expect(saturated.json).toEqual({ status: "unavailable", reason: expect.stringContaining("high watermark") })
      yield* controls.gate.open
      for (const post of [first, second, third]) expect((yield* Fiber.join(post)).status).toBe(202)
      yield* eventually(Effect.map(get("/health/ready"), (r) => r.status === 200), "ready again")
    }).pipe(withServer({ queue: { maxEvents: 10 } })))

  it.live("answers 503 while the store does not answer its ping", () =>
    Effect.gen(function*() {
      const controls = yield* TestControls
      controls.setUnreachable(true)
      const down = yield* get("/health/ready")
      expect(down.status).toBe(503)
      expect(down.json).toEqual({ status: "unavailable", reason: expect.stringContaining("store unreachable") })
      controls.setUnreachable(false)
      expect((yield* get("/health/ready")).status).toBe(200)
    }).pipe(withServer()))

  it.live("answers 503 once the gateway is shutting down, while liveness stays 200", () =>
    Effect.gen(function*() {
      yield* (yield* EventQueue).close
      expect(yield* get("/health/ready")).toMatchObject({
        status: 503,
        json: { status: "unavailable", reason: "shutting down" }
      })
      expect((yield* get("/health")).status).toBe(200)
    }).pipe(withServer()))
})

/** The value of one series in a Prometheus text, or undefined. */
const sample = (text: string, series: string): number | undefined => {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

describe("GET /metrics", () => {
  it.live("renders Prometheus text with HELP and TYPE, and counts what the drain accepted", () =>
    Effect.gen(function*() {
      const accepted = "sluice_events_accepted_total{transport=\"http\"}"
      const before = sample((yield* get("/metrics")).text, accepted) ?? 0
      expect((yield* postDrain({ events: drainEvents("m", 7) })).status).toBe(202)
      expect((yield* postDrain({ events: [{ bad: true }] })).status).toBe(400)
      const reply = yield* get("/metrics")
      expect(reply.status).toBe(200)
      expect(reply.headers["content-type"]).toBe("text/plain; version=0.0.4; charset=utf-8")
      const text = reply.text
      expect(sample(text, accepted)).toBe(before + 7)
      expect(text).toContain("# HELP sluice_events_accepted_total Events accepted into the pipeline\n")
      expect(text).toContain("# TYPE sluice_events_accepted_total counter\n")
      expect(sample(text, "sluice_http_drain_requests_total{status=\"202\"}")).toBeGreaterThanOrEqual(1)
      expect(sample(text, "sluice_http_drain_requests_total{status=\"400\"}")).toBeGreaterThanOrEqual(1)
      expect(sample(text, "sluice_events_rejected_total{reason=\"invalid\",transport=\"http\"}"))
        .toBeGreaterThanOrEqual(1)
      expect(text).toContain("# TYPE sluice_store_commit_latency_ms histogram\n")
      expect(sample(text, "sluice_store_commit_latency_ms_bucket{le=\"+Inf\"}")).toBeGreaterThanOrEqual(1)
      expect(text).toContain("# TYPE sluice_queue_events gauge\n")
      // One TYPE line per name, even with several tagged series.
      const types = text.split("\n").filter((l) => l.startsWith("# TYPE "))
      expect(new Set(types).size).toBe(types.length)
      expect(types.filter((l) => l.startsWith("# TYPE sluice_http_drain_requests_total "))).toHaveLength(1)
      expect(text).not.toContain("effect_fiber_")
      const withEffect = yield* get("/metrics?effect=true")
      expect(withEffect.text).toContain("effect_fiber_")
    }).pipe(withServer()))
})
