/**
 * The fast decoder agrees with the Schema that defines the drain event:
 * the same batches accepted, the same values decoded, and on refusal the
 * Schema's own messages. Plus the count limit and the details cap.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as fc from "effect/FastCheck"
import * as Schema from "effect/Schema"
import * as DrainBatch from "../src/DrainBatch.js"

const limits: DrainBatch.BatchLimits = { maxEvents: 50, maxMessageBytes: 12 }

const missing = fc.constant(undefined)
// Each field: mostly valid values (so whole events pass often), then the edges and the wrong types.
const field = <A>(valid: fc.Arbitrary<A>, ...invalid: ReadonlyArray<fc.Arbitrary<unknown>>) =>
  fc.oneof({ weight: 4 * invalid.length, arbitrary: valid }, ...invalid.map((arbitrary) => ({ weight: 1, arbitrary })))
const name = field(
  fc.oneof(fc.string({ minLength: 1, maxLength: 8 }), fc.constant("n".repeat(256))),
  fc.constant(""),
  fc.constant("n".repeat(257)),
  fc.integer(),
  missing
)
const timestamp = field(
  fc.constantFrom(
    "2025-08-31T10:30:00Z",
    "2025-08-31T10:30:00.123+02:00",
    "2025-08-31T10:30:00",
    "2025-08-31 10:30:00.123456"
  ),
  fc.constantFrom("2025-02-30 10:00:00", "2025-13-01T00:00:00Z", "31/08/2025", ""),
  fc.string(),
  fc.integer(),
  missing
)
const level = field(
  fc.constantFrom("emergency", "EMERG", "Alert", "crit", "FATAL", "err", "Warning", "notice", "info", "TRACE"),
  fc.constantFrom("loud", ""),
  fc.string(),
  fc.integer({ min: 1, max: 8 }),
  missing
)
const message = field(
  fc.oneof(fc.string({ maxLength: 4 }), fc.constantFrom("é".repeat(6), "😀".repeat(3))),
  fc.string({ maxLength: 14 }),
  fc.string({ maxLength: 8, unit: "binary" }),
  fc.constantFrom("é".repeat(6) + "a", "😀".repeat(3) + "a"),
  fc.integer(),
  missing
)
const metadata = field(
  fc.oneof(missing, fc.dictionary(fc.string({ maxLength: 4 }), fc.jsonValue({ maxDepth: 2 }))),
  fc.array(fc.integer(), { maxLength: 2 }),
  fc.constant(null),
  fc.string()
)

const event = fc.oneof(
  { weight: 19, arbitrary: fc.record({ project_id: name, timestamp, level, service: name, message, metadata }) },
  { weight: 1, arbitrary: fc.oneof(fc.string(), fc.integer(), fc.constant(null), fc.array(fc.integer())) }
)

// JSON has no `undefined`: a missing field is absent.
const asJson = (value: unknown): unknown => JSON.parse(JSON.stringify(value) ?? "null")

const schemaDecode = Schema.decodeUnknownEither(DrainBatch.BatchSchema(limits.maxMessageBytes))

describe("DrainBatch.decode", () => {
  it("accepts exactly what the Schema accepts, with the same values", () => {
    let acceptedEvents = 0
    let refused = 0
    fc.assert(
      fc.property(fc.array(event, { maxLength: 4 }), (events) => {
        const input = asJson({ events })
        const fast = DrainBatch.decode(input, limits, 1234)
        const slow = schemaDecode(input)
        expect(Either.isRight(fast)).toBe(Either.isRight(slow))
        if (Either.isRight(fast)) acceptedEvents += fast.right.length
        else refused++
        if (Either.isRight(fast) && Either.isRight(slow)) {
          expect(fast.right).toEqual(slow.right.events.map((e) => ({
            timestamp: e.timestamp,
            receivedAt: 1234,
            level: e.level,
            source: e.service,
            message: e.message,
            entryType: 1,
            payloadType: "generic",
            projectId: e.project_id,
            agentId: null,
            index: "main",
            sourcetype: "http",
            transport: "http",
            metadata: e.metadata ?? {}
          })))
        }
        if (Either.isLeft(fast)) {
          expect(fast.left._tag).toBe("InvalidBatch")
          if (fast.left._tag === "InvalidBatch") {
            // The details come from the Schema, never from a disagreement.
            expect(Object.keys(fast.left.details).length).toBeGreaterThan(0)
            expect(fast.left.details["body"]).toBeUndefined()
          }
        }
      }),
      { numRuns: 3000 }
    )
    // Both sides of the property were exercised.
    expect(acceptedEvents).toBeGreaterThan(150)
    expect(refused).toBeGreaterThan(500)
  })

  it("checks the count before looking at any event", () => {
    const result = DrainBatch.decode({ events: Array.from({ length: 51 }, () => "junk") }, limits, 0)
    expect(Either.isLeft(result) && result.left).toMatchObject({ _tag: "TooManyEvents", count: 51, limit: 50 })
  })

  it("names the body when it is not an object with an events array", () => {
    for (const input of [null, 3, "x", [], { events: null }]) {
      const result = DrainBatch.decode(input, limits, 0)
      expect(Either.isLeft(result) && result.left._tag).toBe("InvalidBatch")
    }
    const result = DrainBatch.decode([], limits, 0)
    expect(Either.isLeft(result) && result.left).toMatchObject({
      details: { body: "must be a JSON object with an `events` array" }
    })
  })

  it("lists at most maxDetails problems and says how many there were", () => {
    const result = DrainBatch.decode(
      { events: Array.from({ length: 1500 }, () => 1) },
      { ...limits, maxEvents: 10_000 },
      0
    )
    if (Either.isRight(result) || result.left._tag !== "InvalidBatch") throw new Error("expected InvalidBatch")
    expect(Object.keys(result.left.details)).toHaveLength(DrainBatch.maxDetails)
    expect(result.left.details["events[999]"]).toBe("must be a JSON object")
    expect(result.left.message).toContain("1500 problems")
    expect(result.left.events).toBe(1500)
  })
})
