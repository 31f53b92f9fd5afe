/**
 * The agent socket on a Unix domain socket (SPEC §1): access is by file
 * permissions (mode 0660 by default), so there is no authentication; an
 * `authenticate` message is answered with success so one client code serves
 * both transports.
 *
 * Start-up guarantees (SPEC §0): a stale socket file (nobody listening) is
 * replaced; a path held by a live process, or a file that is not a socket,
 * fails the layer with a `StartupError` naming `SLUICE_SOCKET`. Releasing
 * the layer stops accepting, closes connections after what they read is
 * offered, and removes the socket file.
 */
import * as NodeSocketServer from "@effect/platform-node/NodeSocketServer"
import type { Ingest } from "@sluice/core/Ingest"
import { StartupError } from "@sluice/core/StartupError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as fs from "node:fs/promises"
import * as Net from "node:net"
import * as Path from "node:path"
import { type ConnectionOptions, defaultConnectionOptions } from "./Connection.js"
import { describeError, errorCode, type Listener, serve } from "./Listener.js"

/** Settings of the Unix transport. */
export interface UnixTransportOptions extends ConnectionOptions {
  /** The socket path (`SLUICE_SOCKET`, default `/tmp/sluice-agent.sock`). */
  readonly path: string
  /** The socket file's permission bits (default 0o660). */
  readonly mode: number
}

/** Defaults of SPEC §0 and §1. */
export const defaultOptions: UnixTransportOptions = {
  ...defaultConnectionOptions,
  path: "/tmp/sluice-agent.sock",
  mode: 0o660
}

/** The running Unix transport: where it listens. */
export class UnixTransport extends Context.Tag("@sluice/socket/UnixTransport")<
  UnixTransport,
  Listener & {
    /** The socket path it listens on. */
    readonly path: string
  }
>() {}

const failure = (detail: string) => new StartupError({ setting: "SLUICE_SOCKET", detail })

/** Whether a process accepts connections on the socket file: `live`, `stale`, or why it cannot tell. */
const probe = (path: string): Effect.Effect<"live" | "stale" | { readonly error: unknown }> =>
  Effect.async((resume) => {
    const socket = Net.createConnection({ path })
    socket.once("connect", () => {
      socket.destroy()
      resume(Effect.succeed("live"))
    })
    socket.once("error", (error) => {
      socket.destroy()
      resume(Effect.succeed(errorCode(error) === "ECONNREFUSED" ? "stale" : { error }))
    })
    return Effect.sync(() => socket.destroy())
  })

/** Makes the path free to listen on: removes a stale socket file, refuses a live one. */
const claim = (path: string): Effect.Effect<void, StartupError> =>
  Effect.gen(function*() {
    const stat = yield* Effect.tryPromise({
      try: () => fs.lstat(path),
      catch: (error) => error
    }).pipe(
      Effect.catchAll((error) =>
        errorCode(error) === "ENOENT"
          ? Effect.succeed(undefined)
          : Effect.fail(failure(`cannot inspect ${path}: ${describeError(error)}`))
      )
    )
    if (stat === undefined) {
      const directory = Path.dirname(path)
      const exists = yield* Effect.promise(() => fs.stat(directory).then((s) => s.isDirectory(), () => false))
      if (!exists) {
        return yield* Effect.fail(failure(`cannot listen on ${path}: the directory ${directory} does not exist`))
      }
      return
    }
    if (!stat.isSocket()) {
      return yield* Effect.fail(failure(`${path} exists and is not a socket; remove it or choose another path`))
    }
    const state = yield* probe(path)
    if (state === "live") {
      return yield* Effect.fail(
        failure(`${path} is in use by a running process (another sluice?); stop it or choose another path`)
      )
    }
    if (state !== "stale") {
      return yield* Effect.fail(failure(`cannot check whether ${path} is in use: ${describeError(state.error)}`))
    }
    yield* Effect.tryPromise({ try: () => fs.unlink(path), catch: (error) => error }).pipe(
      Effect.catchAll((error) =>
        errorCode(error) === "ENOENT"
          ? Effect.void
          : Effect.fail(failure(`cannot remove the stale socket file ${path}: ${describeError(error)}`))
      )
    )
    yield* Effect.logInfo(`replaced the stale socket file ${path}`)
  })

/** Listens on the socket path in the current scope. */
export const make = (
  options: Partial<UnixTransportOptions> = {}
): Effect.Effect<UnixTransport["Type"], StartupError, Ingest | Scope.Scope> =>
  Effect.gen(function*() {
    const settings = { ...defaultOptions, ...options }
    const path = settings.path
    yield* claim(path)
    const server = yield* NodeSocketServer.make({ path, allowHalfOpen: true }).pipe(
      Effect.mapError((error) =>
        failure(
          errorCode(error.cause) === "EADDRINUSE"
            ? `${path} is in use by a running process (another sluice?); stop it or choose another path`
            : `cannot listen on ${path}: ${describeError(error.cause)}`
        )
      )
    )
    yield* Effect.tryPromise({ try: () => fs.chmod(path, settings.mode), catch: (error) => error }).pipe(
      Effect.mapError((error) =>
        failure(`cannot set mode ${settings.mode.toString(8)} on ${path}: ${describeError(error)}`)
      )
    )
    const listener = yield* serve(server, {
      ...settings,
      transport: "unix",
      sharedSecret: undefined,
      authTimeout: 0,
      idleTimeout: undefined
    })
    yield* Effect.logInfo(`agent socket listening on unix:${path}`)
    return UnixTransport.of({ ...listener, path })
  })

/** The Unix transport as a scoped layer; it needs `Ingest`. */
export const layer = (options: Partial<UnixTransportOptions> = {}): Layer.Layer<UnixTransport, StartupError, Ingest> =>
  Layer.scoped(UnixTransport, make(options))
