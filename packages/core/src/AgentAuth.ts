/**
 * Authenticates an enrolled agent by its `AGT_` token (SPEC §4). The control
 * plane supplies the layer (tokens are stored as SHA-256); ingest endpoints
 * that agents call, such as the edge logs route, use it to learn which agent
 * is sending, so they can stamp its id on every event.
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"

/** The agent a token belongs to. */
export interface AgentIdentity {
  readonly agentId: string
  readonly groupId: string
}

/** The token is missing or unknown (401). */
export class AgentUnauthorized extends Schema.TaggedError<AgentUnauthorized>()("AgentUnauthorized", {
  reason: Schema.String
}) {}

/** The token was revoked, or belongs to another agent (403). */
export class AgentForbidden extends Schema.TaggedError<AgentForbidden>()("AgentForbidden", {
  reason: Schema.String
}) {}

/** Resolves agent tokens to agents. */
export class AgentAuth extends Context.Tag("@sluice/core/AgentAuth")<AgentAuth, {
  /** The agent of this token; `AgentForbidden` when it is revoked. */
  readonly authenticate: (
    token: Redacted.Redacted<string>
  ) => Effect.Effect<AgentIdentity, AgentUnauthorized | AgentForbidden>
}>() {}
