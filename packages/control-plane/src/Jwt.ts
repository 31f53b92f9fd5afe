/**
 * Session tokens: JWTs signed with HS256 (`jose`) under a 32-byte key that is
 * generated on first start in the data directory (`jwt.key`, mode 0600) and
 * reused after, so tokens survive a restart. Issue and expiry times come from
 * `Clock`, so `TestClock` drives expiry. A token only names its user: whether
 * the user still exists and is enabled is checked on every request.
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import { StartupError } from "@sluice/core/StartupError"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as jose from "jose"
import { randomBytes } from "node:crypto"
import { Unauthorized } from "./ApiError.js"

/** Settings of session tokens. */
export interface JwtOptions {
  /** The data directory; the key lives in `<dataDir>/jwt.key`. */
  readonly dataDir: string
  /** How long a token is valid (default 1 hour). */
  readonly expiry?: Duration.DurationInput | undefined
}

/** A signed token and when it expires (epoch ms). */
export interface SignedToken {
  readonly token: string
  readonly expiresAt: number
}

const issuer = "sluice"
const audience = "sluice-api"

/** Issues and verifies session tokens. */
export class Jwt extends Context.Tag("@sluice/control-plane/Jwt")<Jwt, {
  /** A token for the user, valid for the configured expiry. */
  readonly sign: (userId: string) => Effect.Effect<SignedToken>
  /** The user id of a valid, unexpired token. */
  readonly verify: (token: Redacted.Redacted<string>) => Effect.Effect<string, Unauthorized>
}>() {}

/** The name of the key file in the data directory. */
export const keyFileName = "jwt.key"

/** Reads the signing key, or creates it (mode 0600) when it does not exist. */
export const loadKey = (dataDir: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const file = path.join(dataDir, keyFileName)
    const fail = (detail: string) => new StartupError({ setting: "SLUICE_DATA_DIR", detail })
    if (!(yield* fs.exists(file).pipe(Effect.mapError((e) => fail(`cannot read ${file}: ${e.message}`))))) {
      yield* fs.makeDirectory(dataDir, { recursive: true }).pipe(
        Effect.zipRight(
          fs.writeFileString(file, randomBytes(32).toString("base64url") + "\n", { flag: "wx", mode: 0o600 })
        ),
        // Another process may have created it first: then read theirs.
        Effect.catchIf((e) => e._tag === "SystemError" && e.reason === "AlreadyExists", () => Effect.void),
        Effect.mapError((e) => fail(`cannot create the JWT key ${file}: ${e.message}`))
      )
    }
    const text = yield* fs.readFileString(file).pipe(Effect.mapError((e) => fail(`cannot read ${file}: ${e.message}`)))
    const key = Buffer.from(text.trim(), "base64url")
    if (key.length < 32) return yield* fail(`the JWT key ${file} is shorter than 32 bytes; remove it to generate one`)
    return new Uint8Array(key)
  })

/** Builds the service over a key. */
export const make = (key: Uint8Array, expiry: Duration.DurationInput = Duration.hours(1)) => {
  const seconds = Math.max(1, Math.floor(Duration.toSeconds(Duration.decode(expiry))))
  return Jwt.of({
    sign: (userId) =>
      Effect.gen(function*() {
        const now = Math.floor((yield* Clock.currentTimeMillis) / 1000)
        const exp = now + seconds
        const token = yield* Effect.promise(() =>
          new jose.SignJWT({}).setProtectedHeader({ alg: "HS256", typ: "JWT" }).setSubject(userId)
            .setIssuer(issuer).setAudience(audience).setIssuedAt(now).setExpirationTime(exp).sign(key)
        )
        return { token, expiresAt: exp * 1000 }
      }),
    verify: (token) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const { payload } = yield* Effect.tryPromise({
          try: () =>
            jose.jwtVerify(Redacted.value(token), key, {
              issuer,
              audience,
              algorithms: ["HS256"],
              requiredClaims: ["sub", "exp"],
              currentDate: new Date(now)
            }),
          catch: (error) =>
            new Unauthorized({
              message: error instanceof jose.errors.JWTExpired ? "the token has expired" : "invalid token"
            })
        })
        if (payload.sub === undefined) return yield* new Unauthorized({ message: "invalid token" })
        return payload.sub
      })
  })
}

/** `Jwt` with the key from the data directory. */
export const layer = (options: JwtOptions): Layer.Layer<Jwt, StartupError, FileSystem.FileSystem | Path.Path> =>
  Layer.effect(Jwt, Effect.map(loadKey(options.dataDir), (key) => make(key, options.expiry)))
