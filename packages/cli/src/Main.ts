/**
 * The `sluice` command line: `up`, `server`, `version`, `validate`, `send`.
 * Settings come from the config file < environment < flags (Settings.ts).
 * A bad setting or a start-up failure prints one line naming the setting
 * and exits 2; SIGINT/SIGTERM stop gracefully (listeners close, everything
 * accepted is committed) and exit 0.
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as HttpServer from "@effect/platform/HttpServer"
import { TcpTransport, UnixTransport } from "@sluice/socket"
import * as Console from "effect/Console"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as fs from "node:fs"
import * as path from "node:path"
import * as AdminCommands from "./AdminCommands.js"
import * as App from "./App.js"
import * as DataDir from "./DataDir.js"
import { configOption, loadSettings, settingFlags } from "./Options.js"
import { send } from "./SendCommand.js"
import { type Settings, SettingsError } from "./Settings.js"
import * as SpoolCommands from "./SpoolCommands.js"

/** This build's version, from the CLI package. */
export const version: string = (JSON.parse(
  fs.readFileSync(new URL("../package.json", import.meta.url), "utf8")
) as { version: string }).version

const print = (lines: ReadonlyArray<string>) => Console.log(lines.join("\n"))

/** Checks the backends this build has, then prepares the data dir and its secrets. */
const prepare = (settings: Settings, dataDir: string) =>
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
const socketLines = <R>(context: Context.Context<R>): ReadonlyArray<string> => [
  ...Option.toArray(Context.getOption(context, UnixTransport.UnixTransport)).map((u) => `  unix     ${u.path}`),
  ...Option.toArray(Context.getOption(context, TcpTransport.TcpTransport)).map((t) =>
    `  tcp      ${t.host}:${t.port}  (shared secret required)`
  )
]

/** Runs the gateway until interrupted; `withSockets` adds the agent socket listeners. */
const run = (settings: Settings, withSockets: boolean) =>
  Effect.scoped(Effect.gen(function*() {
    const { data, secrets } = yield* prepare(settings, settings.dataDir)
    const pipeline = App.pipelineLayer(settings, data)
    const http = App.httpLayer(settings, App.routesLayer(settings, data))
    const all = Layer.merge(http, withSockets ? App.socketsLayer(settings, secrets) : Layer.empty).pipe(
      Layer.provide(App.tokensLayer(secrets)),
      Layer.provideMerge(pipeline)
    )
    const context = yield* Layer.build(all)
    const address = yield* HttpServer.addressFormattedWith((a) => Effect.succeed(a)).pipe(Effect.provide(context))
    const sockets = withSockets ? socketLines(context) : []
    yield* print([
      `sluice ${version} is up`,
      `  http     ${address}  (POST /v1/drain, GET /health, GET /metrics)`,
      `  api      ${address}/api/v1  (OpenAPI at /api/v1/openapi.json, docs at /docs)`,
      ...sockets,
      ...(settings.upstream !== undefined && settings.upstreamToken !== undefined
        ? [`  upstream ${App.withoutCredentials(App.drainUrl(settings.upstream))}  (forwarding what is stored)`]
        : []),
      `  data     ${data.dir}  (store: sqlite, ${path.basename(data.mainDb)} + ${path.basename(data.searchDb)})`,
      ...(secrets.files.length > 0 ? [`  secrets  ${secrets.files.join(", ")}`] : []),
      "Press Ctrl-C to stop."
    ])
    return yield* Effect.never
  }))

const up = Command.make(
  "up",
  { config: configOption, flags: settingFlags },
  ({ config, flags }) => loadSettings(config, flags).pipe(Effect.flatMap((s) => run(s, true)))
).pipe(
  Command.withDescription("run the gateway, the HTTP drain and the agent sockets on this machine (SQLite)")
)

const server = Command.make(
  "server",
  { config: configOption, flags: settingFlags },
  ({ config, flags }) => loadSettings(config, flags).pipe(Effect.flatMap((s) => run(s, false)))
).pipe(
  Command.withDescription("run the control plane and HTTP drain only")
)

/** `sluice agent run`: a static agent forwarding to `--upstream` with `--token`. */
const agentRun = Command.make(
  "run",
  { config: configOption, flags: settingFlags },
  ({ config, flags }) =>
    Effect.scoped(Effect.gen(function*() {
      const settings = yield* loadSettings(config, flags)
      if (settings.upstream === undefined || settings.upstreamToken === undefined) {
        return yield* new SettingsError({
          setting: "--upstream",
          detail: "sluice agent run needs --upstream URL and --token TOKEN (enrolment comes with the fleet)"
        })
      }
      const { data, secrets } = yield* prepare(settings, App.agentStateDir(settings))
      const context = yield* Layer.build(
        App.agentLayer(settings, data, secrets, {
          url: settings.upstream,
          token: Redacted.make(settings.upstreamToken)
        })
      )
      const sockets = socketLines(context)
      yield* print([
        `sluice agent ${version} is up`,
        ...sockets,
        `  upstream ${App.withoutCredentials(App.drainUrl(settings.upstream))}`,
        `  spool    ${data.dir}  (quota ${settings.spoolQuotaBytes} bytes, ${settings.spoolFull} when full)`,
        ...(secrets.files.length > 0 ? [`  secrets  ${secrets.files.join(", ")}`] : []),
        "Press Ctrl-C to stop."
      ])
      return yield* Effect.never
    }))
).pipe(Command.withDescription("run an agent: socket listeners, spool, forwarding to --upstream"))

const agent = Command.make("agent").pipe(
  Command.withDescription("the edge agent"),
  Command.withSubcommands([agentRun])
)

const versionCommand = Command.make("version", {}, () => Console.log(`sluice ${version}`)).pipe(
  Command.withDescription("print the version")
)

const validate = Command.make(
  "validate",
  { file: Args.file({ name: "FILE", exists: "yes" }) },
  ({ file }) =>
    Effect.gen(function*() {
      const path = file
      const settings = yield* loadSettings(Option.some(path), {})
      yield* Console.log(
        `${path}: valid (data dir ${settings.dataDir}, http ${settings.httpHost}:${settings.httpPort})`
      )
    })
).pipe(Command.withDescription("check a config file without running it"))

const root = Command.make("sluice").pipe(
  Command.withDescription("Sluice: an Effect-native log gateway"),
  Command.withSubcommands([
    up,
    server,
    agent,
    versionCommand,
    validate,
    ...SpoolCommands.commands,
    send,
    ...AdminCommands.commands
  ])
)

/** The CLI, ready to run over `process.argv`. */
export const cli = Command.run(root, { name: "sluice", version })

/** Errors that end with one line and exit code 2. */
export const isOperatorError = (error: unknown): error is { readonly message: string } =>
  error instanceof SettingsError || (typeof error === "object" && error !== null && "_tag" in error &&
    (error._tag === "StartupError" || error._tag === "SettingsError" || error._tag === "SocketClientError" ||
      error._tag === "TailError"))
