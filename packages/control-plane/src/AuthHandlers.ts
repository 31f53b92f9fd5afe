/**
 * The `auth` group: registration (the first user becomes admin; after that
 * only with open registration, else 403), login (a JWT answering
 * `{token, expires_at, user}`), the caller, and changing one's password.
 * Login answers the same 401 for an unknown e-mail and a wrong password, and
 * spends the same scrypt work on both.
 */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { Api } from "./Api.js"
import * as ApiError from "./ApiError.js"
import { CurrentPrincipal } from "./Authentication.js"
import { Jwt } from "./Jwt.js"
import * as Password from "./Password.js"
import { Users } from "./Users.js"

/** Settings of registration. */
export interface RegistrationOptions {
  /** Whether anyone may register once a user exists (as a viewer). */
  readonly openRegistration: boolean
}

// A valid hash of a random password, verified against when the e-mail is unknown.
const decoyHash = "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$w6z8JvS6M0lq3K1lC0G6c3l0n7d1kQ8d3Jw6tJ0yZfY="

const sessionUser = Effect.flatMap(CurrentPrincipal, (principal) =>
  principal.user === undefined
    ? Effect.fail(new ApiError.Forbidden({ message: "this needs a user session; an API key has no user" }))
    : Effect.succeed(principal.user))

/** The handlers of the `auth` group. */
export const layer = (options: RegistrationOptions) =>
  HttpApiBuilder.group(Api, "auth", (handlers) =>
    Effect.gen(function*() {
      const users = yield* Users
      const jwt = yield* Jwt
      return handlers
        .handle("register", ({ payload }) =>
          Effect.gen(function*() {
            const existing = yield* users.count
            if (existing > 0 && !options.openRegistration) {
              return yield* new ApiError.Forbidden({ message: "registration is closed: an admin creates users" })
            }
            if (existing > 0 && payload.role !== undefined && payload.role !== "viewer") {
              return yield* new ApiError.Forbidden({
                message: "registration grants the viewer role; an admin assigns others",
                details: { role: "must be viewer" }
              })
            }
            // Checked again in the insert's transaction: two first registrations race.
            return yield* users.create({
              email: payload.email,
              password: payload.password,
              role: "viewer",
              firstIsAdmin: true,
              onlyIfFirst: !options.openRegistration
            })
          }))
        .handle("login", ({ payload }) =>
          Effect.gen(function*() {
            const found = yield* users.findByEmail(payload.email.trim())
            const ok = yield* Password.verify(
              payload.password,
              Option.match(found, { onNone: () => decoyHash, onSome: (r) => r.passwordHash })
            )
            if (Option.isNone(found) || !ok) {
              return yield* new ApiError.Unauthorized({ message: "invalid email or password" })
            }
            const user = found.value.user
            if (user.disabled) return yield* new ApiError.Unauthorized({ message: "the user is disabled" })
            const signed = yield* jwt.sign(user.id)
            return { token: signed.token, expires_at: new Date(signed.expiresAt).toISOString(), user }
          }))
        .handle("me", () => sessionUser)
        .handle("changePassword", ({ payload }) =>
          Effect.gen(function*() {
            const user = yield* sessionUser
            const found = yield* users.findById(user.id)
            if (Option.isNone(found)) return yield* new ApiError.Unauthorized({ message: "the user no longer exists" })
            if (!(yield* Password.verify(payload.current_password, found.value.passwordHash))) {
              return yield* new ApiError.ValidationError({
                message: "the current password is wrong",
                details: { current_password: "is wrong" }
              })
            }
            yield* users.setPassword(user.id, payload.new_password).pipe(
              Effect.catchTag("NotFound", () => new ApiError.Unauthorized({ message: "the user no longer exists" }))
            )
          }))
    }))
