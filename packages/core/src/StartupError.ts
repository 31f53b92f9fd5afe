/**
 * A layer could not start because of a setting (a taken port, a socket held
 * by a live process, an unwritable directory). The CLI prints `message` as
 * one line naming the setting and exits 2.
 */
import * as Schema from "effect/Schema"

/** The `code` of a Node system error (`EADDRINUSE`, `ENOENT`, …), if it has one. */
export const errorCode = (cause: unknown): string | undefined =>
  typeof cause === "object" && cause !== null && "code" in cause && typeof cause.code === "string"
    ? cause.code
    : undefined

/** A Node error in one line, for start-up messages. */
export const describeError = (cause: unknown): string => cause instanceof Error ? cause.message : String(cause)

/** A start-up failure caused by the named setting. */
export class StartupError extends Schema.TaggedError<StartupError>()("StartupError", {
  /** The setting, as the operator writes it (e.g. `SLUICE_HTTP_PORT`). */
  setting: Schema.String,
  /** What is wrong and what to do, in one line. */
  detail: Schema.String
}) {
  override get message() {
    return `${this.setting}: ${this.detail}`
  }
}
