/**
 * The end-to-end harness: starts the real `sluice` binary (built by
 * `npm test` before the suites run) on free loopback ports with a temp data
 * dir, waits for its "is up" banner, and stops it by its PID.
 */
import { EventStore } from "@sluice/core/EventStore"
import type { StoredEvent } from "@sluice/core/LogEvent"
import { SqliteEventStore } from "@sluice/store-sql"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"

/** The compiled binary. */
export const bin = path.resolve(import.meta.dirname, "../packages/cli/dist/bin.js")

/** The `sluice` command as installed: the shell launcher that execs node on `bin` with each command's flags. */
export const launcher = path.resolve(import.meta.dirname, "../packages/cli/bin/sluice")

/** A free TCP port on 127.0.0.1. */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address() as net.AddressInfo
      server.close(() => resolve(address.port))
    })
  })

/** A new temp directory for one test. */
export const tempDir = (prefix = "sluice-e2e-") => fs.mkdtempSync(path.join(os.tmpdir(), prefix))

/** Runs `sluice ARGS` to completion. */
export const runSluice = (
  args: ReadonlyArray<string>,
  options: { env?: Record<string, string>; cwd?: string; input?: string; launcher?: boolean } = {}
): Promise<{ code: number | null; stdout: string; stderr: string }> =>
  new Promise((resolve) => {
    const child = spawn(
      options.launcher === true ? launcher : process.execPath,
      options.launcher === true ? args : [bin, ...args],
      {
        cwd: options.cwd ?? tempDir(),
        env: { ...process.env, SLUICE_NODE: process.execPath, ...options.env },
        stdio: ["pipe", "pipe", "pipe"]
      }
    )
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()))
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()))
    child.stdin.end(options.input ?? "")
    child.on("close", (code) => resolve({ code, stdout, stderr }))
  })

/** A running gateway. */
export interface Gateway {
  readonly process: ChildProcess
  readonly dataDir: string
  readonly cwd: string
  readonly httpPort: number
  readonly httpUrl: string
  readonly socketPath: string
  readonly tcpPort: number
  readonly drainToken: string
  readonly sharedSecret: string
  readonly env: Record<string, string>
  /** Everything printed so far. */
  output(): string
  /** SIGTERM (or the given signal), then the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>
}

/** Starts `sluice up` (or the given command) and waits for its banner. */
export const startGateway = async (
  options: {
    args?: ReadonlyArray<string>
    env?: Record<string, string>
    dataDir?: string
    timeoutMs?: number
    /** Start it through the launcher (with this node) instead of `node bin.js`. */
    launcher?: boolean
  } = {}
): Promise<Gateway> => {
  const cwd = tempDir()
  const dataDir = options.dataDir ?? path.join(cwd, "data")
  const httpPort = await freePort()
  const tcpPort = await freePort()
  const socketPath = path.join(cwd, "agent.sock")
  const drainToken = "test-drain-token-0123456789abcdef"
  const sharedSecret = "test-shared-secret-0123456789abcdef0123"
  const env: Record<string, string> = {
    SLUICE_DATA_DIR: dataDir,
    SLUICE_HTTP_PORT: String(httpPort),
    SLUICE_TCP_PORT: String(tcpPort),
    SLUICE_SOCKET: socketPath,
    SLUICE_DRAIN_TOKENS: drainToken,
    SLUICE_SHARED_SECRET: sharedSecret,
    ...options.env
  }
  const args = options.args ?? ["up"]
  const child = spawn(
    options.launcher === true ? launcher : process.execPath,
    options.launcher === true ? args : [bin, ...args],
    {
      cwd,
      env: { ...process.env, SLUICE_NODE: process.execPath, ...env },
      stdio: ["ignore", "pipe", "pipe"]
    }
  )
  let output = ""
  child.stdout!.on("data", (d: Buffer) => (output += d.toString()))
  child.stderr!.on("data", (d: Buffer) => (output += d.toString()))
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway did not start:\n${output}`)), options.timeoutMs ?? 20_000)
    const check = () => {
      if (output.includes("is up")) {
        clearTimeout(timer)
        resolve()
      }
    }
    child.stdout!.on("data", check)
    void exited.then((code) => {
      clearTimeout(timer)
      reject(new Error(`gateway exited with ${code}:\n${output}`))
    })
  })
  return {
    process: child,
    dataDir,
    cwd,
    httpPort,
    httpUrl: `http://127.0.0.1:${httpPort}`,
    socketPath,
    tcpPort,
    drainToken,
    sharedSecret,
    env,
    output: () => output,
    stop: async (signal = "SIGTERM") => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
      return exited
    }
  }
}

/** Polls `check` until it returns a value (not `undefined`), within a bound. */
export const eventually = async <A>(
  check: () => Promise<A | undefined>,
  options: { timeoutMs?: number; intervalMs?: number } = {}
): Promise<A> => {
  const deadline = Date.now() + (options.timeoutMs ?? 10_000)
  let last: unknown
  while (Date.now() < deadline) {
    try {
      const value = await check()
      if (value !== undefined) return value
    } catch (error) {
      last = error
    }
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 25))
  }
  throw new Error(`condition not met in time${last === undefined ? "" : `: ${String(last)}`}`)
}

/**
 * Every event a gateway's data dir holds that matches `source` (all when
 * undefined), read with the store itself once its index has caught up.
 */
export const storedEvents = (dataDir: string, source?: string): Promise<ReadonlyArray<StoredEvent>> =>
  Effect.gen(function*() {
    const store = yield* EventStore
    yield* store.progress.pipe(
      Effect.flatMap((p) => p.lagEvents === 0 ? Effect.void : Effect.fail("lag")),
      Effect.retry(Schedule.spaced("10 millis").pipe(Schedule.intersect(Schedule.recurs(1000)))),
      Effect.ignore
    )
    const all: Array<StoredEvent> = []
    for (let offset = 0;; offset += 1000) {
      const page = yield* store.query({ offset, limit: 1000, source })
      all.push(...page.items)
      if (page.items.length < 1000) return all
    }
  }).pipe(
    Effect.provide(
      SqliteEventStore.layer({
        commitFile: path.join(dataDir, "sluice.db"),
        searchFile: path.join(dataDir, "search.db")
      }).pipe(Layer.provide(SqliteEventStore.clientLayer(path.join(dataDir, "sluice.db"))))
    ),
    Effect.scoped,
    Effect.runPromise
  )
