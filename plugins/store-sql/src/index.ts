/** Sluice's SQL stores: the `EventStore` on SQLite (and, later, Postgres). */
export * as SqliteEventStore from "./SqliteEventStore.js"
