/**
 * The `sluice` binary as an operator meets it: `up` prints its addresses,
 * creates the data dir and secrets (0600), stops with exit 0 on SIGINT and
 * SIGTERM; settings from file < env < flags; each bad setting gives one
 * line naming it and exit 2.
 */
import * as fs from "node:fs"
import * as net from "node:net"
import * as path from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { freePort, type Gateway, runSluice, startGateway, tempDir } from "./harness.js"

const running: Array<Gateway> = []
afterEach(async () => {
  await Promise.all(running.splice(0).map((g) => g.stop("SIGKILL")))
})

describe("sluice up", () => {
  it("prints each address, the data dir and the secret files; SIGINT exits 0", async () => {
    const cwd = tempDir()
    const dataDir = path.join(cwd, "fresh")
    const g = await startGateway({ dataDir, env: { SLUICE_SHARED_SECRET: "", SLUICE_DRAIN_TOKENS: "" } })
    running.push(g)
    const out = g.output()
    expect(out).toContain(`http://127.0.0.1:${g.httpPort}`)
    expect(out).toContain(g.socketPath)
    expect(out).toContain(`127.0.0.1:${g.tcpPort}`)
    expect(out).toContain(dataDir)
    const secretFile = path.join(dataDir, "secrets", "shared_secret")
    const tokensFile = path.join(dataDir, "secrets", "drain_tokens")
    expect(out).toContain(secretFile)
    expect(out).toContain(tokensFile)
    expect(fs.statSync(secretFile).mode & 0o777).toBe(0o600)
    expect(fs.statSync(tokensFile).mode & 0o777).toBe(0o600)
    expect(fs.readFileSync(secretFile, "utf8").trim().length).toBeGreaterThanOrEqual(32)
    // Secrets are never printed.
    expect(out).not.toContain(fs.readFileSync(secretFile, "utf8").trim())
    expect(await g.stop("SIGINT")).toBe(0)
  })

  it("SIGTERM exits 0", async () => {
    const g = await startGateway()
    running.push(g)
    expect(await g.stop("SIGTERM")).toBe(0)
  })

  it("a taken HTTP port is one line naming the setting, exit 2", async () => {
    const port = await freePort()
    const blocker = net.createServer()
    await new Promise<void>((r) => blocker.listen(port, "127.0.0.1", r))
    try {
      const r = await runSluice(["up"], {
        env: {
          SLUICE_DATA_DIR: path.join(tempDir(), "d"),
          SLUICE_HTTP_PORT: String(port),
          SLUICE_SOCKET: path.join(tempDir(), "s.sock")
        }
      })
      expect(r.code).toBe(2)
      expect(r.stderr.trim().split("\n")).toHaveLength(1)
      expect(r.stderr).toContain("SLUICE_HTTP_PORT")
      expect(r.stderr).toContain("address already in use")
    } finally {
      blocker.close()
    }
  })

  it("an unwritable data dir is one line naming SLUICE_DATA_DIR, exit 2", async () => {
    const file = path.join(tempDir(), "not-a-dir")
    fs.writeFileSync(file, "x")
    const r = await runSluice(["up"], { env: { SLUICE_DATA_DIR: path.join(file, "data") } })
    expect(r.code).toBe(2)
    expect(r.stderr.trim().split("\n")).toHaveLength(1)
    expect(r.stderr).toMatch(/^sluice: SLUICE_DATA_DIR: cannot use .* as the data directory/)
  })

  it.each([
    [{ SLUICE_HTTP_PORT: "http" }, "SLUICE_HTTP_PORT: must be a port number between 0 and 65535"],
    [{ SLUICE_SHARED_SECRET: "too-short" }, "SLUICE_SHARED_SECRET: must be at least 32 characters"],
    [{ SLUICE_QUEUE_FULL: "drop" }, "SLUICE_QUEUE_FULL: must be one of block, reject"],
    [{ SLUICE_QUEUE_MAX_EVENTS: "0" }, "SLUICE_QUEUE_MAX_EVENTS: must be a positive integer"],
    [{ SLUICE_STORE: "mysql://x" }, "SLUICE_STORE: must be sqlite or a postgres:// URL"],
    [
      { SLUICE_STORE: "postgres://localhost/x" },
      "SLUICE_STORE: the postgres store is not in this build yet; use sqlite"
    ],
    [{ SLUICE_QUEUE: "nats://localhost:4222" }, "SLUICE_QUEUE: the nats queue is not in this build yet; use memory"]
  ])("bad setting %o → one line, exit 2", async (env, message) => {
    const r = await runSluice(["up"], { env: { SLUICE_DATA_DIR: path.join(tempDir(), "d"), ...env } })
    expect(r.code).toBe(2)
    expect(r.stderr.trim()).toBe(
      `sluice: ${message}${
        "SLUICE_SHARED_SECRET" in env || "SLUICE_STORE" in env || "SLUICE_QUEUE" in env
          ? ""
          : ` (got ${JSON.stringify(Object.values(env)[0])})`
      }`
    )
  })

  it("the secret itself never appears in the error", async () => {
    const r = await runSluice(["up"], { env: { SLUICE_SHARED_SECRET: "hunter2-secret" } })
    expect(r.code).toBe(2)
    expect(r.stderr).not.toContain("hunter2")
  })
})

describe("settings precedence: file < env < flags", () => {
  const config = (dir: string, port: number) => {
    const file = path.join(dir, "sluice.yaml")
    fs.writeFileSync(file, `data_dir: ${path.join(dir, "data")}\nhttp:\n  port: ${port}\n`)
    return file
  }

  it("the file's port is used when nothing overrides it", async () => {
    const dir = tempDir()
    const port = await freePort()
    const g = await startGateway({
      args: ["up", "--config", config(dir, port)],
      env: { SLUICE_HTTP_PORT: "", SLUICE_DATA_DIR: "" }
    })
    running.push(g)
    expect(g.output()).toContain(`http://127.0.0.1:${port}`)
    expect(g.output()).toContain(path.join(dir, "data"))
  })

  it("the environment beats the file, and a flag beats both", async () => {
    const dir = tempDir()
    const [filePort, envPort, flagPort] = [await freePort(), await freePort(), await freePort()]
    const file = config(dir, filePort)
    const a = await startGateway({ args: ["up", "--config", file], env: { SLUICE_HTTP_PORT: String(envPort) } })
    running.push(a)
    expect(a.output()).toContain(`http://127.0.0.1:${envPort}`)
    await a.stop()
    const b = await startGateway({
      args: ["up", "--config", file, "--http-port", String(flagPort)],
      env: { SLUICE_HTTP_PORT: String(envPort) }
    })
    running.push(b)
    expect(b.output()).toContain(`http://127.0.0.1:${flagPort}`)
  })

  it("sluice validate accepts a good file and names the bad key of a bad one", async () => {
    const dir = tempDir()
    const good = config(dir, 8081)
    const ok = await runSluice(["validate", good])
    expect(ok.code).toBe(0)
    expect(ok.stdout).toContain("valid")
    const bad = path.join(dir, "bad.yaml")
    fs.writeFileSync(bad, "queue:\n  full: sometimes\n")
    const r = await runSluice(["validate", bad], { env: { SLUICE_QUEUE_FULL: "" } })
    expect(r.code).toBe(2)
    expect(r.stderr.trim()).toBe(`sluice: bad.yaml: queue.full: must be one of block, reject (got "sometimes")`)
    const unknown = path.join(dir, "unknown.yaml")
    fs.writeFileSync(unknown, "htp:\n  port: 1\n")
    const u = await runSluice(["validate", unknown])
    expect(u.code).toBe(2)
    expect(u.stderr).toContain("unknown.yaml: htp.port: unknown setting")
  })

  it("sluice version prints the version", async () => {
    const r = await runSluice(["version"])
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/^sluice \d+\.\d+\.\d+/)
  })
})
