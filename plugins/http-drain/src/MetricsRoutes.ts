/**
 * `GET /metrics`: every metric of the process in the Prometheus text format
 * (`PrometheusText`), from `Metric.snapshot`. When the pipeline is present,
 * the queue gauges are refreshed first, so a scrape sees the depth of now.
 * `?effect=true` adds Effect's own `effect_fiber_*` metrics.
 */
import * as HttpLayerRouter from "@effect/platform/HttpLayerRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { EventQueue, reportGauges } from "@sluice/core/EventQueue"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as PrometheusText from "./PrometheusText.js"

/** The metrics path. */
export const path = "/metrics"

/** `GET /metrics` as a layer for the shared `HttpLayerRouter`. */
export const layer = HttpLayerRouter.use((router) =>
  Effect.gen(function*() {
    const queue = yield* Effect.serviceOption(EventQueue)
    yield* router.add(
      "GET",
      path,
      Effect.gen(function*() {
        const params = yield* HttpServerRequest.ParsedSearchParams
        if (Option.isSome(queue)) yield* reportGauges(queue.value.stats())
        const text = PrometheusText.render(yield* Metric.snapshot, { includeEffect: params["effect"] === "true" })
        return HttpServerResponse.text(text, { contentType: PrometheusText.contentType })
      })
    )
  })
)
