/** Test helper: waits (polling with a bound, ≤ 20 s) until everything committed is searchable. */
import { EventStore } from "@sluice/core/EventStore"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"

export const searchable = Effect.gen(function*() {
  const store = yield* EventStore
  yield* store.progress.pipe(
    Effect.flatMap((p) => p.lagEvents === 0 && p.indexedSeq === p.committedSeq ? Effect.void : Effect.fail("lag")),
    Effect.retry(Schedule.spaced("10 millis").pipe(Schedule.intersect(Schedule.recurs(2000))))
  )
})
