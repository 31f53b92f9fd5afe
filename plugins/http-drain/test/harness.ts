/**
 * Test harness: the plugin's routes on a real HTTP server (loopback, random
 * port) over a real pipeline and a store that can be held, and a plain
 * `node:http` client, so every test speaks the wire as a user would.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpLayerRouter from "@effect/platform/HttpLayerRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import { AgentAuth, AgentForbidden, AgentUnauthorized } from "@sluice/core/AgentAuth"
import { EventQueue, type EventQueueOptions } from "@sluice/core/EventQueue"
import { EventStore, StoreError } from "@sluice/core/EventStore"
import { Ingest } from "@sluice/core/Ingest"
import type { StoredEvent } from "@sluice/core/LogEvent"
import * as MemoryEventStore from "@sluice/core/MemoryEventStore"
import * as Pipeline from "@sluice/core/Pipeline"
import * as TokenVerifier from "@sluice/core/TokenVerifier"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Http from "node:http"
import * as EdgeRoutes from "../src/EdgeRoutes.js"
import * as HttpDrain from "../src/HttpDrain.js"

/** The drain tokens the test server accepts. */
export const tokens = ["drain-token-one", "drain-token-two"] as const

/** Handles on the test server: a store whose appends can be held and whose ping can fail, and a request count. */
export interface Controls {
  readonly store: EventStore["Type"]
  /** While closed, `append` waits (after counting the call). */
  readonly gate: Effect.Latch
  /** How many times `append` was entered. */
  readonly appendsEntered: () => number
  /** Makes `ping` and `hasIdempotencyKey` fail (true) or answer (false). */
  readonly setUnreachable: (down: boolean) => void
  /** How many requests the HTTP server has received (counted as they arrive, before any handler). */
  readonly requestsReceived: () => number
  /** Counts one received request (the server's hook). */
  readonly onRequest: () => void
}

export class TestControls extends Context.Tag("test/TestControls")<TestControls, Controls>() {}

const makeControls = Effect.gen(function*() {
  const inner = yield* MemoryEventStore.make
  const gate = yield* Effect.makeLatch(true)
  let entered = 0
  let down = false
  let received = 0
  const store = EventStore.of({
    ...inner,
    append: (events, keys) =>
      Effect.suspend(() => {
        entered++
        return Effect.zipRight(gate.await, inner.append(events, keys))
      }),
    hasIdempotencyKey: (key) =>
      Effect.suspend(() =>
        down
          ? Effect.fail(new StoreError({ operation: "hasIdempotencyKey", reason: "connection refused" }))
          : inner.hasIdempotencyKey(key)
      ),
    ping: Effect.suspend(() =>
      down ? Effect.fail(new StoreError({ operation: "ping", reason: "connection refused" })) : Effect.void
    )
  })
  return {
    store,
    gate,
    appendsEntered: () => entered,
    setUnreachable: (d: boolean) => {
      down = d
    },
    requestsReceived: () => received,
    onRequest: () => {
      received++
    }
  }
})

/** Settings of one test server. */
export interface ServerOptions {
  readonly drain?: Partial<HttpDrain.HttpDrainOptions>
  readonly queue?: Partial<EventQueueOptions>
  /** Also serve the edge logs route (agent tokens of `agentTokens`). */
  readonly edge?: boolean
}

/** Agent tokens of the test `AgentAuth`: token → agent id (`revoked` is refused with 403). */
export const agentTokens = { "AGT_agent_one": "agent-1", "AGT_agent_two": "agent-2" } as const

/** A test `AgentAuth` over `agentTokens`; `AGT_revoked` is a revoked token. */
export const testAgentAuth = Layer.succeed(
  AgentAuth,
  AgentAuth.of({
    authenticate: (token) => {
      const value = Redacted.value(token)
      if (value === "AGT_revoked") return Effect.fail(new AgentForbidden({ reason: "the agent token was revoked" }))
      const agentId = (agentTokens as Record<string, string>)[value]
      return agentId === undefined
        ? Effect.fail(new AgentUnauthorized({ reason: "unknown agent token" }))
        : Effect.succeed({ agentId, groupId: "group-1" })
    }
  })
)

/** Everything a test reaches: the server, the pipeline, the store. */
export type Served = HttpServer.HttpServer | EventStore | EventQueue | Ingest | TestControls

/** The routes served on 127.0.0.1:0 over a pipeline and a holdable store. */
export const serve = (options: ServerOptions = {}): Layer.Layer<Served, unknown> => {
  const controls = Layer.scoped(TestControls, makeControls)
  const store = Layer.effect(EventStore, Effect.map(TestControls, (t) => t.store)).pipe(Layer.provideMerge(controls))
  const server = Layer.unwrapEffect(Effect.map(TestControls, (c) =>
    NodeHttpServer.layer(() => {
      const node = Http.createServer()
      node.on("request", c.onRequest)
      return node
    }, { host: "127.0.0.1", port: 0 })))
  const pipeline = Pipeline.layer({
    queue: { ...Pipeline.defaultOptions.queue, ...options.queue },
    writer: Pipeline.defaultOptions.writer
  })
  // Never leave the writer held past a test (a failed one included): built
  // after the pipeline, so released before it drains the queue.
  const releaseGate = Layer.scopedDiscard(Effect.gen(function*() {
    yield* Ingest
    const { gate } = yield* TestControls
    yield* Effect.addFinalizer(() => gate.open)
  }))
  const routes = options.edge === true
    ? Layer.merge(HttpDrain.layer(options.drain), EdgeRoutes.layer().pipe(Layer.provide(testAgentAuth)))
    : HttpDrain.layer(options.drain)
  return HttpLayerRouter.serve(routes, { disableLogger: true, disableListenLog: true }).pipe(
    Layer.merge(releaseGate),
    Layer.provideMerge(server),
    Layer.provideMerge(TokenVerifier.layerTokens(tokens.map((t) => Redacted.make(t)))),
    Layer.provideMerge(pipeline),
    Layer.provideMerge(store)
  )
}

/** The base URL of the running test server. */
export const baseUrl: Effect.Effect<string, never, HttpServer.HttpServer> = Effect.map(
  HttpServer.HttpServer,
  (server) => server.address._tag === "TcpAddress" ? `http://127.0.0.1:${server.address.port}` : "http://unix"
)

/** One HTTP answer. */
export interface Reply {
  readonly status: number
  readonly headers: Http.IncomingHttpHeaders
  readonly text: string
  /** The body parsed as JSON (`undefined` when it is not JSON). */
  readonly json: unknown
}

/** A request: `body` is sent with a Content-Length; `chunks` are sent chunked, without one. */
export interface RequestOptions {
  readonly method?: string
  readonly headers?: Readonly<Record<string, string>>
  readonly body?: string | Uint8Array
  readonly chunks?: ReadonlyArray<string | Uint8Array>
  /** Leave the request unfinished (the answer must come without the rest of the body). */
  readonly keepOpen?: boolean
  /** The agent to send with (default: a fresh connection per request). */
  readonly agent?: Http.Agent
}

const parse = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/** Sends one request over a fresh connection and reads the whole answer. */
export const request = (url: string, options: RequestOptions = {}): Effect.Effect<Reply> =>
  Effect.async<Reply>((resume) => {
    const headers: Record<string, string | number> = { ...options.headers }
    if (options.body !== undefined && headers["content-length"] === undefined) {
      headers["content-length"] = Buffer.byteLength(options.body)
    }
    const req = Http.request(
      url,
      { method: options.method ?? "GET", headers, agent: options.agent ?? false },
      (res) => {
        const chunks: Array<Buffer> = []
        res.on("data", (c: Buffer) => chunks.push(c))
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8")
          if (options.keepOpen === true) req.destroy()
          resume(Effect.succeed({ status: res.statusCode ?? 0, headers: res.headers, text, json: parse(text) }))
        })
      }
    )
    req.on("error", (error) => resume(Effect.die(error)))
    if (options.body !== undefined) req.write(options.body)
    for (const chunk of options.chunks ?? []) req.write(chunk)
    if (options.keepOpen !== true) req.end()
    return Effect.sync(() => req.destroy())
  })

/** A drain event as a client sends it; `message` tells events apart. */
export const drainEvent = (message: string, overrides: Record<string, unknown> = {}): Record<string, unknown> => ({
  project_id: "proj-1",
  timestamp: "2025-08-31T10:30:00Z",
  level: "info",
  service: "auth-service",
  message,
  ...overrides
})

/** `n` drain events named `${prefix}-0` … */
export const drainEvents = (prefix: string, n: number, overrides: Record<string, unknown> = {}) =>
  Array.from({ length: n }, (_, i) => drainEvent(`${prefix}-${i}`, overrides))

/** POSTs a batch (any JSON) to /v1/drain with the first token unless `headers` says otherwise. */
export const postDrain = (
  body: unknown,
  headers: Readonly<Record<string, string>> = {}
): Effect.Effect<Reply, never, HttpServer.HttpServer> =>
  Effect.flatMap(baseUrl, (url) =>
    request(`${url}/v1/drain`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: tokens[0], ...headers },
      body: typeof body === "string" ? body : JSON.stringify(body)
    }))

/**
 * Holds the writer: closes the store's gate and posts `body` in the
 * background; answers once the writer has taken it and waits in `append`.
 */
export const holdWriter = (body: unknown, headers: Readonly<Record<string, string>> = {}) =>
  Effect.gen(function*() {
    const controls = yield* TestControls
    yield* controls.gate.close
    const post = yield* Effect.fork(postDrain(body, headers))
    yield* eventually(Effect.sync(() => controls.appendsEntered() === 1), "the writer holds the first batch")
    return post
  })

/** Posts `body` in the background; answers once the queue holds `events` events. */
export const queueUp = (body: unknown, events: number) =>
  Effect.gen(function*() {
    const queue = yield* EventQueue
    const post = yield* Effect.fork(postDrain(body))
    yield* eventually(Effect.sync(() => queue.stats().events === events), `${events} events queued`)
    return post
  })

/** GETs a path of the test server. */
export const get = (path: string): Effect.Effect<Reply, never, HttpServer.HttpServer> =>
  Effect.flatMap(baseUrl, (url) => request(`${url}${path}`))

/** Every stored event, oldest first. */
export const stored: Effect.Effect<ReadonlyArray<StoredEvent>, StoreError, EventStore> = Effect.gen(function*() {
  const store = yield* EventStore
  const page = yield* store.query({ offset: 0, limit: 1_000_000 })
  return [...page.items].reverse()
})

/** The stored messages, sorted. */
export const storedMessages = Effect.map(stored, (events) => events.map((e) => e.message).sort())

/**
 * Repeats `check` (every 10 ms, at most `times`) until it holds; fails the
 * test with `what` if it never does.
 */
export const eventually = <R>(
  check: Effect.Effect<boolean, never, R>,
  what: string,
  times = 300
): Effect.Effect<void, never, R> =>
  Effect.gen(function*() {
    for (let i = 0; i < times; i++) {
      if (yield* check) return
      yield* Effect.sleep("10 millis")
    }
    return yield* Effect.die(new Error(`never happened: ${what}`))
  })
