/**
 * The `upgrade_agent` action (SPEC §4 "Upgrade"): run the configured upgrade
 * command with the target version, then restart into the new version and
 * report `done` from the new process.
 *
 * Guarantees:
 * - the version is decoded by a semver `Schema` and substituted into the
 *   command template after the template was split into argv, so it is always
 *   part of one argument and never reaches a shell;
 * - the command runs with a timeout (default 10 minutes; its process group
 *   is killed, SIGKILL after a grace period) and its output is captured up
 *   to a cap (default 64 KiB);
 * - on exit 0 the marker `upgrade.json` `{actionId, fromVersion, toVersion}`
 *   is written atomically to the state dir before the restart is asked for,
 *   and the action is left in flight: the next start reports `done` from the
 *   marker (see `resume`) and removes it;
 * - any other end (exit ≠ 0, a signal, the timeout, a missing binary) fails
 *   the action with the command's output, and the running version stays.
 */
import * as Command from "@effect/platform/Command"
import type * as CommandExecutor from "@effect/platform/CommandExecutor"
import type * as FileSystem from "@effect/platform/FileSystem"
import type * as Action from "@sluice/core/Action"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as NodePath from "node:path"
import { ActionFailed, type ActionHandler, AwaitingRestart } from "./ActionHandlers.js"
import { AgentInfo } from "./AgentControl.js"
import * as StateFile from "./handlers/StateFile.js"
import { Restarter } from "./Restart.js"

/** The action type this module handles. */
export const type = "upgrade_agent"

/** A release version: semver `MAJOR.MINOR.PATCH[-pre][+build]`, at most 64 characters. */
export const Version = Schema.String.pipe(
  Schema.maxLength(64),
  Schema.pattern(
    /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$/,
    { message: () => "must be a version like 0.4.2 (semver)" }
  )
)

/** The action's payload. */
export const UpgradePayload = Schema.Struct({ targetVersion: Version })

/** What the state dir keeps across the restart. */
export const UpgradeMarker = Schema.Struct({
  actionId: Schema.String,
  fromVersion: Schema.String,
  toVersion: Schema.String
})
export type UpgradeMarker = typeof UpgradeMarker.Type

/** The marker's file name in the state dir. */
export const markerFile = "upgrade.json"

/** Settings of the upgrade handler. */
export interface UpgradeOptions {
  /** Command template; `{version}` is replaced inside the argument(s) that contain it. */
  readonly command: string
  /** How long the command may run. */
  readonly timeout: Duration.DurationInput
  /** Output kept from stdout and stderr together. */
  readonly maxOutputBytes: number
  /** After the timeout, how long SIGTERM is given before SIGKILL. */
  readonly killGrace: Duration.DurationInput
}

/** The package manager installing that version of the CLI, 10 minutes, 64 KiB. */
export const defaultOptions: UpgradeOptions = {
  command: "npm install -g @sluice/cli@{version}",
  timeout: Duration.minutes(10),
  maxOutputBytes: 64 * 1024,
  killGrace: Duration.seconds(5)
}

/**
 * Splits a command template into argv the way a POSIX shell splits words,
 * without any expansion: blanks separate, `'…'` is literal, `"…"` allows
 * `\"` and `\\`, and a backslash outside quotes escapes the next character.
 */
export const splitTemplate = (template: string): Either.Either<ReadonlyArray<string>, string> => {
  const words: Array<string> = []
  let word = ""
  let started = false
  let i = 0
  while (i < template.length) {
    const c = template[i]!
    if (c === " " || c === "\t" || c === "\n") {
      if (started) words.push(word)
      word = ""
      started = false
      i++
    } else if (c === "'") {
      const end = template.indexOf("'", i + 1)
      if (end < 0) return Either.left("unterminated ' quote")
      word += template.slice(i + 1, end)
      started = true
      i = end + 1
    } else if (c === "\"") {
      i++
      let closed = false
      while (i < template.length) {
        const d = template[i]!
        if (d === "\"") {
          closed = true
          i++
          break
        }
        if (d === "\\" && (template[i + 1] === "\"" || template[i + 1] === "\\")) {
          word += template[i + 1]
          i += 2
        } else {
          word += d
          i++
        }
      }
      if (!closed) return Either.left("unterminated \" quote")
      started = true
    } else if (c === "\\") {
      if (i + 1 >= template.length) return Either.left("trailing backslash")
      word += template[i + 1]
      started = true
      i += 2
    } else {
      word += c
      started = true
      i++
    }
  }
  if (started) words.push(word)
  return words.length === 0 ? Either.left("empty command") : Either.right(words)
}

/** The argv of the upgrade command for `version` (already a decoded `Version`). */
export const commandArgv = (template: string, version: string): Either.Either<ReadonlyArray<string>, string> =>
  Either.flatMap(
    splitTemplate(template),
    (words) =>
      words.some((w) => w.includes("{version}"))
        ? Either.right(words.map((w) => w.replaceAll("{version}", version)))
        : Either.left("the upgrade command must contain {version}")
  )

/** Output of stdout and stderr in arrival order, kept up to `max` bytes. */
const makeCapture = (max: number) => {
  const chunks: Array<Uint8Array> = []
  let bytes = 0
  let dropped = 0
  return {
    add: (chunk: Uint8Array): void => {
      const room = max - bytes
      if (room <= 0) {
        dropped += chunk.length
        return
      }
      const kept = chunk.length <= room ? chunk : chunk.subarray(0, room)
      chunks.push(kept)
      bytes += kept.length
      dropped += chunk.length - kept.length
    },
    text: (): string => {
      const all = new Uint8Array(bytes)
      let at = 0
      for (const c of chunks) {
        all.set(c, at)
        at += c.length
      }
      const text = new TextDecoder().decode(all)
      return dropped > 0 ? `${text}\n[output truncated: ${dropped} more bytes]` : text
    }
  }
}

/** How the command ended when it did not exit 0. */
type Ending =
  | { readonly _tag: "Exited"; readonly code: number }
  | { readonly _tag: "TimedOut" }
  | { readonly _tag: "Broken"; readonly message: string }

/**
 * Runs `argv` with stdin closed, capturing its output; answers the output on
 * exit 0, or fails with `ActionFailed` carrying the output otherwise.
 */
export const runCommand = (
  argv: ReadonlyArray<string>,
  options: UpgradeOptions
): Effect.Effect<string, ActionFailed, CommandExecutor.CommandExecutor> =>
  Effect.gen(function*() {
    const capture = makeCapture(options.maxOutputBytes)
    const drain = <E>(stream: Stream.Stream<Uint8Array, E>) =>
      Stream.runForEach(stream, (chunk) => Effect.sync(() => capture.add(chunk)))
    const [file, ...args] = argv
    if (file === undefined) return yield* new ActionFailed({ message: "the upgrade command is empty" })
    const run: Effect.Effect<number, Ending, CommandExecutor.CommandExecutor> = Effect.scoped(
      Effect.gen(function*() {
        const proc = yield* Command.make(file, ...args).pipe(Command.stdin(Stream.empty), Command.start)
        // The executor's own finalizer sends SIGTERM and waits for the exit
        // forever; this one runs first and escalates to SIGKILL.
        yield* Effect.addFinalizer(() =>
          Effect.flatMap(proc.isRunning, (running) =>
            running
              ? proc.kill("SIGTERM").pipe(
                Effect.interruptible,
                Effect.timeout(options.killGrace),
                Effect.catchAll(() => proc.kill("SIGKILL"))
              )
              : Effect.void).pipe(Effect.ignore)
        )
        const [, , code] = yield* Effect.all([drain(proc.stdout), drain(proc.stderr), proc.exitCode], {
          concurrency: "unbounded"
        })
        return Number(code)
      })
    ).pipe(
      Effect.mapError((e): Ending => ({ _tag: "Broken", message: e.message })),
      Effect.timeoutFail({ duration: options.timeout, onTimeout: (): Ending => ({ _tag: "TimedOut" }) })
    )
    const ending = yield* run.pipe(
      Effect.map((code): Ending | undefined => code === 0 ? undefined : { _tag: "Exited", code }),
      Effect.catchAll((e) => Effect.succeed(e))
    )
    const output = capture.text()
    if (ending === undefined) return output
    const command = argv.join(" ")
    const message = ending._tag === "Exited"
      ? `upgrade command exited with code ${ending.code}: ${command}`
      : ending._tag === "TimedOut"
      ? `upgrade command timed out after ${Duration.format(options.timeout)}: ${command}`
      : `upgrade command failed: ${ending.message}`
    return yield* new ActionFailed({ message, output })
  })

const decodePayload = (payload: unknown): Effect.Effect<typeof UpgradePayload.Type, ActionFailed> =>
  Schema.decodeUnknown(UpgradePayload)(payload).pipe(
    Effect.mapError((e) => new ActionFailed({ message: `invalid upgrade_agent payload: ${e.message}` }))
  )

/** The path of the marker in `stateDir`. */
export const markerPath = (stateDir: string): string => NodePath.join(stateDir, markerFile)

/**
 * The `upgrade_agent` handler. On success it answers `AwaitingRestart`: the
 * executor keeps the action in flight and the next start reports it.
 */
export const handler = (
  options: UpgradeOptions = defaultOptions
): ActionHandler<AgentInfo | Restarter | CommandExecutor.CommandExecutor | FileSystem.FileSystem> => ({
  type,
  run: (action: Action.PendingAction) =>
    Effect.gen(function*() {
      const { targetVersion } = yield* decodePayload(action.payload)
      const info = yield* AgentInfo
      const restarter = yield* Restarter
      const argv = yield* Either.match(commandArgv(options.command, targetVersion), {
        onLeft: (reason) => Effect.fail(new ActionFailed({ message: `invalid upgrade command template: ${reason}` })),
        onRight: Effect.succeed
      })
      yield* Effect.logInfo("upgrading the agent", { actionId: action.id, from: info.version, to: targetVersion })
      const output = yield* runCommand(argv, options)
      const marker: UpgradeMarker = { actionId: action.id, fromVersion: info.version, toVersion: targetVersion }
      yield* StateFile.write(markerPath(info.stateDir), UpgradeMarker, marker).pipe(
        Effect.mapError((e) =>
          new ActionFailed({ message: `installed, but could not record the upgrade: ${e.message}`, output })
        )
      )
      yield* Effect.logInfo("upgrade installed; restarting", { actionId: action.id, to: targetVersion })
      yield* restarter.requestRestart
      return new AwaitingRestart()
    })
})

/** The upgrade an earlier process installed and restarted for, resolved on this start. */
export interface Resumed {
  readonly actionId: string
  readonly result: { readonly fromVersion: string; readonly toVersion: string; readonly reportedVersion: string }
}

/**
 * Reads the marker left by an upgrade before the restart. `Some` when one is
 * there (the caller records `done` with `result`, then calls `clear`); an
 * unreadable marker is logged and removed, and answers `None`.
 */
export const resume = (
  stateDir: string,
  currentVersion: string
): Effect.Effect<Option.Option<Resumed>, never, FileSystem.FileSystem> =>
  StateFile.read(markerPath(stateDir), UpgradeMarker).pipe(
    Effect.map(Option.map((marker): Resumed => ({
      actionId: marker.actionId,
      result: { fromVersion: marker.fromVersion, toVersion: marker.toVersion, reportedVersion: currentVersion }
    }))),
    Effect.tap(Option.match({
      onNone: () => Effect.void,
      onSome: (r) =>
        r.result.toVersion === r.result.reportedVersion
          ? Effect.void
          : Effect.logWarning("restarted after an upgrade but runs another version", {
            actionId: r.actionId,
            expected: r.result.toVersion,
            running: r.result.reportedVersion
          })
    })),
    Effect.catchAll((e) =>
      Effect.logWarning("ignoring an unreadable upgrade marker", e.message).pipe(
        Effect.zipRight(Effect.ignore(StateFile.remove(markerPath(stateDir)))),
        Effect.as(Option.none())
      )
    )
  )

/** Removes the marker once its result is recorded. */
export const clear = (stateDir: string): Effect.Effect<void, StateFile.StateFileError, FileSystem.FileSystem> =>
  StateFile.remove(markerPath(stateDir))
