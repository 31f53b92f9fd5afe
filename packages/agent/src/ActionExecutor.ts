/**
 * Runs the actions the control plane offers in heartbeat answers and keeps
 * their reports until a heartbeat delivered them (SPEC §4 "Action states").
 *
 * Guarantees:
 * - an action id runs at most once per agent: ids are taken from a journal
 *   in the state dir (`actions.json`, replaced atomically), which remembers
 *   the last `maxTakenIds` of them across restarts and crashes;
 * - actions run one at a time, in the order they were offered; an action is
 *   taken (journaled as `running`) only when it starts, so actions still
 *   queued when the agent stops stay `pending` on the server and are offered
 *   again after the restart;
 * - every taken action ends with `done` (the handler's result JSON) or
 *   `failed` (`error`, and `result.output` when there is output): an unknown
 *   type, a handler failure or crash, the timeout, and an action interrupted
 *   by a shutdown or a crash (reported on the next start) all end `failed`;
 *   an upgrade awaiting its restart ends `done` on the next start instead;
 * - reports are kept in order in the journal until `acknowledge` says a
 *   heartbeat delivered them, so a restart never loses one.
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Action from "@sluice/core/Action"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as NodePath from "node:path"
import { ActionFailed, ActionHandlers, AwaitingRestart } from "./ActionHandlers.js"
import { AgentInfo } from "./AgentControl.js"
import * as StateFile from "./handlers/StateFile.js"
import * as Upgrade from "./Upgrade.js"

/** Runs offered actions and holds their reports until delivered. */
export class ActionExecutor extends Context.Tag("@sluice/agent/ActionExecutor")<ActionExecutor, {
  /** Actions from a heartbeat answer: new ids start, ids already taken are ignored. */
  readonly offer: (actions: ReadonlyArray<Action.PendingAction>) => Effect.Effect<void>
  /** Reports not yet delivered, in order (persisted across restarts). */
  readonly reports: Effect.Effect<ReadonlyArray<Action.ActionReport>>
  /** The first `count` reports were delivered (heartbeat answered 200). */
  readonly acknowledge: (count: number) => Effect.Effect<void>
}>() {}

/** Settings of the executor. */
export interface ExecutorOptions {
  /** How many taken ids the journal remembers (the oldest are forgotten first). */
  readonly maxTakenIds: number
  /** How long one handler may run before its action fails (an upgrade has its own, shorter, timeout). */
  readonly actionTimeout: Duration.DurationInput
  /** At most this many reports are handed to one heartbeat; the rest wait for the next. */
  readonly maxReportsPerHeartbeat: number
}

/** 1000 ids, 15 minutes (the server's default deadline), 100 reports per heartbeat. */
export const defaultOptions: ExecutorOptions = {
  maxTakenIds: 1000,
  actionTimeout: Duration.minutes(15),
  maxReportsPerHeartbeat: 100
}

/** The journal's file name in the state dir. */
export const journalFile = "actions.json"

/** What `actions.json` holds. */
export const Journal = Schema.Struct({
  /** Ids taken, oldest first, bounded. */
  taken: Schema.Array(Schema.String),
  /** Ids taken whose end is not recorded yet. */
  inFlight: Schema.Array(Schema.String),
  /** Reports not yet delivered, in order. */
  reports: Schema.Array(Action.ActionReport)
})
export type Journal = typeof Journal.Type

const emptyJournal: Journal = { taken: [], inFlight: [], reports: [] }

/** The message of an action a shutdown or a crash interrupted. */
export const interruptedMessage = "interrupted by shutdown"

const failedReport = (actionId: string, error: string, output?: string): Action.ActionReport =>
  output === undefined
    ? { actionId, status: "failed", error }
    : { actionId, status: "failed", error, result: { output } }

/** The handler's result as plain JSON (what the journal and the wire can hold). */
const toJson = (value: unknown): Effect.Effect<Option.Option<unknown>, ActionFailed> =>
  value === undefined
    ? Effect.succeedNone
    : Schema.encode(Schema.parseJson())(value).pipe(
      Effect.flatMap(Schema.decode(Schema.parseJson())),
      Effect.map(Option.some),
      Effect.mapError((e) => new ActionFailed({ message: `the handler's result is not JSON: ${e.message}` }))
    )

/** Loads the journal; an undecodable one is moved aside (and logged) rather than stopping the agent. */
const load = (path: string): Effect.Effect<Journal, StateFile.StateFileError, FileSystem.FileSystem> =>
  StateFile.read(path, Journal).pipe(
    Effect.map(Option.getOrElse(() => emptyJournal)),
    Effect.catchIf((e) => e.reason === "decode", (e) =>
      Effect.gen(function*() {
        const aside = `${path}.corrupt`
        yield* Effect.logError("the action journal is unreadable; starting a new one", {
          error: e.message,
          keptAs: aside
        })
        const fs = yield* FileSystem.FileSystem
        yield* Effect.ignore(fs.rename(path, aside))
        return emptyJournal
      }))
  )

/**
 * Builds the executor over the journal in `AgentInfo.stateDir`: resolves
 * what a previous process left in flight, then runs offered actions in a
 * fiber of the scope (interrupted when the scope closes).
 */
export const make = (
  options: ExecutorOptions = defaultOptions
): Effect.Effect<
  ActionExecutor["Type"],
  StateFile.StateFileError,
  Scope.Scope | ActionHandlers | AgentInfo | FileSystem.FileSystem
> =>
  Effect.gen(function*() {
    const info = yield* AgentInfo
    const handlers = yield* ActionHandlers
    const context = yield* Effect.context<FileSystem.FileSystem>()
    const path = NodePath.join(info.stateDir, journalFile)
    const lock = yield* Effect.makeSemaphore(1)

    const fs = yield* FileSystem.FileSystem
    yield* fs.makeDirectory(info.stateDir, { recursive: true, mode: 0o700 }).pipe(
      Effect.mapError((e) =>
        new StateFile.StateFileError({ path: info.stateDir, reason: "write", message: `cannot create: ${e.message}` })
      )
    )
    let journal: Journal = yield* load(path)

    /** Replaces the journal on disk, then in memory; `required` changes are dropped when the write fails. */
    const commit = (next: (current: Journal) => Journal, required: boolean): Effect.Effect<boolean> =>
      lock.withPermits(1)(Effect.gen(function*() {
        const candidate = next(journal)
        const written = yield* StateFile.write(path, Journal, candidate).pipe(
          Effect.provide(context),
          Effect.as(true),
          Effect.catchAll((e) => Effect.logError("cannot write the action journal", e.message).pipe(Effect.as(false)))
        )
        if (written || !required) journal = candidate
        return written
      }))

    // What a previous process left in flight: an upgrade that restarted ends
    // `done` from its marker; anything else was interrupted.
    const resumed = yield* Upgrade.resume(info.stateDir, info.version)
    if (journal.inFlight.length > 0 || Option.isSome(resumed)) {
      const ended = journal.inFlight.map((id): Action.ActionReport =>
        Option.isSome(resumed) && resumed.value.actionId === id
          ? { actionId: id, status: "done", result: resumed.value.result }
          : failedReport(id, interruptedMessage)
      )
      for (const report of ended) {
        yield* Effect.logInfo("action ended before this start", { actionId: report.actionId, status: report.status })
      }
      const written = yield* commit((j) => ({ ...j, inFlight: [], reports: [...j.reports, ...ended] }), false)
      if (written && Option.isSome(resumed)) {
        yield* Upgrade.clear(info.stateDir).pipe(
          Effect.catchAll((e) => Effect.logWarning("cannot remove the upgrade marker", e.message))
        )
      }
    }

    const queue = yield* Queue.unbounded<Action.PendingAction>()
    const queued = new Set<string>()
    let taken = new Set(journal.taken)

    const take = (action: Action.PendingAction): Effect.Effect<boolean> =>
      commit((j) => ({
        taken: [...j.taken, action.id].slice(-options.maxTakenIds),
        inFlight: [...j.inFlight, action.id],
        reports: [...j.reports, { actionId: action.id, status: "running" }]
      }), true).pipe(Effect.tap((ok) =>
        Effect.sync(() => {
          if (ok) taken = new Set(journal.taken)
        })
      ))

    const end = (report: Action.ActionReport): Effect.Effect<boolean> =>
      commit((j) => ({
        ...j,
        inFlight: j.inFlight.filter((id) => id !== report.actionId),
        reports: [...j.reports, report]
      }), false)

    /** Runs the handler; answers the report, or `AwaitingRestart`. */
    const execute = (action: Action.PendingAction): Effect.Effect<Action.ActionReport | AwaitingRestart> =>
      Option.match(handlers.get(action.type), {
        onNone: () => Effect.succeed(failedReport(action.id, `no handler for action type ${action.type}`)),
        onSome: (handler) =>
          handler.run(action).pipe(
            Effect.timeoutFail({
              duration: options.actionTimeout,
              onTimeout: () =>
                new ActionFailed({ message: `timed out after ${Duration.format(options.actionTimeout)}` })
            }),
            Effect.flatMap((result): Effect.Effect<Action.ActionReport | AwaitingRestart, ActionFailed> =>
              result instanceof AwaitingRestart
                ? Effect.succeed(result)
                : Effect.map(toJson(result), (json): Action.ActionReport =>
                  Option.match(json, {
                    onNone: () => ({ actionId: action.id, status: "done" }),
                    onSome: (value) => ({ actionId: action.id, status: "done", result: value })
                  }))
            ),
            Effect.catchAll((e) => Effect.succeed(failedReport(action.id, e.message, e.output))),
            Effect.catchAllDefect((defect) =>
              Effect.succeed(failedReport(action.id, `the ${action.type} handler crashed: ${String(defect)}`))
            )
          )
      })

    /** One action: take it, run it, record its end. Answers false when the agent awaits a restart. */
    const runOne = (action: Action.PendingAction): Effect.Effect<boolean> =>
      Effect.gen(function*() {
        queued.delete(action.id)
        if (taken.has(action.id)) return true
        if (!(yield* take(action))) return true // not taken: the server offers it again
        const outcome = yield* execute(action).pipe(
          Effect.annotateLogs({ actionId: action.id, actionType: action.type })
        )
        if (outcome instanceof AwaitingRestart) {
          yield* Effect.logInfo("action awaits the agent's restart", { actionId: action.id })
          return false
        }
        if (outcome.status === "failed") {
          yield* Effect.logWarning("action failed", { actionId: action.id, type: action.type, error: outcome.error })
        }
        yield* end(outcome)
        return true
      })

    // After an action that awaits the restart, nothing more starts: actions
    // still queued stay `pending` on the server and are offered again later.
    yield* Effect.forkScoped(
      Effect.iterate(true, {
        while: (go) => go,
        body: () =>
          Effect.flatMap(Queue.take(queue), runOne).pipe(
            Effect.catchAllDefect((defect) =>
              Effect.logError("the action executor failed on an action", String(defect)).pipe(Effect.as(true))
            )
          )
      }).pipe(Effect.zipRight(Effect.never))
    )

    return ActionExecutor.of({
      offer: (actions) =>
        Effect.suspend(() => {
          const fresh = actions.filter((a) => !taken.has(a.id) && !queued.has(a.id))
          const unique = fresh.filter((a, i) => fresh.findIndex((b) => b.id === a.id) === i)
          for (const a of unique) queued.add(a.id)
          return Effect.asVoid(Queue.offerAll(queue, unique))
        }),
      reports: Effect.sync(() => journal.reports.slice(0, options.maxReportsPerHeartbeat)),
      acknowledge: (count) =>
        count <= 0 ? Effect.void : Effect.asVoid(commit((j) => ({ ...j, reports: j.reports.slice(count) }), false))
    })
  })

/** The executor as a scoped layer (the fiber running actions ends with the layer). */
export const layer = (
  options: ExecutorOptions = defaultOptions
): Layer.Layer<ActionExecutor, StateFile.StateFileError, ActionHandlers | AgentInfo | FileSystem.FileSystem> =>
  Layer.scoped(ActionExecutor, make(options))
