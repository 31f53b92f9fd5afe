/**
 * Control-plane commands: `sluice tail` follows `/api/v1/logs/stream` with
 * the filters of `/logs`; `sluice admin create-user` creates a user straight
 * in the data dir's database (for a first admin, or a lost password).
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { SqliteEventStore } from "@sluice/store-sql"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import * as DataDir from "./DataDir.js"
import { configOption, loadSettings, settingFlags } from "./Options.js"
import { SettingsError } from "./Settings.js"

/** The control plane's package, loaded by the commands that use it (an agent never loads it). */
const controlPlane = Effect.promise(() => import("@sluice/control-plane"))

const filter = (name: string, description: string) =>
  Options.text(name).pipe(Options.withDescription(description), Options.optional)

const tail = Command.make(
  "tail",
  {
    config: configOption,
    flags: settingFlags,
    url: filter("url", "the control plane's base URL (default: http://HTTP_HOST:HTTP_PORT)"),
    token: filter("api-token", "a session token or API key (default: SLUICE_API_TOKEN)"),
    from: filter("from", "ISO 8601 start"),
    to: filter("to", "ISO 8601 end"),
    level: filter("level", "at most this level number (this severe or worse)"),
    source: filter("source", "exact source"),
    agentId: filter("agent-id", "agent id"),
    projectId: filter("project-id", "project id"),
    index: filter("index", "index"),
    q: filter("q", "full text in the message")
  },
  (o) =>
    Effect.gen(function*() {
      const settings = yield* loadSettings(o.config, o.flags)
      const token = Option.orElse(o.token, () => Option.fromNullable(process.env["SLUICE_API_TOKEN"]))
      if (Option.isNone(token)) {
        return yield* new SettingsError({
          setting: "--api-token",
          detail: "sluice tail needs a session token or an API key (--api-token or SLUICE_API_TOKEN)"
        })
      }
      const baseUrl = Option.getOrElse(o.url, () => `http://${settings.httpHost}:${settings.httpPort}`)
      const filters = {
        from: Option.getOrUndefined(o.from),
        to: Option.getOrUndefined(o.to),
        level: Option.getOrUndefined(o.level),
        source: Option.getOrUndefined(o.source),
        agent_id: Option.getOrUndefined(o.agentId),
        project_id: Option.getOrUndefined(o.projectId),
        index: Option.getOrUndefined(o.index),
        q: Option.getOrUndefined(o.q)
      }
      const { Tail } = yield* controlPlane
      yield* Tail.lines({ baseUrl, token: Redacted.make(token.value), filters }).pipe(
        Stream.runForEach((line) => Console.log(line)),
        Effect.provide(NodeHttpClient.layerUndici)
      )
    })
).pipe(Command.withDescription("follow stored logs live (/api/v1/logs/stream) with the /logs filters"))

const createUser = Command.make(
  "create-user",
  {
    config: configOption,
    flags: settingFlags,
    email: Args.text({ name: "EMAIL" }),
    role: Options.choice("role", ["viewer", "operator", "admin"]).pipe(Options.withDefault("admin")),
    password: Options.redacted("password").pipe(
      Options.withDescription("at least 12 characters (default: SLUICE_NEW_USER_PASSWORD)"),
      Options.optional
    )
  },
  (o) =>
    Effect.gen(function*() {
      const settings = yield* loadSettings(o.config, o.flags)
      const password = Option.orElse(
        o.password,
        () => Option.map(Option.fromNullable(process.env["SLUICE_NEW_USER_PASSWORD"]), Redacted.make)
      )
      if (Option.isNone(password)) {
        return yield* new SettingsError({
          setting: "--password",
          detail: "give the new user's password (--password or SLUICE_NEW_USER_PASSWORD)"
        })
      }
      const data = yield* DataDir.ensure(settings.dataDir)
      const { ControlPlane } = yield* controlPlane
      const user = yield* ControlPlane.createUser({ email: o.email, password: password.value, role: o.role }).pipe(
        Effect.provide(SqliteEventStore.clientLayer(data.mainDb)),
        Effect.catchTags({
          ValidationError: (e) =>
            new SettingsError({
              setting: "create-user",
              detail: Object.values(e.details ?? {}).join("; ") || e.message
            }),
          Conflict: () => new SettingsError({ setting: "EMAIL", detail: `a user ${o.email} exists already` })
        })
      )
      yield* Console.log(`created ${user.role} ${user.email} (${user.id})`)
    })
).pipe(Command.withDescription("create a user directly in the data dir's database"))

/** `tail` and `admin`. */
export const commands = [
  tail,
  Command.make("admin").pipe(Command.withDescription("administration"), Command.withSubcommands([createUser]))
] as const
