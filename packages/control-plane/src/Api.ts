/**
 * The control plane's `/api/v1` as an `HttpApi`: the one description that
 * the server, the OpenAPI document (`/api/v1/openapi.json`) and the docs UI
 * (`/docs`) share. Each endpoint declares its least role (the role
 * middlewares of `Authentication`) and its errors in the SPEC §3 shape; each
 * group is rate limited (`RateLimit`).
 */
import * as HttpApi from "@effect/platform/HttpApi"
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as OpenApi from "@effect/platform/OpenApi"
import { levelFromWord } from "@sluice/core/Level"
import { StoredEventJson } from "@sluice/core/LogEvent"
import { parseFlexibleTimestamp } from "@sluice/core/Timestamp"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { ActionsGroup } from "./ActionsApi.js"
import * as ApiError from "./ApiError.js"
import { ApiKey, CreatedApiKey } from "./ApiKeys.js"
import { RequireAdmin, RequireViewer, RequireViewerStream } from "./Authentication.js"
import { DeadLettersGroup } from "./DeadLettersApi.js"
import { AgentsGroup, EdgeGroup, EnrolmentTokensGroup, GroupsGroup } from "./FleetApi.js"
import * as Pagination from "./Pagination.js"
import { Password } from "./Password.js"
import { RateLimit } from "./RateLimit.js"
import { Role } from "./Role.js"
import { Email, User } from "./Users.js"

/** Where the API lives. */
export const basePath = "/api/v1"

const Id = HttpApiSchema.param("id", Schema.String)

/** Report every bad field at once, not only the first. */
const allErrors = { parseOptions: { errors: "all" } } as const

// ---------------------------------------------------------------- auth

/** `POST /auth/register`, `POST /users`. */
export const NewUser = Schema.Struct({ email: Email, password: Password, role: Schema.optional(Role) }).annotations({
  identifier: "NewUser",
  ...allErrors
})

/** `POST /auth/login`. */
export const Login = Schema.Struct({
  email: Schema.String,
  password: Schema.Redacted(Schema.String)
}).annotations({ identifier: "Login", ...allErrors })

/** The login answer. */
export const Session = Schema.Struct({ token: Schema.String, expires_at: Schema.String, user: User }).annotations({
  identifier: "Session",
  ...allErrors
})

/** `POST /auth/password`. */
export const PasswordChange = Schema.Struct({
  current_password: Schema.Redacted(Schema.String),
  new_password: Password
}).annotations({ identifier: "PasswordChange", ...allErrors })

/** Registration, login, the caller, and changing one's password. */
export class AuthGroup extends HttpApiGroup.make("auth")
  .add(
    HttpApiEndpoint.post("register", "/register").setPayload(NewUser).addSuccess(User, { status: 201 })
      .addError(ApiError.Wire.Forbidden).addError(ApiError.Wire.Conflict)
      .annotate(OpenApi.Summary, "Register: the first user becomes admin; later ones only with open registration")
  )
  .add(
    HttpApiEndpoint.post("login", "/login").setPayload(Login).addSuccess(Session)
      .addError(ApiError.Wire.Unauthorized)
      .annotate(OpenApi.Summary, "Log in: a session token (JWT) for Authorization: Bearer")
  )
  .add(
    HttpApiEndpoint.get("me", "/me").addSuccess(User).middleware(RequireViewer)
      .annotate(OpenApi.Summary, "The user of the session")
  )
  .add(
    HttpApiEndpoint.post("changePassword", "/password").setPayload(PasswordChange)
      .addSuccess(HttpApiSchema.NoContent).middleware(RequireViewer)
      .annotate(OpenApi.Summary, "Change one's own password (current + new)")
  )
  .addError(ApiError.Wire.ValidationError)
  .addError(ApiError.Wire.InternalError)
  .middleware(RateLimit)
  .prefix(`${basePath}/auth`)
{}

// ---------------------------------------------------------------- users

/** `PATCH /users/:id`. */
export const UserPatch = Schema.Struct({ role: Schema.optional(Role), disabled: Schema.optional(Schema.Boolean) })
  .annotations({ identifier: "UserPatch", ...allErrors })

/** Admin user management. */
export class UsersGroup extends HttpApiGroup.make("users")
  .add(
    HttpApiEndpoint.get("list", "/").setUrlParams(Pagination.PageParams)
      .addSuccess(Pagination.Page(User, "UserPage")).middleware(RequireAdmin)
      .annotate(OpenApi.Summary, "List users")
  )
  .add(
    HttpApiEndpoint.post("create", "/").setPayload(NewUser).addSuccess(User, { status: 201 })
      .addError(ApiError.Wire.Conflict).middleware(RequireAdmin)
      .annotate(OpenApi.Summary, "Create a user with a role (default viewer)")
  )
  .add(
    HttpApiEndpoint.patch("update")`/${Id}`.setPayload(UserPatch).addSuccess(User)
      .addError(ApiError.Wire.NotFound).addError(ApiError.Wire.Conflict).middleware(RequireAdmin)
      .annotate(OpenApi.Summary, "Change a user's role, or disable / enable them")
  )
  .add(
    HttpApiEndpoint.del("remove")`/${Id}`.addSuccess(HttpApiSchema.NoContent)
      .addError(ApiError.Wire.NotFound).addError(ApiError.Wire.Conflict).middleware(RequireAdmin)
      .annotate(OpenApi.Summary, "Delete a user")
  )
  .addError(ApiError.Wire.ValidationError)
  .addError(ApiError.Wire.InternalError)
  .middleware(RateLimit)
  .prefix(`${basePath}/users`)
{}

// ---------------------------------------------------------------- API keys

/** `POST /api-keys`. */
export const NewApiKey = Schema.Struct({
  name: Schema.String.pipe(
    Schema.minLength(1, { message: () => "must not be empty" }),
    Schema.maxLength(256, { message: () => "must be at most 256 characters" })
  ),
  role: Schema.optional(Role)
}).annotations({ identifier: "NewApiKey", ...allErrors })

/** API keys: created once (the key is shown only then), listed without secrets, revoked. */
export class ApiKeysGroup extends HttpApiGroup.make("apiKeys")
  .add(
    HttpApiEndpoint.get("list", "/").setUrlParams(Pagination.PageParams)
      .addSuccess(Pagination.Page(ApiKey, "ApiKeyPage")).middleware(RequireAdmin)
      .annotate(OpenApi.Summary, "List API keys (never the secret)")
  )
  .add(
    HttpApiEndpoint.post("create", "/").setPayload(NewApiKey).addSuccess(CreatedApiKey, { status: 201 })
      .middleware(RequireAdmin)
      .annotate(OpenApi.Summary, "Create an API key (default role viewer); `key` is shown this once")
  )
  .add(
    HttpApiEndpoint.del("revoke")`/${Id}`.addSuccess(HttpApiSchema.NoContent)
      .addError(ApiError.Wire.NotFound).middleware(RequireAdmin)
      .annotate(OpenApi.Summary, "Revoke an API key")
  )
  .addError(ApiError.Wire.ValidationError)
  .addError(ApiError.Wire.InternalError)
  .middleware(RateLimit)
  .prefix(`${basePath}/api-keys`)
{}

// ---------------------------------------------------------------- logs

const message = (text: string) => ({ message: () => text })

/** An ISO 8601 time (with or without offset; none means UTC) as epoch milliseconds. */
export const TimeParam = Schema.transformOrFail(Schema.String, Schema.Number, {
  strict: true,
  decode: (text, _, ast) => {
    const ms = parseFlexibleTimestamp(text.trim())
    return ms === undefined
      ? ParseResult.fail(new ParseResult.Type(ast, text, "must be an ISO 8601 time, e.g. 2025-08-31T10:30:00Z"))
      : ParseResult.succeed(ms)
  },
  encode: (ms) => ParseResult.succeed(new Date(ms).toISOString())
}).annotations({ description: "ISO 8601 time", ...message("must be an ISO 8601 time, e.g. 2025-08-31T10:30:00Z") })

/** A level: its number 1–8, or a name (`error`, `warn`, …); matches that level and worse. */
export const LevelParam = Schema.transformOrFail(Schema.String, Schema.Int, {
  strict: true,
  decode: (text, _, ast) => {
    const trimmed = text.trim()
    const level = /^[1-8]$/.test(trimmed) ? Number(trimmed) : levelFromWord(trimmed)
    return level === undefined
      ? ParseResult.fail(new ParseResult.Type(ast, text, "must be a level 1-8 or a level name"))
      : ParseResult.succeed(level)
  },
  encode: (level) => ParseResult.succeed(String(level))
}).annotations({ description: "level number 1-8 or name", ...message("must be a level 1-8 or a level name") })

const Text = Schema.String.pipe(
  Schema.minLength(1, message("must not be empty")),
  Schema.maxLength(1024, message("must be at most 1024 characters"))
)

/** The filters of `/logs` and `/logs/stream` (SPEC §3). */
export const LogFilters = Schema.Struct({
  from: Schema.optional(TimeParam),
  to: Schema.optional(TimeParam),
  level: Schema.optional(LevelParam),
  source: Schema.optional(Text),
  agent_id: Schema.optional(Text),
  project_id: Schema.optional(Text),
  index: Schema.optional(Text),
  q: Schema.optional(Text)
}).annotations(allErrors)
export type LogFilters = typeof LogFilters.Type

/** `/stats` range. */
export const StatsParams = Schema.Struct({ from: Schema.optional(TimeParam), to: Schema.optional(TimeParam) })
  .annotations(allErrors)

/** Counts by level name, source and transport over a range. */
export const Stats = Schema.Struct({
  total: Schema.Int,
  from: Schema.NullOr(Schema.String),
  to: Schema.NullOr(Schema.String),
  by_level: Schema.Record({ key: Schema.String, value: Schema.Int }),
  by_source: Schema.Record({ key: Schema.String, value: Schema.Int }),
  by_transport: Schema.Record({ key: Schema.String, value: Schema.Int })
}).annotations({ identifier: "Stats" })

/** Search, live tail and counts of stored events. */
export class LogsGroup extends HttpApiGroup.make("logs")
  .add(
    HttpApiEndpoint.get("search", "/logs").setUrlParams(
      Schema.Struct({
        ...LogFilters.fields,
        ...Pagination.PageParams.fields
      }).annotations(allErrors)
    ).addSuccess(Pagination.Page(StoredEventJson, "StoredEventPage")).middleware(RequireViewer)
      .annotate(OpenApi.Summary, "Search stored events, newest first")
  )
  .add(
    HttpApiEndpoint.get("stream", "/logs/stream").setUrlParams(LogFilters)
      .addSuccess(HttpApiSchema.Text({ contentType: "text/event-stream" })).middleware(RequireViewerStream)
      .annotate(
        OpenApi.Summary,
        "Live tail (Server-Sent Events): `log` events with the stored-event JSON and the event id, " +
          "`notice` when this client fell behind and events were skipped, a comment every 15 s"
      )
  )
  .add(
    HttpApiEndpoint.get("stats", "/stats").setUrlParams(StatsParams).addSuccess(Stats).middleware(RequireViewer)
      .annotate(OpenApi.Summary, "Counts by level, source and transport over a time range")
  )
  .addError(ApiError.Wire.ValidationError)
  .addError(ApiError.Wire.InternalError)
  .middleware(RateLimit)
  .prefix(basePath)
{}

const decodeErrorRef = "#/components/schemas/HttpApiDecodeError"
const validationErrorRef = "#/components/schemas/Error_validation_error"

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

/** Points references to the platform's decoding error at the validation error, and drops duplicates. */
const retarget = (value: unknown): unknown => {
  if (Array.isArray(value)) {
    const seen = new Set<string>()
    const out: Array<unknown> = []
    for (const item of value) {
      const mapped = retarget(item)
      const key = JSON.stringify(mapped)
      if (!seen.has(key)) {
        seen.add(key)
        out.push(mapped)
      }
    }
    return out
  }
  if (!isRecord(value)) return value
  if (value["$ref"] === decodeErrorRef) return { $ref: validationErrorRef }
  const out: Record<string, unknown> = {}
  for (const [key, item] of Object.entries(value)) {
    if (key === "HttpApiDecodeError") continue
    out[key] = retarget(item)
  }
  const anyOf = out["anyOf"]
  if (Array.isArray(anyOf) && anyOf.length === 1 && Object.keys(out).length === 1) return anyOf[0]
  return out
}

/**
 * The platform lists its own request-decoding error on every endpoint; this
 * API answers those as `validation_error` (see `ApiError`), so the document
 * shows that shape instead.
 */
const documentValidationErrors = (spec: Record<string, unknown>): Record<string, unknown> => {
  const out = retarget(spec)
  return isRecord(out) ? out : spec
}

/** The control plane API. */
export class Api extends HttpApi.make("sluice")
  .add(AuthGroup)
  .add(UsersGroup)
  .add(ApiKeysGroup)
  .add(LogsGroup)
  .add(DeadLettersGroup)
  .add(ActionsGroup)
  .add(GroupsGroup)
  .add(EnrolmentTokensGroup)
  .add(AgentsGroup)
  .add(EdgeGroup)
  .annotateContext(OpenApi.annotations({
    title: "Sluice control plane",
    version: "1",
    description: "The REST control plane of SPEC §3. Errors answer " +
      "{\"error\":\"<code>\",\"message\":\"…\",\"details\":{…}}.",
    transform: documentValidationErrors
  }))
{}
