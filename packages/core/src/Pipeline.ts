/**
 * The pipeline composed: queue → writer → store, with the `Ingest` door and
 * the `CommitFeed`. Give it a store layer; transports need only `Ingest`.
 */
import * as Layer from "effect/Layer"
import * as CommitFeed from "./CommitFeed.js"
import * as CommitWriter from "./CommitWriter.js"
import * as EventQueue from "./EventQueue.js"
import type { EventStore } from "./EventStore.js"
import * as Ingest from "./Ingest.js"

/** Settings of the pipeline. */
export interface PipelineOptions {
  readonly queue: EventQueue.EventQueueOptions
  readonly writer: CommitWriter.CommitWriterOptions
}

/** Defaults of SPEC §0. */
export const defaultOptions: PipelineOptions = {
  queue: EventQueue.defaultOptions,
  writer: CommitWriter.defaultOptions
}

/**
 * `Ingest`, `EventQueue` and `CommitFeed` over a store, with the writer
 * running. Releasing it drains the queue into the store.
 */
export const layer = (
  options: PipelineOptions = defaultOptions
): Layer.Layer<Ingest.Ingest | EventQueue.EventQueue | CommitFeed.CommitFeed, never, EventStore> => {
  const base = Layer.merge(EventQueue.layer(options.queue), CommitFeed.layer())
  return Layer.merge(Ingest.layer, CommitWriter.layer(options.writer)).pipe(Layer.provideMerge(base))
}
