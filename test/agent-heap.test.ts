/**
 * The agent's start-up GC setting (docs/agent.md, "Memory"): the percent
 * `tuneAgentHeap` applies, that an operator's own node flag wins, and that a
 * bad `agent.heap_growing_percent` is refused like every other setting.
 */
import { tuneAgentHeap } from "@sluice/cli/AgentCommands"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { runSluice, tempDir } from "./harness.js"

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
