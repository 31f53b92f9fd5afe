/**
 * Operator commands over an agent's spool, safe beside a running agent:
 * `sluice status` (the loss-accounting equation, in total and per
 * transport) and `sluice dlq list|replay|purge`.
 */
import * as Command from "@effect/cli/Command"
import * as ForwardLoop from "@sluice/core/ForwardLoop"
import { type Accounting, Spool } from "@sluice/core/Spool"
import { HttpForwarder } from "@sluice/forward-http"
import { SqliteSpool } from "@sluice/store-sql"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as fs from "node:fs"
import * as path from "node:path"
import * as App from "./App.js"
import * as DataDir from "./DataDir.js"
import { configOption, loadSettings, settingFlags } from "./Options.js"
import { type Settings, SettingsError } from "./Settings.js"

/** The spool of the agent state dir the settings point at. */
const spoolOf = (settings: Settings) => {
  const file = DataDir.layout(App.agentStateDir(settings)).mainDb
  return fs.existsSync(file)
    ? Effect.succeed(SqliteSpool.layerFile(file))
    : Effect.fail(
      new SettingsError({
        setting: "SLUICE_AGENT_STATE_DIR",
        detail: `no agent spool at ${path.dirname(file)} (has \`sluice agent run\` started there?)`
      })
    )
}

const row = (name: string, a: Accounting) =>
  `${name.padEnd(12)} ${
    [a.received, a.forwarded, a.buffered, a.dropped, a.deadLettered].map((n) => String(n).padStart(12))
      .join(" ")
  }`

const status = Command.make(
  "status",
  { config: configOption, flags: settingFlags },
  ({ config, flags }) =>
    Effect.gen(function*() {
      const settings = yield* loadSettings(config, flags)
      const layer = yield* spoolOf(settings)
      const report = yield* Effect.flatMap(Spool, (s) => s.accounting).pipe(Effect.provide(layer))
      const t = report.total
      const holds = t.received === t.forwarded + t.buffered + t.dropped + t.deadLettered
      yield* Console.log([
        `spool ${App.agentStateDir(settings)}: ${report.spoolBytes} of ${report.quotaBytes} bytes`,
        `${"transport".padEnd(12)} ${
          ["received", "forwarded", "buffered", "dropped", "dead_letter"].map((h) => h.padStart(12)).join(" ")
        }`,
        ...Object.entries(report.byTransport).map(([name, a]) => row(name, a)),
        row("total", t),
        `received = forwarded + buffered + dropped + dead_lettered: ${holds ? "holds" : "DOES NOT HOLD"}`
      ].join("\n"))
    })
).pipe(
  Command.withDescription("the agent's loss accounting: received = forwarded + buffered + dropped + dead-lettered")
)

const list = Command.make(
  "list",
  { config: configOption, flags: settingFlags },
  ({ config, flags }) =>
    Effect.gen(function*() {
      const settings = yield* loadSettings(config, flags)
      const layer = yield* spoolOf(settings)
      const page = yield* Effect.flatMap(Spool, (s) => s.deadLetters({ offset: 0, limit: 1000 })).pipe(
        Effect.provide(layer)
      )
      if (page.total === 0) return yield* Console.log("no dead letters")
      for (const d of page.items) {
        yield* Console.log(
          `#${d.id}  ${new Date(d.createdAt).toISOString()}  status ${d.status}  ${d.events.length} events  ${
            d.response.slice(0, 200).replace(/\s+/g, " ")
          }`
        )
      }
      yield* Console.log(`${page.total} dead letters`)
    })
).pipe(Command.withDescription("list the batches the upstream refused"))

const replay = Command.make(
  "replay",
  { config: configOption, flags: settingFlags },
  ({ config, flags }) =>
    Effect.gen(function*() {
      const settings = yield* loadSettings(config, flags)
      if (settings.upstream === undefined || settings.upstreamToken === undefined) {
        return yield* new SettingsError({
          setting: "--upstream",
          detail: "replay needs --upstream URL and --token TOKEN"
        })
      }
      const layer = yield* spoolOf(settings)
      const delivered = yield* ForwardLoop.replayDeadLetters().pipe(
        Effect.provide(layer),
        Effect.provide(
          HttpForwarder.layer({ url: App.drainUrl(settings.upstream), token: Redacted.make(settings.upstreamToken) })
        )
      )
      yield* Console.log(`replayed ${delivered} dead letters`)
    })
).pipe(Command.withDescription("send the dead letters again (after the upstream is fixed)"))

const purge = Command.make(
  "purge",
  { config: configOption, flags: settingFlags },
  ({ config, flags }) =>
    Effect.gen(function*() {
      const settings = yield* loadSettings(config, flags)
      const layer = yield* spoolOf(settings)
      const n = yield* Effect.flatMap(Spool, (s) => s.purgeDeadLetters).pipe(Effect.provide(layer))
      yield* Console.log(`purged ${n} dead letters (they stay counted as dead-lettered)`)
    })
).pipe(Command.withDescription("delete every dead letter for good"))

const dlq = Command.make("dlq").pipe(
  Command.withDescription("the agent's dead letters"),
  Command.withSubcommands([list, replay, purge])
)

/** `status` and `dlq`. */
export const commands = [status, dlq] as const
