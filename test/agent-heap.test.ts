/**
 * The agent's start-up GC setting (docs/agent.md, "Memory"): which percent
 * `tuneAgentHeap` applies, and that an operator's own flag wins.
 */
import { agentHeapGrowingPercent, tuneAgentHeap } from "@sluice/cli/AgentCommands"
import { describe, expect, it } from "vitest"

describe("tuneAgentHeap", () => {
  it("sets the agent's heap growing percent by default", () => {
    expect(tuneAgentHeap([], {})).toBe(agentHeapGrowingPercent)
    expect(agentHeapGrowingPercent).toBe(50)
  })

  it("takes SLUICE_AGENT_HEAP_GROWING_PERCENT; 0 leaves V8's own choice", () => {
    expect(tuneAgentHeap([], { SLUICE_AGENT_HEAP_GROWING_PERCENT: "20" })).toBe(20)
    expect(tuneAgentHeap([], { SLUICE_AGENT_HEAP_GROWING_PERCENT: "0" })).toBeUndefined()
    // Not a whole number: the default.
    expect(tuneAgentHeap([], { SLUICE_AGENT_HEAP_GROWING_PERCENT: "lots" })).toBe(agentHeapGrowingPercent)
  })

  it("leaves a --heap-growing-percent on node's command line alone", () => {
    expect(tuneAgentHeap(["--heap-growing-percent=35"], {})).toBeUndefined()
    expect(tuneAgentHeap(["--heap_growing_percent=35"], { SLUICE_AGENT_HEAP_GROWING_PERCENT: "50" })).toBeUndefined()
  })
})
