/**
 * The gateway's HTTP side, loaded only by `sluice up` / `sluice server`: the
 * shared HTTP server and every plugin's routes on it (the drain, health,
 * metrics, the control plane, the edge logs route), and the token verifier
 * over drain tokens and API keys.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpLayerRouter from "@effect/platform/HttpLayerRouter"
import * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import { ControlPlane } from "@sluice/control-plane"
import { errorCode, StartupError } from "@sluice/core/StartupError"
import { EdgeRoutes, HttpDrain } from "@sluice/http-drain"
import * as Duration from "effect/Duration"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { createServer } from "node:http"
import type { DataLayout, Secrets } from "./DataDir.js"
import type { Settings } from "./Settings.js"

/** Why a listen failed, in words (EADDRINUSE → "address already in use"). */
export const listenFailure = (cause: unknown): string => {
  const code = errorCode(cause)
  return code === "EADDRINUSE"
    ? "address already in use"
    : code === "EACCES"
    ? "permission denied"
    : code === "EADDRNOTAVAIL"
    ? "address not available on this host"
    : code ?? String(cause)
}

/**
 * Node's HTTP server with idle keep-alive connections kept for 65 s (Node's
 * default is 5 s). Agents poll every 10 s over a kept connection; closing it
 * between polls makes a client that reuses it at that moment see a reset.
 */
const keepAliveServer = () => {
  const server = createServer()
  server.keepAliveTimeout = 65_000
  server.headersTimeout = 66_000
  return server
}

/** The shared HTTP server on the configured address, with the given routes. */
export const httpLayer = <E, R>(settings: Settings, routes: Layer.Layer<never, E, R>) => {
  const server = NodeHttpServer.layer(keepAliveServer, { host: settings.httpHost, port: settings.httpPort }).pipe(
    Layer.mapError((error) =>
      new StartupError({
        setting: "SLUICE_HTTP_PORT",
        detail: `cannot listen on ${settings.httpHost}:${settings.httpPort}: ${listenFailure(error.cause)}`
      })
    )
  )
  // No span per request: the binary exports no traces, and the server's span
  // (with its attributes and context) cost ~30 % of a small request's time.
  // An app that embeds the routes with a tracer keeps the platform's default.
  return HttpLayerRouter.serve(routes, { disableLogger: true, disableListenLog: true }).pipe(
    Layer.provideMerge(server),
    (layer) => Layer.locally(layer, HttpMiddleware.currentTracerDisabledWhen, () => true)
  )
}

/** The token verifier over the drain tokens and the control plane's API keys. */
export const tokensLayer = (secrets: Secrets) => ControlPlane.tokenVerifier(secrets.drainTokens)

/**
 * Every plugin's HTTP routes on the shared server: the drain, health,
 * metrics, the control plane, and the edge logs route that enrolled agents
 * forward to (authenticated by the control plane's agent tokens).
 */
export const routesLayer = (settings: Settings, data: DataLayout) => {
  const drain = {
    maxBodyBytes: settings.drainMaxBytes,
    maxEvents: settings.drainMaxEvents,
    maxInFlightBytes: settings.drainMaxInFlightBytes
  }
  return Layer.mergeAll(
    HttpDrain.layer(drain),
    EdgeRoutes.layer(drain).pipe(Layer.provide(ControlPlane.agentAuth)),
    ControlPlane.layer({
      dataDir: data.dir,
      jwtExpiry: Duration.seconds(settings.jwtExpirySeconds),
      openRegistration: settings.openRegistration === "true",
      admin: settings.adminEmail !== undefined && settings.adminPassword !== undefined
        ? { email: settings.adminEmail, password: Redacted.make(settings.adminPassword) }
        : undefined,
      offlineAfter: Duration.seconds(settings.offlineAfterSeconds),
      rateLimits: {
        auth: settings.rateLimitAuth,
        dashboard: settings.rateLimitDashboard,
        agents: settings.rateLimitAgents,
        edge: settings.rateLimitEdge,
        streaming: settings.rateLimitStreaming
      }
    })
  )
}
