/**
 * Connections over time: the connection limit, and shutdown (SPEC §1 "agent
 * shutting down"): listeners close, connections are closed after what was
 * read is offered, and everything offered is committed.
 */
import { describe, expect, it } from "@effect/vitest"
import { EventStore } from "@sluice/core/EventStore"
import * as MemoryEventStore from "@sluice/core/MemoryEventStore"
import * as Pipeline from "@sluice/core/Pipeline"
import * as TcpTransport from "@sluice/socket/TcpTransport"
import * as UnixTransport from "@sluice/socket/UnixTransport"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import * as fs from "node:fs"
import * as net from "node:net"
import * as path from "node:path"
import {
  connect,
  connectTo,
  eventually,
  harness,
  line,
  ping,
  pong,
  secret,
  stored,
  TempDir,
  tempDirLayer,
  transports,
  within
} from "./harness.js"

describe.each(transports)("connections over %s", (transport) => {
  it.scoped("over the connection limit, a connection is answered with an error and closed", () =>
    Effect.gen(function*() {
      const listener = transport === "unix"
        ? yield* UnixTransport.UnixTransport
        : yield* TcpTransport.TcpTransport
      const first = yield* connectTo(transport)
      const second = yield* connectTo(transport)
      expect(yield* listener.connections).toBe(2)
      const target = transport === "unix"
        ? { path: (yield* UnixTransport.UnixTransport).path }
        : { port: (yield* TcpTransport.TcpTransport).port }
      const third = yield* connect(target)
      expect(yield* third.reply).toEqual({ error: "Too many connections (limit 2); try again later" })
      yield* third.closed
      // The two served are unaffected; once one leaves, a new one is served.
      yield* second.send(ping)
      expect(yield* second.reply).toEqual(pong)
      first.socket.destroy()
      yield* eventually(listener.connections.pipe(Effect.map((n) => n === 1)), "the first connection to be gone")
      const fourth = yield* connectTo(transport)
      yield* fourth.send(ping)
      expect(yield* fourth.reply).toEqual(pong)
    }).pipe(Effect.provide(harness({ unix: { maxConnections: 2 }, tcp: { maxConnections: 2 } }))))
})

describe("shutdown", () => {
  it.scoped("listeners close; connections close after what they read is offered; all of it is committed", () =>
    Effect.gen(function*() {
      const dir = yield* TempDir
      const store = yield* MemoryEventStore.make
      const socketPath = path.join(dir, "agent.sock")
      const gateway = UnixTransport.layer({ path: socketPath }).pipe(
        Layer.merge(TcpTransport.layer({ port: 0, sharedSecret: Redacted.make(secret) })),
        Layer.provide(Pipeline.layer({ ...Pipeline.defaultOptions, writer: { window: 0, maxBatchEvents: 20_000 } })),
        Layer.provide(Layer.succeed(EventStore, store))
      )
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(gateway, scope)
      const port = Context.get(context, TcpTransport.TcpTransport).port

      // A client that sent entries (read and offered: the pong after them
      // proves it), one that is idle, and one in the middle of a line.
      const busy = yield* connect({ path: socketPath })
      const lines = Array.from({ length: 2000 }, (_, i) => line({ payload: `e${i}` }))
      yield* busy.send(...lines, ping)
      expect(yield* busy.reply).toEqual(pong)
      const idle = yield* connect({ port })
      const partial = yield* connect({ path: socketPath })
      yield* partial.write(line({ payload: "never ended" }).slice(0, 30))

      yield* Scope.close(scope, Exit.void).pipe(within(5000, "shutdown"))
      yield* busy.closed
      yield* idle.closed
      yield* partial.closed
      const events = yield* stored.pipe(Effect.provideService(EventStore, store))
      expect(events.map((e) => e.message)).toEqual(lines.map((_, i) => `e${i}`))
      // Nobody listens any more; the socket file is gone.
      expect(fs.existsSync(socketPath)).toBe(false)
      const refused = yield* Effect.async<string>((resume) => {
        const socket = net.createConnection({ host: "127.0.0.1", port })
        socket.on("connect", () => resume(Effect.succeed("connected")))
        socket.on("error", (error) => resume(Effect.succeed(String(Reflect.get(error, "code")))))
      }).pipe(within(5000, "a connection attempt"))
      expect(refused).toBe("ECONNREFUSED")
    }).pipe(Effect.provide(tempDirLayer)))
})
