/**
 * Composes the layers every command shares from the settings: the SQLite
 * store, the pipeline (queue, writer, `Ingest`), retention, forwarding, the
 * socket listeners and the agent's pipeline. The gateway's HTTP server and
 * its routes (control plane, drain) are in `Gateway.ts`, which only
 * `sluice up` / `sluice server` load: an agent never loads them.
 */
import * as ForwardLoop from "@sluice/core/ForwardLoop"
import * as Pipeline from "@sluice/core/Pipeline"
import * as Retention from "@sluice/core/Retention"
import { StartupError } from "@sluice/core/StartupError"
import { HttpForwarder } from "@sluice/forward-http"
import { TcpTransport, UnixTransport } from "@sluice/socket"
import { SqliteEventStore } from "@sluice/store-sql"
import * as Duration from "effect/Duration"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as path from "node:path"
import type { DataLayout, Secrets } from "./DataDir.js"
import type { Settings } from "./Settings.js"

/** The queue and group-commit settings. */
export const pipelineOptions = (settings: Settings): Pipeline.PipelineOptions => ({
  queue: {
    maxEvents: settings.queueMaxEvents,
    maxBytes: settings.queueMaxBytes,
    fullPolicy: settings.queueFull,
    blockTimeout: Duration.millis(settings.queueBlockMs)
  },
  writer: { window: Duration.millis(settings.commitWindowMs), maxBatchEvents: settings.commitMaxEvents }
})

/** The retention settings, applied every minute. */
export const retentionOptions = (settings: Settings): Retention.RetentionOptions => ({
  maxAgeMs: settings.retentionDays * 24 * 3600_000,
  maxBytes: settings.retentionBytes,
  interval: Duration.minutes(1)
})

/**
 * The store and the pipeline over it. The main database's `SqlClient` stays
 * in the output: the control plane keeps its tables in the same database.
 * With an upstream (`--upstream URL --token T`), the gateway also forwards
 * everything it stores: its store keeps a spool (retention spares what is not
 * forwarded yet), and the forward loop and its `Forwarder` are in the output
 * (the control plane's dead-letters endpoints use them).
 */
export const pipelineLayer = (settings: Settings, data: DataLayout) => {
  const upstream = upstreamOf(settings)
  const storeOptions = { commitFile: data.mainDb, searchFile: data.searchDb, synchronous: settings.sqliteSync }
  const opened = <A, E, R>(store: Layer.Layer<A, E & { readonly message: string }, R>) =>
    store.pipe(
      Layer.provideMerge(SqliteEventStore.clientLayer(data.mainDb)),
      Layer.mapError((error) =>
        new StartupError({
          setting: "SLUICE_DATA_DIR",
          detail: `cannot open the store in ${data.dir}: ${error.message}`
        })
      )
    )
  const pipeline = Layer.merge(Pipeline.layer(pipelineOptions(settings)), Retention.layer(retentionOptions(settings)))
  if (upstream === undefined) return pipeline.pipe(Layer.provideMerge(opened(SqliteEventStore.layer(storeOptions))))
  const store = opened(SqliteEventStore.layerWithSpool({
    ...storeOptions,
    spool: { quotaBytes: settings.spoolQuotaBytes, policy: settings.spoolFull }
  }))
  const forward = forwardLayer(settings, { url: drainUrl(upstream.url), token: upstream.token })
  return Layer.merge(pipeline, forward).pipe(Layer.provideMerge(store))
}

/** The upstream of `--upstream` and `--token`, when both are set. */
export const upstreamOf = (settings: Settings) =>
  settings.upstream === undefined || settings.upstreamToken === undefined
    ? undefined
    : { url: settings.upstream, token: Redacted.make(settings.upstreamToken) }

/** The forward loop over the HTTP forwarder; the `Forwarder` stays in the output. */
export const forwardLayer = (settings: Settings, forwarder: HttpForwarder.HttpForwarderOptions) =>
  ForwardLoop.layer({ ...ForwardLoop.defaultOptions, maxEvents: settings.forwardBatchEvents }).pipe(
    Layer.provideMerge(HttpForwarder.layer({ ...forwarder, gzip: settings.forwardGzip === "true" }))
  )

/** The agent socket listeners (Unix and TCP). */
export const socketsLayer = (settings: Settings, secrets: Secrets) => {
  const connection = { maxMessageBytes: settings.maxMessageBytes, maxConnections: settings.maxConnections }
  return Layer.merge(
    UnixTransport.layer({ ...connection, path: settings.socketPath, mode: parseInt(settings.socketMode, 8) }),
    TcpTransport.layer({
      ...connection,
      host: settings.tcpHost,
      port: settings.tcpPort,
      sharedSecret: secrets.sharedSecret,
      idleTimeout: settings.tcpIdleSeconds === 0 ? Duration.infinity : Duration.seconds(settings.tcpIdleSeconds)
    })
  )
}

/** Where an agent keeps its state (token, applied config, spool). */
export const agentStateDir = (settings: Settings) => settings.agentStateDir ?? path.join(settings.dataDir, "agent")

/**
 * An agent's pipeline: the socket listeners and the pipeline into the spool
 * (a commit log without a search index), and the forward loop to the
 * upstream: a drain (static agent, `sluice agent run --upstream`) or the
 * control plane's edge endpoint (enrolled agent).
 */
export const agentLayer = (
  settings: Settings,
  data: DataLayout,
  secrets: Secrets,
  forwarder: HttpForwarder.HttpForwarderOptions
) => {
  const store = SqliteEventStore.layerWithSpool({
    commitFile: data.mainDb,
    searchFile: data.searchDb,
    synchronous: settings.sqliteSync,
    // A spool only appends and reads each commit once: 1 MiB of page cache, not SQLite's 16 MiB.
    cacheKib: 1024,
    searchIndex: false,
    spool: { quotaBytes: settings.spoolQuotaBytes, policy: settings.spoolFull }
  }).pipe(
    Layer.provide(SqliteEventStore.clientLayer(data.mainDb)),
    Layer.mapError((error) =>
      new StartupError({
        setting: "SLUICE_AGENT_STATE_DIR",
        detail: `cannot open the spool in ${data.dir}: ${error.message}`
      })
    )
  )
  const pipeline = Pipeline.layer(pipelineOptions(settings))
  const forward = forwardLayer(settings, forwarder)
  const retention = Retention.layer(retentionOptions(settings))
  return Layer.mergeAll(socketsLayer(settings, secrets), forward, retention).pipe(
    Layer.provideMerge(pipeline),
    Layer.provideMerge(store)
  )
}

/** `http://host:port` (or a URL ending in `/v1/drain`) → the drain URL. */
export const drainUrl = (upstream: string): string =>
  upstream.replace(/\/+$/, "").endsWith("/v1/drain") ? upstream : `${upstream.replace(/\/+$/, "")}/v1/drain`

/** A URL without its credentials, for banners and logs. */
export const withoutCredentials = (url: string): string => {
  const u = new URL(url)
  u.username = ""
  u.password = ""
  return u.toString()
}
