/**
 * The running agent (`Agent.run`) against a scripted control plane: the first
 * heartbeat and poll at once, then every 30 s and 10 s on the TestClock; the
 * heartbeat body and host metrics; reports acknowledged and actions offered
 * only after a 200; transient failures ride out; 403 ends the agent; and the
 * controls handlers use (rotate token, reload config, restart inputs).
 */
import { describe, expect, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Ref from "effect/Ref"
import * as TestClock from "effect/TestClock"
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as Agent from "../src/Agent.js"
import { PipelineControl } from "../src/AgentControl.js"
import { ConfigPoller } from "../src/ConfigPoller.js"
import {
  agentLayer,
  config,
  enrolled,
  fakeControlPlane,
  idleUntil,
  json,
  nextProbe,
  nextRequest,
  type ProbeEvent,
  recordingExecutor,
  tempDir
} from "./fleet-harness.js"

const oneInput = (version: number, name: string) =>
  `version: ${version}\ninputs:\n  - id: in-${name}\n    name: ${name}\n    type: probe\n    settings: {}\n` +
  `    index: main\n    sourcetype: agent_probe\n    source: sluice-agent\n`

/** A control plane, an enrolled state dir, the agent's services and a recording executor. */
const setup = Effect.gen(function*() {
  const plane = yield* fakeControlPlane
  const stateDir = yield* tempDir("sluice-agent-")
  yield* enrolled(stateDir, plane.url)
  const log = yield* Queue.unbounded<ProbeEvent>()
  const executor = yield* recordingExecutor
  const context = yield* Layer.build(Layer.merge(agentLayer(stateDir, log), executor.layer))
  const options: Agent.AgentOptions = { stateDir, version: "0.4.1", allowedPaths: ["/var/log"] }
  const start = Effect.fork(Agent.run(options).pipe(Effect.provide(context)))
  return { plane, stateDir, log, executor, context, start }
})

describe("Agent.run", () => {
  it.scoped("heartbeats at once and every 30 s, polls at once and every 10 s, with the SPEC body", () =>
    Effect.gen(function*() {
      const { executor, log, plane, start } = yield* setup
      yield* Ref.set(executor.pending, [
        { actionId: "act-1", status: "running" },
        { actionId: "act-1", status: "done", result: { previousVersion: "0.4.0" } }
      ])
      const offered = [{ id: "act-2", type: "upgrade_agent", payload: { targetVersion: "0.4.2" } }]
      yield* plane.on("heartbeat", () => json(200, { data: { pendingActions: offered } }))
      yield* plane.on(
        "config",
        (r) => Number(r.query.get("since")) >= 8 ? { status: 204 } : config(8, oneInput(8, "one"))
      )
      yield* start

      const poll = yield* nextRequest(plane, "config")
      expect(poll.query.get("since")).toBe("0")
      // The first heartbeat may go before or after the first config applies.
      const beat = yield* nextRequest(plane, "heartbeat")
      expect(beat.path).toBe("/api/v1/agents/agent-1/heartbeat")
      expect(beat.authorization).toBe("Bearer AGT_first_token")
      const body = JSON.parse(beat.body)
      expect(Object.keys(body).sort()).toEqual([
        "actionResults",
        "agentVersion",
        "appliedConfigVersion",
        "lastConfigError",
        "metrics",
        "pipelineRunning",
        "pipelineUptimeSeconds"
      ])
      expect(body).toMatchObject({ agentVersion: "0.4.1", lastConfigError: null })
      expect(body.actionResults).toEqual([
        { actionId: "act-1", status: "running" },
        { actionId: "act-1", status: "done", result: { previousVersion: "0.4.0" } }
      ])
      for (const key of ["cpu_percent", "mem_percent", "disk_percent"]) {
        expect(body.metrics[key]).toBeGreaterThanOrEqual(0)
        expect(body.metrics[key]).toBeLessThanOrEqual(100)
      }
      expect(body.metrics.mem_percent).toBeGreaterThan(0)
      expect(body.metrics.disk_percent).toBeGreaterThan(0)
      expect(body.metrics.uptime_s).toBeGreaterThan(0)
      // Acknowledged and offered only after the 200.
      expect(yield* Queue.take(executor.acknowledged)).toBe(2)
      expect(yield* Queue.take(executor.offered)).toEqual(offered)
      yield* nextProbe(log)
      yield* nextProbe(log)

      // Both loops idle: 10 s later one poll (since 8), no heartbeat.
      yield* idleUntil([10_000, 30_000])
      yield* TestClock.adjust("10 seconds")
      expect((yield* nextRequest(plane, "config")).query.get("since")).toBe("8")
      yield* idleUntil([20_000, 30_000])
      yield* TestClock.adjust("10 seconds")
      expect((yield* nextRequest(plane, "config")).query.get("since")).toBe("8")
      yield* idleUntil([30_000, 30_000])
      expect(yield* Queue.size(plane.requests)).toBe(0)
      // 30 s after the first: the second heartbeat, with the pipeline up 30 s and nothing left to report.
      yield* TestClock.adjust("10 seconds")
      const second = JSON.parse((yield* nextRequest(plane, "heartbeat")).body)
      expect(second).toMatchObject({
        appliedConfigVersion: 8,
        pipelineRunning: true,
        pipelineUptimeSeconds: 30,
        actionResults: []
      })
    }))

  it.scoped("a heartbeat that fails keeps its reports for the next one; 503 and 500 do not stop the agent", () =>
    Effect.gen(function*() {
      const { executor, plane, start } = yield* setup
      yield* Ref.set(executor.pending, [{ actionId: "act-1", status: "failed", error: "boom" }])
      yield* plane.on("heartbeat", () => json(503, { error: "internal_error" }))
      yield* plane.on("config", () => ({ status: 500 }))
      const fiber = yield* start
      yield* nextRequest(plane, "heartbeat")
      yield* idleUntil([10_000, 30_000])
      expect(yield* Queue.size(executor.acknowledged)).toBe(0)
      expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)

      yield* plane.on("heartbeat", () => json(200, { data: { pendingActions: [] } }))
      yield* TestClock.adjust("30 seconds")
      const retried = JSON.parse((yield* nextRequest(plane, "heartbeat")).body)
      expect(retried.actionResults).toEqual([{ actionId: "act-1", status: "failed", error: "boom" }])
      expect(yield* Queue.take(executor.acknowledged)).toBe(1)
      expect(yield* Queue.size(executor.offered)).toBe(0)
      expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
    }))

  it.scoped("403 ends the agent with AgentRevoked, a one-line message", () =>
    Effect.gen(function*() {
      const { plane, start } = yield* setup
      yield* plane.on("config", () => json(403, { error: "forbidden", message: "agent revoked" }))
      yield* plane.on("heartbeat", () => json(403, { error: "forbidden", message: "agent revoked" }))
      const fiber = yield* start
      const error = yield* Effect.flip(Fiber.join(fiber))
      expect(error._tag).toBe("AgentRevoked")
      expect(error.message).toMatch(
        /^the control plane refused this agent's token \(403 on (config poll|heartbeat)\): it was revoked or replaced; enrol the agent again$/
      )
    }))

  it.scoped("401 on a later heartbeat ends it too", () =>
    Effect.gen(function*() {
      const { plane, start } = yield* setup
      const fiber = yield* start
      yield* nextRequest(plane, "heartbeat")
      yield* idleUntil([10_000, 30_000])
      yield* plane.on("heartbeat", () => json(401, { error: "unauthorized" }))
      yield* TestClock.adjust("30 seconds")
      const error = yield* Effect.flip(Fiber.join(fiber))
      expect(error).toMatchObject({ _tag: "AgentRevoked", status: 401, call: "heartbeat" })
    }))
})

describe("the controls handlers use", () => {
  it.scoped("rotate token: the new token is stored 0600, then the next call carries it", () =>
    Effect.gen(function*() {
      const { context, plane, stateDir } = yield* setup
      yield* plane.on(
        "rotate",
        (r) =>
          r.authorization === "Bearer AGT_first_token"
            ? json(200, { data: { agentToken: "AGT_second_token" } })
            : json(403, { error: "forbidden" })
      )
      const control = Context.get(context, PipelineControl)
      yield* control.rotateToken
      const rotation = yield* nextRequest(plane, "rotate")
      expect(rotation.path).toBe("/api/v1/agents/agent-1/rotate-token")
      expect(rotation.authorization).toBe("Bearer AGT_first_token")
      const tokenFile = Path.join(stateDir, "token")
      expect(Fs.readFileSync(tokenFile, "utf8").trim()).toBe("AGT_second_token")
      expect(Fs.statSync(tokenFile).mode & 0o777).toBe(0o600)

      yield* Context.get(context, ConfigPoller).poll
      expect((yield* nextRequest(plane, "config")).authorization).toBe("Bearer AGT_second_token")
      // The old token is dead: rotating with it again is refused, and the error reaches the handler.
      const again = yield* Effect.flip(control.rotateToken)
      expect(again.message).toMatch(/refused this agent's token \(403 on token rotation\)/)
    }))

  it.scoped("reload config fetches since 0 and applies it; restart inputs restarts them", () =>
    Effect.gen(function*() {
      const { context, log, plane } = yield* setup
      const control = Context.get(context, PipelineControl)
      yield* plane.on("config", () => config(5, oneInput(5, "one")))
      yield* Context.get(context, ConfigPoller).poll
      yield* nextRequest(plane, "config")
      expect((yield* Effect.forEach([1, 2], () => nextProbe(log))).map((e) => e.kind)).toEqual(["built", "started"])

      yield* control.reloadConfig
      expect((yield* nextRequest(plane, "config")).query.get("since")).toBe("0")
      expect((yield* Effect.forEach([1, 2, 3], () => nextProbe(log))).map((e) => e.kind)).toEqual([
        "built",
        "stopped",
        "started"
      ])

      yield* control.restartInputs
      expect((yield* Effect.forEach([1, 2], () => nextProbe(log))).map((e) => e.kind)).toEqual(["stopped", "started"])

      yield* plane.on("config", () => config(6, "inputs: [oops"))
      const failed = yield* Effect.flip(control.reloadConfig)
      expect(failed).toMatchObject({ _tag: "AgentControlError" })
      expect(failed.message).toMatch(/^config version 6: YAML: /)
    }))
})
