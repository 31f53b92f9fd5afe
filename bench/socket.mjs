// bench:socket — the agent socket (SPEC §1) against the real `sluice up`
// binary, then the real `sluice agent run` (its upstream down, so `flushed`
// means committed to its spool): N entries (default 1M) shaped like SPEC §1's example (~250 bytes,
// 3 metadata keys) over unix and over tcp, with 1 and 4 connections, each
// connection ending with `flush` (so the figure is entries durable in SQLite
// per second, end to end). Prints events/s per cell and the server's peak RSS.
// In the same run, the socket transports alone (the built plugin over the
// real pipeline and a store that keeps nothing, in a process of their own):
// what the socket path costs without the store.
// Usage: npm run bench:socket [-- ENTRIES]
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { blast, freePort, machine, peakRssMb, start, stop, tempDir } from "./lib.mjs"

const entries = Number(process.argv[2] ?? process.env.BENCH_ENTRIES ?? 1_000_000)
const secret = "bench-socket-shared-secret-0123456789abcdefghijk" // 48 characters
const cells = [
  ["unix", 1],
  ["unix", 4],
  ["tcp", 1],
  ["tcp", 4]
]

// The transports over Pipeline.layer and an EventStore whose append keeps nothing.
const aloneServer = `
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { EventStore } from "@sluice/core/EventStore"
import * as Pipeline from "@sluice/core/Pipeline"
import { TcpTransport, UnixTransport } from "@sluice/socket"
let seq = 0
const store = Layer.succeed(EventStore, EventStore.of({
  append: () => Effect.sync(() => ({ seq: ++seq, firstId: seq * 1048576 })),
  hasIdempotencyKey: () => Effect.succeed(false),
  query: () => Effect.succeed({ items: [], total: 0 }),
  stats: () => Effect.succeed({ total: 0, byLevel: {}, bySource: {}, byTransport: {} }),
  progress: Effect.succeed({ committedSeq: seq, indexedSeq: seq, committedEvents: 0, indexedEvents: 0 }),
  retain: () => Effect.succeed({ deletedCommits: 0, deletedEvents: 0 }),
  ping: Effect.void
}))
const sockets = Layer.merge(
  UnixTransport.layer({ path: process.env.SOCKET_PATH }),
  TcpTransport.layer({ port: Number(process.env.TCP_PORT), sharedSecret: Redacted.make(process.env.SECRET) })
).pipe(Layer.provide(Pipeline.layer()), Layer.provide(store))
process.on("SIGTERM", () => process.exit(0))
Effect.runPromise(Effect.gen(function*() {
  console.log("is up")
  yield* Effect.never
}).pipe(Effect.provide(sockets), Effect.orDie))
`

const startAlone = (env) =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--input-type=module", "-e", aloneServer], {
      cwd: path.resolve(import.meta.dirname, ".."),
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let out = ""
    child.stdout.on("data", (d) => {
      out += d.toString()
      if (out.includes("is up")) resolve(child)
    })
    child.stderr.on("data", (d) => (out += d.toString()))
    child.on("exit", (code) => reject(new Error(`the socket-alone server exited ${code}: ${out}`)))
  })

const table = async (title, socketPath, tcpPort, pid) => {
  // A short warm-up, so the first cell does not pay for the JIT.
  await blast(socketPath, 20_000, 1)
  console.log(`\n${title}`)
  console.log("transport  connections   events/s   seconds")
  for (const [transport, connections] of cells) {
    const target = transport === "unix" ? socketPath : { host: "127.0.0.1", port: tcpPort, secret }
    const t0 = performance.now()
    const accepted = await blast(target, entries, connections)
    const seconds = (performance.now() - t0) / 1000
    if (accepted !== entries) throw new Error(`${transport} × ${connections}: accepted ${accepted} of ${entries}`)
    console.log(
      `${transport.padEnd(9)}  ${String(connections).padStart(11)}  ${
        String(Math.round(entries / seconds)).padStart(9)
      }  ${seconds.toFixed(2).padStart(8)}`
    )
  }
  console.log(`peak RSS ${peakRssMb(pid)} MB`)
}

const main = async () => {
  console.log(`bench:socket  ${new Date().toISOString()}  ${machine()}  ${entries} entries per cell, flush at the end`)
  const dataDir = tempDir("sluice-bench-socket-")
  const socketPath = path.join(dataDir, "agent.sock")
  const tcpPort = await freePort()
  const serve = async (args, title) => {
    const dir = path.join(dataDir, args[0])
    const server = await start(args, {
      SLUICE_DATA_DIR: dir,
      SLUICE_SOCKET: socketPath,
      SLUICE_TCP_PORT: String(tcpPort),
      SLUICE_HTTP_PORT: String(await freePort()),
      SLUICE_SHARED_SECRET: secret
    })
    try {
      await table(title, socketPath, tcpPort, server.pid)
      const t0 = performance.now()
      const code = await stop(server)
      console.log(
        `sluice ${args[0]} stopped in ${((performance.now() - t0) / 1000).toFixed(1)} s with exit code ${code}`
      )
    } finally {
      if (server.exitCode === null) server.kill("SIGKILL")
      fs.rmSync(dir, { recursive: true, force: true })
    }
  }
  await serve(["up"], "sluice up (SQLite, indexed behind): accepted = durable")
  // Port 9 (discard) is closed on loopback: the agent keeps everything in its spool.
  await serve(
    ["agent", "run", "--upstream", "http://127.0.0.1:9", "--token", "bench"],
    "sluice agent run (SQLite spool, upstream down): accepted = durable"
  )
  const aloneSocket = path.join(dataDir, "alone.sock")
  const alonePort = await freePort()
  const alone = await startAlone({ SOCKET_PATH: aloneSocket, TCP_PORT: String(alonePort), SECRET: secret })
  try {
    await table("The socket transports alone (pipeline, a store that keeps nothing)", aloneSocket, alonePort, alone.pid)
  } finally {
    alone.removeAllListeners("exit")
    alone.kill("SIGTERM")
    fs.rmSync(dataDir, { recursive: true, force: true })
  }
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
