/**
 * Test harness for the agent runtime: a scripted fake control plane (a real
 * `node:http` server on loopback, port 0) that records every request, a
 * `probe` input type that reports its builds, starts and stops, an action
 * executor that records what the heartbeat hands it, and a temp state dir.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import type * as Action from "@sluice/core/Action"
import * as Input from "@sluice/core/Input"
import * as MemoryEventStore from "@sluice/core/MemoryEventStore"
import * as Pipeline from "@sluice/core/Pipeline"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Ref from "effect/Ref"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import * as TestServices from "effect/TestServices"
import * as Fs from "node:fs"
import * as Http from "node:http"
import * as Os from "node:os"
import * as Path from "node:path"
import { ActionExecutor } from "../src/ActionExecutor.js"
import * as Agent from "../src/Agent.js"

/** One request the fake control plane received. */
export interface Recorded {
  readonly route: Route
  readonly method: string
  readonly path: string
  readonly query: URLSearchParams
  readonly authorization: string | undefined
  readonly ifNoneMatch: string | undefined
  readonly body: string
}

/** One scripted answer. */
export interface Reply {
  readonly status: number
  readonly headers?: Readonly<Record<string, string>>
  readonly body?: string
}

export type Route = "enrol" | "config" | "heartbeat" | "rotate" | "other"

const routeOf = (method: string, path: string): Route => {
  if (method === "POST" && path === "/api/v1/agents/enrol") return "enrol"
  if (method === "GET" && /^\/api\/v1\/agents\/[^/]+\/config$/.test(path)) return "config"
  if (method === "POST" && /^\/api\/v1\/agents\/[^/]+\/heartbeat$/.test(path)) return "heartbeat"
  if (method === "POST" && /^\/api\/v1\/agents\/[^/]+\/rotate-token$/.test(path)) return "rotate"
  return "other"
}

/** A JSON answer. */
export const json = (status: number, body: unknown): Reply => ({
  status,
  headers: { "content-type": "application/json" },
  body: JSON.stringify(body)
})

/** A `200` config answer with its version and etag headers. */
export const config = (version: number, text: string, etag = `etag-of-${version}`): Reply => ({
  status: 200,
  headers: { "content-type": "application/yaml", "x-config-version": String(version), "x-config-etag": etag },
  body: text
})

/** The fake control plane. */
export interface FakeControlPlane {
  readonly url: string
  /** Every request, in arrival order (taken one by one by the test). */
  readonly requests: Queue.Queue<Recorded>
  /** Scripts a route's answers (the last one set wins). */
  readonly on: (route: Route, answer: (request: Recorded) => Reply) => Effect.Effect<void>
}

const defaults: Record<Route, (request: Recorded) => Reply> = {
  enrol: () => json(401, { error: "unauthorized", message: "unknown enrolment token" }),
  config: () => ({ status: 204 }),
  heartbeat: () => json(200, { data: { pendingActions: [] } }),
  rotate: () => json(404, { error: "not_found" }),
  other: () => json(404, { error: "not_found" })
}

/** Starts the fake control plane on loopback; closed with the scope. */
export const fakeControlPlane: Effect.Effect<FakeControlPlane, never, Scope.Scope> = Effect.gen(function*() {
  const requests = yield* Queue.unbounded<Recorded>()
  const script = yield* Ref.make<Record<Route, (request: Recorded) => Reply>>({ ...defaults })
  const server = yield* Effect.acquireRelease(
    Effect.async<Http.Server>((resume) => {
      const s = Http.createServer((req, res) => {
        const chunks: Array<Buffer> = []
        req.on("data", (chunk: Buffer) => chunks.push(chunk))
        req.on("end", () => {
          const url = new URL(req.url ?? "/", "http://localhost")
          const recorded: Recorded = {
            route: routeOf(req.method ?? "GET", url.pathname),
            method: req.method ?? "GET",
            path: url.pathname,
            query: url.searchParams,
            authorization: req.headers.authorization,
            ifNoneMatch: req.headers["if-none-match"],
            body: Buffer.concat(chunks).toString("utf8")
          }
          const reply = Effect.runSync(Ref.get(script))[recorded.route](recorded)
          requests.unsafeOffer(recorded)
          res.writeHead(reply.status, reply.headers)
          res.end(reply.body)
        })
      })
      s.listen(0, "127.0.0.1", () => resume(Effect.succeed(s)))
    }),
    (s) =>
      Effect.async<void>((resume) => {
        s.closeAllConnections()
        s.close(() => resume(Effect.void))
      })
  )
  const address = server.address()
  const port = typeof address === "object" && address !== null ? address.port : 0
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    on: (route, answer) => Ref.update(script, (s) => ({ ...s, [route]: answer }))
  }
})

/** Waits (real time, at most 10 s) for something that depends on a real socket. */
export const within = <A, E, R>(effect: Effect.Effect<A, E, R>, what: string): Effect.Effect<A, E | Error, R> =>
  // Only the deadline runs on the real clock: the effect keeps the test's services (its TestClock).
  Effect.raceFirst(
    effect,
    TestServices.provideLive(Effect.sleep("10 seconds")).pipe(
      Effect.zipRight(Effect.fail(new Error(`timed out waiting for ${what}`)))
    )
  )

/** Takes the next request on `route`, skipping others (bounded). */
export const nextRequest = (plane: FakeControlPlane, route: Route) =>
  within(
    Effect.gen(function*() {
      for (;;) {
        const r = yield* Queue.take(plane.requests)
        if (r.route === route) return r
      }
    }),
    `a ${route} request`
  )

/** A temp dir, removed with the scope. */
export const tempDir = (prefix: string): Effect.Effect<string, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), prefix))),
    (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
  )

/** Writes the identity and token an enrolment would have. */
export const enrolled = (
  stateDir: string,
  apiUrl: string,
  token = "AGT_first_token"
): Effect.Effect<void> =>
  Effect.sync(() => {
    Fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 })
    Fs.writeFileSync(
      Path.join(stateDir, "agent.json"),
      JSON.stringify({ agentId: "agent-1", apiUrl, groupId: "group-1" })
    )
    Fs.writeFileSync(Path.join(stateDir, "token"), `${token}\n`, { mode: 0o600 })
  })

/** What the probe input did, in order. */
export type ProbeEvent =
  | { readonly kind: "built"; readonly name: string }
  | { readonly kind: "started"; readonly name: string; readonly stateDir: string }
  | { readonly kind: "stopped"; readonly name: string }

/**
 * The `probe` input type: settings `{ lines?: string[], fail?: string }`
 * (no other key). When it starts it emits `lines` (with the idempotency key
 * `probe:<name>`), then runs until stopped, or fails with `fail` once emitted.
 */
export const probe = (log: Queue.Queue<ProbeEvent>): Input.Input =>
  Input.make({
    type: "probe",
    platforms: ["linux", "kubernetes"],
    settings: Schema.Struct({
      lines: Schema.optional(Schema.Array(Schema.String)),
      fail: Schema.optional(Schema.String)
    }),
    build: (settings, context) =>
      Effect.as(log.offer({ kind: "built", name: context.name }), {
        run: Effect.gen(function*() {
          yield* Effect.addFinalizer(() => log.offer({ kind: "stopped", name: context.name }))
          yield* log.offer({ kind: "started", name: context.name, stateDir: context.stateDir })
          if (settings.lines !== undefined && settings.lines.length > 0) {
            yield* context.emit(settings.lines.map((message) => ({ message })), {
              idempotencyKey: `probe:${context.name}`
            })
          }
          if (settings.fail !== undefined) {
            return yield* new Input.InputError({ input: context.name, message: settings.fail })
          }
          return yield* Effect.never
        })
      })
  })

/** Takes the next probe event (bounded). */
export const nextProbe = (log: Queue.Queue<ProbeEvent>) => within(Queue.take(log), "the probe input")

/** An action executor that records what heartbeats hand it. */
export interface RecordingExecutor {
  readonly layer: Layer.Layer<ActionExecutor>
  /** Reports waiting for delivery (the test sets them). */
  readonly pending: Ref.Ref<ReadonlyArray<Action.ActionReport>>
  readonly acknowledged: Queue.Queue<number>
  readonly offered: Queue.Queue<ReadonlyArray<Action.PendingAction>>
}

export const recordingExecutor: Effect.Effect<RecordingExecutor> = Effect.gen(function*() {
  const pending = yield* Ref.make<ReadonlyArray<Action.ActionReport>>([])
  const acknowledged = yield* Queue.unbounded<number>()
  const offered = yield* Queue.unbounded<ReadonlyArray<Action.PendingAction>>()
  const layer = Layer.succeed(
    ActionExecutor,
    ActionExecutor.of({
      offer: (actions) => Queue.offer(offered, actions),
      reports: Ref.get(pending),
      acknowledge: (count) =>
        Effect.zipRight(Ref.update(pending, (r) => r.slice(count)), Queue.offer(acknowledged, count))
    })
  )
  return { layer, pending, acknowledged, offered }
})

/** Node's HTTP client, as the agent uses it. */
export const httpClient = NodeHttpClient.layerUndici

/** The agent's services over a real pipeline and a memory store, with the probe input registered. */
export const agentLayer = (
  stateDir: string,
  log: Queue.Queue<ProbeEvent>,
  options: Partial<Agent.AgentOptions> = {}
) =>
  Agent.layer({
    stateDir,
    version: "0.4.1",
    allowedPaths: ["/var/log"],
    platform: "linux",
    // Long enough never to fire on the TestClock while a test moves it.
    requestTimeout: "1 hour",
    ...options
  }).pipe(
    Layer.provideMerge(Pipeline.layer().pipe(Layer.provideMerge(MemoryEventStore.layer))),
    Layer.provide(Input.registry([probe(log)])),
    Layer.provide(httpClient)
  )

/**
 * Waits (bounded) until the fibers sleeping on the TestClock are exactly
 * those due at `deadlines` (epoch ms of the TestClock): the loops are idle.
 * The requests' one-hour timeouts are left out (the TestClock keeps them
 * listed even after their request answered, and tests never reach them).
 */
export const idleUntil = (deadlines: ReadonlyArray<number>) =>
  within(
    Effect.gen(function*() {
      const expected = [...deadlines].sort((a, b) => a - b).join(",")
      for (;;) {
        const pending = [...(yield* TestClock.sleeps())].filter((at) => at < 3_600_000).sort((a, b) => a - b)
          .join(",")
        if (pending === expected) return
        yield* TestServices.provideLive(Effect.sleep("5 millis"))
      }
    }),
    `sleepers due at ${deadlines.join(", ")} ms`
  )

/** Polls `check` (real time, bounded) until it answers `Some`. */
export const eventually = <A, E, R>(check: Effect.Effect<Option.Option<A>, E, R>, what: string) =>
  within(
    Effect.gen(function*() {
      for (;;) {
        const result = yield* check
        if (Option.isSome(result)) return result.value
        yield* TestServices.provideLive(Effect.sleep("5 millis"))
      }
    }),
    what
  )
