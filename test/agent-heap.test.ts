/**
 * The agent's memory settings (docs/agent.md, "Memory"): the heap growing
 * percent `tuneAgentHeap` applies, that an operator's own node flag wins, that
 * a bad `agent.heap_growing_percent` is refused like every other setting; the
 * `sluice` launcher's young generation for `agent run` (and only for it), and
 * the agent's own queue and commit defaults.
 */
import { collectStartupGarbage, memoryLine, tuneAgentHeap } from "@sluice/cli/AgentCommands"
import { resolve } from "@sluice/cli/Settings"
import * as Either from "effect/Either"
import * as path from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { freePort, type Gateway, runSluice, startGateway, tempDir } from "./harness.js"

const running: Array<Gateway> = []
afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.stop()))
})

/** `sluice agent run` (static, upstream down) through the launcher; answers its banner. */
const agentBanner = async (env: Record<string, string> = {}) => {
  const dir = tempDir()
  const agent = await startGateway({
    launcher: true,
    args: ["agent", "run", "--upstream", `http://127.0.0.1:${await freePort()}`, "--token", "t"],
    env: {
      SLUICE_AGENT_STATE_DIR: path.join(dir, "agent"),
      SLUICE_SOCKET: path.join(dir, "agent.sock"),
      SLUICE_TCP_PORT: String(await freePort()),
      ...env
    }
  })
  running.push(agent)
  return agent.output()
}

describe("the agent's heap growing percent", () => {
  it("applies the setting; 0 leaves V8's own choice", () => {
    expect(tuneAgentHeap(50, [])).toBe(50)
    expect(tuneAgentHeap(20, [])).toBe(20)
    expect(tuneAgentHeap(0, [])).toBeUndefined()
  })

  it("leaves a --heap-growing-percent on node's command line alone", () => {
    expect(tuneAgentHeap(50, ["--heap-growing-percent=35"])).toBeUndefined()
    expect(tuneAgentHeap(50, ["--heap_growing_percent=35"])).toBeUndefined()
  })

  it("a bad value is one line naming the setting, exit 2", async () => {
    const r = await runSluice(["agent", "run", "--upstream", "http://127.0.0.1:9", "--token", "t"], {
      env: {
        SLUICE_AGENT_STATE_DIR: path.join(tempDir(), "agent"),
        SLUICE_AGENT_HEAP_GROWING_PERCENT: "lots"
      }
    })
    expect(r.code).toBe(2)
    expect(r.stderr.trim()).toBe(
      `sluice: SLUICE_AGENT_HEAP_GROWING_PERCENT: must be an integer of 0 or more (got "lots")`
    )
  })
})

describe("the sluice launcher", () => {
  it("starts agent run with a 1 MiB semi-space and two V8 helper threads, reported in the banner", async () => {
    const banner = await agentBanner()
    expect(banner).toContain("  memory   semi-space 1 MiB, heap growing 50 %, V8 helper threads 2\n")
  }, 30_000)

  it("leaves an operator's --max-semi-space-size and --v8-pool-size in NODE_OPTIONS alone", async () => {
    const banner = await agentBanner({ NODE_OPTIONS: "--max-semi-space-size=4" })
    expect(banner).toContain("  memory   semi-space 4 MiB, heap growing 50 %, V8 helper threads 2\n")
    const pool = await agentBanner({ NODE_OPTIONS: "--v8-pool-size=3" })
    expect(pool).toContain("  memory   semi-space 1 MiB, heap growing 50 %, V8 helper threads 3\n")
  }, 30_000)

  it("passes other commands through to node unchanged, exit codes included", async () => {
    const ok = await runSluice(["version"], { launcher: true })
    expect(ok.code).toBe(0)
    expect(ok.stdout).toMatch(/^sluice \d+\.\d+\.\d+/)
    const bad = await runSluice(["up"], { launcher: true, env: { SLUICE_HTTP_PORT: "http" } })
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain("SLUICE_HTTP_PORT")
  }, 30_000)
})

describe("the agent's memory line", () => {
  it("names the semi-space and the growing percent, or V8's defaults", () => {
    expect(memoryLine(50, ["--max-semi-space-size=1"])).toBe("  memory   semi-space 1 MiB, heap growing 50 %")
    expect(memoryLine(undefined, ["--heap_growing_percent=35"])).toBe(
      "  memory   semi-space V8's default, heap growing 35 %"
    )
    expect(memoryLine(undefined, [])).toBe("  memory   semi-space V8's default, heap growing V8's default")
    expect(memoryLine(50, ["--max-semi-space-size=1", "--v8-pool-size=1"])).toBe(
      "  memory   semi-space 1 MiB, heap growing 50 %, V8 helper threads 1"
    )
  })

  it("the start-up collection runs without exposing gc to the program", () => {
    collectStartupGarbage()
    expect((globalThis as { gc?: unknown }).gc).toBeUndefined()
  })
})

describe("the agent's defaults", () => {
  const settings = (role: "gateway" | "agent", env: Record<string, string> = {}) => {
    const r = resolve({ file: undefined, env, flags: {}, role })
    if (Either.isLeft(r)) throw new Error(r.left.message)
    return r.right
  }

  it("buffer less than the gateway's: 10,000 events / 8 MiB queued, commits of up to 5,000", () => {
    const agent = settings("agent")
    expect([agent.queueMaxEvents, agent.queueMaxBytes, agent.commitMaxEvents]).toEqual([10_000, 8_388_608, 5_000])
    const gateway = settings("gateway")
    expect([gateway.queueMaxEvents, gateway.queueMaxBytes, gateway.commitMaxEvents]).toEqual([
      100_000,
      268_435_456,
      20_000
    ])
  })

  it("an operator's value wins over the agent's default", () => {
    expect(settings("agent", { SLUICE_QUEUE_MAX_EVENTS: "50000" }).queueMaxEvents).toBe(50_000)
  })
})
