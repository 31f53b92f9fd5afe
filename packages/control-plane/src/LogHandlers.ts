/**
 * The `logs` group: search of stored events (newest first, paginated, in the
 * stored-event shape), the live tail, and counts. A failing store answers
 * `internal_error` (logged, nothing disclosed).
 */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import { CommitFeed } from "@sluice/core/CommitFeed"
import { EventStore, type StoreError } from "@sluice/core/EventStore"
import { levelName } from "@sluice/core/Level"
import { toStoredEventJson } from "@sluice/core/LogEvent"
import * as Effect from "effect/Effect"
import { Api, type LogFilters } from "./Api.js"
import * as ApiError from "./ApiError.js"
import * as LogStream from "./LogStream.js"
import * as Pagination from "./Pagination.js"

const storeFailed = (error: StoreError) =>
  Effect.zipRight(
    Effect.logError("control plane: store failed", error.message),
    new ApiError.InternalError({ message: "internal error" })
  )

const checkRange = (range: { readonly from?: number | undefined; readonly to?: number | undefined }) =>
  range.from !== undefined && range.to !== undefined && range.from > range.to
    ? Effect.fail(
      new ApiError.ValidationError({
        message: "Invalid request parameters",
        details: { to: "must not be before from" }
      })
    )
    : Effect.void

/** The store filters of the API's. */
export const toFilter = (filters: LogFilters): LogStream.TailFilter => ({
  from: filters.from,
  to: filters.to,
  level: filters.level,
  source: filters.source,
  agentId: filters.agent_id,
  projectId: filters.project_id,
  index: filters.index,
  q: filters.q
})

const byName = (counts: Readonly<Record<string, number>>) => {
  const out: Record<string, number> = {}
  for (const [level, n] of Object.entries(counts)) out[levelName(Number(level))] = n
  return out
}

/** The handlers of the `logs` group. */
export const layer = (stream: LogStream.LogStreamOptions = LogStream.defaultOptions) =>
  HttpApiBuilder.group(Api, "logs", (handlers) =>
    Effect.gen(function*() {
      const store = yield* EventStore
      const feed = yield* CommitFeed
      return handlers
        .handle("search", ({ urlParams }) =>
          Effect.gen(function*() {
            yield* checkRange(urlParams)
            const found = yield* store.query({
              ...toFilter(urlParams),
              offset: Pagination.offsetOf(urlParams),
              limit: urlParams.page_size
            }).pipe(Effect.catchTag("StoreError", storeFailed))
            return Pagination.page(urlParams, found.items.map(toStoredEventJson), found.total)
          }))
        .handle("stream", ({ urlParams }) =>
          Effect.zipRight(
            checkRange(urlParams),
            LogStream.response(toFilter(urlParams), stream).pipe(Effect.provideService(CommitFeed, feed))
          ))
        .handle("stats", ({ urlParams }) =>
          Effect.gen(function*() {
            yield* checkRange(urlParams)
            const stats = yield* store.stats({ from: urlParams.from, to: urlParams.to }).pipe(
              Effect.catchTag("StoreError", storeFailed)
            )
            return {
              total: stats.total,
              from: urlParams.from === undefined ? null : new Date(urlParams.from).toISOString(),
              to: urlParams.to === undefined ? null : new Date(urlParams.to).toISOString(),
              by_level: byName(stats.byLevel),
              by_source: stats.bySource,
              by_transport: stats.byTransport
            }
          }))
    }))
