/**
 * The agent socket on TCP (SPEC §1): loopback by default, and a shared
 * secret is required before anything else: the first message must be
 * `authenticate` with the right secret (compared in constant time) within
 * the auth timeout (10 s), else the connection gets an error and is closed.
 * An idle connection is closed after the idle timeout.
 *
 * Start-up guarantees (SPEC §0): a secret under 32 characters fails with
 * `StartupError` naming `SLUICE_SHARED_SECRET`; a taken port with one naming
 * `SLUICE_TCP_PORT`; an address that cannot be bound with `SLUICE_TCP_HOST`.
 */
import * as NodeSocketServer from "@effect/platform-node/NodeSocketServer"
import type { Ingest } from "@sluice/core/Ingest"
import { StartupError } from "@sluice/core/StartupError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import { type ConnectionOptions, defaultConnectionOptions } from "./Connection.js"
import { describeError, errorCode, type Listener, serve } from "./Listener.js"

/** Settings of the TCP transport. */
export interface TcpTransportOptions extends ConnectionOptions {
  /** Listen address (`SLUICE_TCP_HOST`, default `127.0.0.1`). */
  readonly host: string
  /** Listen port (`SLUICE_TCP_PORT`, default 9999; 0 picks a free one). */
  readonly port: number
  /** The secret clients authenticate with (`SLUICE_SHARED_SECRET`, at least 32 characters). */
  readonly sharedSecret: Redacted.Redacted<string>
  /** Time to authenticate after connecting (default 10 s). */
  readonly authTimeout: Duration.DurationInput
  /** Close a connection that sends nothing for this long (default 5 min; infinity: never). */
  readonly idleTimeout: Duration.DurationInput
}

/** The shortest shared secret accepted (SPEC §0). */
export const minSecretLength = 32

/** Defaults of SPEC §0 and §1 (the secret has no default). */
export const defaultOptions: Omit<TcpTransportOptions, "sharedSecret"> = {
  ...defaultConnectionOptions,
  host: "127.0.0.1",
  port: 9999,
  authTimeout: Duration.seconds(10),
  idleTimeout: Duration.minutes(5)
}

/** What `layer` takes: the secret, and any setting that differs from the defaults. */
export type TcpTransportInput = Partial<TcpTransportOptions> & Pick<TcpTransportOptions, "sharedSecret">

/** The running TCP transport: where it listens. */
export class TcpTransport extends Context.Tag("@sluice/socket/TcpTransport")<
  TcpTransport,
  Listener & {
    /** The address it is bound to. */
    readonly host: string
    /** The port it is bound to (the one picked, when asked for 0). */
    readonly port: number
  }
>() {}

const listenFailure = (host: string, port: number, cause: unknown): StartupError => {
  switch (errorCode(cause)) {
    case "EADDRINUSE":
      return new StartupError({
        setting: "SLUICE_TCP_PORT",
        detail: `port ${port} on ${host} is already in use; stop the other process or choose another port`
      })
    case "EACCES":
      return new StartupError({
        setting: "SLUICE_TCP_PORT",
        detail: `no permission to listen on port ${port} on ${host}`
      })
    case "EADDRNOTAVAIL":
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return new StartupError({
        setting: "SLUICE_TCP_HOST",
        detail: `cannot listen on ${host}: it is not an address of this machine`
      })
    default:
      return new StartupError({
        setting: "SLUICE_TCP_PORT",
        detail: `cannot listen on ${host}:${port}: ${describeError(cause)}`
      })
  }
}

/** Listens on the TCP address in the current scope. */
export const make = (
  options: TcpTransportInput
): Effect.Effect<TcpTransport["Type"], StartupError, Ingest | Scope.Scope> =>
  Effect.gen(function*() {
    const settings: TcpTransportOptions = { ...defaultOptions, ...options }
    if (Redacted.value(settings.sharedSecret).length < minSecretLength) {
      return yield* Effect.fail(
        new StartupError({
          setting: "SLUICE_SHARED_SECRET",
          detail: `the shared secret must be at least ${minSecretLength} characters`
        })
      )
    }
    const server = yield* NodeSocketServer.make({ host: settings.host, port: settings.port, allowHalfOpen: true })
      .pipe(Effect.mapError((error) => listenFailure(settings.host, settings.port, error.cause)))
    const address = server.address
    const port = address._tag === "TcpAddress" ? address.port : settings.port
    const listener = yield* serve(server, { ...settings, transport: "tcp" })
    yield* Effect.logInfo(`agent socket listening on tcp://${settings.host}:${port}`)
    return TcpTransport.of({ ...listener, host: settings.host, port })
  })

/** The TCP transport as a scoped layer; it needs `Ingest`. */
export const layer = (options: TcpTransportInput): Layer.Layer<TcpTransport, StartupError, Ingest> =>
  Layer.scoped(TcpTransport, make(options))
