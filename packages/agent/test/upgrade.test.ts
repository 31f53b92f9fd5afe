import * as NodeContext from "@effect/platform-node/NodeContext"
import * as FileSystem from "@effect/platform/FileSystem"
import { describe, expect, it } from "@effect/vitest"
import type * as Action from "@sluice/core/Action"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import * as TestServices from "effect/TestServices"
import * as fs from "node:fs"
import * as Path from "node:path"
import * as ActionExecutor from "../src/ActionExecutor.js"
import * as ActionHandlers from "../src/ActionHandlers.js"
import { AgentInfo } from "../src/AgentControl.js"
import * as Restart from "../src/Restart.js"
import * as Upgrade from "../src/Upgrade.js"

type Executor = ActionExecutor.ActionExecutor["Type"]

const stateDir = Effect.flatMap(FileSystem.FileSystem, (f) => f.makeTempDirectoryScoped({ prefix: "sluice-upgrade-" }))
  .pipe(Effect.provide(NodeContext.layer))

/**
 * An agent's executor running `version` over `dir` with the upgrade handler
 * and its own `Restarter`, in a scope the test closes (the agent's shutdown).
 */
const start = (dir: string, version: string, upgrade: Partial<Upgrade.UpgradeOptions>) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const restarter = yield* Restart.make
    const built = yield* Layer.buildWithScope(
      ActionExecutor.layer().pipe(
        Layer.provide(ActionHandlers.layer([Upgrade.handler({ ...Upgrade.defaultOptions, ...upgrade })])),
        Layer.provide(Layer.succeed(Restart.Restarter, restarter)),
        Layer.provide(Layer.succeed(AgentInfo, { version, stateDir: dir })),
        Layer.provide(NodeContext.layer)
      ),
      scope
    )
    return {
      executor: Context.get(built, ActionExecutor.ActionExecutor),
      restarter,
      stop: Scope.close(scope, Exit.void)
    }
  })

/** Polls (real time, bounded) until `done` holds. */
const poll = <A>(read: Effect.Effect<A>, done: (a: A) => boolean, what: string): Effect.Effect<A> =>
  TestServices.provideLive(Effect.gen(function*() {
    for (let i = 0; i < 1000; i++) {
      const a = yield* read
      if (done(a)) return a
      yield* Effect.sleep("10 millis")
    }
    return yield* Effect.die(new Error(`never happened: ${what}`))
  }))

const reportsWhen = (executor: Executor, done: (r: ReadonlyArray<Action.ActionReport>) => boolean, what: string) =>
  poll(executor.reports, done, what)

/** Whether the restart was asked for, without waiting. */
const restartRequested = (restarter: Restart.Restarter["Type"]) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(restarter.requested)
    yield* Effect.yieldNow()
    const done = Option.isSome(yield* Fiber.poll(fiber))
    yield* Fiber.interrupt(fiber)
    return done
  })

const upgrade = (id: string, targetVersion: string): Action.PendingAction => ({
  id,
  type: "upgrade_agent",
  payload: { targetVersion }
})

/**
 * A fake installer: records its arguments one per line in `args.txt`, prints
 * a line to stdout and one to stderr, then exits with `code`.
 */
const installer = (dir: string, code: number) => {
  const script = Path.join(dir, "install.sh")
  fs.writeFileSync(
    script,
    `#!/bin/sh\nprintf '%s\\n' "$@" > "${dir}/args.txt"\necho "installing $1"\necho "npm ERR! E404 for $1" >&2\nexit ${code}\n`
  )
  return { command: `sh ${script} --pkg=@sluice/cli@{version}`, args: () => readLines(Path.join(dir, "args.txt")) }
}

const readLines = (file: string): ReadonlyArray<string> | undefined =>
  fs.existsSync(file) ? fs.readFileSync(file, "utf8").split("\n").filter((l) => l !== "") : undefined

const markerOf = (dir: string): unknown =>
  fs.existsSync(Path.join(dir, "upgrade.json"))
    ? JSON.parse(fs.readFileSync(Path.join(dir, "upgrade.json"), "utf8"))
    : undefined

describe("upgrade_agent", () => {
  it.scoped("installs, records upgrade.json, asks for a restart, and the next start reports done with from/to", () =>
    Effect.gen(function*() {
      const dir = yield* stateDir
      const fake = installer(dir, 0)
      const before = yield* start(dir, "0.4.1", { command: fake.command })
      yield* before.executor.offer([upgrade("u1", "0.4.2")])
      yield* poll(Effect.sync(() => markerOf(dir)), (m) => m !== undefined, "upgrade.json written")
      expect(markerOf(dir)).toEqual({ actionId: "u1", fromVersion: "0.4.1", toVersion: "0.4.2" })
      expect(fake.args()).toEqual(["--pkg=@sluice/cli@0.4.2"])
      yield* poll(restartRequested(before.restarter), (r) => r, "restart requested")
      // Not done yet: the old process only says it is running.
      expect(yield* before.executor.reports).toEqual([{ actionId: "u1", status: "running" }])
      yield* before.stop

      const after = yield* start(dir, "0.4.2", { command: fake.command })
      expect(yield* after.executor.reports).toEqual([
        { actionId: "u1", status: "running" },
        {
          actionId: "u1",
          status: "done",
          result: { fromVersion: "0.4.1", toVersion: "0.4.2", reportedVersion: "0.4.2" }
        }
      ])
      expect(markerOf(dir)).toBeUndefined()
      expect(yield* restartRequested(after.restarter)).toBe(false)
      yield* after.stop

      // The done survives another restart until delivered, and is not reported twice.
      const again = yield* start(dir, "0.4.2", { command: fake.command })
      expect((yield* again.executor.reports).map((r) => r.status)).toEqual(["running", "done"])
    }))

  it.scoped("a failed install reports failed with the command's output; no marker, no restart", () =>
    Effect.gen(function*() {
      const dir = yield* stateDir
      const fake = installer(dir, 1)
      const agent = yield* start(dir, "0.4.1", { command: fake.command })
      yield* agent.executor.offer([upgrade("u1", "9.9.9")])
      const reports = yield* reportsWhen(agent.executor, (r) => r.length === 2, "u1 ended")
      const failed = reports[1]
      expect(failed?.status).toBe("failed")
      expect(failed?.error).toContain("exited with code 1")
      expect(failed?.result).toEqual({ output: expect.stringContaining("npm ERR! E404 for --pkg=@sluice/cli@9.9.9") })
      expect(failed?.result).toEqual({ output: expect.stringContaining("installing --pkg=@sluice/cli@9.9.9") })
      expect(markerOf(dir)).toBeUndefined()
      expect(yield* restartRequested(agent.restarter)).toBe(false)
      yield* agent.stop
      const next = yield* start(dir, "0.4.1", { command: fake.command })
      expect((yield* next.executor.reports).map((r) => r.status)).toEqual(["running", "failed"])
    }))

  it.scoped("the version is one argv element: quoted templates keep their words, shell text in it is refused", () =>
    Effect.gen(function*() {
      const dir = yield* stateDir
      const argsFile = Path.join(dir, "args.txt")
      // A template with a quoted shell script: $0.. are the words after it.
      const command = `sh -c 'printf "%s\\n" "$0" "$@" > ${argsFile}' "pkg manager" install @sluice/cli@{version}`
      const agent = yield* start(dir, "0.4.1", { command })
      yield* agent.executor.offer([
        upgrade("bad1", "0.4.2; touch pwned"),
        upgrade("bad2", "0.4.2 --force"),
        upgrade("bad3", "$(id)"),
        { id: "bad4", type: "upgrade_agent", payload: {} },
        upgrade("ok", "1.2.3-rc.1+build.5")
      ])
      const reports = yield* reportsWhen(agent.executor, (r) => r.length === 9, "all five taken")
      yield* poll(Effect.sync(() => markerOf(dir)), (m) => m !== undefined, "the valid one installed")
      for (const id of ["bad1", "bad2", "bad3", "bad4"]) {
        const failed = reports.find((r) => r.actionId === id && r.status === "failed")
        expect(failed?.error).toContain("invalid upgrade_agent payload")
      }
      expect(readLines(argsFile)).toEqual(["pkg manager", "install", "@sluice/cli@1.2.3-rc.1+build.5"])
      expect(fs.existsSync(Path.join(dir, "pwned"))).toBe(false)
      expect(markerOf(dir)).toMatchObject({ actionId: "ok", toVersion: "1.2.3-rc.1+build.5" })
    }))

  it.scoped("an install that runs past the timeout is killed and fails with what it printed (TestClock)", () =>
    Effect.gen(function*() {
      const dir = yield* stateDir
      const startedFile = Path.join(dir, "started")
      const command = `sh -c 'echo "fetching $0"; touch ${startedFile}; sleep 30' {version}`
      const agent = yield* start(dir, "0.4.1", { command, timeout: "10 minutes" })
      yield* agent.executor.offer([upgrade("u1", "0.4.2")])
      yield* poll(Effect.sync(() => fs.existsSync(startedFile)), (s) => s, "the installer started")
      yield* TestClock.adjust("10 minutes")
      const reports = yield* reportsWhen(agent.executor, (r) => r.length === 2, "u1 timed out")
      expect(reports[1]).toEqual({
        actionId: "u1",
        status: "failed",
        error: expect.stringContaining("timed out after 10m"),
        result: { output: "fetching 0.4.2\n" }
      })
      expect(markerOf(dir)).toBeUndefined()
      expect(yield* restartRequested(agent.restarter)).toBe(false)
    }))

  it.scoped("a missing installer binary fails the action", () =>
    Effect.gen(function*() {
      const dir = yield* stateDir
      const agent = yield* start(dir, "0.4.1", { command: "/nonexistent/sluice-installer {version}" })
      yield* agent.executor.offer([upgrade("u1", "0.4.2")])
      const reports = yield* reportsWhen(agent.executor, (r) => r.length === 2, "u1 ended")
      expect(reports[1]?.status).toBe("failed")
      expect(reports[1]?.error).toContain("upgrade command failed")
    }))

  it.scoped("output is capped", () =>
    Effect.gen(function*() {
      const dir = yield* stateDir
      const command = `sh -c 'head -c 200000 /dev/zero | tr "\\0" x; exit 3' {version}`
      const agent = yield* start(dir, "0.4.1", { command, maxOutputBytes: 1000 })
      yield* agent.executor.offer([upgrade("u1", "0.4.2")])
      const reports = yield* reportsWhen(agent.executor, (r) => r.length === 2, "u1 ended")
      const result = reports[1]?.result
      const output = typeof result === "object" && result !== null && "output" in result ? result.output : undefined
      expect(typeof output).toBe("string")
      expect(String(output).startsWith("x".repeat(1000) + "\n[output truncated: 199000 more bytes]")).toBe(true)
    }))
})

describe("upgrade command template", () => {
  it("splits like a shell without expanding anything", () => {
    expect(Upgrade.commandArgv("npm install -g @sluice/cli@{version}", "0.4.2")).toEqual(
      Either.right(["npm", "install", "-g", "@sluice/cli@0.4.2"])
    )
    expect(Upgrade.splitTemplate(`a 'b c' "d \\" e" f\\ g ''`)).toEqual(Either.right(["a", "b c", "d \" e", "f g", ""]))
    expect(Upgrade.splitTemplate("sh -c 'unterminated")).toEqual(Either.left("unterminated ' quote"))
    expect(Upgrade.commandArgv("npm install -g @sluice/cli", "0.4.2")).toEqual(
      Either.left("the upgrade command must contain {version}")
    )
  })
})

describe("Restart", () => {
  it.effect("requested completes only once a restart is asked for", () =>
    Effect.gen(function*() {
      const restarter = yield* Restart.make
      expect(yield* restartRequested(restarter)).toBe(false)
      yield* restarter.requestRestart
      yield* restarter.requestRestart
      expect(yield* restartRequested(restarter)).toBe(true)
    }))

  it.scoped("reexec starts the command line again, detached, with the same environment", () =>
    Effect.gen(function*() {
      const dir = yield* stateDir
      const out = Path.join(dir, "reexec.txt")
      const pid = yield* Restart.reexec({
        execPath: process.execPath,
        args: ["-e", "require('fs').writeFileSync(process.argv[1], process.env.SLUICE_REEXEC_MARK)", out],
        env: { ...process.env, SLUICE_REEXEC_MARK: "again" }
      })
      expect(pid).toBeGreaterThan(0)
      const text = yield* poll(
        Effect.sync(() => fs.existsSync(out) ? fs.readFileSync(out, "utf8") : ""),
        (t) => t !== "",
        "the new process ran"
      )
      expect(text).toBe("again")
    }))

  it.effect("reexec of a missing binary fails", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Restart.reexec({ execPath: "/nonexistent/node", args: [] }))
      expect(error._tag).toBe("ReexecFailed")
    }))
})
