/**
 * Verifies the bearer tokens of ingest endpoints (the drain, the edge API).
 * The gateway's drain tokens are checked here; the control plane adds API
 * keys and agent tokens by composing verifiers with `firstOf`.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { createHash, timingSafeEqual } from "node:crypto"

/** Who a verified token belongs to. */
export interface Principal {
  readonly kind: "drain-token" | "api-key" | "agent"
  /** A stable, non-secret identifier (a hash prefix, a key id, an agent id). */
  readonly id: string
  readonly agentId?: string | undefined
}

/** The token is missing, unknown or revoked. */
export class InvalidToken extends Schema.TaggedError<InvalidToken>()("InvalidToken", {
  reason: Schema.String
}) {}

/** A function that recognises some tokens. */
export type Verify = (token: Redacted.Redacted<string>) => Effect.Effect<Principal, InvalidToken>

/** Verifies ingest tokens. */
export class TokenVerifier extends Context.Tag("@sluice/core/TokenVerifier")<TokenVerifier, {
  readonly verify: Verify
}>() {}

/** SHA-256 of a secret, hex. */
export const sha256 = (text: string): string => createHash("sha256").update(text).digest("hex")

/** Constant-time equality of two strings (by their SHA-256, so lengths leak nothing). */
export const constantTimeEqual = (a: string, b: string): boolean =>
  timingSafeEqual(createHash("sha256").update(a).digest(), createHash("sha256").update(b).digest())

/**
 * A verifier over a fixed list of drain tokens, compared in constant time:
 * the given token is hashed once and its digest compared with every
 * token's (digests and ids computed once, here).
 */
export const fromTokens = (tokens: ReadonlyArray<Redacted.Redacted<string>>): Verify => {
  const known = tokens.map((t) => {
    const value = Redacted.value(t)
    return { digest: createHash("sha256").update(value).digest(), id: sha256(value).slice(0, 12), empty: value === "" }
  })
  return (token) =>
    Effect.suspend(() => {
      const given = Redacted.value(token)
      const digest = createHash("sha256").update(given).digest()
      let found: string | undefined
      for (const t of known) {
        // Compare against every token so timing says nothing about which matched.
        if (timingSafeEqual(digest, t.digest) && !t.empty) found = t.id
      }
      return found === undefined
        ? Effect.fail(new InvalidToken({ reason: "unknown token" }))
        : Effect.succeed<Principal>({ kind: "drain-token", id: found })
    })
}

/** Tries each verifier in turn; the first that recognises the token wins. */
export const firstOf = (verifiers: ReadonlyArray<Verify>): Verify => (token) =>
  Effect.firstSuccessOf(verifiers.map((v) => v(token))).pipe(
    Effect.catchAll(() => Effect.fail(new InvalidToken({ reason: "unknown token" })))
  )

/** `TokenVerifier` over the drain tokens. */
export const layerTokens = (tokens: ReadonlyArray<Redacted.Redacted<string>>): Layer.Layer<TokenVerifier> =>
  Layer.succeed(TokenVerifier, TokenVerifier.of({ verify: fromTokens(tokens) }))
