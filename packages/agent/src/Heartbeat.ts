/**
 * The agent's heartbeat (SPEC §4): once at start and then every interval, it
 * tells the control plane its version, applied config version, whether its
 * inputs run and since when, the last config error, the host's metrics, and
 * the action reports not yet delivered. Only after a 200 are those reports
 * acknowledged (so a lost heartbeat sends them again) and the offered actions
 * handed to the `ActionExecutor`, which ignores ids it has already taken.
 *
 * Transient failures are logged and tried on the next beat; only
 * `AgentRevoked` ends the loop.
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import { ActionExecutor } from "./ActionExecutor.js"
import { ConfigPoller } from "./ConfigPoller.js"
import {
  type AgentRevoked,
  ControlPlaneClient,
  type ControlPlaneError,
  type HeartbeatRequest
} from "./ControlPlaneClient.js"
import { HostMetrics } from "./HostMetrics.js"
import { InputSupervisor } from "./InputSupervisor.js"

/** One heartbeat at a time. */
export class Heartbeat extends Context.Tag("@sluice/agent/Heartbeat")<Heartbeat, {
  /** The body the next heartbeat would send (reports included, not acknowledged). */
  readonly body: Effect.Effect<HeartbeatRequest>
  /** Sends one heartbeat; on 200 acknowledges the reports it carried and offers the pending actions. */
  readonly beat: Effect.Effect<void, ControlPlaneError>
}>() {}

/** Builds the heartbeat; `version` is the agent version it reports. */
export const make = (
  version: string
): Effect.Effect<
  Heartbeat["Type"],
  never,
  ControlPlaneClient | ConfigPoller | InputSupervisor | HostMetrics | ActionExecutor
> =>
  Effect.gen(function*() {
    const client = yield* ControlPlaneClient
    const poller = yield* ConfigPoller
    const supervisor = yield* InputSupervisor
    const metrics = yield* HostMetrics
    const executor = yield* ActionExecutor
    const lock = yield* Effect.makeSemaphore(1)

    const body = Effect.gen(function*() {
      const config = yield* poller.status
      const inputs = yield* supervisor.status
      const now = yield* Clock.currentTimeMillis
      return {
        agentVersion: version,
        appliedConfigVersion: config.appliedVersion,
        pipelineRunning: inputs.running,
        pipelineUptimeSeconds: inputs.startedAt === null ? 0 : Math.max(0, Math.floor((now - inputs.startedAt) / 1000)),
        lastConfigError: config.lastConfigError,
        metrics: yield* metrics.sample,
        actionResults: yield* executor.reports
      }
    })

    const beat = lock.withPermits(1)(Effect.gen(function*() {
      const sent = yield* body
      const pending = yield* client.heartbeat(sent)
      yield* executor.acknowledge(sent.actionResults.length)
      if (pending.length > 0) yield* executor.offer(pending)
    }))

    return Heartbeat.of({ body, beat })
  })

/** The heartbeat as a layer. */
export const layer = (
  version: string
): Layer.Layer<Heartbeat, never, ControlPlaneClient | ConfigPoller | InputSupervisor | HostMetrics | ActionExecutor> =>
  Layer.effect(Heartbeat, make(version))

/** The heartbeat loop: one beat at once, then every `interval`. Fails only when the agent is revoked. */
export const run = (interval: Duration.DurationInput): Effect.Effect<never, AgentRevoked, Heartbeat> =>
  Effect.flatMap(Heartbeat, (heartbeat) =>
    heartbeat.beat.pipe(
      Effect.catchIf(
        (error): error is Exclude<ControlPlaneError, AgentRevoked> => error._tag !== "AgentRevoked",
        (error) => Effect.logWarning(`heartbeat failed; trying again in ${Duration.format(interval)}: ${error.message}`)
      ),
      Effect.repeat(Schedule.spaced(interval)),
      Effect.zipRight(Effect.never)
    ))
