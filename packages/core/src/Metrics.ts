/**
 * The gateway's own metrics. Every counter is tagged where the SPEC asks for
 * a breakdown (per transport, per reason). `/metrics` renders them from
 * `Metric.snapshot`.
 */
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"

/** Events accepted into the queue, tag `transport`. */
export const eventsAccepted = Metric.counter("sluice_events_accepted_total", {
  description: "Events accepted into the pipeline",
  incremental: true
})

/** Events rejected, tags `transport` and `reason`. */
export const eventsRejected = Metric.counter("sluice_events_rejected_total", {
  description: "Events or messages rejected, by reason",
  incremental: true
})

/** Events committed durably to the store. */
export const eventsCommitted = Metric.counter("sluice_events_committed_total", {
  description: "Events committed durably to the store",
  incremental: true
})

/** Events waiting in the queue. */
export const queueDepth = Metric.gauge("sluice_queue_events", { description: "Events waiting in the queue" })

/** Estimated bytes waiting in the queue. */
export const queueBytes = Metric.gauge("sluice_queue_bytes", { description: "Estimated bytes waiting in the queue" })

/** Time one group commit takes, in milliseconds. */
export const commitLatency = Metric.histogram(
  "sluice_store_commit_latency_ms",
  MetricBoundaries.exponential({ start: 0.5, factor: 2, count: 14 }),
  "Store write latency of one group commit, in milliseconds"
)

/** Events per group commit. */
export const commitBatchSize = Metric.histogram(
  "sluice_store_commit_batch_events",
  MetricBoundaries.exponential({ start: 1, factor: 4, count: 9 }),
  "Events per group commit"
)

/** Commits the search index is behind the commit log. */
export const indexLagEvents = Metric.gauge("sluice_store_index_lag_events", {
  description: "Committed events not yet searchable"
})

/** Connections open, tag `transport`. */
export const connectionsOpen = Metric.gauge("sluice_connections_open", { description: "Open connections" })
