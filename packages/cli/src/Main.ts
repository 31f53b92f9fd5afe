/**
 * The `sluice` command line: `up`, `server`, `version`, `validate`, `send`.
 * Settings come from the config file < environment < flags (Settings.ts).
 * A bad setting or a start-up failure prints one line naming the setting
 * and exits 2; SIGINT/SIGTERM stop gracefully (listeners close, everything
 * accepted is committed) and exit 0.
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as HttpServer from "@effect/platform/HttpServer"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as fs from "node:fs"
import * as path from "node:path"
import * as App from "./App.js"
import * as DataDir from "./DataDir.js"
import { type Flags, flagDefinitions, readConfigFile, resolve, type Settings, SettingsError } from "./Settings.js"

/** This build's version, from the CLI package. */
export const version: string = (JSON.parse(
  fs.readFileSync(new URL("../package.json", import.meta.url), "utf8")
) as { version: string }).version

const configOption = Options.file("config").pipe(
  Options.withAlias("c"),
  Options.withDescription("config file (default: ./sluice.yaml if present)"),
  Options.optional
)

const settingFlags = Options.all(
  Object.fromEntries(
    flagDefinitions.map((d) => [
      d.flag,
      Options.text(d.flag).pipe(Options.withDescription(`overrides ${d.env}`), Options.optional)
    ])
  )
)

/** Reads the settings from the file, the environment and the flags. */
export const loadSettings = (config: Option.Option<string>, flags: Readonly<Record<string, Option.Option<string>>>) =>
  Effect.suspend(() => {
    const file = Option.getOrElse(config, () => "sluice.yaml")
    const tree = readConfigFile(file, Option.isSome(config))
    if (Either.isLeft(tree)) return Effect.fail(tree.left)
    const given: Record<string, string | undefined> = {}
    for (const [k, v] of Object.entries(flags)) given[k] = Option.getOrUndefined(v)
    const settings = resolve({
      file: tree.right === undefined ? undefined : { path: file, tree: tree.right },
      env: process.env,
      flags: given satisfies Flags
    })
    return Either.isLeft(settings) ? Effect.fail(settings.left) : Effect.succeed(settings.right)
  })

const print = (lines: ReadonlyArray<string>) => Console.log(lines.join("\n"))

/** Runs the gateway until interrupted; `withSockets` adds the agent socket listeners. */
const run = (settings: Settings, withSockets: boolean) =>
  Effect.scoped(Effect.gen(function*() {
    if (settings.store !== "sqlite") {
      return yield* new SettingsError({
        setting: "SLUICE_STORE",
        detail: "the postgres store is not in this build yet; use sqlite"
      })
    }
    if (settings.queue !== "memory") {
      return yield* new SettingsError({ setting: "SLUICE_QUEUE", detail: "the nats queue is not in this build yet; use memory" })
    }
    const data = yield* DataDir.ensure(settings.dataDir)
    const secrets = yield* DataDir.secrets(data, {
      sharedSecret: settings.sharedSecret,
      drainTokens: settings.drainTokens
    })
    const pipeline = App.pipelineLayer(settings, data)
    const routes = App.routesLayer(settings)
    const http = App.httpLayer(settings, routes)
    const sockets = withSockets ? App.socketsLayer(settings, secrets) : Layer.empty
    const all = Layer.merge(http, sockets).pipe(
      Layer.provideMerge(pipeline),
      Layer.provide(App.tokensLayer(secrets))
    )
    const context = yield* Layer.build(all)
    const address = yield* HttpServer.addressFormattedWith((a) => Effect.succeed(a)).pipe(Effect.provide(context))
    yield* print([
      `sluice ${version} is up`,
      `  http     ${address}  (POST /v1/drain, GET /health, GET /metrics)`,
      ...(withSockets
        ? [
          `  unix     ${path.resolve(settings.socketPath)}`,
          `  tcp      ${settings.tcpHost}:${settings.tcpPort}`
        ]
        : []),
      `  data     ${data.dir}  (store: sqlite, ${path.basename(data.mainDb)} + ${path.basename(data.searchDb)})`,
      ...(secrets.files.length > 0 ? [`  secrets  ${secrets.files.join(", ")}`] : []),
      "Press Ctrl-C to stop."
    ])
    return yield* Effect.never
  }))

const up = Command.make("up", { config: configOption, flags: settingFlags }, ({ config, flags }) =>
  loadSettings(config, flags).pipe(Effect.flatMap((s) => run(s, true)))).pipe(
    Command.withDescription("run the gateway, the HTTP drain and the agent sockets on this machine (SQLite)")
  )

const server = Command.make("server", { config: configOption, flags: settingFlags }, ({ config, flags }) =>
  loadSettings(config, flags).pipe(Effect.flatMap((s) => run(s, false)))).pipe(
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
      yield* Console.log(`${path}: valid (data dir ${settings.dataDir}, http ${settings.httpHost}:${settings.httpPort})`)
    })
).pipe(Command.withDescription("check a config file without running it"))

const root = Command.make("sluice").pipe(
  Command.withDescription("Sluice: an Effect-native log gateway"),
  Command.withSubcommands([up, server, versionCommand, validate, ...App.extraCommands])
)

/** The CLI, ready to run over `process.argv`. */
export const cli = Command.run(root, { name: "sluice", version })

/** Errors that end with one line and exit code 2. */
export const isOperatorError = (error: unknown): error is { readonly message: string } =>
  error instanceof SettingsError || (typeof error === "object" && error !== null && "_tag" in error &&
    (error._tag === "StartupError" || error._tag === "SettingsError"))
