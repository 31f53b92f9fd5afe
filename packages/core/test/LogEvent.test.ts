import { describe, expect, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { estimateBatchBytes, estimateBytes, StoredEventJson, toStoredEventJson } from "../src/LogEvent.js"
import { event } from "./fixtures.js"

describe("LogEvent", () => {
  it("estimates bytes that grow with the message and the metadata", () => {
    const small = event("hi")
    const long = event("x".repeat(10_000))
    const tagged = event("hi", { metadata: { region: "eu-west-1", attempt: 3 } })
    expect(estimateBytes(long) - estimateBytes(small)).toBe(10_000 - 2)
    expect(estimateBytes(tagged)).toBeGreaterThan(estimateBytes(small) + "region".length + "eu-west-1".length)
    expect(estimateBatchBytes([small, long, tagged])).toBe(
      estimateBytes(small) + estimateBytes(long) + estimateBytes(tagged)
    )
    expect(estimateBatchBytes([])).toBe(0)
  })

  it("renders the stored event in the wire shape: snake_case, ISO UTC times, level name, string id", () => {
    const stored = {
      ...event("disk full", {
        timestamp: Date.UTC(2025, 7, 31, 10, 30, 0, 123),
        receivedAt: Date.UTC(2025, 7, 31, 10, 30, 1),
        level: 3,
        projectId: "shop",
        agentId: "agent-7",
        metadata: { disk: "/dev/sda1" }
      }),
      id: 2 ** 40 + 5
    }
    const json = toStoredEventJson(stored)
    expect(json).toEqual({
      id: String(2 ** 40 + 5),
      timestamp: "2025-08-31T10:30:00.123Z",
      received_at: "2025-08-31T10:30:01.000Z",
      level: 3,
      level_name: "CRITICAL",
      source: "auth-service",
      message: "disk full",
      entry_type: 1,
      payload_type: "generic",
      project_id: "shop",
      agent_id: "agent-7",
      index: "main",
      sourcetype: "generic",
      transport: "test",
      metadata: { disk: "/dev/sda1" }
    })
    expect(Either.isRight(Schema.decodeUnknownEither(StoredEventJson)(json))).toBe(true)
  })
})
