/**
 * `sluice agent enrol` and `sluice agent run` (SPEC §0, §4).
 *
 * - `agent enrol --api-url URL --token EBT_…` enrols this host with the
 *   control plane and writes the agent's identity and token (mode 0600) to
 *   the agent state dir. The token is never printed.
 * - `agent run --upstream URL --token T` is the static agent: socket
 *   listeners, spool, forwarding to `{upstream}/v1/drain`.
 * - `agent run` without an upstream is the enrolled agent: the same socket
 *   listeners and spool, forwarding to the control plane's edge endpoint
 *   with its agent token (read on every attempt, so a rotated token is used
 *   at once), and the fleet runtime: config polls that build and swap the
 *   inputs, heartbeats, and the action executor. A revoked token ends it
 *   (one line, exit 2). An upgrade that installed a new version restarts it:
 *   everything is shut down gracefully, then the same command line is
 *   started again and this process exits 0.
 *
 * The agent records its pid in `<state dir>/agent.pid` while it runs.
 */
import * as Command from "@effect/cli/Command"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as FileSystem from "@effect/platform/FileSystem"
import { ActionExecutor, Agent, AgentState, BuiltinActions, Enrol, Restart } from "@sluice/agent"
import * as Input from "@sluice/core/Input"
import { FileInput } from "@sluice/input-file"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as path from "node:path"
import * as v8 from "node:v8"
import * as vm from "node:vm"
import * as App from "./App.js"
import { configOption, loadSettings, settingFlags } from "./Options.js"
import { type Settings, SettingsError } from "./Settings.js"
import { prepare, print, socketLines, version } from "./Startup.js"

/** The input types this build's agent knows. */
export const inputs: ReadonlyArray<Input.Input> = [FileInput.FileInput]

/** The version this agent reports: `agent.version`, else the build's. */
const agentVersion = (settings: Settings) => settings.agentVersion ?? version

const enrol = Command.make(
  "enrol",
  { config: configOption, flags: settingFlags },
  ({ config, flags }) =>
    Effect.gen(function*() {
      const settings = yield* loadSettings(config, flags)
      if (settings.apiUrl === undefined) {
        return yield* new SettingsError({
          setting: "--api-url",
          detail: "sluice agent enrol needs --api-url URL (the control plane's base URL, without /api/v1)"
        })
      }
      if (settings.upstreamToken === undefined || !settings.upstreamToken.startsWith("EBT_")) {
        return yield* new SettingsError({
          setting: "--token",
          detail: "sluice agent enrol needs --token EBT_… (an enrolment token of the group)"
        })
      }
      const stateDir = App.agentStateDir(settings)
      const enrolled = yield* Enrol.enrol({
        apiUrl: settings.apiUrl,
        bootstrapToken: Redacted.make(settings.upstreamToken),
        stateDir,
        groupSlug: settings.enrolGroup,
        version: agentVersion(settings)
      }).pipe(Effect.provide(NodeHttpClient.layerUndici))
      yield* print([
        `enrolled as agent ${enrolled.agentId} (group ${enrolled.groupId}, config version ${enrolled.configVersion})`,
        `  state    ${enrolled.stateDir}  (token in ${path.join(enrolled.stateDir, "token")}, mode 0600)`,
        "Run it with: sluice agent run"
      ])
    })
).pipe(Command.withDescription("enrol this host with the control plane (--api-url URL --token EBT_…)"))

/**
 * Applies `agent.heap_growing_percent` (default 50) to this process: how much
 * V8 lets the old generation grow past what survived the last full GC before
 * it collects again, instead of V8's own choice, which with a large heap
 * limit goes up to 4×. The agent's live set is small (the queue, a commit
 * group) but every queued event survives to the old generation, so with 4×
 * growth the heap (and the peak RSS) reached ~3× what was live. This is no
 * cap: the heap limit stays V8's default, so nothing the bounded queues may
 * hold can run out of memory because of it (docs/agent.md, "Memory").
 *
 * 0 leaves V8's choice, and so does a `--heap-growing-percent` on node's
 * command line. `v8.setFlagsFromString` after start-up works for this flag:
 * V8 reads it each time it recomputes the old generation's limit (measured on
 * bench:forward phase 1: peak RSS ~435 → ~265 MB, accept rate −8 %); it does
 * not for `--max-old-space-size` (`heap_size_limit` stays 4144 MB). Answers
 * the percent set, or `undefined` when nothing was set.
 */
export const tuneAgentHeap = (
  percent: number,
  execArgv: ReadonlyArray<string> = process.execArgv
): number | undefined => {
  if (execArgv.some((arg) => /^--heap[-_]growing[-_]percent\b/.test(arg))) return undefined
  if (percent === 0) return undefined
  v8.setFlagsFromString(`--heap-growing-percent=${percent}`)
  return percent
}

/**
 * One full garbage collection, once the agent is built and before it takes
 * any event. Until V8's first full GC the old generation may grow to its
 * initial limit (~128 MB here) whatever `--heap-growing-percent` says; start-up
 * leaves ~80 MB of module-loading garbage, so the first seconds of ingest
 * took the heap to ~130 MB before the first collection (bench:forward phase
 * 1, `--trace-gc`). After this one the next limit is computed from the live
 * start-up set (~40 MB) with the agent's growing percent. Uses `gc` from a
 * fresh context after `--expose-gc` (the flag is read when a context is made).
 */
export const collectStartupGarbage = (): void => {
  v8.setFlagsFromString("--expose-gc")
  const gc = vm.runInNewContext("gc") as (() => void) | undefined
  v8.setFlagsFromString("--no-expose-gc")
  if (typeof gc === "function") gc()
}

/**
 * The banner's memory line: the young generation's semi-space (set by the
 * `sluice` launcher, or by the operator's NODE_OPTIONS) and the heap growing
 * percent (`tuneAgentHeap`).
 */
export const memoryLine = (
  percent: number | undefined,
  nodeOptions: ReadonlyArray<string> = [...(process.env["NODE_OPTIONS"] ?? "").split(/\s+/), ...process.execArgv]
): string => {
  const flag = (name: string) =>
    nodeOptions.reduce<string | undefined>(
      (found, arg) => arg.replace(/_/g, "-").startsWith(`--${name}=`) ? arg.slice(arg.indexOf("=") + 1) : found,
      undefined
    )
  const semi = flag("max-semi-space-size")
  const growing = percent ?? flag("heap-growing-percent")
  const helpers = flag("v8-pool-size")
  return `  memory   semi-space ${semi === undefined ? "V8's default" : `${semi} MiB`}, heap growing ${
    growing === undefined ? "V8's default" : `${growing} %`
  }${helpers === undefined ? "" : `, V8 helper threads ${helpers}`}`
}

/** Records the pid in the state dir while the agent runs. */
const pidFile = (stateDir: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const file = path.join(stateDir, "agent.pid")
    yield* Effect.acquireRelease(
      fs.writeFileString(file, `${process.pid}\n`).pipe(Effect.orDie),
      () => fs.remove(file).pipe(Effect.ignore)
    )
  })

/** The static agent: sockets, spool, forwarding to the upstream drain. */
const runStatic = (settings: Settings, upstream: string, token: string, memory: string) =>
  Effect.scoped(Effect.gen(function*() {
    const { data, secrets } = yield* prepare(settings, App.agentStateDir(settings))
    yield* pidFile(data.dir)
    const context = yield* Layer.build(
      App.agentLayer(settings, data, secrets, { url: App.drainUrl(upstream), token: Redacted.make(token) })
    )
    yield* Effect.sync(collectStartupGarbage)
    yield* print([
      `sluice agent ${agentVersion(settings)} is up`,
      ...socketLines(context),
      `  upstream ${App.withoutCredentials(App.drainUrl(upstream))}`,
      `  spool    ${data.dir}  (quota ${settings.spoolQuotaBytes} bytes, ${settings.spoolFull} when full)`,
      ...(secrets.files.length > 0 ? [`  secrets  ${secrets.files.join(", ")}`] : []),
      memory,
      "Press Ctrl-C to stop."
    ])
    return yield* Effect.never
  }))

/**
 * The enrolled agent until it is interrupted, revoked, or asked to restart;
 * answers `true` when a restart was asked for (after everything is closed).
 */
const runEnrolled = (settings: Settings, memory: string) =>
  Effect.scoped(Effect.gen(function*() {
    const stateDir = App.agentStateDir(settings)
    const state = yield* AgentState.make(stateDir)
    if (!(yield* state.hasIdentity)) {
      return yield* new SettingsError({
        setting: "SLUICE_AGENT_STATE_DIR",
        detail: `${stateDir} holds no enrolment: run sluice agent enrol --api-url URL --token EBT_… first, ` +
          "or sluice agent run --upstream URL --token T for a static agent"
      })
    }
    const identity = yield* state.readIdentity
    const apiUrl = (settings.apiUrl ?? identity.apiUrl).replace(/\/+$/, "")
    const { data, secrets } = yield* prepare(settings, stateDir)
    yield* pidFile(data.dir)
    const options: Agent.AgentOptions = {
      stateDir,
      apiUrl,
      version: agentVersion(settings),
      allowedPaths: settings.allowedPaths,
      pollInterval: Duration.seconds(settings.pollIntervalSeconds),
      heartbeatInterval: Duration.seconds(settings.heartbeatIntervalSeconds)
    }
    const pipeline = App.agentLayer(settings, data, secrets, {
      url: `${apiUrl}/api/v1/edge/logs`,
      // Read on every attempt: a rotated token is used at once; an unreadable one is refused (401) and retried.
      token: state.readToken.pipe(Effect.orElseSucceed(() => Redacted.make(""))),
      routing: true
    })
    const runtime = Agent.layer(options).pipe(
      Layer.provide(Input.registry(inputs)),
      Layer.provide(NodeHttpClient.layerUndici)
    )
    const executor = ActionExecutor.layer().pipe(
      Layer.provide(BuiltinActions.layer({ upgrade: { command: settings.upgradeCommand } })),
      Layer.provideMerge(runtime)
    )
    const restarter = yield* Restart.Restarter
    const context = yield* Layer.build(executor.pipe(Layer.provideMerge(pipeline)))
    yield* Effect.sync(collectStartupGarbage)
    yield* print([
      `sluice agent ${options.version} is up (agent ${identity.agentId})`,
      ...socketLines(context),
      `  control  ${
        App.withoutCredentials(apiUrl)
      }  (config every ${settings.pollIntervalSeconds} s, heartbeat every ${settings.heartbeatIntervalSeconds} s)`,
      `  edge     ${App.withoutCredentials(`${apiUrl}/api/v1/edge/logs`)}`,
      `  state    ${data.dir}  (token, applied config, spool: quota ${settings.spoolQuotaBytes} bytes)`,
      memory,
      "Press Ctrl-C to stop."
    ])
    return yield* Effect.raceFirst(
      Agent.run(options).pipe(Effect.provide(context)),
      Effect.as(restarter.requested, true)
    )
  }))

const run = Command.make(
  "run",
  { config: configOption, flags: settingFlags },
  ({ config, flags }) =>
    Effect.gen(function*() {
      const settings = yield* loadSettings(config, flags, "agent")
      // Before the pipeline allocates: the agent's heap growth (not `sluice up`'s).
      const growing = yield* Effect.sync(() => tuneAgentHeap(settings.heapGrowingPercent))
      if (settings.upstream !== undefined) {
        if (settings.upstreamToken === undefined) {
          return yield* new SettingsError({ setting: "--token", detail: "--upstream needs --token TOKEN" })
        }
        return yield* runStatic(settings, settings.upstream, settings.upstreamToken, memoryLine(growing))
      }
      const restart = yield* runEnrolled(settings, memoryLine(growing)).pipe(Effect.provide(Restart.layer))
      if (restart) {
        const pid = yield* Restart.reexec()
        yield* print([`sluice agent: restarted as process ${pid}`])
      }
    })
).pipe(
  Command.withDescription(
    "run the agent: enrolled (after sluice agent enrol), or static with --upstream URL --token T"
  )
)

/** `sluice agent …`. */
export const agent = Command.make("agent").pipe(
  Command.withDescription("the edge agent"),
  Command.withSubcommands([enrol, run])
)
