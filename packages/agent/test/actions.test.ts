import * as NodeContext from "@effect/platform-node/NodeContext"
import * as FileSystem from "@effect/platform/FileSystem"
import { describe, expect, it } from "@effect/vitest"
import type * as Action from "@sluice/core/Action"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import * as TestServices from "effect/TestServices"
import * as fs from "node:fs"
import * as Path from "node:path"
import * as ActionExecutor from "../src/ActionExecutor.js"
import * as ActionHandlers from "../src/ActionHandlers.js"
import { ActionFailed } from "../src/ActionHandlers.js"
import { AgentControlError, AgentInfo, PipelineControl } from "../src/AgentControl.js"
import * as PipelineActions from "../src/handlers/Pipeline.js"

type Executor = ActionExecutor.ActionExecutor["Type"]

/** A temp state dir, removed with the test's scope. */
const stateDir = Effect.flatMap(FileSystem.FileSystem, (f) => f.makeTempDirectoryScoped({ prefix: "sluice-actions-" }))
  .pipe(Effect.provide(NodeContext.layer))

/** An executor over `dir`, in its own scope so a test can stop it (the agent's shutdown) and start another. */
const start = <R>(
  dir: string,
  handlers: ReadonlyArray<ActionHandlers.ActionHandler<R>>,
  context: Context.Context<R>,
  options: Partial<ActionExecutor.ExecutorOptions> = {}
) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const built = yield* Layer.buildWithScope(
      ActionExecutor.layer({ ...ActionExecutor.defaultOptions, ...options }).pipe(
        Layer.provide(ActionHandlers.layer(handlers)),
        Layer.provide(Layer.succeedContext(context)),
        Layer.provide(Layer.succeed(AgentInfo, { version: "0.4.1", stateDir: dir })),
        Layer.provide(NodeContext.layer)
      ),
      scope
    )
    return { executor: Context.get(built, ActionExecutor.ActionExecutor), stop: Scope.close(scope, Exit.void) }
  })

/** Polls the reports (real time, bounded) until `done` holds; answers them. */
const reportsWhen = (
  executor: Executor,
  done: (reports: ReadonlyArray<Action.ActionReport>) => boolean,
  what: string
): Effect.Effect<ReadonlyArray<Action.ActionReport>> =>
  TestServices.provideLive(Effect.gen(function*() {
    for (let i = 0; i < 500; i++) {
      const reports = yield* executor.reports
      if (done(reports)) return reports
      yield* Effect.sleep("10 millis")
    }
    return yield* Effect.die(new Error(`never happened: ${what}`))
  }))

const statusesOf = (reports: ReadonlyArray<Action.ActionReport>) => reports.map((r) => `${r.actionId}:${r.status}`)
const endedCount = (reports: ReadonlyArray<Action.ActionReport>) => reports.filter((r) => r.status !== "running").length

const action = (id: string, type = "echo", payload: unknown = {}): Action.PendingAction => ({ id, type, payload })

/** A handler that counts its runs per id and answers its payload. */
const echo = () => {
  const runs: Array<string> = []
  const handler: ActionHandlers.ActionHandler = {
    type: "echo",
    run: (a) => Effect.sync(() => runs.push(a.id)).pipe(Effect.as({ echoed: a.payload }))
  }
  return { runs, handler }
}

describe("ActionExecutor", () => {
  it.scoped("runs offered actions one after the other and reports running then done with the result, in order", () =>
    Effect.gen(function*() {
      const dir = yield* stateDir
      const { handler } = echo()
      const { executor } = yield* start(dir, [handler], Context.empty())
      yield* executor.offer([action("a1", "echo", { n: 1 }), action("a2", "echo", { n: 2 })])
      const reports = yield* reportsWhen(executor, (r) => endedCount(r) === 2, "both actions ended")
      expect(reports).toEqual([
        { actionId: "a1", status: "running" },
        { actionId: "a1", status: "done", result: { echoed: { n: 1 } } },
        { actionId: "a2", status: "running" },
        { actionId: "a2", status: "done", result: { echoed: { n: 2 } } }
      ])
    }))

  it.scoped("ignores an id already taken, in the same offer, in a later one, and after a restart", () =>
    Effect.gen(function*() {
      const dir = yield* stateDir
      const { handler, runs } = echo()
      const first = yield* start(dir, [handler], Context.empty())
      yield* first.executor.offer([action("a1"), action("a1")])
      yield* reportsWhen(first.executor, (r) => endedCount(r) === 1, "a1 ended")
      // Actions run in offer order, so once b1 ended a re-offered a1 would have run before it.
      yield* first.executor.offer([action("a1"), action("b1")])
      yield* reportsWhen(first.executor, (r) => endedCount(r) === 2, "b1 ended")
      yield* first.stop

      const second = yield* start(dir, [handler], Context.empty())
      yield* second.executor.offer([action("a1"), action("b1"), action("c1")])
      const reports = yield* reportsWhen(second.executor, (r) => endedCount(r) === 3, "c1 ended")
      expect(runs).toEqual(["a1", "b1", "c1"])
      expect(statusesOf(reports)).toEqual([
        "a1:running",
        "a1:done",
        "b1:running",
        "b1:done",
        "c1:running",
        "c1:done"
      ])
    }))

  it.scoped("a failing handler reports failed with its error and output; an unknown type fails by name", () =>
    Effect.gen(function*() {
      const dir = yield* stateDir
      const failing: ActionHandlers.ActionHandler = {
        type: "fsck",
        run: () => Effect.fail(new ActionFailed({ message: "disk is read-only", output: "fsck: /dev/sda1 busy" }))
      }
      const { executor } = yield* start(dir, [failing], Context.empty())
      yield* executor.offer([action("f1", "fsck"), action("u1", "defragment")])
      const reports = yield* reportsWhen(executor, (r) => endedCount(r) === 2, "both ended")
      expect(reports).toEqual([
        { actionId: "f1", status: "running" },
        { actionId: "f1", status: "failed", error: "disk is read-only", result: { output: "fsck: /dev/sda1 busy" } },
        { actionId: "u1", status: "running" },
        { actionId: "u1", status: "failed", error: "no handler for action type defragment" }
      ])
    }))

  it.scoped("a handler that crashes or answers something that is not JSON fails its action, and the next one runs", () =>
    Effect.gen(function*() {
      const dir = yield* stateDir
      const crashing: ActionHandlers.ActionHandler = { type: "crash", run: () => Effect.die(new Error("boom")) }
      const cyclic: ActionHandlers.ActionHandler = {
        type: "cyclic",
        run: () =>
          Effect.sync(() => {
            const value: Record<string, unknown> = {}
            value.self = value
            return value
          })
      }
      const { handler } = echo()
      const { executor } = yield* start(dir, [crashing, cyclic, handler], Context.empty())
      yield* executor.offer([action("c1", "crash"), action("c2", "cyclic"), action("e1")])
      const reports = yield* reportsWhen(executor, (r) => endedCount(r) === 3, "all ended")
      expect(statusesOf(reports)).toEqual([
        "c1:running",
        "c1:failed",
        "c2:running",
        "c2:failed",
        "e1:running",
        "e1:done"
      ])
      expect(reports[1]?.error).toContain("crashed")
      expect(reports[1]?.error).toContain("boom")
      expect(reports[3]?.error).toContain("not JSON")
    }))

  it.scoped("acknowledge drops exactly the delivered reports, and the journal remembers it", () =>
    Effect.gen(function*() {
      const dir = yield* stateDir
      const { handler } = echo()
      const first = yield* start(dir, [handler], Context.empty())
      yield* first.executor.offer([action("a1")])
      const delivered = yield* reportsWhen(first.executor, (r) => endedCount(r) === 1, "a1 ended")
      expect(delivered).toHaveLength(2)
      // a2's reports arrive while the heartbeat carrying a1's is in flight.
      yield* first.executor.offer([action("a2")])
      yield* reportsWhen(first.executor, (r) => endedCount(r) === 2, "a2 ended")
      yield* first.executor.acknowledge(delivered.length)
      expect(statusesOf(yield* first.executor.reports)).toEqual(["a2:running", "a2:done"])
      yield* first.stop

      const second = yield* start(dir, [handler], Context.empty())
      expect(statusesOf(yield* second.executor.reports)).toEqual(["a2:running", "a2:done"])
      yield* second.executor.acknowledge(2)
      expect(yield* second.executor.reports).toEqual([])
    }))

  it.scoped("undelivered reports survive a restart, in order", () =>
    Effect.gen(function*() {
      const dir = yield* stateDir
      const { handler } = echo()
      const first = yield* start(dir, [handler], Context.empty())
      yield* first.executor.offer([action("a1", "echo", "x")])
      const before = yield* reportsWhen(first.executor, (r) => endedCount(r) === 1, "a1 ended")
      yield* first.stop
      const second = yield* start(dir, [handler], Context.empty())
      expect(yield* second.executor.reports).toEqual(before)
      expect(before[1]).toEqual({ actionId: "a1", status: "done", result: { echoed: "x" } })
    }))

  it.scoped("hands at most maxReportsPerHeartbeat reports to one heartbeat, oldest first", () =>
    Effect.gen(function*() {
      const dir = yield* stateDir
      const { handler } = echo()
      const { executor } = yield* start(dir, [handler], Context.empty(), { maxReportsPerHeartbeat: 3 })
      yield* executor.offer([action("a1"), action("a2")])
      const all = yield* reportsWhen(executor, (r) => r.length === 3 && r[2]?.actionId === "a2", "a2 running")
      expect(statusesOf(all)).toEqual(["a1:running", "a1:done", "a2:running"])
      yield* executor.acknowledge(3)
      const rest = yield* reportsWhen(executor, (r) => r.length === 1, "a2 done")
      expect(statusesOf(rest)).toEqual(["a2:done"])
    }))

  it.scoped("an action interrupted by the shutdown is reported failed on the next start and never runs again", () =>
    Effect.gen(function*() {
      const dir = yield* stateDir
      const started = yield* Deferred.make<void>()
      const stuck: ActionHandlers.ActionHandler = {
        type: "stuck",
        run: () => Deferred.succeed(started, undefined).pipe(Effect.zipRight(Effect.never))
      }
      const { handler, runs } = echo()
      const first = yield* start(dir, [stuck, handler], Context.empty())
      yield* first.executor.offer([action("s1", "stuck"), action("q1")])
      yield* Deferred.await(started)
      yield* first.stop

      const second = yield* start(dir, [stuck, handler], Context.empty())
      expect(yield* second.executor.reports).toEqual([
        { actionId: "s1", status: "running" },
        { actionId: "s1", status: "failed", error: "interrupted by shutdown" }
      ])
      // q1 was queued behind s1 and never started: it is still pending on the
      // server, which offers it again with s1; only q1 runs.
      yield* second.executor.offer([action("s1", "stuck"), action("q1")])
      const reports = yield* reportsWhen(second.executor, (r) => endedCount(r) === 2, "q1 ended")
      expect(statusesOf(reports)).toEqual(["s1:running", "s1:failed", "q1:running", "q1:done"])
      expect(runs).toEqual(["q1"])
    }))

  it.scoped("a handler that runs past the action timeout fails its action (TestClock)", () =>
    Effect.gen(function*() {
      const dir = yield* stateDir
      const started = yield* Deferred.make<void>()
      const stuck: ActionHandlers.ActionHandler = {
        type: "stuck",
        run: () => Deferred.succeed(started, undefined).pipe(Effect.zipRight(Effect.never))
      }
      const { executor } = yield* start(dir, [stuck], Context.empty(), { actionTimeout: "1 minute" })
      yield* executor.offer([action("s1", "stuck")])
      yield* Deferred.await(started)
      yield* TestClock.adjust("59 seconds")
      expect(statusesOf(yield* executor.reports)).toEqual(["s1:running"])
      yield* TestClock.adjust("1 second")
      const reports = yield* reportsWhen(executor, (r) => endedCount(r) === 1, "s1 timed out")
      expect(reports[1]).toEqual({ actionId: "s1", status: "failed", error: "timed out after 1m" })
    }))

  it.scoped("a journal that is not JSON is kept aside and a new one is started", () =>
    Effect.gen(function*() {
      const dir = yield* stateDir
      fs.writeFileSync(Path.join(dir, "actions.json"), "{\"taken\": [")
      const { handler } = echo()
      const { executor } = yield* start(dir, [handler], Context.empty())
      expect(yield* executor.reports).toEqual([])
      expect(fs.readFileSync(Path.join(dir, "actions.json.corrupt"), "utf8")).toBe("{\"taken\": [")
      yield* executor.offer([action("a1")])
      yield* reportsWhen(executor, (r) => endedCount(r) === 1, "a1 ended")
      const journal: unknown = JSON.parse(fs.readFileSync(Path.join(dir, "actions.json"), "utf8"))
      expect(journal).toMatchObject({ taken: ["a1"], inFlight: [] })
    }))

  it.scoped("remembers only the last maxTakenIds ids", () =>
    Effect.gen(function*() {
      const dir = yield* stateDir
      const { handler, runs } = echo()
      const { executor } = yield* start(dir, [handler], Context.empty(), { maxTakenIds: 2 })
      yield* executor.offer([action("a1"), action("a2"), action("a3")])
      yield* reportsWhen(executor, (r) => endedCount(r) === 3, "three ended")
      // a1 fell out of the window: offered again, it runs again; a3 does not.
      yield* executor.offer([action("a3"), action("a1")])
      yield* reportsWhen(executor, (r) => endedCount(r) === 4, "a1 again")
      expect(runs).toEqual(["a1", "a2", "a3", "a1"])
    }))
})

describe("built-in pipeline handlers", () => {
  /** A `PipelineControl` double recording what was asked; `rotateToken` can be made to fail. */
  const controls = (rotateFails: boolean) => {
    const calls: Array<string> = []
    const record = (name: string) => Effect.sync(() => calls.push(name)).pipe(Effect.asVoid)
    const control = PipelineControl.of({
      restartInputs: record("restartInputs"),
      reloadConfig: record("reloadConfig"),
      rotateToken: rotateFails
        ? Effect.fail(new AgentControlError({ message: "the control plane refused the rotation (403)" }))
        : record("rotateToken")
    })
    return { calls, context: Context.make(PipelineControl, control) }
  }

  it.scoped("restart_pipeline, reload_config and rotate_token ask the running pipeline and end done", () =>
    Effect.gen(function*() {
      const dir = yield* stateDir
      const { calls, context } = controls(false)
      const { executor } = yield* start(dir, PipelineActions.handlers, context)
      yield* executor.offer([
        action("r1", "restart_pipeline"),
        action("r2", "reload_config"),
        action("r3", "rotate_token")
      ])
      const reports = yield* reportsWhen(executor, (r) => endedCount(r) === 3, "three ended")
      expect(calls).toEqual(["restartInputs", "reloadConfig", "rotateToken"])
      expect(reports.filter((r) => r.status === "done").map((r) => r.actionId)).toEqual(["r1", "r2", "r3"])
    }))

  it.scoped("a refused control fails the action with the runtime's message", () =>
    Effect.gen(function*() {
      const dir = yield* stateDir
      const { calls, context } = controls(true)
      const { executor } = yield* start(dir, PipelineActions.handlers, context)
      yield* executor.offer([action("r3", "rotate_token")])
      const reports = yield* reportsWhen(executor, (r) => endedCount(r) === 1, "r3 ended")
      expect(calls).toEqual([])
      expect(reports[1]).toEqual({
        actionId: "r3",
        status: "failed",
        error: "the control plane refused the rotation (403)"
      })
    }))
})

describe("ActionHandlers", () => {
  const named = (type: string, result: string): ActionHandlers.ActionHandler => ({
    type,
    run: () => Effect.succeed(result)
  })
  const runType = (registry: ActionHandlers.ActionHandlers["Type"], type: string) =>
    Option.match(registry.get(type), {
      onNone: () => Effect.succeed("none"),
      onSome: (h) => h.run(action("x", type))
    })

  it.effect("a later handler of the same type wins; a plugin's extend layer wins over the registry below", () =>
    Effect.gen(function*() {
      const registry = ActionHandlers.fromHandlers([named("shell", "first"), named("shell", "second")])
      expect(yield* runType(registry, "shell")).toBe("second")
      expect(yield* runType(registry, "other")).toBe("none")

      const extended = yield* Effect.provide(
        ActionHandlers.ActionHandlers,
        ActionHandlers.extend([named("restart_pipeline", "plugin"), named("custom", "custom")]).pipe(
          Layer.provide(ActionHandlers.layer([named("restart_pipeline", "builtin"), named("reload_config", "builtin")]))
        )
      )
      expect(yield* runType(extended, "restart_pipeline")).toBe("plugin")
      expect(yield* runType(extended, "reload_config")).toBe("builtin")
      expect(yield* runType(extended, "custom")).toBe("custom")
    }))
})
