/** Sluice's SQL stores: the `EventStore` and `Spool` on SQLite (Postgres later). */
export * as SqliteEventStore from "./SqliteEventStore.js"
export * as SqliteSpool from "./SqliteSpool.js"
