import { describe, expect, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as fc from "effect/FastCheck"
import * as Schema from "effect/Schema"
import { Level, levelFromBytes, levelFromWord, levelName, levelNames, levelWords } from "../src/Level.js"

describe("Level", () => {
  it("names every level, in syslog order from 1", () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8].map(levelName)).toEqual([
      "EMERGENCY",
      "ALERT",
      "CRITICAL",
      "ERROR",
      "WARNING",
      "NOTICE",
      "INFO",
      "DEBUG"
    ])
    expect(levelName(0)).toBe("UNKNOWN")
    expect(levelName(9)).toBe("UNKNOWN")
  })

  it("maps every name back to its number", () => {
    for (let level = 1; level <= 8; level++) {
      expect(levelFromWord(levelNames[level]!)).toBe(level)
    }
  })

  it("maps the drain's level words, case-insensitively", () => {
    const expected: Record<string, number> = {
      emergency: 1,
      emerg: 1,
      alert: 2,
      critical: 3,
      crit: 3,
      fatal: 3,
      error: 4,
      err: 4,
      warning: 5,
      warn: 5,
      notice: 6,
      info: 7,
      debug: 8,
      trace: 8
    }
    for (const [word, level] of Object.entries(expected)) {
      expect(levelFromWord(word), word).toBe(level)
      expect(levelFromWord(word.toUpperCase()), word).toBe(level)
    }
    expect(levelFromWord("Warn")).toBe(5)
    expect([...levelWords].sort()).toEqual(Object.keys(expected).sort())
  })

  it("refuses unknown words", () => {
    for (const word of ["", "verbose", "information", "warn ", "5", "toString", "constructor", "__proto__"]) {
      expect(levelFromWord(word), word).toBeUndefined()
    }
  })

  it("decodes only the integers 1 to 8", () => {
    const decode = Schema.decodeUnknownEither(Level)
    for (const ok of [1, 4, 8]) expect(Either.getOrThrow(decode(ok))).toBe(ok)
    for (const bad of [0, 9, -1, 1.5, "3", null]) expect(Either.isLeft(decode(bad)), String(bad)).toBe(true)
  })

  it.prop(
    "reads ASCII words from bytes as levelFromWord reads their text",
    [fc.oneof(
      fc.constantFrom(...levelWords, "INFO", "Warn", "eRrOr", "infoo", "inf", "info ", "constructor", "__proto__", ""),
      fc.constantFrom(...levelWords).chain((w) =>
        fc.array(fc.boolean(), { minLength: w.length, maxLength: w.length }).map((up) =>
          [...w].map((c, i) => (up[i] ? c.toUpperCase() : c)).join("")
        )
      ),
      fc.string({ maxLength: 10 }).filter((s) => /^[\x20-\x7e]*$/.test(s))
    )],
    ([word]) => {
      const bytes = Buffer.from(`x${word}y`, "latin1")
      expect(levelFromBytes(bytes, 1, bytes.length - 1)).toBe(levelFromWord(word) ?? 0)
    },
    { fastCheck: { numRuns: 5_000 } }
  )
})
