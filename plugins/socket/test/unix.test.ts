/**
 * The Unix transport (SPEC §0, §1): no authentication (an `authenticate` is
 * answered with success), the socket file's mode, a stale socket file
 * replaced, a live one or a non-socket refused with an error naming
 * `SLUICE_SOCKET`, and the file removed at shutdown.
 */
import { describe, expect, it } from "@effect/vitest"
import * as MemoryEventStore from "@sluice/core/MemoryEventStore"
import * as Pipeline from "@sluice/core/Pipeline"
import { StartupError } from "@sluice/core/StartupError"
import * as UnixTransport from "@sluice/socket/UnixTransport"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as fs from "node:fs"
import * as net from "node:net"
import * as path from "node:path"
import { connect, flush, line, ping, pong, startupFailure, TempDir, tempDirLayer } from "./harness.js"

const pipeline = Pipeline.layer({ ...Pipeline.defaultOptions, writer: { window: 0, maxBatchEvents: 1000 } }).pipe(
  Layer.provide(MemoryEventStore.layer)
)

/** The Unix transport at `agent.sock` in a temp dir, in a scope of its own. */
const start = (dir: string, options: Partial<UnixTransport.UnixTransportOptions> = {}) =>
  Layer.build(UnixTransport.layer({ path: path.join(dir, "agent.sock"), ...options }).pipe(Layer.provide(pipeline)))

const listenOn = (socketPath: string) =>
  Effect.acquireRelease(
    Effect.async<net.Server>((resume) => {
      const server = net.createServer((conn) => {
        conn.on("error", () => {}) // the transport's probe connects and resets
        conn.end(JSON.stringify({ held: true }) + "\n")
      }).listen(socketPath, () => resume(Effect.succeed(server)))
    }),
    (server) => Effect.async<void>((resume) => void server.close(() => resume(Effect.void)))
  )

const mode = (file: string) => fs.statSync(file).mode & 0o777

describe("Unix transport", () => {
  it.scoped("authenticate is answered with success, whatever the secret; entries need none", () =>
    Effect.gen(function*() {
      const dir = yield* TempDir
      yield* start(dir)
      const client = yield* connect({ path: path.join(dir, "agent.sock") })
      yield* client.send(
        line(),
        JSON.stringify({ version: "1.0", action: "authenticate", shared_secret: "anything" }),
        flush
      )
      expect(yield* client.replies(2)).toEqual([
        { status: "success", message: "Authentication successful" },
        { status: "flushed", accepted: 1 }
      ])
    }).pipe(Effect.provide(tempDirLayer)))

  it.scoped("the socket file is created with mode 0660 by default", () =>
    Effect.gen(function*() {
      const dir = yield* TempDir
      yield* start(dir)
      expect(fs.statSync(path.join(dir, "agent.sock")).isSocket()).toBe(true)
      expect(mode(path.join(dir, "agent.sock"))).toBe(0o660)
    }).pipe(Effect.provide(tempDirLayer)))

  it.scoped("the mode is configurable", () =>
    Effect.gen(function*() {
      const dir = yield* TempDir
      yield* start(dir, { mode: 0o600 })
      expect(mode(path.join(dir, "agent.sock"))).toBe(0o600)
    }).pipe(Effect.provide(tempDirLayer)))

  it.scoped("a stale socket file (nobody listening) is replaced", () =>
    Effect.gen(function*() {
      const dir = yield* TempDir
      const socketPath = path.join(dir, "agent.sock")
      // A socket file nobody listens on: a hard link to a live socket outlives its server.
      yield* Effect.scoped(Effect.gen(function*() {
        yield* listenOn(path.join(dir, "old.sock"))
        fs.linkSync(path.join(dir, "old.sock"), socketPath)
      }))
      expect(fs.statSync(socketPath).isSocket()).toBe(true)
      yield* start(dir)
      const client = yield* connect({ path: socketPath })
      yield* client.send(ping)
      expect(yield* client.reply).toEqual(pong)
    }).pipe(Effect.provide(tempDirLayer)))

  it.scoped("a socket held by a live process is refused with SLUICE_SOCKET, and left alone", () =>
    Effect.gen(function*() {
      const dir = yield* TempDir
      const socketPath = path.join(dir, "agent.sock")
      yield* listenOn(socketPath)
      const error = yield* startupFailure(
        UnixTransport.layer({ path: socketPath }).pipe(Layer.provide(pipeline))
      )
      expect(error).toEqual(
        new StartupError({
          setting: "SLUICE_SOCKET",
          detail: `${socketPath} is in use by a running process (another sluice?); stop it or choose another path`
        })
      )
      expect(error.message).toBe(`SLUICE_SOCKET: ${error.detail}`)
      // The other process still serves.
      const client = yield* connect({ path: socketPath })
      expect(yield* client.reply).toEqual({ held: true })
    }).pipe(Effect.provide(tempDirLayer)))

  it.scoped("a path that is not a socket is refused with SLUICE_SOCKET", () =>
    Effect.gen(function*() {
      const dir = yield* TempDir
      const socketPath = path.join(dir, "agent.sock")
      fs.writeFileSync(socketPath, "not a socket")
      const error = yield* startupFailure(UnixTransport.layer({ path: socketPath }).pipe(Layer.provide(pipeline)))
      expect(error).toEqual(
        new StartupError({
          setting: "SLUICE_SOCKET",
          detail: `${socketPath} exists and is not a socket; remove it or choose another path`
        })
      )
      expect(fs.readFileSync(socketPath, "utf8")).toBe("not a socket")
    }).pipe(Effect.provide(tempDirLayer)))

  it.scoped("a directory that does not exist is refused with SLUICE_SOCKET", () =>
    Effect.gen(function*() {
      const dir = yield* TempDir
      const socketPath = path.join(dir, "missing", "agent.sock")
      const error = yield* startupFailure(UnixTransport.layer({ path: socketPath }).pipe(Layer.provide(pipeline)))
      expect(error).toEqual(
        new StartupError({
          setting: "SLUICE_SOCKET",
          detail: `cannot listen on ${socketPath}: the directory ${path.dirname(socketPath)} does not exist`
        })
      )
    }).pipe(Effect.provide(tempDirLayer)))

  it.scoped("the socket file is removed at shutdown", () =>
    Effect.gen(function*() {
      const dir = yield* TempDir
      const socketPath = path.join(dir, "agent.sock")
      yield* Effect.scoped(start(dir))
      expect(fs.existsSync(socketPath)).toBe(false)
    }).pipe(Effect.provide(tempDirLayer)))
})
