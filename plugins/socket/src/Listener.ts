/**
 * Serves one listening socket for a transport: accepts connections up to the
 * connection limit (the next one is answered with an error and closed),
 * runs the shared `Connection.handle` on each, and counts them.
 *
 * Lifetime: the accept loop lives in the caller's scope. Closing the scope
 * refuses new connections, interrupts every open one (each finishes the
 * chunk it read, so what was read is offered, then is closed; one still open
 * after a grace period is destroyed), then stops accepting.
 */
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import type * as Socket from "@effect/platform/Socket"
import type * as SocketServer from "@effect/platform/SocketServer"
import { Ingest } from "@sluice/core/Ingest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Metric from "effect/Metric"
import type * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import type * as Net from "node:net"
import * as Connection from "./Connection.js"
import { EntryScanner } from "./EntryScanner.js"
import { makeDecoder } from "./Message.js"
import * as SocketMetrics from "./SocketMetrics.js"

/** What a transport tells the listener. */
export interface ListenerSettings extends Connection.ConnectionOptions {
  readonly transport: "unix" | "tcp"
  readonly sharedSecret: Redacted.Redacted<string> | undefined
  readonly authTimeout: Duration.DurationInput
  readonly idleTimeout: Duration.DurationInput | undefined
}

/** A running listener. */
export interface Listener {
  /** Connections open now. */
  readonly connections: Effect.Effect<number>
}

/** The part of `NodeSocketServer.make`'s answer the listener uses. */
export interface Server {
  readonly run: <R, E, _>(
    handler: (socket: Socket.Socket) => Effect.Effect<_, E, R>
  ) => Effect.Effect<never, SocketServer.SocketServerError, R>
}

/** How long shutdown waits for connections to finish before destroying them. */
const shutdownGrace = Duration.seconds(5)

const finiteOrUndefined = (input: Duration.DurationInput | undefined): Duration.Duration | undefined => {
  if (input === undefined) return undefined
  const duration = Duration.decode(input)
  return Duration.isFinite(duration) ? duration : undefined
}

/** Starts accepting connections on `server` in the current scope. */
export const serve = (
  server: Server,
  settings: ListenerSettings
): Effect.Effect<Listener, never, Ingest | Scope.Scope> =>
  Effect.gen(function*() {
    const metrics = SocketMetrics.forTransport(settings.transport)
    const context: Connection.ConnectionContext = {
      transport: settings.transport,
      maxMessageBytes: settings.maxMessageBytes,
      sharedSecret: settings.sharedSecret,
      authTimeout: Duration.decode(settings.authTimeout),
      idleTimeout: finiteOrUndefined(settings.idleTimeout),
      decoder: makeDecoder(settings.transport, settings.limits),
      scanner: () => new EntryScanner(settings.transport, settings.limits),
      ingest: yield* Ingest,
      metrics
    }
    /** The open connections and the fibers serving them. */
    const open = new Map<Net.Socket, Fiber.Fiber<unknown, unknown>>()
    let closing = false

    const refuse = (conn: Net.Socket, why: string) =>
      Metric.increment(metrics.connectionsRefused).pipe(
        Effect.zipRight(Connection.write(conn, Connection.Replies.error(why) + "\n")),
        Effect.zipRight(Connection.close(conn))
      )

    const accept = (conn: Net.Socket) =>
      Effect.withFiberRuntime<void>((fiber) => {
        if (closing) return refuse(conn, "The gateway is shutting down")
        if (open.size >= settings.maxConnections) {
          return refuse(conn, `Too many connections (limit ${settings.maxConnections}); try again later`)
        }
        open.set(conn, fiber)
        return Effect.all([Metric.increment(metrics.connectionsTotal), Metric.increment(metrics.connectionsOpen)]).pipe(
          Effect.zipRight(Connection.handle(conn, context)),
          Effect.ensuring(
            Effect.suspend(() => {
              open.delete(conn)
              return Metric.incrementBy(metrics.connectionsOpen, -1)
            })
          )
        )
      })

    // The raw `net.Socket` is in each connection's context (not in the types):
    // reading it directly is what gives backpressure (`Socket.toChannel` buffers without bound).
    const onSocket = (_socket: Socket.Socket) =>
      Effect.serviceOptional(NodeSocket.NetSocket).pipe(
        Effect.flatMap(accept),
        Effect.catchAllCause((cause) => Effect.logWarning("agent socket connection failed", cause))
      )

    const accepting = yield* Effect.forkDaemon(
      server.run(onSocket).pipe(
        Effect.catchAllCause((cause) => Effect.logError(`agent socket listener (${settings.transport}) failed`, cause))
      )
    )

    // Shutdown: new connections are refused; every open one is interrupted and
    // awaited (each offers what it read, then closes); those still open after
    // the grace period are destroyed. Then the accept loop stops, and the
    // server (its own finalizer) closes once no connection is left.
    // (Finalizers are uninterruptible: the timer must be made interruptible,
    // or the race would wait for it.)
    const destroyAll = Effect.sync(() => {
      for (const conn of open.keys()) conn.destroy()
    })
    yield* Effect.addFinalizer(() =>
      Effect.suspend(() => {
        closing = true
        return Fiber.interruptAll([...open.values()])
      }).pipe(
        Effect.race(
          Effect.sleep(shutdownGrace).pipe(
            Effect.zipRight(destroyAll),
            Effect.zipRight(Effect.never),
            Effect.interruptible
          )
        ),
        Effect.zipRight(Fiber.interrupt(accepting))
      )
    )
    return { connections: Effect.sync(() => open.size) }
  })

/** Re-exported from core, where every start-up message shares them. */
export { describeError, errorCode } from "@sluice/core/StartupError"
