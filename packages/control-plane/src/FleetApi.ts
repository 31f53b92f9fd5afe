/**
 * The fleet's endpoints of `/api/v1` (SPEC §3 resources, §4 protocol) as
 * `HttpApi` groups: groups and inputs (with the config preview), enrolment
 * tokens, agents (users' side) and the edge API that agents call. Every
 * request body and parameter is decoded here, reporting every bad field.
 *
 * Roles: viewers read groups, inputs, the config preview and agents;
 * operators create and edit groups and inputs, mint, list and revoke
 * enrolment tokens, edit and revoke agents; admins also delete groups,
 * inputs and agents. The edge API takes agent tokens (`RequireAgent`),
 * except enrolment, which takes the bootstrap token in its body.
 */
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as OpenApi from "@effect/platform/OpenApi"
import { ActionReport, PendingAction } from "@sluice/core/Action"
import { Platform } from "@sluice/core/Input"
import * as Schema from "effect/Schema"
import { RequireAgent } from "./AgentAuthentication.js"
import { Agent, AgentStatus } from "./Agents.js"
import * as ApiError from "./ApiError.js"
import { RequireAdmin, RequireOperator, RequireViewer } from "./Authentication.js"
import { CreatedEnrolmentToken, EnrolmentToken } from "./EnrolmentTokens.js"
import { Group, GroupInput, Settings } from "./Groups.js"
import * as Pagination from "./Pagination.js"
import { RateLimit } from "./RateLimit.js"

const basePath = "/api/v1"
const Id = HttpApiSchema.param("id", Schema.String)
const InputId = HttpApiSchema.param("inputId", Schema.String)

/** Report every bad field at once, not only the first. */
const allErrors = { parseOptions: { errors: "all" } } as const
const message = (text: string) => ({ message: () => text })

const text = (max: number) =>
  Schema.String.pipe(
    Schema.minLength(1, message("must not be empty")),
    Schema.maxLength(max, message(`must be at most ${max} characters`))
  )

/** A display name: trimmed, 1–256 characters. */
export const Name = Schema.Trim.pipe(
  Schema.minLength(1, message("must not be empty")),
  Schema.maxLength(256, message("must be at most 256 characters"))
)

/** A group slug: 1–64 of `a-z`, `0-9` and `-`. */
export const Slug = Schema.String.pipe(
  Schema.pattern(/^[a-z0-9-]{1,64}$/, message("must be 1-64 characters of a-z, 0-9 and -"))
)

/** An input type: a builtin or a plugin's, 1–64 of `a-z`, `0-9` and `_`. */
export const InputType = Schema.String.pipe(
  Schema.pattern(/^[a-z0-9_]{1,64}$/, message("must be 1-64 characters of a-z, 0-9 and _"))
)

/** A routing value (`index`, `sourcetype`, `source`): 1–64 characters. */
export const RoutingValue = text(64)

/** A tag: 1–64 characters. */
export const Tag = text(64)

const Description = Schema.String.pipe(Schema.maxLength(4096, message("must be at most 4096 characters")))

// ---------------------------------------------------------------- groups

/** `POST /groups`: the slug defaults to the name, lower-cased with `-` for other characters. */
export const NewGroup = Schema.Struct({
  name: Name,
  slug: Schema.optional(Slug),
  description: Schema.optional(Description)
}).annotations({ identifier: "NewGroup", ...allErrors })

/** `PATCH /groups/:id`: each given field is an edit (the config version goes up by one). */
export const GroupPatch = Schema.Struct({
  name: Schema.optional(Name),
  slug: Schema.optional(Slug),
  description: Schema.optional(Description)
}).annotations({ identifier: "GroupPatch", ...allErrors })

const Override = Schema.optional(Schema.NullOr(RoutingValue))

/** `POST /groups/:id/inputs`: enabled by default; routing defaults to `main`, `agent_<type>`, `sluice-agent`. */
export const NewInput = Schema.Struct({
  type: InputType,
  name: Name,
  enabled: Schema.optional(Schema.Boolean),
  settings: Schema.optional(Settings),
  index: Override,
  sourcetype: Override,
  source: Override
}).annotations({ identifier: "NewInput", ...allErrors })

/** `PATCH /groups/:id/inputs/:inputId`: a `null` routing value goes back to the default. */
export const InputPatch = Schema.Struct({
  type: Schema.optional(InputType),
  name: Schema.optional(Name),
  enabled: Schema.optional(Schema.Boolean),
  settings: Schema.optional(Settings),
  index: Override,
  sourcetype: Override,
  source: Override
}).annotations({ identifier: "InputPatch", ...allErrors })

/** `GET /groups/:id/config`: the platform to render for (default linux). */
export const PreviewParams = Schema.Struct({
  platform: Schema.optionalWith(
    Platform.annotations({ message: () => ({ message: "must be linux or kubernetes", override: true }) }),
    { default: () => "linux" as const }
  )
}).annotations(allErrors)

const Yaml = HttpApiSchema.Text({ contentType: "application/yaml" })

/** Groups, their inputs, and the rendered config. */
export class GroupsGroup extends HttpApiGroup.make("groups")
  .add(
    HttpApiEndpoint.get("list", "/groups").setUrlParams(Pagination.PageParams)
      .addSuccess(Pagination.Page(Group, "GroupPage")).middleware(RequireViewer)
      .annotate(OpenApi.Summary, "List groups by name")
  )
  .add(
    HttpApiEndpoint.post("create", "/groups").setPayload(NewGroup).addSuccess(Group, { status: 201 })
      .addError(ApiError.Wire.Conflict).middleware(RequireOperator)
      .annotate(OpenApi.Summary, "Create a group (config_version 1); the slug must be unique")
  )
  .add(
    HttpApiEndpoint.get("get")`/groups/${Id}`.addSuccess(Group).addError(ApiError.Wire.NotFound)
      .middleware(RequireViewer)
      .annotate(OpenApi.Summary, "A group")
  )
  .add(
    HttpApiEndpoint.patch("update")`/groups/${Id}`.setPayload(GroupPatch).addSuccess(Group)
      .addError(ApiError.Wire.NotFound).addError(ApiError.Wire.Conflict).middleware(RequireOperator)
      .annotate(OpenApi.Summary, "Rename or describe a group (config_version + 1)")
  )
  .add(
    HttpApiEndpoint.del("remove")`/groups/${Id}`.addSuccess(HttpApiSchema.NoContent)
      .addError(ApiError.Wire.NotFound).addError(ApiError.Wire.Conflict).middleware(RequireAdmin)
      .annotate(OpenApi.Summary, "Delete a group without agents, with its inputs and enrolment tokens")
  )
  .add(
    HttpApiEndpoint.get("inputs")`/groups/${Id}/inputs`.setUrlParams(Pagination.PageParams)
      .addSuccess(Pagination.Page(GroupInput, "GroupInputPage")).addError(ApiError.Wire.NotFound)
      .middleware(RequireViewer)
      .annotate(OpenApi.Summary, "A group's inputs, in config order")
  )
  .add(
    HttpApiEndpoint.post("addInput")`/groups/${Id}/inputs`.setPayload(NewInput)
      .addSuccess(GroupInput, { status: 201 }).addError(ApiError.Wire.NotFound).addError(ApiError.Wire.Conflict)
      .middleware(RequireOperator)
      .annotate(OpenApi.Summary, "Add an input (config_version + 1)")
  )
  .add(
    HttpApiEndpoint.patch("updateInput")`/groups/${Id}/inputs/${InputId}`.setPayload(InputPatch)
      .addSuccess(GroupInput).addError(ApiError.Wire.NotFound).addError(ApiError.Wire.Conflict)
      .middleware(RequireOperator)
      .annotate(OpenApi.Summary, "Edit, enable or disable an input, or override its routing (config_version + 1)")
  )
  .add(
    HttpApiEndpoint.del("removeInput")`/groups/${Id}/inputs/${InputId}`.addSuccess(HttpApiSchema.NoContent)
      .addError(ApiError.Wire.NotFound).middleware(RequireAdmin)
      .annotate(OpenApi.Summary, "Delete an input (config_version + 1)")
  )
  .add(
    HttpApiEndpoint.get("config")`/groups/${Id}/config`.setUrlParams(PreviewParams).addSuccess(Yaml)
      .addError(ApiError.Wire.NotFound).middleware(RequireViewer)
      .annotate(
        OpenApi.Summary,
        "The agent config of the group for a platform (default linux), as agents receive it; " +
          "headers x-config-version and x-config-etag"
      )
  )
  .addError(ApiError.Wire.ValidationError)
  .addError(ApiError.Wire.InternalError)
  .middleware(RateLimit)
  .prefix(basePath)
{}

// ---------------------------------------------------------------- enrolment tokens

const Count = (max: number) =>
  Schema.Int.pipe(
    Schema.annotations(message("must be an integer")),
    Schema.between(1, max, message(`must be between 1 and ${max}`))
  )

/** `POST /groups/:id/enrolment-tokens`: defaults 24 h and 100 uses. */
export const NewEnrolmentToken = Schema.Struct({
  ttl_seconds: Schema.optional(Count(366 * 24 * 3600)),
  max_uses: Schema.optional(Count(1_000_000))
}).annotations({ identifier: "NewEnrolmentToken", ...allErrors })

/** Enrolment tokens of a group: minted (shown once), listed, revoked. */
export class EnrolmentTokensGroup extends HttpApiGroup.make("enrolmentTokens")
  .add(
    HttpApiEndpoint.get("list")`/groups/${Id}/enrolment-tokens`.setUrlParams(Pagination.PageParams)
      .addSuccess(Pagination.Page(EnrolmentToken, "EnrolmentTokenPage")).addError(ApiError.Wire.NotFound)
      .middleware(RequireOperator)
      .annotate(OpenApi.Summary, "A group's enrolment tokens, newest first (never the token)")
  )
  .add(
    HttpApiEndpoint.post("create")`/groups/${Id}/enrolment-tokens`.setPayload(NewEnrolmentToken)
      .addSuccess(CreatedEnrolmentToken, { status: 201 }).addError(ApiError.Wire.NotFound)
      .middleware(RequireOperator)
      .annotate(OpenApi.Summary, "Mint an enrolment token (EBT_…); `token` is shown this once")
  )
  .add(
    HttpApiEndpoint.del("revoke")`/enrolment-tokens/${Id}`.addSuccess(HttpApiSchema.NoContent)
      .addError(ApiError.Wire.NotFound).middleware(RequireOperator)
      .annotate(OpenApi.Summary, "Revoke an enrolment token (it stays listed, revoked)")
  )
  .addError(ApiError.Wire.ValidationError)
  .addError(ApiError.Wire.InternalError)
  .middleware(RateLimit)
  .prefix(basePath)
{}

// ---------------------------------------------------------------- agents

/** The filters of `GET /agents`. */
export const AgentFilters = Schema.Struct({
  group_id: Schema.optional(text(64)),
  status: Schema.optional(AgentStatus),
  tag: Schema.optional(Tag),
  search: Schema.optional(text(256))
}).annotations(allErrors)

/** `PATCH /agents/:id`: moving to another group resets the applied config version to 0. */
export const AgentPatch = Schema.Struct({
  label: Schema.optional(Schema.NullOr(Name)),
  tags: Schema.optional(
    Schema.Array(Tag).pipe(Schema.maxItems(64, message("must have at most 64 tags")))
  ),
  group_id: Schema.optional(text(64))
}).annotations({ identifier: "AgentPatch", ...allErrors })

/** Enrolled agents: list, read, edit, revoke, delete. */
export class AgentsGroup extends HttpApiGroup.make("agents")
  .add(
    HttpApiEndpoint.get("list", "/agents").setUrlParams(
      Schema.Struct({ ...AgentFilters.fields, ...Pagination.PageParams.fields }).annotations(allErrors)
    ).addSuccess(Pagination.Page(Agent, "AgentPage")).middleware(RequireViewer)
      .annotate(OpenApi.Summary, "List agents by hostname; filters group_id, status, tag, search (hostname or label)")
  )
  .add(
    HttpApiEndpoint.get("get")`/agents/${Id}`.addSuccess(Agent).addError(ApiError.Wire.NotFound)
      .middleware(RequireViewer)
      .annotate(OpenApi.Summary, "An agent")
  )
  .add(
    HttpApiEndpoint.patch("update")`/agents/${Id}`.setPayload(AgentPatch).addSuccess(Agent)
      .addError(ApiError.Wire.NotFound).middleware(RequireOperator)
      .annotate(OpenApi.Summary, "Label, tags, or move to another group (applied_config_version back to 0)")
  )
  .add(
    HttpApiEndpoint.del("remove")`/agents/${Id}`.addSuccess(HttpApiSchema.NoContent)
      .addError(ApiError.Wire.NotFound).middleware(RequireAdmin)
      .annotate(OpenApi.Summary, "Delete an agent and its actions")
  )
  .add(
    HttpApiEndpoint.post("revoke")`/agents/${Id}/revoke`.addSuccess(Agent).addError(ApiError.Wire.NotFound)
      .middleware(RequireOperator)
      .annotate(OpenApi.Summary, "Revoke an agent's token: every call it makes answers 403")
  )
  .addError(ApiError.Wire.ValidationError)
  .addError(ApiError.Wire.InternalError)
  .middleware(RateLimit)
  .prefix(basePath)
{}

// ---------------------------------------------------------------- edge

const Version = text(64)
const Info = text(256)

const Extra = Schema.Record({ key: Schema.String, value: Schema.Unknown })

/** `POST /agents/enrol` (SPEC §4); other fields are kept as sent. */
export const EnrolRequest = Schema.Struct(
  {
    bootstrapToken: Schema.Redacted(Schema.String),
    hostname: Info,
    platform: Platform.annotations({ message: () => ({ message: "must be linux or kubernetes", override: true }) }),
    os: Schema.optional(Schema.NullOr(Info)),
    kernel: Schema.optional(Schema.NullOr(Info)),
    agentVersion: Schema.optional(Schema.NullOr(Version)),
    groupSlug: Schema.optional(Slug)
  },
  Extra
).annotations({ identifier: "EnrolRequest", ...allErrors })

/** The enrolment answer (`201 {"data":{…}}`). */
export const EnrolResponse = Schema.Struct({
  data: Schema.Struct({
    agentId: Schema.String,
    agentToken: Schema.String,
    groupId: Schema.String,
    configVersion: Schema.Int
  })
}).annotations({ identifier: "EnrolResponse" })

/** `GET /agents/:id/config`. */
export const ConfigParams = Schema.Struct({
  since: Schema.optionalWith(
    Schema.NumberFromString.pipe(
      Schema.int(message("must be an integer")),
      Schema.nonNegative(message("must be 0 or more"))
    ),
    { default: () => 0 }
  )
}).annotations(allErrors)

const exact = <S extends Schema.Schema.Any>(schema: S) => Schema.optionalWith(schema, { exact: true })

const Seconds = Schema.Number.annotations(message("must be a number of 0 or more")).pipe(
  Schema.finite(message("must be a number of 0 or more")),
  Schema.nonNegative(message("must be a number of 0 or more"))
)

const Flag = Schema.Boolean.annotations(message("must be true or false"))

const VersionNumber = Schema.Number.annotations(message("must be an integer of 0 or more")).pipe(
  Schema.int(message("must be an integer of 0 or more")),
  Schema.nonNegative(message("must be an integer of 0 or more"))
)

/**
 * `POST /agents/:id/heartbeat` (SPEC §4); `vectorVersion`, `vectorRunning`
 * and `vectorUptimeSeconds` are aliases of the engine version and the
 * pipeline fields. Every field is optional: an absent one leaves what is
 * stored.
 */
export const HeartbeatRequest = Schema.Struct({
  agentVersion: exact(Version),
  engineVersion: exact(Version),
  vectorVersion: exact(Version),
  appliedConfigVersion: exact(VersionNumber),
  pipelineRunning: exact(Flag),
  vectorRunning: exact(Flag),
  pipelineUptimeSeconds: exact(Seconds),
  vectorUptimeSeconds: exact(Seconds),
  lastConfigError: exact(Schema.NullOr(text(65536))),
  metrics: exact(Extra.annotations(message("must be an object"))),
  actionResults: exact(
    Schema.Array(ActionReport).annotations(message("must be an array of action results")).pipe(
      Schema.maxItems(1000, message("must have at most 1000 results"))
    )
  ),
  hostname: exact(Info),
  os: exact(Info),
  kernel: exact(Info)
}).annotations({ identifier: "HeartbeatRequest", ...allErrors })
export type HeartbeatRequest = typeof HeartbeatRequest.Type

/** The heartbeat answer: at most 10 actions to take. */
export const HeartbeatResponse = Schema.Struct({
  data: Schema.Struct({ pendingActions: Schema.Array(PendingAction) })
}).annotations({ identifier: "HeartbeatResponse" })

/** The rotation answer. */
export const RotateTokenResponse = Schema.Struct({
  data: Schema.Struct({ agentToken: Schema.String })
}).annotations({ identifier: "RotateTokenResponse" })

/** What agents call (SPEC §4): enrol, config poll, heartbeat, token rotation. */
export class EdgeGroup extends HttpApiGroup.make("edge")
  .add(
    HttpApiEndpoint.post("enrol", "/agents/enrol").setPayload(EnrolRequest)
      .addSuccess(EnrolResponse, { status: 201 })
      .addError(ApiError.Wire.Unauthorized).addError(ApiError.Wire.NotFound)
      .annotate(OpenApi.Summary, "Enrol with a bootstrap token (EBT_…): the agent's id and token (AGT_…, shown once)")
  )
  .add(
    HttpApiEndpoint.get("config")`/agents/${Id}/config`.setUrlParams(ConfigParams)
      .addSuccess(Yaml)
      .middleware(RequireAgent)
      .annotate(
        OpenApi.Summary,
        "The agent's config: 204 when `since` is current, 304 when If-None-Match is the current etag, " +
          "else YAML with x-config-version and x-config-etag"
      )
  )
  .add(
    HttpApiEndpoint.post("heartbeat")`/agents/${Id}/heartbeat`.setPayload(HeartbeatRequest)
      .addSuccess(HeartbeatResponse).middleware(RequireAgent)
      .annotate(OpenApi.Summary, "Report state and action results; answers the actions to take")
  )
  .add(
    HttpApiEndpoint.post("rotateToken")`/agents/${Id}/rotate-token`.addSuccess(RotateTokenResponse)
      .middleware(RequireAgent)
      .annotate(OpenApi.Summary, "Extension: a new agent token; the one used is invalid from now on")
  )
  .addError(ApiError.Wire.ValidationError)
  .addError(ApiError.Wire.InternalError)
  .middleware(RateLimit)
  .prefix(basePath)
{}
