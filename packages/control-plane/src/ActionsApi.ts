/**
 * The actions endpoints of `/api/v1` (SPEC §3, §4): operators queue an
 * action for an agent and cancel it while it is pending; viewers read an
 * agent's actions (newest first, paginated) and one action. Rate group
 * "agents" (100 per minute). Declared here, served by `ActionHandlers`.
 */
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as OpenApi from "@effect/platform/OpenApi"
import * as Action from "@sluice/core/Action"
import * as Schema from "effect/Schema"
import { ActionRecord, DeadlineSeconds } from "./ActionBus.js"
import * as ApiError from "./ApiError.js"
import { RequireOperator, RequireViewer } from "./Authentication.js"
import * as Pagination from "./Pagination.js"
import { RateLimit } from "./RateLimit.js"

const Id = HttpApiSchema.param("id", Schema.String)

/** `POST /agents/:id/actions`: a type, its payload (default `{}`), and a deadline (default 15 min). */
export const NewAction = Schema.Struct({
  type: Action.ActionType,
  payload: Schema.optional(Schema.Unknown),
  deadline_seconds: Schema.optional(DeadlineSeconds)
}).annotations({ identifier: "NewAction", parseOptions: { errors: "all" } })

/** Queue, list, read and cancel actions. */
export class ActionsGroup extends HttpApiGroup.make("actions")
  .add(
    HttpApiEndpoint.post("create")`/agents/${Id}/actions`.setPayload(NewAction)
      .addSuccess(ActionRecord, { status: 201 }).addError(ApiError.Wire.NotFound).middleware(RequireOperator)
      .annotate(OpenApi.Summary, "Queue an action for an agent (pending until the agent takes it)")
  )
  .add(
    HttpApiEndpoint.get("list")`/agents/${Id}/actions`.setUrlParams(Pagination.PageParams)
      .addSuccess(Pagination.Page(ActionRecord, "ActionPage")).addError(ApiError.Wire.NotFound)
      .middleware(RequireViewer)
      .annotate(OpenApi.Summary, "An agent's actions, newest first")
  )
  .add(
    HttpApiEndpoint.get("get")`/actions/${Id}`.addSuccess(ActionRecord).addError(ApiError.Wire.NotFound)
      .middleware(RequireViewer)
      .annotate(OpenApi.Summary, "One action, with its status and result")
  )
  .add(
    HttpApiEndpoint.post("cancel")`/actions/${Id}/cancel`.addSuccess(ActionRecord)
      .addError(ApiError.Wire.NotFound).addError(ApiError.Wire.Conflict).middleware(RequireOperator)
      .annotate(OpenApi.Summary, "Cancel a pending action (409 naming its status otherwise)")
  )
  .addError(ApiError.Wire.ValidationError)
  .addError(ApiError.Wire.InternalError)
  .middleware(RateLimit)
  .prefix("/api/v1")
{}
