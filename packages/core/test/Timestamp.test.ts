import { describe, expect, it } from "@effect/vitest"
import { parseFlexibleTimestamp, parseRfc3339 } from "../src/Timestamp.js"

const utc = (y: number, mo: number, d: number, h = 0, mi = 0, s = 0, ms = 0) => Date.UTC(y, mo - 1, d, h, mi, s, ms)

describe("parseRfc3339", () => {
  it("parses UTC with Z", () => {
    expect(parseRfc3339("2025-08-31T10:30:00Z")).toBe(utc(2025, 8, 31, 10, 30))
  })

  it("keeps milliseconds and truncates finer fractions", () => {
    expect(parseRfc3339("2025-08-31T10:30:00.5Z")).toBe(utc(2025, 8, 31, 10, 30, 0, 500))
    expect(parseRfc3339("2025-08-31T10:30:00.123Z")).toBe(utc(2025, 8, 31, 10, 30, 0, 123))
    expect(parseRfc3339("2025-08-31T10:30:00.123999999Z")).toBe(utc(2025, 8, 31, 10, 30, 0, 123))
  })

  it("normalises offsets to UTC", () => {
    expect(parseRfc3339("2025-08-31T12:30:00+02:00")).toBe(utc(2025, 8, 31, 10, 30))
    expect(parseRfc3339("2025-08-31T05:00:00-05:30")).toBe(utc(2025, 8, 31, 10, 30))
    expect(parseRfc3339("2025-08-31T10:30:00+00:00")).toBe(utc(2025, 8, 31, 10, 30))
    // An offset can move the instant across a day, month and year boundary.
    expect(parseRfc3339("2026-01-01T01:00:00+02:00")).toBe(utc(2025, 12, 31, 23))
    expect(parseRfc3339("2025-12-31T22:00:00-03:00")).toBe(utc(2026, 1, 1, 1))
  })

  it("accepts the separators RFC 3339 allows (t, z, space)", () => {
    expect(parseRfc3339("2025-08-31t10:30:00z")).toBe(utc(2025, 8, 31, 10, 30))
    expect(parseRfc3339("2025-08-31 10:30:00Z")).toBe(utc(2025, 8, 31, 10, 30))
  })

  it("requires the offset", () => {
    expect(parseRfc3339("2025-08-31T10:30:00")).toBeUndefined()
    expect(parseRfc3339("2025-08-31T10:30:00.123")).toBeUndefined()
  })

  it("rejects dates that do not exist", () => {
    expect(parseRfc3339("2025-02-30T00:00:00Z")).toBeUndefined()
    expect(parseRfc3339("2025-02-29T00:00:00Z")).toBeUndefined()
    expect(parseRfc3339("2024-02-29T00:00:00Z")).toBe(utc(2024, 2, 29))
    expect(parseRfc3339("2025-04-31T00:00:00Z")).toBeUndefined()
    expect(parseRfc3339("2025-13-01T00:00:00Z")).toBeUndefined()
    expect(parseRfc3339("2025-00-10T00:00:00Z")).toBeUndefined()
    expect(parseRfc3339("2025-01-00T00:00:00Z")).toBeUndefined()
    expect(parseRfc3339("2025-01-32T00:00:00Z")).toBeUndefined()
  })

  it("rejects times that do not exist", () => {
    expect(parseRfc3339("2025-01-01T24:00:00Z")).toBeUndefined()
    expect(parseRfc3339("2025-01-01T23:60:00Z")).toBeUndefined()
    expect(parseRfc3339("2025-01-01T23:59:61Z")).toBeUndefined()
  })

  it("rejects offsets out of range", () => {
    expect(parseRfc3339("2025-01-01T10:00:00+24:00")).toBeUndefined()
    expect(parseRfc3339("2025-01-01T10:00:00+99:99")).toBeUndefined()
    expect(parseRfc3339("2025-01-01T10:00:00+05:60")).toBeUndefined()
    expect(parseRfc3339("2025-01-01T10:00:00+23:59")).toBe(utc(2025, 1, 1, 10) - (23 * 60 + 59) * 60_000)
  })

  it("keeps years before 100 as written", () => {
    const t = parseRfc3339("0050-06-15T12:00:00Z")
    expect(t).toBeDefined()
    expect(new Date(t!).toISOString()).toBe("0050-06-15T12:00:00.000Z")
  })

  it("rejects malformed text", () => {
    for (
      const text of [
        "",
        "2025-08-31",
        "10:30:00Z",
        "2025-8-31T10:30:00Z",
        "2025-08-31T10:30Z",
        "2025-08-31T10:30:00+0200",
        "2025-08-31T10:30:00 Z",
        " 2025-08-31T10:30:00Z",
        "2025-08-31T10:30:00Z ",
        "yesterday",
        "1756636200"
      ]
    ) expect(parseRfc3339(text), text).toBeUndefined()
  })
})

describe("parseFlexibleTimestamp", () => {
  it("accepts RFC 3339", () => {
    expect(parseFlexibleTimestamp("2025-08-31T12:30:00.250+02:00")).toBe(utc(2025, 8, 31, 10, 30, 0, 250))
  })

  it("reads ISO 8601 without an offset as UTC", () => {
    expect(parseFlexibleTimestamp("2025-08-31T10:30:00")).toBe(utc(2025, 8, 31, 10, 30))
    expect(parseFlexibleTimestamp("2025-08-31T10:30:00.123")).toBe(utc(2025, 8, 31, 10, 30, 0, 123))
    expect(parseFlexibleTimestamp("2025-08-31T10:30")).toBe(utc(2025, 8, 31, 10, 30))
  })

  it("reads SQL datetimes as UTC, microseconds truncated to milliseconds", () => {
    expect(parseFlexibleTimestamp("2025-08-31 10:30:00")).toBe(utc(2025, 8, 31, 10, 30))
    expect(parseFlexibleTimestamp("2025-08-31 10:30:00.123456")).toBe(utc(2025, 8, 31, 10, 30, 0, 123))
  })

  it("accepts ISO 8601 offsets without a colon, or hours only", () => {
    expect(parseFlexibleTimestamp("2025-08-31T12:30:00+0200")).toBe(utc(2025, 8, 31, 10, 30))
    expect(parseFlexibleTimestamp("2025-08-31T12:30:00+02")).toBe(utc(2025, 8, 31, 10, 30))
    expect(parseFlexibleTimestamp("2025-08-31T07:00-0330")).toBe(utc(2025, 8, 31, 10, 30))
    expect(parseFlexibleTimestamp("2025-08-31T12:30+02:00")).toBe(utc(2025, 8, 31, 10, 30))
  })

  it("rejects dates and offsets that do not exist, in every format", () => {
    for (
      const text of [
        "2025-02-30 10:00:00",
        "2025-13-01T10:00:00",
        "2025-02-30T10:00",
        "2025-02-29T10:00:00+0200",
        "2025-01-01T25:00:00",
        "2025-01-01T10:00:00+2500",
        "2025-01-01T10:00:00+0075",
        "2025-01-01T10:00:00+99"
      ]
    ) expect(parseFlexibleTimestamp(text), text).toBeUndefined()
  })

  it("rejects what is not a timestamp", () => {
    for (const text of ["", "2025-08-31", "now", "1756636200", "31/08/2025 10:30:00", "2025-08-31T10:30:00ZZ"]) {
      expect(parseFlexibleTimestamp(text), text).toBeUndefined()
    }
  })
})
