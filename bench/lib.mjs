// Shared helpers of the benchmarks: start the real binary, free ports, peak
// RSS from /proc, and a socket blaster that ends each connection with flush.
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"

export const bin = path.resolve(import.meta.dirname, "../packages/cli/dist/bin.js")

export const freePort = () =>
  new Promise((resolve) => {
    const s = net.createServer()
    s.listen(0, "127.0.0.1", () => {
      const port = s.address().port
      s.close(() => resolve(port))
    })
  })

export const tempDir = (prefix) => fs.mkdtempSync(path.join(os.tmpdir(), prefix))

/** The `sluice` command as installed: the launcher that sets each command's node flags. */
export const launcher = path.resolve(import.meta.dirname, "../packages/cli/bin/sluice")

/** Starts `sluice ARGS` through the launcher (with this node) and waits for its banner. */
export const start = (args, env) =>
  new Promise((resolve, reject) => {
    const child = spawn(launcher, args, {
      env: { SLUICE_NODE: process.execPath, ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let out = ""
    const onData = (d) => {
      out += d.toString()
      if (out.includes("is up")) resolve(child)
    }
    child.stdout.on("data", onData)
    child.stderr.on("data", (d) => (out += d.toString()))
    child.on("exit", (code) => reject(new Error(`sluice ${args.join(" ")} exited ${code}: ${out}`)))
  })

export const stop = (child) =>
  new Promise((resolve) => {
    if (child.exitCode !== null) return resolve(child.exitCode)
    child.removeAllListeners("exit")
    child.on("exit", resolve)
    child.kill("SIGTERM")
  })

/** Peak resident set of a process (VmHWM), in MB. */
export const peakRssMb = (pid) => {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8")
  return Math.round(Number(/VmHWM:\s+(\d+)/.exec(status)[1]) / 1024)
}

const levels = [3, 4, 5, 6, 7, 7, 7, 8]
/** One ~250-byte entry line shaped like SPEC §1's example, with 3 metadata keys. */
export const entryLine = (i) =>
  JSON.stringify({
    version: "1.0",
    payload: `User login attempt from 10.0.${(i >> 8) & 255}.${i & 255} for account user${i} accepted after mfa`,
    entryType: 1,
    source: "auth-service",
    logLevel: levels[i & 7],
    timestamp: "2025-08-31T10:30:00Z",
    payloadType: "generic",
    metadata: { seq: String(i), host: `web-${i & 15}`, region: "eu-west-1" }
  }) + "\n"

/**
 * Sends `n` entries over `conns` connections (unix path or {host, port,
 * secret}), each ending with flush; resolves with the total accepted.
 */
export const blast = async (target, n, conns) => {
  const per = Math.ceil(n / conns)
  const one = (c) =>
    new Promise((resolve, reject) => {
      const socket = typeof target === "string"
        ? net.createConnection({ path: target })
        : net.createConnection({ host: target.host, port: target.port })
      let buf = ""
      let authed = typeof target === "string"
      const from = c * per
      const to = Math.min(n, from + per)
      const pump = () => {
        let i = from
        const write = () => {
          while (i < to) {
            let chunk = ""
            for (let k = 0; k < 200 && i < to; k++, i++) chunk += entryLine(i)
            if (!socket.write(chunk)) return socket.once("drain", write)
          }
          socket.write("{\"version\":\"1.0\",\"action\":\"flush\"}\n")
        }
        write()
      }
      socket.on("data", (d) => {
        buf += d.toString()
        let nl
        while ((nl = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, nl)
          buf = buf.slice(nl + 1)
          const reply = JSON.parse(line)
          if (!authed && reply.status === "success") {
            authed = true
            pump()
          } else if (reply.status === "flushed") {
            socket.end()
            resolve(reply.accepted)
          } else if (reply.error) reject(new Error(reply.error))
        }
      })
      socket.on("error", reject)
      socket.on("connect", () => {
        if (typeof target === "string") pump()
        else {socket.write(
            JSON.stringify({ version: "1.0", action: "authenticate", shared_secret: target.secret }) + "\n"
          )}
      })
    })
  const accepted = await Promise.all(Array.from({ length: conns }, (_, c) => one(c)))
  return accepted.reduce((a, b) => a + b, 0)
}

/** A counter's value from a Prometheus text page. */
export const metricValue = (text, name) => {
  let total = 0
  for (const line of text.split("\n")) {
    if (line.startsWith(name + " ") || line.startsWith(name + "{")) total += Number(line.split(" ").at(-1))
  }
  return total
}

export const machine = () =>
  `${os.cpus().length}× ${os.cpus()[0]?.model ?? "cpu"}, ${
    Math.round(os.totalmem() / 2 ** 30)
  } GiB, Node ${process.version}`

const levelWords = ["error", "warn", "notice", "info", "info", "info", "debug", "critical"]
const services = ["auth-service", "billing", "gateway", "search", "mailer"]
/** A POST /v1/drain body of `n` events of ~250 bytes, shaped like SPEC §2's event. */
export const drainBody = (n, seed) => {
  const t = Date.now()
  const events = new Array(n)
  for (let i = 0; i < n; i++) {
    const k = seed * n + i
    events[i] = {
      project_id: `proj-${k % 7}`,
      timestamp: new Date(t + k).toISOString(),
      level: levelWords[k % 8],
      service: services[k % 5],
      message: `User login attempt from 10.0.${(k >> 8) & 255}.${k & 255} for account user${k} accepted after mfa #${
        k % 977
      }`,
      metadata: { seq: k, host: `web-${k % 16}`, region: "eu-west-1" }
    }
  }
  return Buffer.from(JSON.stringify({ events }))
}
