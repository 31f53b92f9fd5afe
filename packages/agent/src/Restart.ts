/**
 * How the agent asks to be restarted (after an upgrade installed a new
 * version) without knowing how it was started. `Restarter` is a one-shot
 * signal: a handler calls `requestRestart`; the CLI races the agent's main
 * effect with `requested`, shuts down gracefully (so the journal, the spool
 * and the listeners are closed), then calls `reexec` to start the same
 * command line again and exits 0.
 */
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as ChildProcess from "node:child_process"

/** The one-shot restart signal. */
export class Restarter extends Context.Tag("@sluice/agent/Restarter")<Restarter, {
  /** Asks for a restart; asking again changes nothing. */
  readonly requestRestart: Effect.Effect<void>
  /** Completes once a restart was asked for. */
  readonly requested: Effect.Effect<void>
}>() {}

/** A fresh signal, not yet asked. */
export const make: Effect.Effect<Restarter["Type"]> = Effect.map(
  Deferred.make<void>(),
  (deferred) =>
    Restarter.of({
      requestRestart: Effect.asVoid(Deferred.succeed(deferred, undefined)),
      requested: Deferred.await(deferred)
    })
)

/** `Restarter` as a layer (one signal per layer build). */
export const layer: Layer.Layer<Restarter> = Layer.effect(Restarter, make)

/** Starting the new process failed (e.g. the node binary is gone). */
export class ReexecFailed extends Schema.TaggedError<ReexecFailed>()("ReexecFailed", {
  message: Schema.String
}) {}

/** What to start; the defaults are this process's own command line. */
export interface ReexecOptions {
  readonly execPath?: string
  readonly args?: ReadonlyArray<string>
  readonly env?: NodeJS.ProcessEnv
}

/**
 * Starts the same command line again (`process.execPath`, `process.execArgv`,
 * `process.argv.slice(1)`, the same environment and working directory),
 * detached with stdio inherited, and answers once it is spawned. The caller
 * exits right after; the new process is not waited for.
 */
export const reexec = (options: ReexecOptions = {}): Effect.Effect<number, ReexecFailed> =>
  Effect.async<number, ReexecFailed>((resume) => {
    const execPath = options.execPath ?? process.execPath
    const args = options.args ?? [...process.execArgv, ...process.argv.slice(1)]
    try {
      const child = ChildProcess.spawn(execPath, [...args], {
        env: options.env ?? process.env,
        cwd: process.cwd(),
        detached: true,
        stdio: "inherit"
      })
      child.once(
        "error",
        (error) => resume(Effect.fail(new ReexecFailed({ message: `could not restart ${execPath}: ${error.message}` })))
      )
      child.once("spawn", () => {
        child.unref()
        resume(Effect.succeed(child.pid ?? 0))
      })
    } catch (error) {
      resume(Effect.fail(new ReexecFailed({ message: `could not restart ${execPath}: ${String(error)}` })))
    }
  })
