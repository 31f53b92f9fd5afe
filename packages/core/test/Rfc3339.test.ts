/**
 * The character-code path of `parseRfc3339` answers exactly what the regular
 * expression (`parseRfc3339Reference`) answers, on well-formed, nearly
 * well-formed and arbitrary strings; so does `TimestampReader` on the same
 * text as bytes, wherever it answers at all, whatever it read before.
 */
import { describe, expect, it } from "@effect/vitest"
import { parseRfc3339, parseRfc3339Reference, TimestampReader } from "@sluice/core/Timestamp"
import * as fc from "effect/FastCheck"

const pad = (n: number, width: number) => String(n).padStart(width, "0")

/** RFC 3339 shapes with every part drawn, including out-of-range values. */
const shaped = fc.record({
  year: fc.oneof(fc.integer({ min: 0, max: 9999 }), fc.constantFrom(1970, 2000, 2024, 2025, 1900, 2100)),
  month: fc.oneof(fc.integer({ min: 0, max: 13 }), fc.constant(2)),
  day: fc.oneof(fc.integer({ min: 0, max: 32 }), fc.constantFrom(28, 29, 30, 31)),
  hour: fc.integer({ min: 0, max: 25 }),
  minute: fc.integer({ min: 0, max: 61 }),
  second: fc.integer({ min: 0, max: 61 }),
  separator: fc.constantFrom("T", "t", " ", "_"),
  fraction: fc.oneof(fc.constant(""), fc.stringMatching(/^\.[0-9]{0,20}$/)),
  zone: fc.oneof(
    fc.constantFrom("Z", "z", "", "+00:00", "-00:00", "+0100", "UTC"),
    fc.tuple(fc.constantFrom("+", "-"), fc.integer({ min: 0, max: 25 }), fc.integer({ min: 0, max: 61 })).map(
      ([sign, h, m]) => `${sign}${pad(h, 2)}:${pad(m, 2)}`
    )
  )
}).map((p) =>
  `${pad(p.year, 4)}-${pad(p.month, 2)}-${pad(p.day, 2)}${p.separator}${pad(p.hour, 2)}:${pad(p.minute, 2)}:${
    pad(p.second, 2)
  }${p.fraction}${p.zone}`
)

/** A shaped string with one character replaced, inserted or removed. */
const mutated = fc.tuple(shaped, fc.nat(), fc.constantFrom("replace", "insert", "remove"), fc.char()).map(
  ([text, at, how, c]) => {
    const i = at % (text.length + 1)
    return how === "replace"
      ? text.slice(0, i) + c + text.slice(i + 1)
      : how === "insert"
      ? text.slice(0, i) + c + text.slice(i)
      : text.slice(0, i) + text.slice(i + 1)
  }
)

describe("parseRfc3339", () => {
  it.prop("equals the regular expression's answer", [fc.oneof(shaped, mutated, fc.string())], ([text]) => {
    expect(parseRfc3339(text)).toBe(parseRfc3339Reference(text))
  }, { fastCheck: { numRuns: 20_000 } })

  it("reads the usual forms", () => {
    expect(parseRfc3339("2025-08-31T10:30:00Z")).toBe(Date.UTC(2025, 7, 31, 10, 30))
    expect(parseRfc3339("2025-08-31T12:30:00.5+02:00")).toBe(Date.UTC(2025, 7, 31, 10, 30, 0, 500))
    expect(parseRfc3339("2024-02-29t10:30:00.123456-01:30")).toBe(Date.UTC(2024, 1, 29, 12, 0, 0, 123))
    expect(parseRfc3339("2025-02-29T10:30:00Z")).toBeUndefined()
    expect(parseRfc3339("2024-02-30T10:30:00Z")).toBeUndefined()
    expect(parseRfc3339("2000-02-29T00:00:00Z")).toBe(Date.UTC(2000, 1, 29))
    expect(parseRfc3339("2100-02-29T00:00:00Z")).toBeUndefined()
    expect(parseRfc3339("2025-04-31T00:00:00Z")).toBeUndefined()
    expect(parseRfc3339("2025-08-31T10:30:00")).toBeUndefined()
  })
})

/** The same text as bytes inside a larger buffer (the reader must stay within its range). */
const inBuffer = (text: string) => {
  const bytes = Buffer.from(`"9${text}9"`, "latin1")
  return { bytes, start: 2, end: bytes.length - 2 }
}

/** Runs of timestamps from the same minute (the reader's cache), and their neighbours. */
const sameMinute = fc.tuple(
  shaped,
  fc.array(fc.tuple(fc.integer({ min: 0, max: 61 }), fc.string({ maxLength: 4 })), {
    maxLength: 6
  })
).map((
  [text, rest]
) => [text, ...rest.map(([s, tail]) => `${text.slice(0, 17)}${pad(s, 2)}${text.slice(19, 23)}${tail}`)])

describe("TimestampReader", () => {
  const shared = new TimestampReader()

  it.prop(
    "answers what parseRfc3339 answers, or nothing, after any earlier timestamps",
    [fc.array(fc.oneof(shaped, mutated, fc.string()), { minLength: 1, maxLength: 5 })],
    ([texts]) => {
      for (const text of texts) {
        if (/[^\x00-\xff]/.test(text)) continue
        const { bytes, start, end } = inBuffer(text)
        for (const reader of [shared, new TimestampReader()]) {
          const read = reader.read(bytes, start, end)
          if (read !== undefined) expect(read).toBe(parseRfc3339(text))
        }
      }
    },
    { fastCheck: { numRuns: 10_000 } }
  )

  it.prop("reads runs from the same minute as parseRfc3339 does", [sameMinute], ([texts]) => {
    const reader = new TimestampReader()
    for (const text of texts) {
      const { bytes, start, end } = inBuffer(text)
      const read = reader.read(bytes, start, end)
      if (read !== undefined) expect(read).toBe(parseRfc3339(text))
    }
  }, { fastCheck: { numRuns: 5_000 } })

  it("reads the usual shape itself, and leaves the rest to the text parsers", () => {
    const reader = new TimestampReader()
    const read = (text: string) => {
      const { bytes, start, end } = inBuffer(text)
      return reader.read(bytes, start, end)
    }
    expect(read("2025-08-31T10:30:00Z")).toBe(Date.UTC(2025, 7, 31, 10, 30))
    expect(read("2025-08-31T10:30:59.5Z")).toBe(Date.UTC(2025, 7, 31, 10, 30, 59, 500))
    expect(read("2025-08-31T10:30:01.123456789+02:00")).toBe(Date.UTC(2025, 7, 31, 8, 30, 1, 123))
    expect(read("2025-08-31t10:30:02z")).toBe(Date.UTC(2025, 7, 31, 10, 30, 2))
    expect(read("2024-02-29 23:59:59-00:30")).toBe(Date.UTC(2024, 2, 1, 0, 29, 59))
    // Outside the shape (valid or not): undefined, for the caller to parse.
    expect(read("2025-08-31T10:30:60Z")).toBeUndefined()
    expect(read("2025-08-31T10:30:00")).toBeUndefined()
    expect(read("0099-08-31T10:30:00Z")).toBeUndefined()
    expect(read("2025-02-29T10:30:00Z")).toBeUndefined()
    expect(read("2025-08-31T10:30:00.1234567890Z")).toBeUndefined()
    expect(read("2025-08-31T10:30:00+0200")).toBeUndefined()
    // After an invalid text, the cached minute still answers right.
    expect(read("2025-08-31T10:30:07Z")).toBe(Date.UTC(2025, 7, 31, 10, 30, 7))
    // Each byte of the cached minute counts.
    expect(read("2025-08-31T10:31:07Z")).toBe(Date.UTC(2025, 7, 31, 10, 31, 7))
    expect(read("2025-08-31 10:31:07Z")).toBe(Date.UTC(2025, 7, 31, 10, 31, 7))
    expect(read("2025-08-31T10:31:07Z")).toBe(Date.UTC(2025, 7, 31, 10, 31, 7))
    expect(read("3025-08-31T10:31:07Z")).toBe(Date.UTC(3025, 7, 31, 10, 31, 7))
  })
})
