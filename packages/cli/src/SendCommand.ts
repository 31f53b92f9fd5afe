/**
 * `sluice send`: pipes NDJSON entries, or plain text lines wrapped as
 * entries (`--source`, `--level`), to the agent socket (Unix by default,
 * `--tcp` with the shared secret), ends with `flush`, and reports how many
 * entries the agent accepted (all durable). Errors the agent answered go to
 * stderr and make the exit code 1.
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as NodeStream from "@effect/platform-node/NodeStream"
import { levelFromWord } from "@sluice/core/Level"
import { SocketClient } from "@sluice/socket"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import * as App from "./App.js"
import * as DataDir from "./DataDir.js"
import { configOption, loadSettings, settingFlags } from "./Options.js"
import { type Settings, SettingsError } from "./Settings.js"

/** The shared secret for `--tcp`: the setting, else the one generated in the data dir or agent state dir. */
const sharedSecretOf = (settings: Settings) => {
  if (settings.sharedSecret !== undefined) return Effect.succeed(Redacted.make(settings.sharedSecret))
  const files = [DataDir.layout(settings.dataDir), DataDir.layout(App.agentStateDir(settings))].map((l) =>
    l.sharedSecretFile
  )
  const found = files.find((f) => fs.existsSync(f))
  return found === undefined
    ? Effect.fail(
      new SettingsError({
        setting: "SLUICE_SHARED_SECRET",
        detail: "--tcp needs the shared secret (none set or generated)"
      })
    )
    : Effect.try({
      try: () => Redacted.make(fs.readFileSync(found, "utf8").trim()),
      catch: () => new SettingsError({ setting: "SLUICE_SHARED_SECRET", detail: `cannot read ${found}` })
    })
}

const levelOption = Options.text("level").pipe(
  Options.withDescription("level of text lines: 1-8 or a word (info, warn, error, …); default info"),
  Options.optional
)

/** `sluice send`. */
export const send = Command.make(
  "send",
  {
    config: configOption,
    flags: settingFlags,
    tcp: Options.boolean("tcp").pipe(
      Options.withDescription("send over TCP (with the shared secret) instead of the Unix socket")
    ),
    source: Options.text("source").pipe(
      Options.withDescription("source of text lines (default sluice-send)"),
      Options.optional
    ),
    level: levelOption,
    format: Options.choice("format", ["ndjson", "text"]).pipe(
      Options.withDescription(
        "ndjson: each line is a message; text: each line becomes an entry (default: text when --source or --level is given)"
      ),
      Options.optional
    )
  },
  ({ config, flags, format, level, source, tcp }) =>
    Effect.gen(function*() {
      const settings = yield* loadSettings(config, flags)
      const levelNumber = Option.isNone(level)
        ? undefined
        : /^[1-8]$/.test(level.value)
        ? Number(level.value)
        : levelFromWord(level.value)
      if (Option.isSome(level) && levelNumber === undefined) {
        return yield* new SettingsError({
          setting: "--level",
          detail: "must be 1-8 or a level word such as info or error"
        })
      }
      const text = Option.getOrElse(format, () => Option.isSome(source) || Option.isSome(level) ? "text" : "ndjson")
      const target = tcp
        ? SocketClient.tcp(settings.tcpHost, settings.tcpPort)
        : SocketClient.unix(settings.socketPath)
      const sharedSecret = tcp ? yield* sharedSecretOf(settings) : undefined
      const lines = NodeStream.fromReadable<SettingsError, Uint8Array>(
        () => process.stdin,
        (e) => new SettingsError({ setting: "stdin", detail: `cannot read: ${String(e)}` })
      ).pipe(
        Stream.decodeText(),
        Stream.splitLines
      )
      const result = yield* SocketClient.send(lines, {
        target,
        sharedSecret,
        format: text === "text" ? "text" : "ndjson",
        source: Option.getOrUndefined(source),
        level: levelNumber
      })
      for (const error of result.errors) yield* Console.error(`agent: ${error}`)
      yield* Console.log(`accepted ${result.accepted} entries (durable) at ${SocketClient.describeTarget(target)}`)
      if (result.errors.length > 0) process.exitCode = 1
    })
).pipe(Command.withDescription("send NDJSON or text lines from stdin to the agent socket, then flush"))
