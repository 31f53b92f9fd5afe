/**
 * The control plane in one layer for the shared HTTP server: `/api/v1`
 * (auth, users, API keys, logs, stats, live tail, the fleet: groups, inputs,
 * enrolment tokens, agents and the edge API agents call), its OpenAPI document at
 * `/api/v1/openapi.json` and the docs UI at `/docs`. At start it migrates its
 * tables and, when no user exists and a first admin is configured
 * (`SLUICE_ADMIN_EMAIL` / `SLUICE_ADMIN_PASSWORD`), creates that admin. While
 * it runs, a sweep records agents that went offline.
 *
 * Routes of other plugins that agents call (the edge logs route) take core's
 * `AgentAuth` from `ControlPlane.agentAuth`.
 *
 * ```ts
 * const routes = Layer.mergeAll(
 *   HttpDrain.layer(drainOptions),
 *   ControlPlane.layer({ dataDir, admin: { email, password } })
 * )
 * HttpLayerRouter.serve(routes).pipe(
 *   Layer.provide(NodeHttpServer.layer(createServer, { host, port })),
 *   Layer.provide(ControlPlane.tokenVerifier(drainTokens)), // drain tokens + API keys
 *   Layer.provide(pipeline),  // Ingest, EventQueue, CommitFeed
 *   Layer.provide(store),     // EventStore, and the SqlClient of sluice.db
 * )
 * ```
 *
 * Needs in context: `SqlClient` (the main database), `EventStore`,
 * `CommitFeed`, and the platform services the HTTP server layer provides.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type { AgentAuth } from "@sluice/core/AgentAuth"
import { StartupError } from "@sluice/core/StartupError"
import * as TokenVerifier from "@sluice/core/TokenVerifier"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ParseResult from "effect/ParseResult"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as ActionBus from "./ActionBus.js"
import * as ActionHandlers from "./ActionHandlers.js"
import * as AgentAuthentication from "./AgentAuthentication.js"
import * as AgentConfigRender from "./AgentConfigRender.js"
import * as AgentRoutes from "./AgentRoutes.js"
import * as Agents from "./Agents.js"
import { Api } from "./Api.js"
import * as ApiError from "./ApiError.js"
import * as ApiKeyHandlers from "./ApiKeyHandlers.js"
import * as ApiKeys from "./ApiKeys.js"
import * as ApiRoutes from "./ApiRoutes.js"
import * as Authentication from "./Authentication.js"
import * as AuthHandlers from "./AuthHandlers.js"
import * as DeadLetterHandlers from "./DeadLetterHandlers.js"
import * as EdgeApiHandlers from "./EdgeApiHandlers.js"
import * as EnrolmentTokens from "./EnrolmentTokens.js"
import * as FleetHandlers from "./FleetHandlers.js"
import * as Groups from "./Groups.js"
import * as Jwt from "./Jwt.js"
import * as LogHandlers from "./LogHandlers.js"
import * as LogStream from "./LogStream.js"
import * as OfflineSweep from "./OfflineSweep.js"
import { Password } from "./Password.js"
import * as RateLimit from "./RateLimit.js"
import { Role } from "./Role.js"
import * as UserHandlers from "./UserHandlers.js"
import * as Users from "./Users.js"

/** Settings of the control plane. */
export interface ControlPlaneOptions {
  /** The data directory (the JWT key is kept there, mode 0600). */
  readonly dataDir: string
  /** How long a session token is valid (default 1 hour). */
  readonly jwtExpiry?: Duration.DurationInput | undefined
  /** Whether anyone may register once a user exists (default false: 403). */
  readonly openRegistration?: boolean | undefined
  /** Requests per minute per client per group (defaults of SPEC §3). */
  readonly rateLimits?: Partial<RateLimit.RateLimitOptions> | undefined
  /** The first admin, created at start when no user exists. */
  readonly admin?: { readonly email: string; readonly password: Redacted.Redacted<string> } | undefined
  /** The largest request body in bytes (default 1 MiB). */
  readonly maxBodyBytes?: number | undefined
  /** Live-tail settings. */
  readonly stream?: Partial<LogStream.LogStreamOptions> | undefined
  /** Where the docs UI is served (default `/docs`). */
  readonly docsPath?: `/${string}` | undefined
  /** An agent without a heartbeat for this long is offline (default 5 minutes). */
  readonly offlineAfter?: Duration.DurationInput | undefined
  /** How often the offline sweep runs (default 30 seconds). */
  readonly sweepInterval?: Duration.DurationInput | undefined
  /** How long a new enrolment token is valid when the request does not say (default 24 hours). */
  readonly enrolmentTokenTtl?: Duration.DurationInput | undefined
  /** How many enrolments a new token allows when the request does not say (default 100). */
  readonly enrolmentTokenMaxUses?: number | undefined
  /** How often actions past their deadline are expired (default 30 seconds). */
  readonly actionSweepInterval?: Duration.DurationInput | undefined
}

/** The e-mail, password and role of a user created outside the API. */
export const UserInput = Schema.Struct({ email: Users.Email, password: Password, role: Role })

const detailsOf = (error: ParseResult.ParseError): Record<string, string> => {
  const details: Record<string, string> = {}
  for (const issue of ParseResult.ArrayFormatter.formatErrorSync(error)) {
    details[issue.path.map(String).join(".") || "input"] = issue.message
  }
  return details
}

/**
 * Creates a user directly in the database (for `sluice admin create-user`):
 * validates like the API (`ValidationError` with details), migrates first,
 * and fails with `Conflict` when the e-mail is taken.
 */
export const createUser = (input: {
  readonly email: string
  readonly password: Redacted.Redacted<string>
  readonly role: Role
}): Effect.Effect<Users.User, ApiError.ValidationError | ApiError.Conflict | StartupError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const decoded = yield* Schema.decodeUnknown(UserInput)({ ...input, password: Redacted.value(input.password) }, {
      errors: "all"
    }).pipe(
      Effect.mapError((error) => new ApiError.ValidationError({ message: "invalid user", details: detailsOf(error) }))
    )
    const users = yield* Users.Users
    // Without `onlyIfFirst`, creating is never forbidden.
    return yield* users.create(decoded).pipe(Effect.catchTag("Forbidden", Effect.die))
  }).pipe(Effect.provide(Users.layer))

/** Creates the configured first admin when no user exists. */
const bootstrapAdmin = (admin: ControlPlaneOptions["admin"]) =>
  Layer.effectDiscard(Effect.gen(function*() {
    if (admin === undefined) return
    const users = yield* Users.Users
    if ((yield* users.count) > 0) return
    const decoded = yield* Schema.decodeUnknown(UserInput)({
      email: admin.email,
      password: Redacted.value(admin.password),
      role: "admin"
    }, { errors: "all" }).pipe(
      Effect.mapError((error) => {
        const details = detailsOf(error)
        const setting = details["email"] !== undefined ? "SLUICE_ADMIN_EMAIL" : "SLUICE_ADMIN_PASSWORD"
        return new StartupError({ setting, detail: Object.values(details).join("; ") })
      })
    )
    // Another process may have created a user meanwhile: then there is nothing to do.
    yield* users.create({ ...decoded, firstIsAdmin: true, onlyIfFirst: true }).pipe(
      Effect.catchTags({ Conflict: () => Effect.void, Forbidden: () => Effect.void })
    )
  }))

/** The fleet's repositories: groups and inputs, enrolment tokens, agents, rendered configs, actions. */
export const fleetLayer = (options: ControlPlaneOptions) =>
  Layer.mergeAll(
    Agents.layer({ offlineAfter: options.offlineAfter ?? Agents.defaultOptions.offlineAfter }),
    AgentConfigRender.layer,
    ActionBus.layer
  ).pipe(
    Layer.provideMerge(EnrolmentTokens.layer({
      ttl: options.enrolmentTokenTtl ?? EnrolmentTokens.defaultOptions.ttl,
      maxUses: options.enrolmentTokenMaxUses ?? EnrolmentTokens.defaultOptions.maxUses
    })),
    Layer.provideMerge(Groups.layer)
  )

/** The repositories and token services. */
export const servicesLayer = (options: ControlPlaneOptions) =>
  Layer.mergeAll(
    Users.layer,
    ApiKeys.layer,
    Jwt.layer({ dataDir: options.dataDir, expiry: options.jwtExpiry }),
    fleetLayer(options)
  )

/** The control plane's routes (API, OpenAPI document, docs UI) as a layer for the shared router. */
export const layer = (options: ControlPlaneOptions) => {
  const handlers = Layer.mergeAll(
    AuthHandlers.layer({ openRegistration: options.openRegistration ?? false }),
    UserHandlers.layer,
    ApiKeyHandlers.layer,
    DeadLetterHandlers.layer,
    LogHandlers.layer({ ...LogStream.defaultOptions, ...options.stream }),
    FleetHandlers.layer,
    EdgeApiHandlers.layer,
    ActionHandlers.layer
  ).pipe(
    Layer.provide(Authentication.layer),
    Layer.provide(AgentAuthentication.layer)
  )
  const rateLimit = RateLimit.layer(options.rateLimits)
  const routeOptions = { maxBodyBytes: options.maxBodyBytes ?? ApiRoutes.defaultOptions.maxBodyBytes }
  const api = Layer.merge(
    ApiRoutes.layer({ ...routeOptions, mountedElsewhere: AgentRoutes.endpointKeys }).pipe(Layer.provide(handlers)),
    AgentRoutes.layer(routeOptions)
  ).pipe(Layer.provide(rateLimit))
  // The docs UI module embeds Scalar's ~6.7 MB script as a string: loaded only
  // when a control plane is built, so agents and CLI commands don't hold it.
  const docs = Layer.unwrapEffect(
    Effect.promise(() => import("@effect/platform/HttpApiScalar")).pipe(
      Effect.map((HttpApiScalar) => HttpApiScalar.layerHttpLayerRouter({ api: Api, path: options.docsPath ?? "/docs" }))
    )
  )
  const sweep = OfflineSweep.layer({ interval: options.sweepInterval ?? OfflineSweep.defaultOptions.interval })
  const actionSweep = ActionBus.sweepLayer(options.actionSweepInterval ?? ActionBus.defaultSweepInterval)
  return Layer.mergeAll(api, docs, bootstrapAdmin(options.admin), sweep, actionSweep).pipe(
    Layer.provide(servicesLayer(options))
  )
}

/**
 * Core's `AgentAuth` over the control plane's agents (tokens stored as
 * SHA-256): for routes of other plugins that agents call, such as the edge
 * logs route. Unknown token → `AgentUnauthorized`, revoked → `AgentForbidden`.
 */
export const agentAuth: Layer.Layer<AgentAuth, never, SqlClient.SqlClient> = AgentAuthentication.agentAuthLayer

/**
 * Core's `TokenVerifier` over the drain tokens and the API keys (either is
 * accepted on the drain and the edge API).
 */
export const tokenVerifier = (
  drainTokens: ReadonlyArray<Redacted.Redacted<string>>
): Layer.Layer<TokenVerifier.TokenVerifier, StartupError, SqlClient.SqlClient> =>
  Layer.effect(
    TokenVerifier.TokenVerifier,
    Effect.map(ApiKeys.verifier, (keys) =>
      TokenVerifier.TokenVerifier.of({
        verify: TokenVerifier.firstOf([TokenVerifier.fromTokens(drainTokens), keys])
      }))
  ).pipe(Layer.provide(ApiKeys.layer))
