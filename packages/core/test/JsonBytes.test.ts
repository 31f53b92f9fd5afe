/**
 * `JsonByteReader.value` against `JSON.parse`/`JSON.stringify`: a value it
 * calls canonical is valid JSON whose bytes, without whitespace, are exactly
 * `JSON.stringify(JSON.parse(text))`, and its compact size is theirs; it ends
 * every valid value where `JSON.parse` does; it refuses no valid value short
 * of its nesting limit. `putNumber` writes what `JSON.stringify` writes.
 */
import { describe, expect, it } from "@effect/vitest"
import { copyCompact, JsonByteReader, putNumber, ValueScan } from "@sluice/core/JsonBytes"
import * as fc from "effect/FastCheck"

class Probe extends JsonByteReader {
  /** Scans the value at the start of `text` (followed by anything). */
  scan(bytes: Buffer) {
    this.reset(bytes, 0, bytes.length)
    const kind = this.value()
    return { kind, end: this.pos, compact: this.compactBytes }
  }
}

const space = fc.constantFrom("", "", "", " ", "\n", "\t ", "\r\n  ")

/** JSON text of a value, with whitespace drawn between its tokens. */
const spaced = (value: unknown, gaps: ReadonlyArray<string>): string => {
  let g = 0
  const gap = () => gaps[g++ % gaps.length] ?? ""
  const write = (v: unknown): string => {
    if (Array.isArray(v)) return `[${gap()}${v.map((x) => `${write(x)}${gap()}`).join(`,${gap()}`)}]`
    if (v !== null && typeof v === "object") {
      const entries = Object.entries(v).map(([k, x]) => `${JSON.stringify(k)}${gap()}:${gap()}${write(x)}${gap()}`)
      return `{${gap()}${entries.join(`,${gap()}`)}}`
    }
    return JSON.stringify(v)
  }
  return write(value)
}

/** Numbers as JSON may write them, canonical or not. */
const numberText = fc.oneof(
  fc.integer().map(String),
  fc.constantFrom("0", "-0", "1.0", "1e2", "1E+2", "01", "-", "1.", ".5", "123456789012345", "1234567890123456", "-7"),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => JSON.stringify(d))
)

/** Texts with keys that matter: repeated, digit-first, `__proto__`, escaped. */
const oddObject = fc.tuple(
  fc.array(
    fc.tuple(
      fc.constantFrom("a", "b", "a", "1", "0x", "__proto__", "k\\u0041", "é", "k y"),
      fc.oneof(numberText, fc.constantFrom("\"v\"", "\"\\n\"", "\"é\"", "true", "null", "{}", "[1,2]", "tru", "\"a"))
    ),
    { maxLength: 4 }
  ),
  space
).map(([entries, s]) => `{${s}${entries.map(([k, v]) => `"${k}"${s}:${s}${v}`).join(`,${s}`)}${s}}`)

const probe = new Probe()

const check = (text: string) => {
  const bytes = Buffer.from(`${text} ,"after"`, "utf8")
  const { compact, end, kind } = probe.scan(bytes)
  let parsed: { ok: true; value: unknown } | { ok: false }
  try {
    parsed = { ok: true, value: JSON.parse(text) }
  } catch {
    parsed = { ok: false }
  }
  if (kind === ValueScan.Canonical) {
    // What was scanned (a prefix of the text) is valid JSON, written as JSON.stringify writes it.
    const expected = JSON.stringify(JSON.parse(bytes.toString("utf8", 0, end)))
    const out = Buffer.alloc(bytes.length)
    const written = copyCompact(out, 0, bytes, 0, end)
    expect(out.toString("utf8", 0, written)).toBe(expected)
    expect(compact).toBe(Buffer.byteLength(expected))
  }
  if (parsed.ok) {
    expect(kind).not.toBe(ValueScan.Refused)
    expect(bytes.toString("utf8", 0, end).trim()).toBe(text.trim())
  }
  return kind
}

describe("JsonByteReader.value", () => {
  it.prop("canonical means JSON.stringify's bytes; valid JSON is never refused", [
    fc.jsonValue({ maxDepth: 4 }),
    fc.array(space, { minLength: 1, maxLength: 8 })
  ], ([value, gaps]) => {
    check(spaced(value, gaps))
  }, { fastCheck: { numRuns: 3_000 } })

  it.prop("numbers, odd keys and broken texts", [fc.oneof(numberText, oddObject, fc.string({ maxLength: 12 }))], ([
    text
  ]) => {
    check(text)
  }, { fastCheck: { numRuns: 5_000 } })

  it("tells canonical values from the rest", () => {
    expect(check(`{"seq": 1, "host" : "web-1", "tags":["a", true, null, -5], "n":{}}`)).toBe(ValueScan.Canonical)
    expect(check(`{"a":1.5}`)).toBe(ValueScan.Other)
    expect(check(`{"a":"é"}`)).toBe(ValueScan.Other)
    expect(check(`{"a":1,"a":2}`)).toBe(ValueScan.Other)
    expect(check(`{"2":1,"a":2}`)).toBe(ValueScan.Other)
    expect(check(`{"__proto__":1}`)).toBe(ValueScan.Other)
    expect(check(`{"a":{"b":1},"c":{"b":2}}`)).toBe(ValueScan.Canonical)
    expect(check(`{"a":tru}`)).toBe(ValueScan.Refused)
    expect(check(`{"a" 1}`)).toBe(ValueScan.Refused)
  })
})

describe("putNumber", () => {
  it.prop("writes what JSON.stringify writes", [
    fc.oneof(
      fc.integer(),
      fc.maxSafeNat(),
      fc.double(),
      fc.constantFrom(
        0,
        -0,
        1e21,
        2 ** 53,
        10,
        9,
        1_764_000_000_123,
        1e8,
        1e8 - 1,
        1e8 + 1,
        100_000_000_005,
        1e15,
        2 ** 53 - 1
      )
    )
  ], ([n]) => {
    const out = Buffer.alloc(40)
    const end = putNumber(out, 3, n)
    expect(out.toString("latin1", 3, end)).toBe(JSON.stringify(n))
  }, { fastCheck: { numRuns: 5_000 } })
})
