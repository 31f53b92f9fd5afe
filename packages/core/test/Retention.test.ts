import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as TestClock from "effect/TestClock"
import { EventStore, type RetentionPolicy, StoreError } from "../src/EventStore.js"
import * as MemoryEventStore from "../src/MemoryEventStore.js"
import * as Retention from "../src/Retention.js"
import { eventually } from "./fixtures.js"

describe("Retention", () => {
  it.scoped("runs a pass at start and then at every interval, and keeps going after a failure", () =>
    Effect.gen(function*() {
      const inner = yield* MemoryEventStore.make
      const passes: Array<RetentionPolicy> = []
      let failNext = true
      const store = EventStore.of({
        ...inner,
        retain: (policy) =>
          Effect.suspend(() => {
            passes.push(policy)
            if (failNext) {
              failNext = false
              return Effect.fail(new StoreError({ operation: "retain", reason: "locked" }))
            }
            return inner.retain(policy)
          })
      })
      const options = { maxAgeMs: 60_000, maxBytes: 1_000, interval: "1 minute" } as const
      yield* Layer.build(Retention.layer(options).pipe(Layer.provide(Layer.succeed(EventStore, store))))
      yield* eventually(() => passes.length === 1, "the first pass at start")
      yield* TestClock.adjust("59 seconds")
      expect(passes).toHaveLength(1)
      yield* TestClock.adjust("1 second")
      yield* eventually(() => passes.length === 2, "the pass after a failed one")
      yield* TestClock.adjust("1 minute")
      yield* eventually(() => passes.length === 3, "the third pass")
      expect(passes[0]).toMatchObject({ maxAgeMs: 60_000, maxBytes: 1_000 })
    }))
})
