/** The messages between the store (main thread) and its indexer worker. */

/** What the worker is started with. */
export interface IndexerSettings {
  readonly commitFile: string
  readonly searchFile: string
  /** Commit-log rows indexed per search-database transaction. */
  readonly commitsPerTransaction: number
  /** How often the worker re-checks the commit log when idle. */
  readonly pollMillis: number
  /** The indexer thread's nice value (0 = as the rest of the process). */
  readonly niceness: number
}

/** Main → worker. */
export type ToIndexer =
  | { readonly type: "committed"; readonly seq: number }
  | { readonly type: "trim"; readonly minId: number }
  | { readonly type: "stop" }

/** Worker → main. */
export type FromIndexer =
  | { readonly type: "indexed"; readonly seq: number }
  | { readonly type: "trimmed"; readonly deleted: number }
  | { readonly type: "failed"; readonly reason: string }
