/**
 * Metrics of the agent socket, tagged `transport` = `unix` | `tcp`. Events
 * accepted and refused for backpressure are counted by core's `Ingest`;
 * this module adds what only the socket knows (connections, lines, bytes,
 * messages refused as invalid, too large or unauthenticated), and tags
 * every metric once per transport so the hot path never re-tags.
 */
import * as Metrics from "@sluice/core/Metrics"
import * as Metric from "effect/Metric"

/** Connections accepted, tag `transport`. */
export const connectionsTotal = Metric.counter("sluice_socket_connections_total", {
  description: "Agent socket connections accepted",
  incremental: true
})

/** Connections refused at the connection limit or while shutting down, tag `transport`. */
export const connectionsRefused = Metric.counter("sluice_socket_connections_refused_total", {
  description: "Agent socket connections refused (at the connection limit, or while shutting down)",
  incremental: true
})

/** Lines (messages) received, tag `transport`. */
export const linesReceived = Metric.counter("sluice_socket_lines_total", {
  description: "NDJSON lines received on the agent socket",
  incremental: true
})

/** Bytes received, tag `transport`. */
export const bytesReceived = Metric.counter("sluice_socket_bytes_received_total", {
  description: "Bytes received on the agent socket",
  incremental: true
})

/** Why a message was refused by the socket itself (backpressure is counted by `Ingest`). */
export type RejectReason = "invalid" | "too_large" | "unauthenticated"

/** The metrics of one transport, tagged once. */
export interface TransportMetrics {
  readonly connectionsOpen: Metric.Metric.Gauge<number>
  readonly connectionsTotal: Metric.Metric.Counter<number>
  readonly connectionsRefused: Metric.Metric.Counter<number>
  readonly linesReceived: Metric.Metric.Counter<number>
  readonly bytesReceived: Metric.Metric.Counter<number>
  readonly rejected: Readonly<Record<RejectReason, Metric.Metric.Counter<number>>>
}

/** Tags every socket metric with the transport name. */
export const forTransport = (transport: string): TransportMetrics => {
  const rejected = (reason: RejectReason) =>
    Metrics.eventsRejected.pipe(Metric.tagged("transport", transport), Metric.tagged("reason", reason))
  return {
    connectionsOpen: Metrics.connectionsOpen.pipe(Metric.tagged("transport", transport)),
    connectionsTotal: connectionsTotal.pipe(Metric.tagged("transport", transport)),
    connectionsRefused: connectionsRefused.pipe(Metric.tagged("transport", transport)),
    linesReceived: linesReceived.pipe(Metric.tagged("transport", transport)),
    bytesReceived: bytesReceived.pipe(Metric.tagged("transport", transport)),
    rejected: {
      invalid: rejected("invalid"),
      too_large: rejected("too_large"),
      unauthenticated: rejected("unauthenticated")
    }
  }
}
