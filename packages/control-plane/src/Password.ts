/**
 * Passwords: at least 12 characters (SPEC §3), hashed with scrypt (a
 * memory-hard KDF, `node:crypto`: N=16384, r=8, p=1, 16-byte salt, 32-byte
 * key), stored as `scrypt$N$r$p$salt$hash` and compared in constant time.
 * A password is held in a `Redacted` from the moment it is decoded, so it
 * never shows in logs or errors.
 */
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { randomBytes, scrypt, type ScryptOptions, timingSafeEqual } from "node:crypto"

/** The shortest password. */
export const minLength = 12

/** A password as sent: 12 to 1024 characters, decoded into a `Redacted`. */
export const Password = Schema.Redacted(
  Schema.String.pipe(
    Schema.minLength(minLength, { message: () => `must be at least ${minLength} characters` }),
    Schema.maxLength(1024, { message: () => "must be at most 1024 characters" })
  )
)

const params = { N: 16384, r: 8, p: 1, maxmem: 64 * 1024 * 1024 }

const derive = (password: Redacted.Redacted<string>, salt: Buffer, keylen: number, options: ScryptOptions) =>
  Effect.async<Buffer, Error>((resume) =>
    scrypt(
      Redacted.value(password),
      salt,
      keylen,
      options,
      (error, key) => resume(error === null ? Effect.succeed(key) : Effect.fail(error))
    )
  )

/** Hashes a password (a defect only if scrypt itself fails). */
export const hash = (password: Redacted.Redacted<string>): Effect.Effect<string> =>
  Effect.gen(function*() {
    const salt = randomBytes(16)
    const key = yield* derive(password, salt, 32, params)
    return `scrypt$${params.N}$${params.r}$${params.p}$${salt.toString("base64")}$${key.toString("base64")}`
  }).pipe(Effect.orDie)

/** Whether `password` matches a stored hash; a malformed hash matches nothing. */
export const verify = (password: Redacted.Redacted<string>, stored: string): Effect.Effect<boolean> =>
  Effect.gen(function*() {
    const [alg, n, r, p, salt, expected] = stored.split("$")
    if (alg !== "scrypt" || salt === undefined || expected === undefined) return false
    const want = Buffer.from(expected, "base64")
    const N = Number(n), R = Number(r), P = Number(p)
    if (!Number.isInteger(N) || !Number.isInteger(R) || !Number.isInteger(P) || want.length === 0) return false
    const key = yield* derive(password, Buffer.from(salt, "base64"), want.length, {
      N,
      r: R,
      p: P,
      maxmem: params.maxmem
    })
    return timingSafeEqual(key, want)
  }).pipe(Effect.orElseSucceed(() => false))
