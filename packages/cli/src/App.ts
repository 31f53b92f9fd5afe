/**
 * Composes the layers of `sluice up` / `sluice server` from the settings:
 * the SQLite store, the pipeline (queue, writer, `Ingest`), retention, the
 * shared HTTP server with every plugin's routes, and the socket listeners.
 */
import * as HttpLayerRouter from "@effect/platform/HttpLayerRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as Pipeline from "@sluice/core/Pipeline"
import * as Retention from "@sluice/core/Retention"
import { StartupError } from "@sluice/core/StartupError"
import * as TokenVerifier from "@sluice/core/TokenVerifier"
import { HttpDrain } from "@sluice/http-drain"
import { SqliteEventStore } from "@sluice/store-sql"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { createServer } from "node:http"
import type { DataLayout, Secrets } from "./DataDir.js"
import type { Settings } from "./Settings.js"

/** The store and the pipeline over it. */
export const pipelineLayer = (settings: Settings, data: DataLayout) => {
  const store = SqliteEventStore.layer({
    commitFile: data.mainDb,
    searchFile: data.searchDb,
    synchronous: settings.sqliteSync
  }).pipe(
    Layer.provide(SqliteEventStore.clientLayer(data.mainDb)),
    Layer.mapError((error) =>
      new StartupError({ setting: "SLUICE_DATA_DIR", detail: `cannot open the store in ${data.dir}: ${error.message}` })
    )
  )
  const pipeline = Pipeline.layer({
    queue: {
      maxEvents: settings.queueMaxEvents,
      maxBytes: settings.queueMaxBytes,
      fullPolicy: settings.queueFull,
      blockTimeout: Duration.millis(settings.queueBlockMs)
    },
    writer: { window: Duration.millis(settings.commitWindowMs), maxBatchEvents: settings.commitMaxEvents }
  })
  const retention = Retention.layer({
    maxAgeMs: settings.retentionDays * 24 * 3600_000,
    maxBytes: settings.retentionBytes,
    interval: Duration.minutes(1)
  })
  return Layer.merge(pipeline, retention).pipe(Layer.provideMerge(store))
}

/** Why a listen failed, in words (EADDRINUSE → "address already in use"). */
export const listenFailure = (cause: unknown): string => {
  const code = typeof cause === "object" && cause !== null && "code" in cause ? String(cause.code) : undefined
  return code === "EADDRINUSE"
    ? "address already in use"
    : code === "EACCES"
    ? "permission denied"
    : code === "EADDRNOTAVAIL"
    ? "address not available on this host"
    : code ?? String(cause)
}

/** The shared HTTP server on the configured address, with the given routes. */
export const httpLayer = <E, R>(settings: Settings, routes: Layer.Layer<never, E, R>) => {
  const server = NodeHttpServer.layer(createServer, { host: settings.httpHost, port: settings.httpPort }).pipe(
    Layer.mapError((error) =>
      new StartupError({
        setting: "SLUICE_HTTP_PORT",
        detail: `cannot listen on ${settings.httpHost}:${settings.httpPort}: ${listenFailure(error.cause)}`
      })
    )
  )
  return HttpLayerRouter.serve(routes, { disableLogger: true, disableListenLog: true }).pipe(
    Layer.provideMerge(server)
  )
}

/** The token verifier over the drain tokens. */
export const tokensLayer = (secrets: Secrets) => TokenVerifier.layerTokens(secrets.drainTokens)

/** The HTTP server's address, formatted. */
export const httpAddress = HttpServer.addressFormattedWith((address) => Effect.succeed(address))

/** Every plugin's HTTP routes on the shared server. */
export const routesLayer = (settings: Settings) =>
  HttpDrain.layer({ maxBodyBytes: settings.drainMaxBytes, maxEvents: settings.drainMaxEvents })

/** The agent socket listeners (Unix and TCP). */
export const socketsLayer = (_settings: Settings, _secrets: Secrets) => Layer.empty

/** Commands contributed by plugins (e.g. `send`). */
export const extraCommands = [] as const
