/**
 * `@sluice/control-plane`: the REST control plane of SPEC §3 under `/api/v1`
 * (auth, users, API keys, logs, stats, live tail, and the fleet of SPEC §4:
 * groups, inputs, enrolment tokens, agents, the edge API) as routes for the
 * shared `HttpLayerRouter` server. Start with `ControlPlane.layer`; the CLI
 * also uses `ControlPlane.tokenVerifier` (drain tokens + API keys),
 * `ControlPlane.agentAuth` (agent tokens, for the edge logs route),
 * `ControlPlane.createUser` (`sluice admin create-user`) and `Tail` (`sluice tail`).
 */
export * as AgentAuthentication from "./AgentAuthentication.js"
export * as AgentConfigRender from "./AgentConfigRender.js"
export * as Agents from "./Agents.js"
export * as AgentTokens from "./AgentTokens.js"
export * as Api from "./Api.js"
export * as ApiError from "./ApiError.js"
export * as ApiKeys from "./ApiKeys.js"
export * as ApiRoutes from "./ApiRoutes.js"
export * as Authentication from "./Authentication.js"
export * as ControlPlane from "./ControlPlane.js"
export * as EnrolmentTokens from "./EnrolmentTokens.js"
export * as FleetApi from "./FleetApi.js"
export * as Groups from "./Groups.js"
export * as Jwt from "./Jwt.js"
export * as LogStream from "./LogStream.js"
export * as Migrations from "./Migrations.js"
export * as OfflineSweep from "./OfflineSweep.js"
export * as Pagination from "./Pagination.js"
export * as Password from "./Password.js"
export * as RateLimit from "./RateLimit.js"
export * as RateLimitStore from "./RateLimitStore.js"
export * as Role from "./Role.js"
export * as Tail from "./Tail.js"
export * as Users from "./Users.js"
