/**
 * Keeps the agent's inputs on its group's config (SPEC §4 "Config polling").
 *
 * On start it applies the config saved in the state dir, so a restarted agent
 * resumes its inputs without the control plane. Then every interval it polls
 * `since` the applied version; a served config is decoded (YAML, then the
 * `AgentConfig` schema), built and swapped in by the `InputSupervisor`, and
 * only then saved to the state dir with its version. A config that fails
 * keeps the old one running, becomes `lastConfigError` (naming its version
 * and what is wrong), and is not tried again while its etag stays the same.
 * `{}` stops every input (the socket listeners are not inputs).
 *
 * Transient failures (network, 5xx, 429, unexpected answers) are logged and
 * tried on the next tick; only `AgentRevoked` ends the loop.
 */
import * as AgentConfig from "@sluice/core/AgentConfig"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as YAML from "yaml"
import { AgentState, etagOf } from "./AgentState.js"
import {
  type AgentRevoked,
  ControlPlaneClient,
  type ControlPlaneError,
  type ServedConfig
} from "./ControlPlaneClient.js"
import { ConfigError, InputSupervisor } from "./InputSupervisor.js"

/** What the poller reports in heartbeats. */
export interface PollerStatus {
  /** The version of the config running now (0: none yet). */
  readonly appliedVersion: number
  /** Why the last config did not apply, `null` once one applies. */
  readonly lastConfigError: string | null
}

/** The config loop's handle. */
export class ConfigPoller extends Context.Tag("@sluice/agent/ConfigPoller")<ConfigPoller, {
  /** Applies the config saved in the state dir (nothing when none is saved). */
  readonly resume: Effect.Effect<void>
  /** Polls once since the applied version and applies what is served; a bad config is recorded, not failed. */
  readonly poll: Effect.Effect<void, ControlPlaneError>
  /** Fetches the config since 0 and applies it even if it failed before; fails when it does not apply. */
  readonly reload: Effect.Effect<void, ControlPlaneError | ConfigError>
  readonly status: Effect.Effect<PollerStatus>
}>() {}

const formatPath = (path: ReadonlyArray<PropertyKey>): string =>
  path.map((p, i) => typeof p === "number" ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`).join("")

/** Decodes a served config's text: YAML, then the schema; errors name the path. */
export const decode = (text: string, version: number | null): Effect.Effect<AgentConfig.AgentConfig, ConfigError> =>
  Effect.try({
    try: () => YAML.parse(text, { prettyErrors: true }) as unknown,
    catch: (error) =>
      new ConfigError({
        version,
        reason: `YAML: ${(error instanceof Error ? error.message : String(error)).split("\n")[0]}`
      })
  }).pipe(
    // An empty document means no inputs, as `{}` does.
    Effect.map((parsed) => parsed ?? {}),
    Effect.flatMap((parsed) =>
      Schema.decodeUnknown(AgentConfig.AgentConfig, { errors: "all" })(parsed).pipe(
        Effect.mapError((error) =>
          new ConfigError({
            version,
            reason: ParseResult.ArrayFormatter.formatErrorSync(error)
              .map((issue) => `${issue.path.length === 0 ? "" : `${formatPath(issue.path)}: `}${issue.message}`)
              .join("; ")
          })
        )
      )
    )
  )

interface PollerState {
  readonly appliedVersion: number
  readonly lastConfigError: string | null
  /** The etag of the config running now: served again, it is not rebuilt. */
  readonly appliedEtag: string | null
  /** The etag of a config that failed; not tried again until the served etag changes. */
  readonly failedEtag: string | null
}

/** Builds the poller over the client, the supervisor and the state dir. */
export const make: Effect.Effect<ConfigPoller["Type"], never, ControlPlaneClient | InputSupervisor | AgentState> =
  Effect.gen(function*() {
    const client = yield* ControlPlaneClient
    const supervisor = yield* InputSupervisor
    const state = yield* AgentState
    const lock = yield* Effect.makeSemaphore(1)
    const current = yield* Ref.make<PollerState>({
      appliedVersion: 0,
      lastConfigError: null,
      appliedEtag: null,
      failedEtag: null
    })

    const failed = (error: ConfigError, etag: string | null) =>
      Effect.zipRight(
        Ref.update(current, (s): PollerState => ({ ...s, lastConfigError: error.message, failedEtag: etag })),
        Effect.logWarning(`the config did not apply; the previous one keeps running: ${error.message}`)
      )

    /** Decodes, builds and swaps; on success saves it and records the version. */
    const applyServed = (served: ServedConfig, force: boolean) =>
      Effect.gen(function*() {
        const etag = served.etag === "" ? etagOf(served.text) : served.etag
        const before = yield* Ref.get(current)
        if (!force && before.failedEtag === etag) return
        if (!force && before.appliedEtag === etag) {
          return yield* Ref.set(current, { ...before, appliedVersion: served.version })
        }
        const result = yield* decode(served.text, served.version).pipe(
          Effect.flatMap((config) =>
            supervisor.apply(config).pipe(
              Effect.mapError((error) => new ConfigError({ version: served.version, reason: error.reason }))
            )
          ),
          Effect.either
        )
        if (Either.isLeft(result)) {
          yield* failed(result.left, etag)
          return yield* result.left
        }
        yield* Ref.set(current, {
          appliedVersion: served.version,
          lastConfigError: null,
          appliedEtag: etag,
          failedEtag: null
        })
        yield* Effect.logInfo(`applied config version ${served.version}`)
        // Saved only once it runs: a restart resumes a config known to work.
        yield* state.writeConfig({ version: served.version, etag, text: served.text }).pipe(
          Effect.catchAll((error) => Effect.logWarning(`the applied config could not be saved: ${error.message}`))
        )
      })

    const resume = lock.withPermits(1)(
      Effect.gen(function*() {
        const saved = yield* state.readConfig
        if (Option.isNone(saved)) return
        const config = yield* decode(saved.value.text, saved.value.version)
        yield* supervisor.apply(config)
        yield* Ref.set(current, {
          appliedVersion: saved.value.version,
          lastConfigError: null,
          appliedEtag: saved.value.etag,
          failedEtag: null
        })
        yield* Effect.logInfo(`resumed the saved config version ${saved.value.version}`)
      }).pipe(
        // Version 0: the next poll fetches whatever the group has now.
        Effect.catchAll((error) =>
          Effect.zipRight(
            Ref.update(current, (s): PollerState => ({
              ...s,
              appliedVersion: 0,
              lastConfigError: error._tag === "ConfigError" ? `saved ${error.message}` : error.message
            })),
            Effect.logWarning(`the saved config did not resume: ${error.message}`)
          )
        )
      )
    )

    const poll = lock.withPermits(1)(
      Effect.gen(function*() {
        const { appliedEtag, appliedVersion } = yield* Ref.get(current)
        const served = yield* client.pollConfig(appliedVersion, appliedEtag ?? undefined)
        if (Option.isNone(served)) return
        if (served.value._tag === "NotModified") {
          // The text running now is current: only the version moves.
          const answer = served.value
          return yield* Ref.update(
            current,
            (s): PollerState =>
              s.appliedEtag !== null && (answer.etag === "" || answer.etag === s.appliedEtag)
                ? { ...s, appliedVersion: answer.version }
                : s
          )
        }
        yield* Effect.ignore(applyServed(served.value, false))
      })
    )

    const reload = lock.withPermits(1)(
      Effect.gen(function*() {
        const served = yield* client.pollConfig(0)
        // Every group is at version 1 or more, so `since=0` is always served; a 204 changes nothing.
        if (Option.isNone(served)) return
        // Asked without If-None-Match, the control plane never answers 304.
        if (served.value._tag === "ServedConfig") yield* applyServed(served.value, true)
      })
    )

    const status = Effect.map(Ref.get(current), (s) => ({
      appliedVersion: s.appliedVersion,
      lastConfigError: s.lastConfigError
    }))

    return ConfigPoller.of({ resume, poll, reload, status })
  })

/** The poller as a layer. */
export const layer: Layer.Layer<ConfigPoller, never, ControlPlaneClient | InputSupervisor | AgentState> = Layer
  .effect(ConfigPoller, make)

/** Polls every `interval`, the first poll at once. Fails only when the agent is revoked. */
export const loop = (interval: Duration.DurationInput): Effect.Effect<never, AgentRevoked, ConfigPoller> =>
  Effect.flatMap(ConfigPoller, (poller) =>
    poller.poll.pipe(
      Effect.catchIf(
        (error): error is Exclude<ControlPlaneError, AgentRevoked> => error._tag !== "AgentRevoked",
        (error) =>
          Effect.logWarning(`config poll failed; trying again in ${Duration.format(interval)}: ${error.message}`)
      ),
      Effect.repeat(Schedule.spaced(interval)),
      Effect.zipRight(Effect.never)
    ))

/** The config loop: resumes the saved config, then `loop`. */
export const run = (interval: Duration.DurationInput): Effect.Effect<never, AgentRevoked, ConfigPoller> =>
  Effect.zipRight(Effect.flatMap(ConfigPoller, (poller) => poller.resume), loop(interval))
