/**
 * Timestamp parsing shared by the transports: RFC 3339 for the agent socket
 * (SPEC §1), and RFC 3339, ISO 8601 without offset, or SQL datetime for the
 * drain (SPEC §2). Everything is normalised to epoch milliseconds, UTC.
 */

const rfc3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/
const isoNoOffset = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?$/
const isoBasicOffset = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?([+-]\d{2})(?::?(\d{2}))?$/

const build = (
  y: string,
  mo: string,
  d: string,
  h: string,
  mi: string,
  s: string | undefined,
  frac: string | undefined,
  offsetMinutes: number | undefined
): number | undefined => {
  const year = Number(y), month = Number(mo), day = Number(d)
  const hour = Number(h), minute = Number(mi), second = s === undefined ? 0 : Number(s)
  if (offsetMinutes === undefined) return undefined
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 60) return undefined
  const ms = frac === undefined ? 0 : Math.floor(Number(`0${frac}`) * 1000)
  // Not Date.UTC: it reads years 0–99 as 1900–1999.
  const date = new Date(0)
  date.setUTCFullYear(year, month - 1, day)
  date.setUTCHours(hour, minute, Math.min(second, 59), ms)
  // Invalid days roll over (Feb 30 → Mar 2): reject those.
  if (date.getUTCDate() !== day) return undefined
  return date.getTime() - offsetMinutes * 60_000
}

/** `±hh[mm]` as minutes east of UTC; `undefined` when out of range (hours 0–23, minutes 0–59). */
const offsetMinutesOf = (sign: string, hours: string, minutes: string | undefined): number | undefined => {
  const h = Number(hours), m = minutes === undefined ? 0 : Number(minutes)
  if (h > 23 || m > 59) return undefined
  return (sign === "-" ? -1 : 1) * (h * 60 + m)
}

const offsetOf = (text: string): number | undefined =>
  text === "Z" || text === "z" ? 0 : offsetMinutesOf(text[0]!, text.slice(1, 3), text.slice(4, 6))

/** Parses an RFC 3339 date-time (offset required) with the regular expression; `undefined` when invalid. */
export const parseRfc3339Reference = (text: string): number | undefined => {
  const m = rfc3339.exec(text)
  if (m === null) return undefined
  return build(m[1]!, m[2]!, m[3]!, m[4]!, m[5]!, m[6]!, m[7], offsetOf(m[8]!))
}

const dash = 45
const colon = 58
const dot = 46
const plus = 43

/** Two ASCII digits at `i` as a number, or -1. */
const twoDigits = (text: string, i: number): number => {
  const a = text.charCodeAt(i) - 48
  const b = text.charCodeAt(i + 1) - 48
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 ? a * 10 + b : -1
}

const daysInMonth = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
const isLeapYear = (year: number) => (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0

/**
 * Parses an RFC 3339 date-time (offset required) to epoch milliseconds, UTC;
 * `undefined` when invalid. The usual shape, `YYYY-MM-DDTHH:MM:SS[.fraction]
 * (Z|±HH:MM)`, is read by character codes (~0.17 µs; the regular expression
 * below costs ~0.7 µs, a tenth of a socket entry's budget); everything else
 * (leap seconds, years below 100, odd fractions, anything malformed) goes to
 * `parseRfc3339Reference`. A property test holds the two equal.
 */
export const parseRfc3339 = (text: string): number | undefined => {
  const n = text.length
  if (n < 20 || n > 40 || text.charCodeAt(4) !== dash || text.charCodeAt(7) !== dash) return parseRfc3339Reference(text)
  if (text.charCodeAt(13) !== colon || text.charCodeAt(16) !== colon) return parseRfc3339Reference(text)
  const separator = text.charCodeAt(10)
  if (separator !== 84 && separator !== 116 && separator !== 32) return parseRfc3339Reference(text) // T t space
  const century = twoDigits(text, 0)
  const yearOfCentury = twoDigits(text, 2)
  const month = twoDigits(text, 5)
  const day = twoDigits(text, 8)
  const hour = twoDigits(text, 11)
  const minute = twoDigits(text, 14)
  const second = twoDigits(text, 17)
  const year = century * 100 + yearOfCentury
  // Out of the plain range (including a leap second or a two-digit year): core decides.
  if (
    century < 0 || yearOfCentury < 0 || year < 100 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23 ||
    minute < 0 || minute > 59 || second < 0 || second > 59
  ) return parseRfc3339Reference(text)
  let i = 19
  let millis = 0
  if (text.charCodeAt(i) === dot) {
    const start = ++i
    while (i < n) {
      const d = text.charCodeAt(i) - 48
      if (d < 0 || d > 9) break
      if (i - start < 3) millis = millis * 10 + d
      i++
    }
    const digits = i - start
    if (digits === 0 || digits > 9) return parseRfc3339Reference(text)
    if (digits === 1) millis *= 100
    else if (digits === 2) millis *= 10
  }
  let offsetMinutes: number
  const zone = text.charCodeAt(i)
  if (i === n - 1 && (zone === 90 || zone === 122)) offsetMinutes = 0 // Z z
  else if (i === n - 6 && (zone === plus || zone === dash) && text.charCodeAt(i + 3) === colon) {
    const hours = twoDigits(text, i + 1)
    const minutes = twoDigits(text, i + 4)
    if (hours < 0 || hours > 23 || minutes < 0 || minutes > 59) return parseRfc3339Reference(text)
    offsetMinutes = (zone === dash ? -1 : 1) * (hours * 60 + minutes)
  } else return parseRfc3339Reference(text)
  const days = month === 2 && isLeapYear(year) ? 29 : daysInMonth[month - 1]!
  if (day > days) return undefined
  return Date.UTC(year, month - 1, day, hour, minute, second, millis) - offsetMinutes * 60_000
}

/**
 * Parses the drain's timestamp formats: RFC 3339, ISO 8601 with or without
 * offset (none means UTC), or SQL `YYYY-MM-DD HH:MM:SS[.ffffff]`.
 */
export const parseFlexibleTimestamp = (text: string): number | undefined => {
  const strict = parseRfc3339(text)
  if (strict !== undefined) return strict
  let m = isoNoOffset.exec(text)
  if (m !== null) return build(m[1]!, m[2]!, m[3]!, m[4]!, m[5]!, m[6], m[7], 0)
  m = isoBasicOffset.exec(text)
  if (m !== null) {
    return build(m[1]!, m[2]!, m[3]!, m[4]!, m[5]!, m[6], m[7], offsetMinutesOf(m[8]![0]!, m[8]!.slice(1), m[9]))
  }
  return undefined
}

/**
 * Reads the usual RFC 3339 shape, `YYYY-MM-DD(T|t| )HH:MM:SS[.fraction](Z|z|±HH:MM)`
 * (fraction 1–9 digits, years from 100), straight from bytes, for scanners
 * that never make a string of the timestamp. The date, hour and minute of
 * the last timestamp are kept, so a run of events from the same minute costs
 * a comparison and a few digits each. Answers what `parseRfc3339` (and so
 * `parseFlexibleTimestamp`) answers for the same text, or `undefined` for
 * anything outside that shape, valid or not: the caller then parses the
 * text. A property test holds it to `parseRfc3339`.
 */
export class TimestampReader {
  /** `YYYY-MM-DD?HH:MM` of the last minute read. */
  private readonly minute = new Uint8Array(16)
  private minuteMillis = Number.NaN

  read(buf: Uint8Array, start: number, end: number): number | undefined {
    const n = end - start
    if (n < 20 || n > 40) return undefined
    const minute = this.minute
    let same = this.minuteMillis === this.minuteMillis // not NaN
    for (let i = 0; same && i < 16; i++) same = buf[start + i] === minute[i]
    if (!same && !this.readMinute(buf, start)) return undefined
    if (buf[start + 16] !== colon) return undefined
    const second = digits2(buf, start + 17)
    if (second < 0 || second > 59) return undefined
    let i = start + 19
    let millis = 0
    if (buf[i] === dot) {
      const first = ++i
      while (i < end) {
        const d = buf[i]! - 48
        if (d < 0 || d > 9) break
        if (i - first < 3) millis = millis * 10 + d
        i++
      }
      const count = i - first
      if (count === 0 || count > 9) return undefined
      if (count === 1) millis *= 100
      else if (count === 2) millis *= 10
    }
    let offsetMinutes: number
    const zone = buf[i]
    if (i === end - 1 && (zone === 90 || zone === 122)) offsetMinutes = 0 // Z z
    else if (i === end - 6 && (zone === plus || zone === dash) && buf[i + 3] === colon) {
      const hours = digits2(buf, i + 1)
      const minutes = digits2(buf, i + 4)
      if (hours < 0 || hours > 23 || minutes < 0 || minutes > 59) return undefined
      offsetMinutes = (zone === dash ? -1 : 1) * (hours * 60 + minutes)
    } else return undefined
    return this.minuteMillis + second * 1000 + millis - offsetMinutes * 60_000
  }

  /** Checks and keeps `YYYY-MM-DD?HH:MM` at `start`. */
  private readMinute(buf: Uint8Array, start: number): boolean {
    if (buf[start + 4] !== dash || buf[start + 7] !== dash || buf[start + 13] !== colon) return false
    const separator = buf[start + 10]
    if (separator !== 84 && separator !== 116 && separator !== 32) return false // T t space
    const century = digits2(buf, start)
    const yearOfCentury = digits2(buf, start + 2)
    const month = digits2(buf, start + 5)
    const day = digits2(buf, start + 8)
    const hour = digits2(buf, start + 11)
    const minute = digits2(buf, start + 14)
    const year = century * 100 + yearOfCentury
    if (
      century < 0 || yearOfCentury < 0 || year < 100 || month < 1 || month > 12 || day < 1 || hour < 0 ||
      hour > 23 || minute < 0 || minute > 59
    ) return false
    const days = month === 2 && isLeapYear(year) ? 29 : daysInMonth[month - 1]!
    if (day > days) return false
    for (let i = 0; i < 16; i++) this.minute[i] = buf[start + i]!
    this.minuteMillis = Date.UTC(year, month - 1, day, hour, minute)
    return true
  }
}

/** Two ASCII digits at `i` as a number, or -1. */
const digits2 = (buf: Uint8Array, i: number): number => {
  const a = buf[i]! - 48
  const b = buf[i + 1]! - 48
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 ? a * 10 + b : -1
}
