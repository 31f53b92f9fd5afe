/**
 * `@sluice/http-drain`: the HTTP drain of SPEC §2 (`POST /v1/drain`),
 * health, readiness and Prometheus metrics, as routes for the shared
 * `HttpLayerRouter` server. Start with `HttpDrain.layer`.
 */
export * as DrainBatch from "./DrainBatch.js"
export * as DrainBody from "./DrainBody.js"
export * as DrainRoutes from "./DrainRoutes.js"
export * as EdgeRoutes from "./EdgeRoutes.js"
export * as ErrorBody from "./ErrorBody.js"
export * as HealthRoutes from "./HealthRoutes.js"
export * as HttpDrain from "./HttpDrain.js"
export * as IdempotencyKeys from "./IdempotencyKeys.js"
export * as MetricsRoutes from "./MetricsRoutes.js"
export * as PrometheusText from "./PrometheusText.js"
