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
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as path from "node:path"
import * as AdminCommands from "./AdminCommands.js"
import * as AgentCommands from "./AgentCommands.js"
import * as App from "./App.js"
import { configOption, loadSettings, settingFlags } from "./Options.js"
import { send } from "./SendCommand.js"
import { type Settings, SettingsError } from "./Settings.js"
import * as SpoolCommands from "./SpoolCommands.js"
import { prepare, print, socketLines, version } from "./Startup.js"

/** Runs the gateway until interrupted; `withSockets` adds the agent socket listeners. */
const run = (settings: Settings, withSockets: boolean) =>
  Effect.scoped(Effect.gen(function*() {
    const { data, secrets } = yield* prepare(settings, settings.dataDir)
    // Loaded here, not at start-up: the agent's commands never need the HTTP side.
    const Gateway = yield* Effect.promise(() => import("./Gateway.js"))
    const pipeline = App.pipelineLayer(settings, data)
    const http = Gateway.httpLayer(settings, Gateway.routesLayer(settings, data))
    const all = Layer.merge(http, withSockets ? App.socketsLayer(settings, secrets) : Layer.empty).pipe(
      Layer.provide(Gateway.tokensLayer(secrets)),
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
      ...Option.toArray(Option.fromNullable(App.upstreamOf(settings))).map((upstream) =>
        `  upstream ${App.withoutCredentials(App.drainUrl(upstream.url))}  (forwarding what is stored)`
      ),
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
    AgentCommands.agent,
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
    typeof error._tag === "string" && operatorErrors.has(error._tag))

const operatorErrors: ReadonlySet<string> = new Set([
  "StartupError",
  "SettingsError",
  "SocketClientError",
  "TailError",
  // The agent's: enrolment refused, not enrolled, revoked, control plane unreachable at enrolment.
  "EnrolRefused",
  "AgentStateError",
  "AgentRevoked",
  "ControlPlaneUnavailable",
  "ControlPlaneRejected",
  "ReexecFailed"
])
export { version } from "./Startup.js"
