/**
 * Config polling and apply against a scripted control plane: 204 and 200,
 * the version and the saved copy, the swap of the inputs, `{}`, broken
 * configs that keep the old inputs running and show in the next heartbeat,
 * the resume of a restarted agent without the control plane, the events an
 * input emits (with its routing), and a failing input restarted with backoff.
 */
import { describe, expect, it } from "@effect/vitest"
import { EventStore } from "@sluice/core/EventStore"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { ConfigPoller } from "../src/ConfigPoller.js"
import * as Heartbeat from "../src/Heartbeat.js"
import { InputSupervisor } from "../src/InputSupervisor.js"
import {
  agentLayer,
  config,
  enrolled,
  eventually,
  fakeControlPlane,
  idleUntil,
  nextProbe,
  nextRequest,
  type ProbeEvent,
  recordingExecutor,
  tempDir
} from "./fleet-harness.js"

const yamlOf = (version: number, inputs: ReadonlyArray<string>) =>
  `version: ${version}\ngroup: web\ninputs:\n${inputs.join("")}`

const probeInput = (id: string, name: string, settings = "{}", type = "probe") =>
  `  - id: ${id}\n    name: ${name}\n    type: ${type}\n    settings: ${settings}\n` +
  `    index: web\n    sourcetype: probe_lines\n    source: app-${name}\n`

/** A control plane, an enrolled state dir, and the agent's services built in the test's scope. */
const setup = Effect.gen(function*() {
  const plane = yield* fakeControlPlane
  const stateDir = yield* tempDir("sluice-config-")
  yield* enrolled(stateDir, plane.url)
  const log = yield* Queue.unbounded<ProbeEvent>()
  const context = yield* Layer.build(agentLayer(stateDir, log))
  return {
    plane,
    stateDir,
    log,
    context,
    poller: Context.get(context, ConfigPoller),
    supervisor: Context.get(context, InputSupervisor)
  }
})

/** The probe events so far, without waiting. */
const drain = (log: Queue.Queue<ProbeEvent>) => Effect.map(Queue.takeAll(log), (c) => [...c])

describe("config polling", () => {
  it.scoped("204 changes nothing; 200 builds and starts the inputs, records the version and saves the config", () =>
    Effect.gen(function*() {
      const { log, plane, poller, stateDir, supervisor } = yield* setup
      yield* poller.poll
      const first = yield* nextRequest(plane, "config")
      expect(first.query.get("since")).toBe("0")
      expect(first.authorization).toBe("Bearer AGT_first_token")
      expect(first.path).toBe("/api/v1/agents/agent-1/config")
      expect(yield* poller.status).toEqual({ appliedVersion: 0, lastConfigError: null })
      expect((yield* supervisor.status).running).toBe(false)

      const text = yamlOf(3, [probeInput("in-1", "one")])
      yield* plane.on("config", () => config(3, text, "sha256:abc"))
      yield* poller.poll
      expect(yield* nextProbe(log)).toEqual({ kind: "built", name: "one" })
      expect(yield* nextProbe(log)).toEqual({
        kind: "started",
        name: "one",
        stateDir: Path.join(stateDir, "inputs", "in-1")
      })
      expect(Fs.statSync(Path.join(stateDir, "inputs", "in-1")).isDirectory()).toBe(true)
      expect(yield* poller.status).toEqual({ appliedVersion: 3, lastConfigError: null })
      expect(yield* supervisor.status).toMatchObject({
        running: true,
        inputs: [{ id: "in-1", name: "one", type: "probe", state: "running", lastError: null }]
      })
      expect(Fs.readFileSync(Path.join(stateDir, "config.yaml"), "utf8")).toBe(text)
      expect(JSON.parse(Fs.readFileSync(Path.join(stateDir, "config.json"), "utf8"))).toMatchObject({ version: 3 })

      yield* plane.on("config", () => ({ status: 204 }))
      yield* poller.poll
      expect((yield* nextRequest(plane, "config")).query.get("since")).toBe("0")
      expect((yield* nextRequest(plane, "config")).query.get("since")).toBe("3")
      expect(yield* drain(log)).toEqual([])

      // Polls carry the running config's etag; a 304 moves the version without a download or a rebuild.
      yield* plane.on("config", (r) =>
        r.ifNoneMatch === "\"sha256:abc\""
          ? { status: 304, headers: { "x-config-version": "4", "x-config-etag": "sha256:abc" } }
          : config(4, text, "sha256:other"))
      yield* poller.poll
      expect((yield* nextRequest(plane, "config")).ifNoneMatch).toBe("\"sha256:abc\"")
      expect(yield* poller.status).toEqual({ appliedVersion: 4, lastConfigError: null })
      expect(yield* drain(log)).toEqual([])

      // The same config served again under a new version is not rebuilt; its version is recorded.
      yield* plane.on("config", () => config(5, text, "sha256:abc"))
      yield* poller.poll
      expect(yield* poller.status).toEqual({ appliedVersion: 5, lastConfigError: null })
      expect(yield* drain(log)).toEqual([])
    }))

  it.scoped("an input's events carry its routing, its type as transport and the agent id", () =>
    Effect.gen(function*() {
      const { context, log, plane, poller } = yield* setup
      yield* plane.on(
        "config",
        () => config(1, yamlOf(1, [probeInput("in-1", "lines", "{ lines: [first, second] }")]))
      )
      yield* poller.poll
      yield* nextProbe(log)
      yield* nextProbe(log)
      const store = Context.get(context, EventStore)
      const page = yield* eventually(
        Effect.map(store.query({ offset: 0, limit: 10 }), (p) => p.total === 2 ? Option.some(p) : Option.none()),
        "the emitted events in the store"
      )
      expect(page.items.map((e) => [e.message, e.index, e.sourcetype, e.source, e.transport, e.agentId])).toEqual([
        ["second", "web", "probe_lines", "app-lines", "probe", "agent-1"],
        ["first", "web", "probe_lines", "app-lines", "probe", "agent-1"]
      ])
    }))

  it.scoped("`{}` stops every input and the heartbeat says the pipeline is not running", () =>
    Effect.gen(function*() {
      const { context, log, plane, poller } = yield* setup
      yield* plane.on("config", () => config(1, yamlOf(1, [probeInput("in-1", "one"), probeInput("in-2", "two")])))
      yield* poller.poll
      expect((yield* Effect.forEach([1, 2, 3, 4], () => nextProbe(log))).map((e) => e.kind)).toEqual([
        "built",
        "built",
        "started",
        "started"
      ])
      yield* plane.on("config", () => config(2, "{}"))
      yield* poller.poll
      const stops = [yield* nextProbe(log), yield* nextProbe(log)]
      expect(stops.map((e) => `${e.kind} ${e.name}`).sort()).toEqual(["stopped one", "stopped two"])
      expect(yield* poller.status).toEqual({ appliedVersion: 2, lastConfigError: null })
      const executor = yield* recordingExecutor
      const heartbeat = yield* Heartbeat.make("0.4.1").pipe(Effect.provide(executor.layer), Effect.provide(context))
      expect(yield* heartbeat.body).toMatchObject({
        appliedConfigVersion: 2,
        pipelineRunning: false,
        pipelineUptimeSeconds: 0,
        lastConfigError: null
      })
    }))

  it.scoped("a broken config keeps the old inputs running, shows in the next heartbeat, and is not retried", () =>
    Effect.gen(function*() {
      const { context, log, plane, poller, supervisor } = yield* setup
      const executor = yield* recordingExecutor
      const heartbeat = yield* Heartbeat.make("0.4.1").pipe(Effect.provide(executor.layer), Effect.provide(context))
      yield* plane.on("config", () => config(1, yamlOf(1, [probeInput("in-1", "old")])))
      yield* poller.poll
      yield* nextProbe(log)
      yield* nextProbe(log)

      const broken: ReadonlyArray<readonly [string, RegExp]> = [
        ["inputs: [unclosed\n", /^config version 2: YAML: /],
        [yamlOf(3, ["  - id: in-9\n    type: probe\n"]), /^config version 3: inputs\[0\]\.name: is missing/],
        [
          yamlOf(4, [probeInput("in-9", "nginx", "{}", "nope")]),
          /^config version 4: input 'nginx' \(nope\): unknown input type 'nope' \(known: probe\)$/
        ],
        [
          yamlOf(5, [probeInput("in-9", "bad", "{ bogus: 1 }")]),
          /^config version 5: input 'bad' \(probe\): settings\.bogus: is unexpected/
        ]
      ]
      for (const [[text, error], i] of broken.map((b, i) => [b, i] as const)) {
        const version = i + 2
        yield* plane.on("config", () => config(version, text))
        yield* poller.poll
        const status = yield* poller.status
        expect(status.appliedVersion).toBe(1)
        expect(status.lastConfigError).toMatch(error)
        expect(yield* supervisor.status).toMatchObject({ running: true, inputs: [{ name: "old", state: "running" }] })
      }
      // The old input was never stopped, and nothing of the broken configs started.
      expect(yield* drain(log)).toEqual([])

      yield* heartbeat.beat
      const sent = JSON.parse((yield* nextRequest(plane, "heartbeat")).body)
      expect(sent).toMatchObject({ appliedConfigVersion: 1, pipelineRunning: true })
      expect(sent.lastConfigError).toMatch(/^config version 5: input 'bad' \(probe\): settings\.bogus/)

      // A config whose first input builds and second does not: nothing swaps, and the same etag is not tried again.
      const mixed = yamlOf(6, [probeInput("in-2", "good"), probeInput("in-3", "worse", "{ lines: 7 }")])
      yield* plane.on("config", () => config(6, mixed, "sha256:mixed"))
      yield* poller.poll
      expect(yield* drain(log)).toEqual([{ kind: "built", name: "good" }])
      expect((yield* poller.status).lastConfigError).toMatch(
        /^config version 6: input 'worse' \(probe\): settings\.lines/
      )
      yield* poller.poll
      expect(yield* drain(log)).toEqual([])

      // The fixed config swaps: the old input stops, the new one starts, and the error clears.
      yield* plane.on("config", () => config(7, yamlOf(7, [probeInput("in-2", "good")]), "sha256:fixed"))
      yield* poller.poll
      const swapped = yield* Effect.forEach([1, 2, 3], () => nextProbe(log))
      expect(swapped.map((e) => `${e.kind} ${e.name}`)).toEqual(["built good", "stopped old", "started good"])
      expect(yield* poller.status).toEqual({ appliedVersion: 7, lastConfigError: null })
    }))

  it.scoped("a restarted agent resumes its saved config without the control plane", () =>
    Effect.gen(function*() {
      const plane = yield* fakeControlPlane
      const stateDir = yield* tempDir("sluice-config-")
      yield* enrolled(stateDir, plane.url)
      const log = yield* Queue.unbounded<ProbeEvent>()
      yield* plane.on("config", () => config(4, yamlOf(4, [probeInput("in-1", "kept")])))

      const firstRun = yield* Scope.make()
      const first = yield* Layer.buildWithScope(agentLayer(stateDir, log), firstRun)
      yield* Context.get(first, ConfigPoller).poll
      expect((yield* Effect.forEach([1, 2], () => nextProbe(log))).map((e) => e.kind)).toEqual(["built", "started"])
      yield* Scope.close(firstRun, Exit.void)
      expect(yield* nextProbe(log)).toEqual({ kind: "stopped", name: "kept" })

      // The control plane is gone: nothing listens at the saved URL any more.
      const second = yield* Layer.build(agentLayer(stateDir, log, { apiUrl: "http://127.0.0.1:1" }))
      const poller = Context.get(second, ConfigPoller)
      yield* poller.resume
      expect((yield* Effect.forEach([1, 2], () => nextProbe(log))).map((e) => `${e.kind} ${e.name}`)).toEqual([
        "built kept",
        "started kept"
      ])
      expect(yield* poller.status).toEqual({ appliedVersion: 4, lastConfigError: null })
      const failure = yield* Effect.flip(poller.poll)
      expect(failure._tag).toBe("ControlPlaneUnavailable")
      expect((yield* Context.get(second, InputSupervisor).status).running).toBe(true)
    }))
})

describe("input supervision", () => {
  it.scoped("a failing input is restarted with backoff and its last error is kept", () =>
    Effect.gen(function*() {
      const { log, plane, poller, supervisor } = yield* setup
      yield* plane.on("config", () => config(1, yamlOf(1, [probeInput("in-1", "flaky", "{ fail: disk gone }")])))
      yield* poller.poll
      expect((yield* Effect.forEach([1, 2, 3], () => nextProbe(log))).map((e) => e.kind)).toEqual([
        "built",
        "started",
        "stopped"
      ])
      yield* idleUntil([1000])
      expect(yield* supervisor.status).toMatchObject({
        running: false,
        inputs: [{ name: "flaky", state: "restarting", lastError: "disk gone" }]
      })
      yield* TestClock.adjust("1 second")
      expect((yield* Effect.forEach([1, 2], () => nextProbe(log))).map((e) => e.kind)).toEqual(["started", "stopped"])
      // The second wait is longer: nothing restarts after one more second.
      yield* idleUntil([3000])
      yield* TestClock.adjust("1 second")
      yield* idleUntil([3000])
      expect(yield* drain(log)).toEqual([])
      yield* TestClock.adjust("1 second")
      expect(yield* nextProbe(log)).toMatchObject({ kind: "started" })
    }))

  it.scoped("a range emitted again with the same idempotency key is stored once", () =>
    Effect.gen(function*() {
      const { context, log, plane, poller } = yield* setup
      // Emits its two lines with one key, fails, is restarted, emits them again with the same key.
      yield* plane.on(
        "config",
        () => config(1, yamlOf(1, [probeInput("in-1", "replay", "{ lines: [first, second], fail: crashed }")]))
      )
      yield* poller.poll
      expect((yield* Effect.forEach([1, 2, 3], () => nextProbe(log))).map((e) => e.kind)).toEqual([
        "built",
        "started",
        "stopped"
      ])
      yield* idleUntil([1000])
      yield* TestClock.adjust("1 second")
      expect((yield* Effect.forEach([1, 2], () => nextProbe(log))).map((e) => e.kind)).toEqual(["started", "stopped"])
      const store = Context.get(context, EventStore)
      const page = yield* store.query({ offset: 0, limit: 10 })
      expect(page.items.map((e) => e.message).sort()).toEqual(["first", "second"])
    }))

  it.scoped("restart stops and starts the current inputs", () =>
    Effect.gen(function*() {
      const { log, plane, poller, supervisor } = yield* setup
      yield* plane.on("config", () => config(1, yamlOf(1, [probeInput("in-1", "one")])))
      yield* poller.poll
      yield* nextProbe(log)
      yield* nextProbe(log)
      yield* supervisor.restart
      expect((yield* Effect.forEach([1, 2], () => nextProbe(log))).map((e) => `${e.kind} ${e.name}`)).toEqual([
        "stopped one",
        "started one"
      ])
    }))
})
