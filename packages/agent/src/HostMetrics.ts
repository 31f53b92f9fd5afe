/**
 * The host metrics an agent reports in every heartbeat (SPEC §4 `metrics`):
 * CPU busy percent since the previous sample (the delta of `os.cpus()` times,
 * so it measures the last interval, not the average since boot), memory in
 * use, the disk holding the state dir (as `df` counts it: blocks available to
 * unprivileged users), and the host's uptime. Percentages are 0–100 with one
 * decimal; a disk that cannot be read reports 0 rather than failing a beat.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Fs from "node:fs/promises"
import * as Os from "node:os"

/** One snapshot, in the heartbeat's snake_case shape. */
export const MetricsSnapshot = Schema.Struct({
  cpu_percent: Schema.Number,
  mem_percent: Schema.Number,
  disk_percent: Schema.Number,
  uptime_s: Schema.Number
}).annotations({ identifier: "MetricsSnapshot" })
export type MetricsSnapshot = typeof MetricsSnapshot.Type

/** Samples the host. */
export class HostMetrics extends Context.Tag("@sluice/agent/HostMetrics")<HostMetrics, {
  /** A snapshot; CPU is measured since the previous call (or since `make`). */
  readonly sample: Effect.Effect<MetricsSnapshot>
}>() {}

interface CpuTimes {
  readonly busy: number
  readonly total: number
}

const cpuTimes = (): CpuTimes => {
  let busy = 0
  let total = 0
  for (const cpu of Os.cpus()) {
    const t = cpu.times
    const all = t.user + t.nice + t.sys + t.idle + t.irq
    total += all
    busy += all - t.idle
  }
  return { busy, total }
}

const percent = (part: number, whole: number): number =>
  whole <= 0 ? 0 : Math.min(100, Math.max(0, Math.round((part / whole) * 1000) / 10))

/** CPU busy percent between two readings. */
export const cpuPercent = (before: CpuTimes, after: CpuTimes): number =>
  percent(after.busy - before.busy, after.total - before.total)

const diskPercent = (path: string) =>
  Effect.tryPromise(() => Fs.statfs(path)).pipe(
    Effect.map((s) => {
      const used = s.blocks - s.bfree
      return percent(used, used + s.bavail)
    }),
    Effect.orElseSucceed(() => 0)
  )

/** Samples this host; the disk is the one holding `path` (the state dir). */
export const make = (path: string): Effect.Effect<HostMetrics["Type"]> =>
  Effect.sync(() => {
    let previous = cpuTimes()
    const sample = Effect.gen(function*() {
      const now = cpuTimes()
      const cpu = cpuPercent(previous, now)
      previous = now
      const total = Os.totalmem()
      return {
        cpu_percent: cpu,
        mem_percent: percent(total - Os.freemem(), total),
        disk_percent: yield* diskPercent(path),
        uptime_s: Math.floor(Os.uptime())
      }
    })
    return HostMetrics.of({ sample })
  })

/** The host's metrics, the disk being the one holding `path`. */
export const layer = (path: string): Layer.Layer<HostMetrics> => Layer.effect(HostMetrics, make(path))
