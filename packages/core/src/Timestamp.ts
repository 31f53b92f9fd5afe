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

/** Parses an RFC 3339 date-time (offset required); `undefined` when invalid. */
export const parseRfc3339 = (text: string): number | undefined => {
  const m = rfc3339.exec(text)
  if (m === null) return undefined
  return build(m[1]!, m[2]!, m[3]!, m[4]!, m[5]!, m[6]!, m[7], offsetOf(m[8]!))
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
