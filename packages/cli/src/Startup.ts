/**
 * What every running command shares at start: this build's version, the
 * data dir and its secrets, and the banner lines.
 */
import { TcpTransport, UnixTransport } from "@sluice/socket"
import * as Console from "effect/Console"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as fs from "node:fs"
import * as DataDir from "./DataDir.js"
import { type Settings, SettingsError } from "./Settings.js"

/** This build's version, from the CLI package. */
export const version: string = (JSON.parse(
  fs.readFileSync(new URL("../package.json", import.meta.url), "utf8")
) as { version: string }).version

export const print = (lines: ReadonlyArray<string>) => Console.log(lines.join("\n"))

/** Checks the backends this build has, then prepares the data dir and its secrets. */
export const prepare = (settings: Settings, dataDir: string) =>
  Effect.gen(function*() {
    if (settings.store !== "sqlite") {
      return yield* new SettingsError({
        setting: "SLUICE_STORE",
        detail: "the postgres store is not in this build yet; use sqlite"
      })
    }
    if (settings.queue !== "memory") {
      return yield* new SettingsError({
        setting: "SLUICE_QUEUE",
        detail: "the nats queue is not in this build yet; use memory"
      })
    }
    const data = yield* DataDir.ensure(dataDir)
    const secrets = yield* DataDir.secrets(data, {
      sharedSecret: settings.sharedSecret,
      drainTokens: settings.drainTokens
    })
    return { data, secrets }
  })

/** The banner lines of the socket listeners running in a built context. */
export const socketLines = <R>(context: Context.Context<R>): ReadonlyArray<string> => [
  ...Option.toArray(Context.getOption(context, UnixTransport.UnixTransport)).map((u) => `  unix     ${u.path}`),
  ...Option.toArray(Context.getOption(context, TcpTransport.TcpTransport)).map((t) =>
    `  tcp      ${t.host}:${t.port}  (shared secret required)`
  )
]
