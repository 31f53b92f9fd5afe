/**
 * Severity levels: syslog order shifted to start at 1 (SPEC §1), with the
 * names both ways and the drain's level words (SPEC §2).
 */
import * as Schema from "effect/Schema"

/** A level number, 1 (EMERGENCY) to 8 (DEBUG). */
export const Level = Schema.Int.pipe(Schema.between(1, 8))
export type Level = typeof Level.Type

/** Level names indexed by number (index 0 unused). */
export const levelNames = [
  "",
  "EMERGENCY",
  "ALERT",
  "CRITICAL",
  "ERROR",
  "WARNING",
  "NOTICE",
  "INFO",
  "DEBUG"
] as const

/** The upper-case name of a level number. */
export const levelName = (level: number): string =>
  Number.isInteger(level) && level >= 1 && level <= 8 ? levelNames[level]! : "UNKNOWN"

const words: Record<string, Level> = {
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

/** The level for a drain level word (case-insensitive), or `undefined`. */
export const levelFromWord = (word: string): Level | undefined => {
  const key = word.toLowerCase()
  // Own keys only: "constructor" or "__proto__" must not find Object.prototype's.
  return Object.hasOwn(words, key) ? words[key] : undefined
}

/** The accepted level words, for error messages. */
export const levelWords: ReadonlyArray<string> = Object.keys(words)

const wordBytes: ReadonlyArray<readonly [bytes: Uint8Array, level: Level]> = Object.entries(words).map((
  [word, level]
) => [new TextEncoder().encode(word), level] as const)

/**
 * The level of the ASCII word `buf[start, end)` (case-insensitive), as
 * `levelFromWord` answers for its text, or 0 when it is not a level word;
 * for scanners that never make a string of it.
 */
export const levelFromBytes = (buf: Uint8Array, start: number, end: number): Level | 0 => {
  const n = end - start
  for (let w = 0; w < wordBytes.length; w++) {
    const [word, level] = wordBytes[w]!
    if (word.length !== n) continue
    let i = 0
    for (; i < n; i++) {
      const b = buf[start + i]!
      // ASCII upper case to lower case, as toLowerCase does for these letters.
      if ((b >= 0x41 && b <= 0x5a ? b + 0x20 : b) !== word[i]) break
    }
    if (i === n) return level
  }
  return 0
}
