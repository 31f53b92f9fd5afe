/**
 * Test harness: the control plane on a real HTTP server (loopback, random
 * port) over a real SQLite file in a temp dir (users, API keys, and, when
 * asked, the SQLite event store with its indexer), the core pipeline, and
 * `fetch` as the client, so every test speaks the wire as a user would.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpLayerRouter from "@effect/platform/HttpLayerRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import type * as SqlClient from "@effect/sql/SqlClient"
import type { CommitFeed } from "@sluice/core/CommitFeed"
import type { EventQueue } from "@sluice/core/EventQueue"
import type { EventStore } from "@sluice/core/EventStore"
import type { Ingest } from "@sluice/core/Ingest"
import type { LogEvent } from "@sluice/core/LogEvent"
import * as MemoryEventStore from "@sluice/core/MemoryEventStore"
import * as Pipeline from "@sluice/core/Pipeline"
import { SqliteEventStore } from "@sluice/store-sql"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Fs from "node:fs"
import * as Http from "node:http"
import * as Os from "node:os"
import * as Path from "node:path"
import * as ControlPlane from "../src/ControlPlane.js"

/** The first admin every test server starts with. */
export const admin = { email: "admin@example.com", password: "correct horse battery" }

/** Settings of one test server. */
export interface ServerOptions {
  readonly controlPlane?: Partial<ControlPlane.ControlPlaneOptions>
  /** Use the SQLite event store (with its indexer) instead of the memory store. */
  readonly sqliteStore?: boolean
  /** Start without the first admin. */
  readonly noAdmin?: boolean
  /** Another event store (e.g. one that fails). */
  readonly store?: Layer.Layer<EventStore>
}

/** Everything a test reaches. */
export type Served = HttpServer.HttpServer | EventStore | EventQueue | Ingest | CommitFeed | SqlClient.SqlClient

/** A fresh temp directory, removed when the scope closes. */
export const tempDir = Effect.acquireRelease(
  Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "sluice-cp-"))),
  (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
)

/** The control plane served on 127.0.0.1:0 over a temp data dir. */
export const serve = (dir: string, options: ServerOptions = {}): Layer.Layer<Served, unknown> => {
  const mainDb = Path.join(dir, "sluice.db")
  const client = SqliteClient.layer({ filename: mainDb })
  const store = options.sqliteStore === true
    ? SqliteEventStore.layer({ commitFile: mainDb, searchFile: Path.join(dir, "search.db") })
    : options.store ?? MemoryEventStore.layer
  const routes = ControlPlane.layer({
    dataDir: dir,
    ...(options.noAdmin === true ? {} : { admin: { email: admin.email, password: Redacted.make(admin.password) } }),
    ...options.controlPlane
  })
  return HttpLayerRouter.serve(routes, { disableLogger: true, disableListenLog: true }).pipe(
    Layer.provideMerge(NodeHttpServer.layer(() => Http.createServer(), { host: "127.0.0.1", port: 0 })),
    Layer.provideMerge(Pipeline.layer()),
    Layer.provideMerge(store),
    Layer.provideMerge(client)
  )
}

/** The base URL of the running server. */
export const baseUrl: Effect.Effect<string, never, HttpServer.HttpServer> = Effect.map(
  HttpServer.HttpServer,
  (server) => server.address._tag === "TcpAddress" ? `http://127.0.0.1:${server.address.port}` : "http://unix"
)

/** One HTTP answer. */
export interface Reply {
  readonly status: number
  readonly headers: Headers
  readonly text: string
  /** The body as JSON (`undefined` when it is not JSON). */
  readonly json: unknown
}

/** How to call. */
export interface Call {
  /** A session token (`Authorization: Bearer`). */
  readonly token?: string | undefined
  /** An API key (`X-API-Key`). */
  readonly apiKey?: string | undefined
  /** A JSON body. */
  readonly body?: unknown
  /** A raw body (sent as is, with `Content-Type: application/json`). */
  readonly raw?: string | undefined
  readonly headers?: Record<string, string> | undefined
}

/** Calls the server. */
export const call = (
  method: string,
  path: string,
  options: Call = {}
): Effect.Effect<Reply, never, HttpServer.HttpServer> =>
  Effect.gen(function*() {
    const base = yield* baseUrl
    const headers: Record<string, string> = { ...options.headers }
    if (options.token !== undefined) headers["authorization"] = `Bearer ${options.token}`
    if (options.apiKey !== undefined) headers["x-api-key"] = options.apiKey
    const body = options.raw ?? (options.body === undefined ? undefined : JSON.stringify(options.body))
    if (body !== undefined) headers["content-type"] ??= "application/json"
    return yield* Effect.promise(async () => {
      const response = await fetch(base + path, { method, headers, body: body ?? null })
      const text = await response.text()
      let json: unknown = undefined
      try {
        json = JSON.parse(text)
      } catch {
        json = undefined
      }
      return { status: response.status, headers: response.headers, text, json }
    })
  })

/** A field of a JSON object (tests only look, so `unknown` is fine). */
export const field = (value: unknown, ...path: ReadonlyArray<string | number>): unknown => {
  let current = value
  for (const key of path) {
    if (typeof current !== "object" || current === null) return undefined
    current = Reflect.get(current, key)
  }
  return current
}

/** Logs in and answers the session token. */
export const login = (email: string, password: string) =>
  Effect.flatMap(call("POST", "/api/v1/auth/login", { body: { email, password } }), (reply) => {
    const token = field(reply.json, "token")
    return typeof token === "string" ? Effect.succeed(token) : Effect.dieMessage(`login: ${reply.status} ${reply.text}`)
  })

/** The first admin's token. */
export const adminToken = login(admin.email, admin.password)

/** Creates a user with a role (as the admin) and answers their token. */
export const userWithRole = (adminTokenValue: string, role: string, email = `${role}-${Math.random()}@example.com`) =>
  Effect.gen(function*() {
    const password = "a long enough password"
    const created = yield* call("POST", "/api/v1/users", { token: adminTokenValue, body: { email, password, role } })
    if (created.status !== 201) return yield* Effect.dieMessage(`create user: ${created.status} ${created.text}`)
    const id = field(created.json, "id")
    return { id: typeof id === "string" ? id : "", email, password, token: yield* login(email, password) }
  })

/** An event as a transport would produce it. */
export const event = (overrides: Partial<LogEvent> = {}): LogEvent => ({
  timestamp: Date.UTC(2025, 7, 31, 10, 30),
  receivedAt: Date.UTC(2025, 7, 31, 10, 30, 1),
  level: 6,
  source: "auth-service",
  message: "user logged in",
  entryType: 1,
  payloadType: "generic",
  projectId: null,
  agentId: null,
  index: "main",
  sourcetype: "unix",
  transport: "unix",
  metadata: {},
  ...overrides
})

/** An open SSE response read incrementally. */
export interface SseReader {
  /** Reads until the text received so far satisfies `done` (or the bound passes). */
  readonly until: (done: (text: string) => boolean, timeoutMs?: number) => Effect.Effect<string>
  readonly status: number
  readonly headers: Http.IncomingHttpHeaders
  readonly close: Effect.Effect<void>
}

/** Opens an SSE stream with `node:http` (closed with the scope). */
export const openStream = (path: string, headers: Record<string, string>) =>
  Effect.gen(function*() {
    const base = yield* baseUrl
    const { request, response } = yield* Effect.acquireRelease(
      Effect.async<{ request: Http.ClientRequest; response: Http.IncomingMessage }>((resume) => {
        const request = Http.get(base + path, { headers }, (response) => resume(Effect.succeed({ request, response })))
      }),
      ({ request }) => Effect.sync(() => request.destroy())
    )
    let text = ""
    const waiters = new Set<() => void>()
    response.setEncoding("utf8")
    response.on("data", (chunk: string) => {
      text += chunk
      for (const w of waiters) w()
    })
    const until = (done: (text: string) => boolean, timeoutMs = 10_000) =>
      Effect.async<string>((resume) => {
        const check = () => {
          if (done(text)) {
            waiters.delete(check)
            clearTimeout(timer)
            resume(Effect.succeed(text))
          }
        }
        const timer = setTimeout(() => {
          waiters.delete(check)
          resume(Effect.succeed(text))
        }, timeoutMs)
        waiters.add(check)
        check()
      })
    return {
      until,
      status: response.statusCode ?? 0,
      headers: response.headers,
      close: Effect.sync(() => request.destroy())
    } satisfies SseReader
  })

/** Polls `check` until it answers true, at most `timeoutMs` (real time). */
export const eventually = <E, R>(check: Effect.Effect<boolean, E, R>, timeoutMs = 10_000) =>
  Effect.gen(function*() {
    const deadline = Date.now() + timeoutMs
    while (Date.now() < deadline) {
      if (yield* check) return true
      yield* Effect.promise(() => new Promise((r) => setTimeout(r, 25)))
    }
    return false
  })

// ---------------------------------------------------------------- fleet

/** Answers the JSON of a reply with the expected status, or dies saying what came instead. */
export const expectStatus = (reply: Reply, status: number, what: string) =>
  reply.status === status ? Effect.succeed(reply.json) : Effect.dieMessage(`${what}: ${reply.status} ${reply.text}`)

/** Creates a group as `token` and answers its id. */
export const createGroup = (token: string, body: Record<string, unknown> = { name: "Web servers", slug: "web" }) =>
  Effect.flatMap(
    call("POST", "/api/v1/groups", { token, body }),
    (reply) => Effect.map(expectStatus(reply, 201, "create group"), (json) => String(field(json, "id")))
  )

/** Mints an enrolment token for a group and answers the token. */
export const mintEnrolmentToken = (token: string, groupId: string, body: Record<string, unknown> = {}) =>
  Effect.flatMap(
    call("POST", `/api/v1/groups/${groupId}/enrolment-tokens`, { token, body }),
    (reply) => Effect.map(expectStatus(reply, 201, "mint enrolment token"), (json) => String(field(json, "token")))
  )

/** An enrolment request body. */
export const enrolment = (bootstrapToken: string, overrides: Record<string, unknown> = {}) => ({
  bootstrapToken,
  hostname: "fw1.prod.example.com",
  platform: "linux",
  os: "Ubuntu 24.04",
  kernel: "6.8.0-35-generic",
  agentVersion: "0.4.1",
  ...overrides
})

/** Enrols an agent and answers its id and token. */
export const enrol = (bootstrapToken: string, overrides: Record<string, unknown> = {}) =>
  Effect.flatMap(
    call("POST", "/api/v1/agents/enrol", { body: enrolment(bootstrapToken, overrides) }),
    (reply) =>
      Effect.map(expectStatus(reply, 201, "enrol"), (json) => ({
        agentId: String(field(json, "data", "agentId")),
        agentToken: String(field(json, "data", "agentToken"))
      }))
  )
