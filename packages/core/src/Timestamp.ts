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
  offsetMinutes: number
): number | undefined => {
  const year = Number(y), month = Number(mo), day = Number(d)
  const hour = Number(h), minute = Number(mi), second = s === undefined ? 0 : Number(s)
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 60) return undefined
  const ms = frac === undefined ? 0 : Math.floor(Number(`0${frac}`) * 1000)
  const t = Date.UTC(year, month - 1, day, hour, minute, Math.min(second, 59), ms)
  // Date.UTC rolls over invalid days (Feb 30 → Mar 2): reject those.
  if (new Date(t).getUTCDate() !== day) return undefined
  return t - offsetMinutes * 60_000
}

const offsetOf = (text: string): number => {
  if (text === "Z" || text === "z") return 0
  const sign = text[0] === "-" ? -1 : 1
  return sign * (Number(text.slice(1, 3)) * 60 + Number(text.slice(4, 6)))
}

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
    const sign = m[8]![0] === "-" ? -1 : 1
    const offset = sign * (Number(m[8]!.slice(1)) * 60 + Number(m[9] ?? "0"))
    return build(m[1]!, m[2]!, m[3]!, m[4]!, m[5]!, m[6], m[7], offset)
  }
  return undefined
}
