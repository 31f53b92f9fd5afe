/**
 * The Prometheus serializer over real Effect metrics: grouping per name,
 * labels, histogram buckets, the kinds, escaping and the effect_fiber filter.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import * as PrometheusText from "../src/PrometheusText.js"

/** Renders only the metrics whose names start with `prefix`. */
const renderOnly = (prefix: string, options: PrometheusText.RenderOptions = {}) =>
  Effect.map(
    Metric.snapshot,
    (pairs) => PrometheusText.render(pairs.filter((p) => p.metricKey.name.startsWith(prefix)), options)
  )

describe("PrometheusText.render", () => {
  it.effect("groups tagged series under one HELP and TYPE, labels sorted and escaped", () =>
    Effect.gen(function*() {
      const c = Metric.counter("pt1_requests_total", { description: "Requests\nby route", incremental: true })
      yield* Metric.incrementBy(Metric.tagged(c, "route", "/b"), 2)
      yield* Metric.increment(Metric.tagged(Metric.tagged(c, "route", "/a"), "method", "GET"))
      yield* Metric.increment(Metric.tagged(c, "route", "say \"hi\"\\\n"))
      expect(yield* renderOnly("pt1_")).toBe(
        [
          "# HELP pt1_requests_total Requests\\nby route",
          "# TYPE pt1_requests_total counter",
          "pt1_requests_total{method=\"GET\",route=\"/a\"} 1",
          "pt1_requests_total{route=\"/b\"} 2",
          "pt1_requests_total{route=\"say \\\"hi\\\"\\\\\\n\"} 1",
          ""
        ].join("\n")
      )
    }))

  it.effect("renders histograms with cumulative buckets ending at +Inf, then _sum and _count", () =>
    Effect.gen(function*() {
      const h = Metric.histogram("pt2_latency_ms", MetricBoundaries.fromIterable([1, 10]), "Latency")
      for (const v of [0.5, 5, 50]) yield* Metric.update(h, v)
      expect(yield* renderOnly("pt2_")).toBe(
        [
          "# HELP pt2_latency_ms Latency",
          "# TYPE pt2_latency_ms histogram",
          "pt2_latency_ms_bucket{le=\"1\"} 1",
          "pt2_latency_ms_bucket{le=\"10\"} 2",
          "pt2_latency_ms_bucket{le=\"+Inf\"} 3",
          "pt2_latency_ms_sum 55.5",
          "pt2_latency_ms_count 3",
          ""
        ].join("\n")
      )
    }))

  it.effect("types gauges and non-incremental counters as gauge, and renders summaries", () =>
    Effect.gen(function*() {
      yield* Metric.set(Metric.gauge("pt3_depth"), 42)
      const updown = Metric.counter("pt3_active")
      yield* Metric.incrementBy(updown, 3)
      yield* Metric.incrementBy(updown, -1)
      const s = Metric.summary({ name: "pt3_size", maxAge: "1 minute", maxSize: 10, error: 0, quantiles: [0.5] })
      for (const v of [2, 2, 2]) yield* Metric.update(s, v)
      const text = yield* renderOnly("pt3_")
      expect(text).toContain("# TYPE pt3_active gauge\npt3_active 2\n")
      expect(text).toContain("# TYPE pt3_depth gauge\npt3_depth 42\n")
      expect(text).toContain(
        "# TYPE pt3_size summary\npt3_size{quantile=\"0.5\"} 2\npt3_size_sum 6\npt3_size_count 3\n"
      )
      expect(text).not.toContain("# HELP pt3_depth")
    }))

  it.effect("leaves out effect_fiber_* unless asked", () =>
    Effect.gen(function*() {
      yield* Effect.fork(Effect.void)
      const pairs = yield* Metric.snapshot
      expect(pairs.some((p) => p.metricKey.name.startsWith("effect_fiber_"))).toBe(true)
      expect(PrometheusText.render(pairs)).not.toContain("effect_fiber_")
      expect(PrometheusText.render(pairs, { includeEffect: true })).toContain("# TYPE effect_fiber_started counter")
    }))

  it("makes names valid and writes special values", () => {
    expect(PrometheusText.sanitizeName("http.requests-total")).toBe("http_requests_total")
    expect(PrometheusText.sanitizeName("9lives")).toBe("_9lives")
    expect(PrometheusText.sanitizeName("a:b", true)).toBe("a_b")
    expect(PrometheusText.formatValue(Infinity)).toBe("+Inf")
    expect(PrometheusText.formatValue(-Infinity)).toBe("-Inf")
    expect(PrometheusText.formatValue(NaN)).toBe("NaN")
    expect(PrometheusText.formatValue(12345678901234567890n)).toBe("12345678901234567890")
  })
})
