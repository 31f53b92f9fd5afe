/**
 * The HTTP drain plugin in one layer: `POST /v1/drain`, `GET /health`,
 * `GET /health/ready` and `GET /metrics`, as routes on the one shared server.
 *
 * Every HTTP-speaking plugin adds its routes with `HttpLayerRouter`; the
 * binary serves them all on one port:
 *
 * ```ts
 * import * as HttpLayerRouter from "@effect/platform/HttpLayerRouter"
 * import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
 * import { HttpDrain } from "@sluice/http-drain"
 * import { createServer } from "node:http"
 *
 * const routes = Layer.mergeAll(HttpDrain.layer({ maxEvents: 10_000 }), OtherPlugin.routes)
 * const http = HttpLayerRouter.serve(routes, { disableLogger: true }).pipe(
 *   Layer.provide(NodeHttpServer.layer(createServer, { host, port })),
 *   Layer.provide(TokenVerifier.layerTokens(tokens)),   // who may post
 *   Layer.provide(Pipeline.layer(options)),             // Ingest + EventQueue
 *   Layer.provide(store)                                // EventStore
 * )
 * ```
 *
 * Or mount the parts alone: `DrainRoutes.layer(options)`,
 * `HealthRoutes.layer(options)`, `MetricsRoutes.layer`.
 */
import * as Layer from "effect/Layer"
import * as DrainRoutes from "./DrainRoutes.js"
import * as HealthRoutes from "./HealthRoutes.js"
import * as MetricsRoutes from "./MetricsRoutes.js"

/** Settings of the plugin: the drain's limits, and the readiness ping timeout. */
export type HttpDrainOptions = DrainRoutes.DrainOptions & Pick<HealthRoutes.HealthOptions, "pingTimeout">

/** The drain, health and metrics routes; readiness uses the drain's high watermark. */
export const layer = (options: Partial<HttpDrainOptions> = {}) => {
  const { pingTimeout, ...drain } = options
  return Layer.mergeAll(
    DrainRoutes.layer(drain),
    HealthRoutes.layer({
      ...(drain.highWatermark === undefined ? {} : { highWatermark: drain.highWatermark }),
      ...(pingTimeout === undefined ? {} : { pingTimeout })
    }),
    MetricsRoutes.layer
  )
}
