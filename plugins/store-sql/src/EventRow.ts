/**
 * The commit-log row encoding lives in core (`@sluice/core/EventRow`), where
 * transports that write it directly can reach it; re-exported here for the
 * writer and the indexer thread.
 */
export { decodeBatch, encodeBatch, type EventTuple, tupleToEvent } from "@sluice/core/EventRow"

/** Event ids are `seq * idsPerCommit + position` (core's rule for every backend). */
export { idsPerCommit } from "@sluice/core/EventStore"
