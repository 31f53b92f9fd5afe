import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as TokenVerifier from "../src/TokenVerifier.js"

const secret = (s: string) => Redacted.make(s)
const tokens = [secret("drain-token-alpha-0123456789"), secret("drain-token-beta-9876543210")]

describe("TokenVerifier.fromTokens", () => {
  it.effect("accepts each listed token, as a drain token with a stable non-secret id", () =>
    Effect.gen(function*() {
      const verify = TokenVerifier.fromTokens(tokens)
      const alpha = yield* verify(secret("drain-token-alpha-0123456789"))
      const beta = yield* verify(secret("drain-token-beta-9876543210"))
      expect(alpha.kind).toBe("drain-token")
      expect(beta.kind).toBe("drain-token")
      expect(alpha.id).not.toBe(beta.id)
      expect(alpha.id).toBe((yield* verify(secret("drain-token-alpha-0123456789"))).id)
      // The id identifies the token without revealing it.
      expect(alpha.id).not.toContain("alpha")
      expect(alpha.id).toBe(TokenVerifier.sha256("drain-token-alpha-0123456789").slice(0, 12))
    }))

  it.effect("refuses tokens that are not listed, even close ones", () =>
    Effect.gen(function*() {
      const verify = TokenVerifier.fromTokens(tokens)
      for (
        const given of [
          "drain-token-gamma",
          "drain-token-alpha-012345678",
          "drain-token-alpha-01234567890",
          "DRAIN-TOKEN-ALPHA-0123456789",
          " drain-token-alpha-0123456789",
          "Bearer drain-token-alpha-0123456789",
          ""
        ]
      ) {
        const error = yield* Effect.flip(verify(secret(given)))
        expect(error, given).toBeInstanceOf(TokenVerifier.InvalidToken)
        expect(error.reason).toBe("unknown token")
      }
    }))

  it.effect("refuses the empty token even if an empty token is configured", () =>
    Effect.gen(function*() {
      const verify = TokenVerifier.fromTokens([secret("")])
      expect((yield* Effect.flip(verify(secret(""))))._tag).toBe("InvalidToken")
    }))

  it.effect("refuses everything when no token is configured", () =>
    Effect.gen(function*() {
      const verify = TokenVerifier.fromTokens([])
      expect((yield* Effect.flip(verify(secret("anything"))))._tag).toBe("InvalidToken")
    }))
})

describe("TokenVerifier composition", () => {
  it.effect("firstOf answers with the first verifier that recognises the token", () =>
    Effect.gen(function*() {
      const apiKeys: TokenVerifier.Verify = (token) =>
        Redacted.value(token) === "sk_live_1"
          ? Effect.succeed({ kind: "api-key", id: "key-1" })
          : Effect.fail(new TokenVerifier.InvalidToken({ reason: "not an api key" }))
      const verify = TokenVerifier.firstOf([TokenVerifier.fromTokens(tokens), apiKeys])
      expect((yield* verify(secret("sk_live_1"))).kind).toBe("api-key")
      expect((yield* verify(secret("drain-token-beta-9876543210"))).kind).toBe("drain-token")
      const error = yield* Effect.flip(verify(secret("nobody")))
      expect(error).toMatchObject({ _tag: "InvalidToken", reason: "unknown token" })
    }))

  it.effect("layerTokens provides the service", () =>
    Effect.gen(function*() {
      const verifier = yield* TokenVerifier.TokenVerifier
      expect((yield* verifier.verify(secret("drain-token-alpha-0123456789"))).kind).toBe("drain-token")
      expect((yield* Effect.flip(verifier.verify(secret("wrong"))))._tag).toBe("InvalidToken")
    }).pipe(Effect.provide(TokenVerifier.layerTokens(tokens))))

  it("constantTimeEqual compares whole strings", () => {
    expect(TokenVerifier.constantTimeEqual("abc", "abc")).toBe(true)
    expect(TokenVerifier.constantTimeEqual("abc", "abd")).toBe(false)
    expect(TokenVerifier.constantTimeEqual("abc", "abcd")).toBe(false)
    expect(TokenVerifier.constantTimeEqual("", "")).toBe(true)
  })
})
