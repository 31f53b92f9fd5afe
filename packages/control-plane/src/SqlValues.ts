/**
 * How the fleet's tables store values portably (SQLite now, Postgres later)
 * and how rows are read back: integer flags as booleans, JSON text as
 * values, counts as numbers, times as ISO 8601 UTC text from `Clock`.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"

/** An integer flag (0/1) read as a boolean (a driver may already give a boolean). */
export const Flag = Schema.transform(Schema.Union(Schema.Number, Schema.Boolean), Schema.Boolean, {
  strict: true,
  decode: (value) => value === true || value === 1,
  encode: (value) => value
})

/** A JSON object stored as text. */
export const JsonObject = Schema.parseJson(Schema.Record({ key: Schema.String, value: Schema.Unknown }))

/** An integer column (Postgres may answer bigints as strings). */
export const Int = Schema.transform(Schema.Union(Schema.Number, Schema.NumberFromString), Schema.Number, {
  strict: true,
  decode: (value) => value,
  encode: (value) => value
})

/** The first row's `n` as a number (a `count(*) AS n`). */
export const countOf = (rows: ReadonlyArray<{ readonly n: unknown }>): number => Number(rows[0]?.n ?? 0)

/** Now, as stored. */
export const nowIso: Effect.Effect<string> = Effect.map(Clock.currentTimeMillis, (ms) => new Date(ms).toISOString())

/** A flag as stored. */
export const flag = (value: boolean): number => (value ? 1 : 0)
