/**
 * The one authentication and role middleware. An endpoint declares the least
 * role it needs with one of `RequireViewer`, `RequireOperator`,
 * `RequireAdmin` (or `RequireViewerStream` for SSE, which also takes
 * `?token=` because browsers' EventSource sends no headers); all are served
 * by the same code, which provides the `CurrentPrincipal`.
 *
 * Credentials, in this order: `X-API-Key: <key>`, `Authorization: Bearer
 * <JWT or API key>`, and `?token=` on streams. A JWT is accepted only while
 * its user exists and is enabled, with the user's current role; so disabling
 * a user (or changing the role) takes effect on the next request. Missing or
 * bad credentials → 401; a role below the endpoint's → 403.
 */
import * as HttpApiMiddleware from "@effect/platform/HttpApiMiddleware"
import * as HttpApiSecurity from "@effect/platform/HttpApiSecurity"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as ApiError from "./ApiError.js"
import { ApiKeys, keyPrefix } from "./ApiKeys.js"
import { Jwt } from "./Jwt.js"
import { atLeast, type Role } from "./Role.js"
import { type User, Users } from "./Users.js"

/** Who is calling: a user (by session token) or an API key, with its role. */
export interface Principal {
  readonly kind: "user" | "api-key"
  readonly id: string
  readonly role: Role
  /** The user, for a session. */
  readonly user: User | undefined
}

/** The authenticated caller of the current request. */
export class CurrentPrincipal extends Context.Tag("@sluice/control-plane/CurrentPrincipal")<
  CurrentPrincipal,
  Principal
>() {}

const security = {
  bearer: HttpApiSecurity.bearer,
  apiKey: HttpApiSecurity.apiKey({ key: "X-API-Key", in: "header" })
}

const failure = Schema.Union(ApiError.Wire.Unauthorized, ApiError.Wire.Forbidden)

/** Any authenticated caller (viewer and up). */
export class RequireViewer extends HttpApiMiddleware.Tag<RequireViewer>()("@sluice/control-plane/RequireViewer", {
  failure,
  provides: CurrentPrincipal,
  security
}) {}

/** Operators and admins. */
export class RequireOperator extends HttpApiMiddleware.Tag<RequireOperator>()(
  "@sluice/control-plane/RequireOperator",
  { failure, provides: CurrentPrincipal, security }
) {}

/** Admins only. */
export class RequireAdmin extends HttpApiMiddleware.Tag<RequireAdmin>()("@sluice/control-plane/RequireAdmin", {
  failure,
  provides: CurrentPrincipal,
  security
}) {}

/** Any authenticated caller of a stream; also accepts `?token=`. */
export class RequireViewerStream extends HttpApiMiddleware.Tag<RequireViewerStream>()(
  "@sluice/control-plane/RequireViewerStream",
  {
    failure,
    provides: CurrentPrincipal,
    security: { ...security, token: HttpApiSecurity.apiKey({ key: "token", in: "query" }) }
  }
) {}

const bearerOf = (header: string | undefined): string | undefined => {
  if (header === undefined) return undefined
  const match = /^bearer\s+(.+)$/i.exec(header.trim())
  return match === null ? undefined : match[1]!.trim()
}

const missing = new ApiError.Unauthorized({
  message: "missing credentials: send Authorization: Bearer <token> or X-API-Key: <key>"
})

/** The credential a request carries, if any. */
export const credentialOf = (
  request: HttpServerRequest.HttpServerRequest,
  allowQuery: boolean
): Option.Option<Redacted.Redacted<string>> => {
  const fromHeader = request.headers["x-api-key"]?.trim() || bearerOf(request.headers["authorization"])
  if (fromHeader !== undefined && fromHeader.length > 0) return Option.some(Redacted.make(fromHeader))
  if (!allowQuery) return Option.none()
  const query = new URL(request.url, "http://localhost").searchParams.get("token")
  return query === null || query.length === 0 ? Option.none() : Option.some(Redacted.make(query))
}

/** Authenticates the current request and checks its role. */
export const makeAuthenticate = Effect.gen(function*() {
  const users = yield* Users
  const keys = yield* ApiKeys
  const jwt = yield* Jwt

  const principalOf = (credential: Redacted.Redacted<string>) =>
    Effect.gen(function*() {
      if (Redacted.value(credential).startsWith(keyPrefix)) {
        const key = yield* keys.authenticate(credential)
        if (Option.isNone(key)) return yield* new ApiError.Unauthorized({ message: "invalid API key" })
        return { kind: "api-key", id: key.value.id, role: key.value.role, user: undefined } satisfies Principal
      }
      const userId = yield* jwt.verify(credential)
      const found = yield* users.findById(userId)
      if (Option.isNone(found)) return yield* new ApiError.Unauthorized({ message: "the user no longer exists" })
      const user = found.value.user
      if (user.disabled) return yield* new ApiError.Unauthorized({ message: "the user is disabled" })
      return { kind: "user", id: user.id, role: user.role, user } satisfies Principal
    })

  return (required: Role, allowQuery: boolean) =>
    Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const credential = credentialOf(request, allowQuery)
      if (Option.isNone(credential)) return yield* missing
      const principal = yield* principalOf(credential.value)
      if (!atLeast(principal.role, required)) {
        return yield* new ApiError.Forbidden({ message: `this needs the ${required} role; you are ${principal.role}` })
      }
      return principal
    })
})

/**
 * The four role middlewares, one implementation. Security schemes are tried
 * in order and only the last error surfaces, so every scheme runs the same
 * check over whatever credential the request carries.
 */
export const layer: Layer.Layer<
  RequireViewer | RequireOperator | RequireAdmin | RequireViewerStream,
  never,
  Users | ApiKeys | Jwt
> = Layer.effectContext(Effect.gen(function*() {
  const authenticate = yield* makeAuthenticate
  const viewer = authenticate("viewer", false)
  const operator = authenticate("operator", false)
  const admin = authenticate("admin", false)
  const stream = authenticate("viewer", true)
  return Context.make(RequireViewer, { bearer: () => viewer, apiKey: () => viewer }).pipe(
    Context.add(RequireOperator, { bearer: () => operator, apiKey: () => operator }),
    Context.add(RequireAdmin, { bearer: () => admin, apiKey: () => admin }),
    Context.add(RequireViewerStream, { bearer: () => stream, apiKey: () => stream, token: () => stream })
  )
}))
