// bench:socket — the agent socket (SPEC §1) against the real `sluice up`
// binary: N entries (default 1M) shaped like SPEC §1's example (~250 bytes,
// 3 metadata keys) over unix and over tcp, with 1 and 4 connections, each
// connection ending with `flush` (so the figure is entries durable in SQLite
// per second, end to end). Prints events/s per cell and the server's peak RSS.
// Usage: npm run bench:socket [-- ENTRIES]
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

const main = async () => {
  const dataDir = tempDir("sluice-bench-socket-")
  const socketPath = path.join(dataDir, "agent.sock")
  const tcpPort = await freePort()
  const gateway = await start(["up"], {
    SLUICE_DATA_DIR: dataDir,
    SLUICE_SOCKET: socketPath,
    SLUICE_TCP_PORT: String(tcpPort),
    SLUICE_HTTP_PORT: String(await freePort()),
    SLUICE_SHARED_SECRET: secret
  })
  try {
    console.log(`bench:socket  ${new Date().toISOString()}  ${machine()}  ${entries} entries per cell`)
    // A short warm-up, so the first cell does not pay for the JIT.
    await blast(socketPath, 20_000, 1)
    console.log("\ntransport  connections   events/s   seconds  accepted")
    for (const [transport, connections] of cells) {
      const target = transport === "unix" ? socketPath : { host: "127.0.0.1", port: tcpPort, secret }
      const t0 = performance.now()
      const accepted = await blast(target, entries, connections)
      const seconds = (performance.now() - t0) / 1000
      if (accepted !== entries) throw new Error(`${transport} × ${connections}: accepted ${accepted} of ${entries}`)
      console.log(
        `${transport.padEnd(9)}  ${String(connections).padStart(11)}  ${
          String(Math.round(entries / seconds)).padStart(9)
        }  ${seconds.toFixed(2).padStart(8)}  ${String(accepted).padStart(8)}`
      )
    }
    console.log(`\nsluice up peak RSS ${peakRssMb(gateway.pid)} MB`)
    const t0 = performance.now()
    const code = await stop(gateway)
    console.log(`sluice up stopped in ${((performance.now() - t0) / 1000).toFixed(1)} s with exit code ${code}`)
  } finally {
    if (gateway.exitCode === null) gateway.kill("SIGKILL")
    fs.rmSync(dataDir, { recursive: true, force: true })
  }
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
