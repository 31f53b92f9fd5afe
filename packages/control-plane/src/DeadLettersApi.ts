/**
 * `/api/v1/dead-letters` (operator): the batches the upstream refused for
 * good (a 4xx other than 401/403/408/429), as kept by the forward spool of a
 * process that forwards (a gateway run with `--upstream`). List them with the
 * upstream's answer, replay them once (each letter sent once; the delivered
 * ones leave the table and count as forwarded), or purge them (admin).
 * A process without a spool answers 404 naming the reason.
 */
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as OpenApi from "@effect/platform/OpenApi"
import { StoredEventJson } from "@sluice/core/LogEvent"
import * as Schema from "effect/Schema"
import * as ApiError from "./ApiError.js"
import { RequireAdmin, RequireOperator } from "./Authentication.js"
import * as Pagination from "./Pagination.js"
import { RateLimit } from "./RateLimit.js"

/** One dead letter on the wire. */
export const DeadLetter = Schema.Struct({
  id: Schema.String,
  created_at: Schema.String,
  status: Schema.Int,
  response: Schema.String,
  event_count: Schema.Int,
  events: Schema.Array(StoredEventJson)
}).annotations({ identifier: "DeadLetter" })
export type DeadLetter = typeof DeadLetter.Type

/** What a replay did. */
export const ReplayOutcome = Schema.Struct({
  delivered: Schema.Int,
  remaining: Schema.Int
}).annotations({ identifier: "ReplayOutcome" })

/** List, replay and purge dead letters. */
export class DeadLettersGroup extends HttpApiGroup.make("deadLetters")
  .add(
    HttpApiEndpoint.get("list", "/").setUrlParams(Pagination.PageParams)
      .addSuccess(Pagination.Page(DeadLetter, "DeadLetterPage")).addError(ApiError.Wire.NotFound)
      .middleware(RequireOperator)
      .annotate(OpenApi.Summary, "Dead letters, oldest first, with the upstream's answer")
  )
  .add(
    HttpApiEndpoint.post("replay", "/replay").addSuccess(ReplayOutcome).addError(ApiError.Wire.NotFound)
      .middleware(RequireOperator)
      .annotate(OpenApi.Summary, "Send every dead letter upstream once; delivered ones are removed")
  )
  .add(
    HttpApiEndpoint.del("purge", "/").addSuccess(HttpApiSchema.NoContent).addError(ApiError.Wire.NotFound)
      .middleware(RequireAdmin)
      .annotate(OpenApi.Summary, "Remove every dead letter (they stay counted as dead-lettered)")
  )
  .addError(ApiError.Wire.ValidationError)
  .addError(ApiError.Wire.InternalError)
  .middleware(RateLimit)
  .prefix("/api/v1/dead-letters")
{}
