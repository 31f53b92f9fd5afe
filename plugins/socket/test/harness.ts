/**
 * Test harness: the real transports over the real pipeline and an in-memory
 * store whose commits can be held back, a line-oriented socket client, and
 * bounded waits on real time (never sleeps that a test relies on).
 */
import { expect } from "@effect/vitest"
import * as EventQueue from "@sluice/core/EventQueue"
import { EventStore } from "@sluice/core/EventStore"
import type { StoredEvent } from "@sluice/core/LogEvent"
import * as MemoryEventStore from "@sluice/core/MemoryEventStore"
import * as Pipeline from "@sluice/core/Pipeline"
import * as SocketMetrics from "@sluice/socket/SocketMetrics"
import * as TcpTransport from "@sluice/socket/TcpTransport"
import * as UnixTransport from "@sluice/socket/UnixTransport"
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Queue from "effect/Queue"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"

/** The shared secret of the test TCP listener (48 characters). */
export const secret = "test-secret-0123456789abcdefghijklmnopqrstuvwxyz"

/** A temporary directory, removed afterwards. */
export class TempDir extends Context.Tag("test/TempDir")<TempDir, string>() {}

export const tempDirLayer = Layer.scoped(
  TempDir,
  Effect.acquireRelease(
    Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "sluice-socket-"))),
    (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
  )
)

/** Holds the store's commits back while closed. */
export class StoreGate extends Context.Tag("test/StoreGate")<StoreGate, {
  readonly open: Effect.Effect<void>
  /** Appends the writer has started (including those waiting at the gate). */
  readonly appendsStarted: () => number
}>() {}

/** The in-memory store behind a gate. */
export const gatedStore = (open: boolean) =>
  Layer.effectContext(Effect.gen(function*() {
    const inner = yield* MemoryEventStore.make
    const latch = yield* Effect.makeLatch(open)
    let started = 0
    const store = EventStore.of({
      ...inner,
      append: (events, keys) =>
        Effect.suspend(() => {
          started++
          return latch.whenOpen(inner.append(events, keys))
        })
    })
    return Context.make(EventStore, store).pipe(
      Context.add(StoreGate, { open: latch.open, appendsStarted: () => started })
    )
  }))

export interface HarnessOptions {
  readonly queue?: Partial<EventQueue.EventQueueOptions>
  /** Whether the store commits at once (default) or waits for `StoreGate.open`. */
  readonly gateOpen?: boolean
  readonly unix?: Partial<UnixTransport.UnixTransportOptions>
  readonly tcp?: Partial<TcpTransport.TcpTransportOptions>
}

/** Both transports (unix in a temp dir, TCP on a free loopback port) over the pipeline. */
export const harness = (options: HarnessOptions = {}) => {
  const pipeline = Pipeline.layer({
    queue: { ...EventQueue.defaultOptions, ...options.queue },
    // No commit window: commits do not wait on the (test) clock.
    writer: { window: 0, maxBatchEvents: 20_000 }
  })
  const transports = Layer.unwrapEffect(
    TempDir.pipe(Effect.map((dir) =>
      Layer.merge(
        UnixTransport.layer({ path: path.join(dir, "agent.sock"), ...options.unix }),
        TcpTransport.layer({ host: "127.0.0.1", port: 0, sharedSecret: Redacted.make(secret), ...options.tcp })
      )
    ))
  )
  // At teardown the gate opens first, so the pipeline can drain even when a test failed with it closed.
  const openGateAtTeardown = Layer.scopedDiscard(
    StoreGate.pipe(Effect.flatMap((gate) => Effect.addFinalizer(() => gate.open)))
  )
  return Layer.merge(transports, openGateAtTeardown).pipe(
    Layer.provideMerge(pipeline),
    Layer.provideMerge(gatedStore(options.gateOpen ?? true)),
    Layer.provideMerge(tempDirLayer)
  )
}

/** Fails (as a defect) when `self` takes longer than `ms` of real time: a bound, not a wait. */
export const within = (ms: number, what: string) => <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.raceFirst(
    self,
    Effect.async<never>((resume) => {
      const timer = setTimeout(() => resume(Effect.die(new Error(`gave up after ${ms} ms waiting for ${what}`))), ms)
      return Effect.sync(() => clearTimeout(timer))
    }).pipe(Effect.interruptible) // also inside uninterruptible regions (acquireRelease), or the race waits for it
  )

/** Lets real time pass (for I/O), not test time. */
const realTick = (ms: number) =>
  Effect.async<void>((resume) => {
    const timer = setTimeout(() => resume(Effect.void), ms)
    return Effect.sync(() => clearTimeout(timer))
  })

/** Polls `check` until it holds, for at most `ms` of real time. */
export const eventually = <E, R>(check: Effect.Effect<boolean, E, R>, what: string, ms = 5000) =>
  Effect.gen(function*() {
    while (!(yield* check)) yield* realTick(2)
  }).pipe(within(ms, what))

/** A line-oriented client of the agent socket. */
export interface Client {
  readonly socket: net.Socket
  /** Writes each line followed by `\n` (does not wait for the peer). */
  readonly send: (...lines: ReadonlyArray<string>) => Effect.Effect<void>
  /** Writes raw bytes (does not wait for the peer). */
  readonly write: (data: string | Uint8Array) => Effect.Effect<void>
  /** The next answer, parsed (bounded wait). */
  readonly reply: Effect.Effect<unknown>
  /** The next `n` answers. */
  readonly replies: (n: number) => Effect.Effect<Array<unknown>>
  /** Answers received and not taken yet. */
  readonly unread: Effect.Effect<number>
  /** Completes when the agent has closed the connection (bounded wait). */
  readonly closed: Effect.Effect<void>
  readonly isClosed: () => boolean
}

/** Connects to a Unix path or a TCP port; destroyed with the scope. */
export const connect = (target: { readonly path: string } | { readonly port: number }) =>
  Effect.gen(function*() {
    const lines = yield* Queue.unbounded<string>()
    const closed = yield* Deferred.make<void>()
    let isClosed = false
    const socket = yield* Effect.acquireRelease(
      Effect.async<net.Socket>((resume) => {
        const socket = "path" in target
          ? net.createConnection({ path: target.path })
          : net.createConnection({ host: "127.0.0.1", port: target.port })
        let pending = ""
        socket.setEncoding("utf8")
        socket.on("data", (text: string) => {
          pending += text
          let end = pending.indexOf("\n")
          while (end !== -1) {
            Queue.unsafeOffer(lines, pending.slice(0, end))
            pending = pending.slice(end + 1)
            end = pending.indexOf("\n")
          }
        })
        socket.on("error", () => {})
        socket.on("close", () => {
          isClosed = true
          Deferred.unsafeDone(closed, Effect.void)
        })
        socket.once("connect", () => resume(Effect.succeed(socket)))
      }).pipe(within(5000, "the connection")),
      (socket) => Effect.sync(() => socket.destroy())
    )
    const reply = Queue.take(lines).pipe(
      Effect.map((line): unknown => JSON.parse(line)),
      within(5000, "an answer")
    )
    const client: Client = {
      socket,
      send: (...text) => Effect.sync(() => void socket.write(text.map((line) => line + "\n").join(""))),
      write: (data) => Effect.sync(() => void socket.write(data)),
      reply,
      replies: (n) => Effect.forEach(Array.from({ length: n }), () => reply),
      unread: Queue.size(lines),
      closed: Deferred.await(closed).pipe(within(5000, "the agent to close the connection")),
      isClosed: () => isClosed
    }
    return client
  })

/** The transports by name, for tests that run over both. */
export const transports = ["unix", "tcp"] as const
export type TransportName = typeof transports[number]

/** The line `connectTo` authenticates with on TCP. */
export const authenticateLine = JSON.stringify({ version: "1.0", action: "authenticate", shared_secret: secret })

/** Connects to a transport of the harness; on TCP, authenticates first. */
export const connectTo = (transport: TransportName) =>
  Effect.gen(function*() {
    if (transport === "unix") {
      const unix = yield* UnixTransport.UnixTransport
      return yield* connect({ path: unix.path })
    }
    const tcp = yield* TcpTransport.TcpTransport
    const client = yield* connect({ port: tcp.port })
    yield* client.send(authenticateLine)
    const answer = yield* client.reply
    if (JSON.stringify(answer) !== JSON.stringify({ status: "success", message: "Authentication successful" })) {
      return yield* Effect.die(new Error(`authentication failed: ${JSON.stringify(answer)}`))
    }
    return client
  })

/** Every stored event, in commit order. */
export const stored: Effect.Effect<Array<StoredEvent>, never, EventStore> = EventStore.pipe(
  Effect.flatMap((store) => store.query({ offset: 0, limit: 10_000_000 })),
  Effect.map((page) => [...page.items].sort((a, b) => a.id - b.id)),
  Effect.orDie
)

/** A valid entry (SPEC §1's example), with overrides. */
export const entry = (overrides: Record<string, unknown> = {}): Record<string, unknown> => ({
  version: "1.0",
  payload: "User login successful",
  entryType: 1,
  source: "auth-service",
  logLevel: 6,
  timestamp: "2025-08-31T10:30:00Z",
  payloadType: "generic",
  metadata: { k: "v" },
  ...overrides
})

/** An entry as one line. */
export const line = (overrides: Record<string, unknown> = {}): string => JSON.stringify(entry(overrides))

/** A batch of entries as one line. */
export const batch = (entries: ReadonlyArray<Record<string, unknown>>): string =>
  JSON.stringify({ version: "1.0", entries })

export const ping = JSON.stringify({ version: "1.0", action: "ping" })
export const flush = JSON.stringify({ version: "1.0", action: "flush" })
export const pong = { status: "pong" }

/** The current count of a transport's counter. */
export const counter = (metric: Metric.Metric.Counter<number>, transport: TransportName) =>
  Metric.value(metric.pipe(Metric.tagged("transport", transport))).pipe(Effect.map((state) => state.count))

/** Bytes the agent has read on a transport. */
export const bytesRead = (transport: TransportName) => counter(SocketMetrics.bytesReceived, transport)

const isPong = (answer: unknown) => JSON.stringify(answer) === JSON.stringify(pong)

/**
 * On a fresh connection: sends the lines and a ping, collects the answers
 * before the pong, then flushes. The pong proves the connection stayed open.
 */
export const exchange = (transport: TransportName, lines: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const client = yield* connectTo(transport)
    yield* client.send(...lines, ping)
    const answers: Array<unknown> = []
    while (true) {
      const answer = yield* client.reply
      if (isPong(answer)) break
      answers.push(answer)
    }
    yield* client.send(flush)
    const flushed = yield* client.reply
    return { answers, flushed }
  }).pipe(Effect.scoped)

/** Waits until a fiber sleeps on the test clock until `wakeAt` (epoch ms of the test clock). */
export const sleepingUntil = (wakeAt: number) =>
  eventually(
    TestClock.sleeps().pipe(Effect.map((times) => Chunk.some(times, (t) => t === wakeAt))),
    `a timer due at ${wakeAt} on the test clock`
  )

/** Builds a layer in a scope of its own and answers how it failed. */
export const startupFailure = <A, E, R>(layer: Layer.Layer<A, E, R>) =>
  Layer.build(layer).pipe(Effect.scoped, Effect.flip)

/** A metadata object whose JSON is exactly `bytes` bytes of UTF-8 (ASCII keys and values). */
export const metadataOfSize = (bytes: number): Record<string, string> => {
  const metadata: Record<string, string> = {}
  const pair = (key: string, value: string) => key.length + value.length + 6 // "k":"v" and a comma
  let size = 1 // the braces, less the comma the first pair does not have
  let i = 0
  const key = () => `k${String(i).padStart(4, "0")}`
  // Pairs of 1000-character values while a full one and the last still fit.
  while (size + pair(key(), "v".repeat(1000)) + pair(key(), "") < bytes) {
    metadata[key()] = "v".repeat(1000)
    size += pair(key(), "v".repeat(1000))
    i++
  }
  metadata[key()] = "v".repeat(bytes - size - pair(key(), ""))
  expect(Buffer.byteLength(JSON.stringify(metadata))).toBe(bytes)
  return metadata
}
