/**
 * The `deadLetters` group over core's `Spool` and `Forwarder`, when the
 * process has them (a forwarding gateway); otherwise every endpoint answers
 * 404 saying why. A replay is core's `ForwardLoop.replayDeadLettersOnce`:
 * one attempt per letter, so the request answers.
 */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import { Forwarder } from "@sluice/core/Forwarder"
import * as ForwardLoop from "@sluice/core/ForwardLoop"
import { toStoredEventJson } from "@sluice/core/LogEvent"
import { type DeadLetter, Spool } from "@sluice/core/Spool"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { Api } from "./Api.js"
import * as ApiError from "./ApiError.js"
import * as Pagination from "./Pagination.js"

const noSpool = new ApiError.NotFound({
  message: "this process does not forward: dead letters exist only where a spool forwards upstream (--upstream)"
})

const storeFailed = (error: { readonly message: string }) =>
  Effect.zipRight(
    Effect.logError("dead letters: the spool failed", error.message),
    Effect.fail(new ApiError.InternalError({ message: "the spool is unavailable" }))
  )

const toWire = (letter: DeadLetter) => ({
  id: String(letter.id),
  created_at: new Date(letter.createdAt).toISOString(),
  status: letter.status,
  response: letter.response,
  event_count: letter.events.length,
  events: letter.events.map((e, i) => toStoredEventJson({ ...e, id: i }))
})

/** The handlers of the `deadLetters` group. */
export const layer = HttpApiBuilder.group(Api, "deadLetters", (handlers) =>
  Effect.gen(function*() {
    const spool = yield* Effect.serviceOption(Spool)
    const forwarder = yield* Effect.serviceOption(Forwarder)
    const withSpool = <A, E>(f: (spool: Spool["Type"]) => Effect.Effect<A, E>) =>
      Option.match(spool, { onNone: () => Effect.fail(noSpool), onSome: f })

    const replay = Option.isNone(spool) || Option.isNone(forwarder)
      ? Effect.fail(noSpool)
      : ForwardLoop.replayDeadLettersOnce.pipe(
        Effect.provideService(Spool, spool.value),
        Effect.provideService(Forwarder, forwarder.value),
        Effect.catchTag("StoreError", storeFailed)
      )

    return handlers
      .handle("list", ({ urlParams }) =>
        withSpool((s) =>
          s.deadLetters({ offset: Pagination.offsetOf(urlParams), limit: urlParams.page_size }).pipe(
            Effect.map(({ items, total }) =>
              Pagination.page(urlParams, items.map(toWire), total)
            ),
            Effect.catchTag("StoreError", storeFailed)
          )
        ))
      .handle("replay", () => replay)
      .handle("purge", () =>
        withSpool((s) =>
          s.purgeDeadLetters.pipe(Effect.asVoid, Effect.catchTag("StoreError", storeFailed))
        ))
  }))
