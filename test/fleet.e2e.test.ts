/**
 * The fleet end to end with real processes (SPEC §4): `sluice up` and two
 * `sluice agent run`, enrolled with an `EBT_` token. A file input added
 * through the API reaches both agents within one poll and their lines become
 * searchable with the input's routing; a broken input keeps the old config
 * running and the error shows on the agent resource; an upgrade through a
 * fake installer flips the reported version and the action ends `done`; a
 * revoked agent gets 403 and stops.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { eventually, type Gateway, runSluice, startGateway, tempDir } from "./harness.js"

const admin = { email: "fleet-admin@example.com", password: "fleet-admin-password-1" }
const pollSeconds = 1

interface Agent {
  readonly name: string
  readonly id: string
  readonly stateDir: string
  readonly configFile: string
  process: Gateway
}

let gateway: Gateway
let auth: Record<string, string>
let groupId: string
let logsDir: string
const agents: Array<Agent> = []

const api = async (method: string, route: string, body?: unknown) => {
  const response = await fetch(`${gateway.httpUrl}/api/v1${route}`, {
    method,
    headers: { ...auth, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) })
  })
  const text = await response.text()
  return { status: response.status, body: text.length > 0 ? JSON.parse(text) as Record<string, unknown> : {} }
}

const agentResource = async (id: string) => (await api("GET", `/agents/${id}`)).body
const groupVersion = async () => (await api("GET", `/groups/${groupId}`)).body["config_version"] as number

/** The pid the agent records in its state dir (it changes when the agent re-executes itself). */
const agentPid = (agent: Agent): number | undefined => {
  const file = path.join(agent.stateDir, "agent.pid")
  return fs.existsSync(file) ? Number(fs.readFileSync(file, "utf8").trim()) : undefined
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

const startAgent = async (name: string, token: string): Promise<Agent> => {
  const home = tempDir(`sluice-fleet-${name}-`)
  const stateDir = path.join(home, "state")
  const configFile = path.join(home, "sluice.yaml")
  fs.writeFileSync(configFile, "agent:\n  version: 0.4.1\n")
  // The fake installer: "installs" a version by pointing the agent's config at it.
  const installer = path.join(home, "install.sh")
  fs.writeFileSync(
    installer,
    `#!/bin/sh\necho "installing sluice $1"\nprintf 'agent:\\n  version: %s\\n' "$1" > '${configFile}'\n`
  )
  const env = {
    SLUICE_AGENT_STATE_DIR: stateDir,
    SLUICE_ALLOWED_PATHS: logsDir,
    SLUICE_AGENT_POLL_INTERVAL_S: String(pollSeconds),
    SLUICE_AGENT_HEARTBEAT_INTERVAL_S: "1",
    SLUICE_AGENT_UPGRADE_COMMAND: `/bin/sh ${installer} {version}`
  }
  const enrol = await runSluice(
    ["agent", "enrol", "--config", configFile, "--api-url", gateway.httpUrl, "--token", token],
    { env: { ...env, SLUICE_DATA_DIR: path.join(home, "data") } }
  )
  expect(enrol.code, enrol.stderr + enrol.stdout).toBe(0)
  const identity = JSON.parse(fs.readFileSync(path.join(stateDir, "agent.json"), "utf8")) as { agentId: string }
  expect((fs.statSync(path.join(stateDir, "token")).mode & 0o777).toString(8)).toBe("600")
  expect(enrol.stdout + enrol.stderr).not.toContain("AGT_")
  const process = await startGateway({
    args: ["agent", "run", "--config", configFile],
    env: { ...env, SLUICE_DATA_DIR: path.join(home, "data") }
  })
  return { name, id: identity.agentId, stateDir, configFile, process }
}

beforeAll(async () => {
  logsDir = tempDir("sluice-fleet-logs-")
  gateway = await startGateway({
    args: ["up"],
    env: {
      SLUICE_ADMIN_EMAIL: admin.email,
      SLUICE_ADMIN_PASSWORD: admin.password,
      // The test polls the API far faster than an operator would.
      SLUICE_RATE_LIMIT_AGENTS: "100000",
      SLUICE_RATE_LIMIT_DASHBOARD: "100000"
    }
  })
  const login = await fetch(`${gateway.httpUrl}/api/v1/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(admin)
  })
  auth = { authorization: `Bearer ${((await login.json()) as { token: string }).token}` }
  const group = await api("POST", "/groups", { name: "Web servers", slug: "web-servers" })
  expect(group.status).toBe(201)
  groupId = group.body["id"] as string
  const enrolment = await api("POST", `/groups/${groupId}/enrolment-tokens`, { max_uses: 2 })
  expect(enrolment.status).toBe(201)
  const token = enrolment.body["token"] as string
  expect(token).toMatch(/^EBT_/)
  agents.push(await startAgent("a", token), await startAgent("b", token))
}, 60_000)

afterAll(async () => {
  for (const agent of agents) {
    await agent.process.stop()
    const pid = agentPid(agent)
    if (pid !== undefined && alive(pid)) process.kill(pid, "SIGTERM")
  }
  await gateway?.stop()
})

describe("the fleet", () => {
  it("both agents enrol and report heartbeats with their host's facts", async () => {
    for (const agent of agents) {
      const resource = await eventually(async () => {
        const r = await agentResource(agent.id)
        return r["last_heartbeat_at"] !== null && r["status"] === "online" ? r : undefined
      }, { timeoutMs: 15_000, intervalMs: 100 })
      expect(resource).toMatchObject({ group_id: groupId, platform: "linux", agent_version: "0.4.1" })
      const metrics = resource["metrics"] as Record<string, number>
      expect(metrics["mem_percent"]).toBeGreaterThan(0)
      expect(metrics["mem_percent"]).toBeLessThanOrEqual(100)
    }
    // The token was used twice: a third enrolment is refused.
    const list = await api("GET", `/groups/${groupId}/enrolment-tokens`)
    expect((list.body["items"] as Array<Record<string, unknown>>)[0]).toMatchObject({ uses: 2, max_uses: 2 })
  })

  it("a file input added through the API reaches both agents within one poll; lines are searchable with its routing", async () => {
    const logFile = path.join(logsDir, "app.log")
    fs.writeFileSync(logFile, "")
    const input = await api("POST", `/groups/${groupId}/inputs`, {
      type: "file",
      name: "app-logs",
      settings: { paths: [path.join(logsDir, "*.log")] },
      index: "web",
      sourcetype: "nginx",
      source: "frontend"
    })
    expect(input.status).toBe(201)
    const version = await groupVersion()
    const changedAt = Date.now()
    for (const agent of agents) {
      await eventually(async () => {
        const r = await agentResource(agent.id)
        return r["applied_config_version"] === version && r["pipeline_running"] === true ? true : undefined
      }, { timeoutMs: 15_000, intervalMs: 100 })
    }
    // One poll interval, plus the heartbeat that reports it, plus slack for a loaded machine.
    expect(Date.now() - changedAt).toBeLessThan((pollSeconds + 1) * 1000 + 5_000)

    fs.appendFileSync(logFile, "GET /index.html 200\nGET /missing 404\n")
    const found = await eventually(async () => {
      const r = await api("GET", "/logs?index=web&page_size=100")
      return (r.body["total"] as number) === 4 ? r.body["items"] as Array<Record<string, unknown>> : undefined
    }, { timeoutMs: 20_000, intervalMs: 100 })
    for (const event of found) {
      expect(event).toMatchObject({ index: "web", sourcetype: "nginx", source: "frontend", transport: "file" })
    }
    expect(new Set(found.map((e) => e["agent_id"]))).toEqual(new Set(agents.map((a) => a.id)))
    expect(found.map((e) => e["message"]).sort()).toEqual([
      "GET /index.html 200",
      "GET /index.html 200",
      "GET /missing 404",
      "GET /missing 404"
    ])
  })

  it("a broken input keeps the old config running, and the error shows on the agent", async () => {
    const before = await groupVersion()
    const broken = await api("POST", `/groups/${groupId}/inputs`, {
      type: "file",
      name: "broken",
      settings: { paths: ["relative/path.log"] }
    })
    expect(broken.status).toBe(201)
    for (const agent of agents) {
      const resource = await eventually(async () => {
        const r = await agentResource(agent.id)
        return typeof r["last_config_error"] === "string" ? r : undefined
      }, { timeoutMs: 15_000, intervalMs: 100 })
      expect(resource["applied_config_version"]).toBe(before)
      expect(resource["last_config_error"]).toMatch(/paths/)
    }
    // The old input still runs.
    fs.appendFileSync(path.join(logsDir, "app.log"), "still flowing\n")
    await eventually(async () => {
      const r = await api("GET", "/logs?index=web&q=flowing")
      return (r.body["total"] as number) === 2 ? true : undefined
    }, { timeoutMs: 20_000, intervalMs: 100 })
    // Removing the broken input heals it.
    expect((await api("DELETE", `/groups/${groupId}/inputs/${broken.body["id"] as string}`)).status).toBe(204)
    const healed = await groupVersion()
    for (const agent of agents) {
      await eventually(async () => {
        const r = await agentResource(agent.id)
        return r["applied_config_version"] === healed && r["last_config_error"] === null ? true : undefined
      }, { timeoutMs: 15_000, intervalMs: 100 })
    }
  })

  it("an upgrade through the installer flips the reported version and the action ends done", async () => {
    const agent = agents[0]!
    const pidBefore = agentPid(agent)
    const action = await api("POST", `/agents/${agent.id}/actions`, {
      type: "upgrade_agent",
      payload: { targetVersion: "0.4.2" }
    })
    expect(action.status).toBe(201)
    const done = await eventually(async () => {
      const r = await api("GET", `/actions/${action.body["id"] as string}`)
      return r.body["status"] === "done" ? r.body : undefined
    }, { timeoutMs: 30_000, intervalMs: 100 })
    expect(done["result"]).toMatchObject({ fromVersion: "0.4.1", toVersion: "0.4.2" })
    expect((await agentResource(agent.id))["agent_version"]).toBe("0.4.2")
    // It re-executed itself: a new process.
    const pidAfter = agentPid(agent)
    expect(pidAfter).toBeDefined()
    expect(pidAfter).not.toBe(pidBefore)
    expect(alive(pidAfter!)).toBe(true)
  })

  it("a failed install keeps the old version and reports failed with the output", async () => {
    const agent = agents[1]!
    fs.writeFileSync(
      path.join(path.dirname(agent.configFile), "install.sh"),
      "#!/bin/sh\necho 'no such version' >&2\nexit 3\n"
    )
    const action = await api("POST", `/agents/${agent.id}/actions`, {
      type: "upgrade_agent",
      payload: { targetVersion: "9.9.9" }
    })
    const failed = await eventually(async () => {
      const r = await api("GET", `/actions/${action.body["id"] as string}`)
      return r.body["status"] === "failed" ? r.body : undefined
    }, { timeoutMs: 30_000, intervalMs: 100 })
    expect(JSON.stringify(failed["result"])).toContain("no such version")
    expect((await agentResource(agent.id))["agent_version"]).toBe("0.4.1")
  })

  it("a revoked agent gets 403 and stops", async () => {
    const agent = agents[1]!
    expect((await api("POST", `/agents/${agent.id}/revoke`)).status).toBeLessThan(300)
    const code = await eventually(async () => agent.process.process.exitCode ?? undefined, {
      timeoutMs: 20_000,
      intervalMs: 100
    })
    expect(code).not.toBe(0)
    expect(agent.process.output()).toMatch(/revoked|403/)
    const token = fs.readFileSync(path.join(agent.stateDir, "token"), "utf8").trim()
    const poll = await fetch(`${gateway.httpUrl}/api/v1/agents/${agent.id}/config?since=0`, {
      headers: { authorization: `Bearer ${token}` }
    })
    expect(poll.status).toBe(403)
  })
})
