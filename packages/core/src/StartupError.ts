/**
 * A layer could not start because of a setting (a taken port, a socket held
 * by a live process, an unwritable directory). The CLI prints `message` as
 * one line naming the setting and exits 2.
 */
import * as Schema from "effect/Schema"

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
