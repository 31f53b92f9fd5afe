/**
 * Idempotency of drain requests (SPEC §2 extension, `Idempotency-Key`).
 *
 * A key is scoped by who sent it (the token's principal), so two clients
 * never collide. The store keeps committed keys for 24 h, recorded in the
 * same transaction as their batch; this module is the in-memory half: while
 * a request with a key is running, a concurrent retry with the same key
 * waits for it instead of offering the batch a second time, and is answered
 * as a duplicate if it committed (or runs itself if it did not).
 */
import type { Principal } from "@sluice/core/TokenVerifier"
import { sha256 } from "@sluice/core/TokenVerifier"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"

/** The longest key accepted, in characters. */
export const maxLength = 255

/** Why a header value is not a usable key, or `undefined` when it is. */
export const problem = (key: string): string | undefined =>
  key.length >= 1 && key.length <= maxLength ? undefined : `must be 1 to ${maxLength} characters`

/** The key as stored: SHA-256 of the principal id and the client's key. */
export const scoped = (principal: Principal, key: string): string => sha256(`${principal.id}:${key}`)

/** Runs at most one attempt per key at a time. */
export interface InFlight {
  /**
   * Runs `attempt` for `key`, unless `alreadyDone` says the key is
   * committed, or another attempt with the key is running: then it waits for
   * that one and answers `None` if it succeeded (by `succeeded`), or tries
   * again if it did not. `Some` carries this request's own outcome.
   */
  readonly run: <A, E, E2>(
    key: string,
    alreadyDone: Effect.Effect<boolean, E2>,
    attempt: Effect.Effect<A, E>,
    succeeded: (a: A) => boolean
  ) => Effect.Effect<Option.Option<A>, E | E2>
}

/** An empty registry of running keys. */
export const make = (): InFlight => {
  const running = new Map<string, Deferred.Deferred<boolean>>()
  const run = <A, E, E2>(
    key: string,
    alreadyDone: Effect.Effect<boolean, E2>,
    attempt: Effect.Effect<A, E>,
    succeeded: (a: A) => boolean
  ): Effect.Effect<Option.Option<A>, E | E2> =>
    Effect.gen(function*() {
      const mine = yield* Deferred.make<boolean>()
      // No yield between the lookup and the registration: they are atomic.
      const other = running.get(key)
      if (other !== undefined) {
        const done = yield* Deferred.await(other)
        return done ? Option.none<A>() : yield* run(key, alreadyDone, attempt, succeeded)
      }
      running.set(key, mine)
      return yield* Effect.gen(function*() {
        if (yield* alreadyDone) return Option.none<A>()
        return Option.some(yield* attempt)
      }).pipe(
        Effect.onExit((exit) =>
          Effect.suspend(() => {
            running.delete(key)
            const done = Exit.isSuccess(exit) && Option.match(exit.value, { onNone: () => true, onSome: succeeded })
            return Deferred.succeed(mine, done)
          })
        )
      )
    })
  return { run }
}
