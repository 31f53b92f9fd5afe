/**
 * Enrolment (SPEC §4 `POST /api/v1/agents/enrol`): trades a bootstrap token
 * (`EBT_…`) and this host's facts for an agent identity and token, and keeps
 * them in the state dir (`agent.json`, `token` 0600).
 *
 * Enrolling over an existing identity replaces it: the control plane made a
 * new agent, and the old token is of no use to this host any more. The saved
 * config is dropped too (it belonged to the old agent's group), so the new
 * agent starts from its group's config on its first poll; input positions
 * (`inputs/<id>/`) are kept, since input ids are stable.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Fs from "node:fs/promises"
import * as Os from "node:os"
import * as AgentState from "./AgentState.js"
import type { ControlPlaneRejected, ControlPlaneUnavailable } from "./ControlPlaneClient.js"
import { baseUrl, readJson, send } from "./ControlPlaneClient.js"

/** The control plane refused the enrolment: `message` is one line for the operator. */
export class EnrolRefused extends Schema.TaggedError<EnrolRefused>()("EnrolRefused", {
  status: Schema.Number,
  reason: Schema.String
}) {
  override get message() {
    return `enrolment refused (${this.status}): ${this.reason}`
  }
}

/** What enrolment can fail with. */
export type EnrolError = EnrolRefused | ControlPlaneUnavailable | ControlPlaneRejected | AgentState.AgentStateError

/** This host, as the enrol body describes it. */
export interface HostFacts {
  readonly hostname: string
  readonly platform: "linux" | "kubernetes"
  readonly os: string
  readonly kernel: string
}

/** `PRETTY_NAME` of an os-release file, unquoted. */
export const prettyName = (osRelease: string): Option.Option<string> => {
  const line = osRelease.split("\n").find((l) => l.startsWith("PRETTY_NAME="))
  if (line === undefined) return Option.none()
  const value = line.slice("PRETTY_NAME=".length).trim().replace(/^(["'])(.*)\1$/, "$2")
  return value === "" ? Option.none() : Option.some(value)
}

/**
 * Hostname, platform (`kubernetes` when `KUBERNETES_SERVICE_HOST` is set),
 * os (`PRETTY_NAME` of `/etc/os-release`, else `os.type()`), kernel.
 */
export const hostFacts: Effect.Effect<HostFacts> = Effect.gen(function*() {
  const release = yield* Effect.tryPromise(() => Fs.readFile("/etc/os-release", "utf8")).pipe(
    Effect.map(prettyName),
    Effect.orElseSucceed(() => Option.none<string>())
  )
  const k8s = process.env["KUBERNETES_SERVICE_HOST"]
  return {
    hostname: Os.hostname(),
    platform: k8s !== undefined && k8s !== "" ? "kubernetes" : "linux",
    os: Option.getOrElse(release, () => Os.type()),
    kernel: Os.release()
  }
})

/** Settings of one enrolment. */
export interface EnrolOptions {
  /** The control plane's base URL (without `/api/v1`). */
  readonly apiUrl: string
  /** The `EBT_…` enrolment token. */
  readonly bootstrapToken: Redacted.Redacted<string>
  readonly stateDir: string
  /** Enrol into this group instead of the token's. */
  readonly groupSlug?: string | undefined
  /** The agent version this process reports. */
  readonly version: string
  /** Per call (default 30 s). */
  readonly requestTimeout?: Duration.DurationInput | undefined
  /** Overrides the detected host facts (tests, containers). */
  readonly host?: Partial<HostFacts> | undefined
}

const EnrolAnswer = Schema.Struct({
  data: Schema.Struct({
    agentId: Schema.String.pipe(Schema.minLength(1)),
    agentToken: AgentState.AgentToken,
    groupId: Schema.String,
    configVersion: Schema.Int
  })
})

/** What enrolment gave this agent (the token stays in the state dir). */
export interface Enrolled {
  readonly agentId: string
  readonly groupId: string
  readonly configVersion: number
  readonly stateDir: string
}

/** Enrols this host and writes its identity and token into the state dir. */
export const enrol = (options: EnrolOptions): Effect.Effect<Enrolled, EnrolError, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const client = yield* HttpClient.HttpClient
    const state = yield* AgentState.make(options.stateDir)
    const facts = { ...(yield* hostFacts), ...options.host }
    const apiUrl = baseUrl(options.apiUrl)
    const call = "enrolment"
    const body = {
      bootstrapToken: Redacted.value(options.bootstrapToken),
      hostname: facts.hostname,
      platform: facts.platform,
      os: facts.os,
      kernel: facts.kernel,
      agentVersion: options.version,
      ...(options.groupSlug === undefined ? {} : { groupSlug: options.groupSlug })
    }
    const response = yield* send({
      client,
      call,
      request: HttpClientRequest.post(`${apiUrl}/api/v1/agents/enrol`).pipe(
        HttpClientRequest.bodyText(JSON.stringify(body), "application/json")
      ),
      timeout: options.requestTimeout ?? Duration.seconds(30),
      ok: [200, 201]
    }).pipe(
      Effect.catchTag("Refused", (refused) =>
        Effect.fail(
          new EnrolRefused({
            status: refused.status,
            reason: refused.status === 404
              ? options.groupSlug === undefined
                ? `no enrolment endpoint at ${apiUrl} (is it the control plane's base URL, without /api/v1?)`
                : `no group with slug '${options.groupSlug}'`
              : refused.status === 401
              ? "the enrolment token is unknown, expired, used up or revoked"
              : "the control plane forbids this enrolment"
          })
        ))
    )
    const answer = yield* readJson(response, call, EnrolAnswer)
    yield* state.writeToken(Redacted.make(answer.data.agentToken))
    yield* state.writeIdentity({ agentId: answer.data.agentId, apiUrl, groupId: answer.data.groupId })
    // The old agent's config is not this one's: start from the group's on the first poll.
    yield* state.clearConfig
    return {
      agentId: answer.data.agentId,
      groupId: answer.data.groupId,
      configVersion: answer.data.configVersion,
      stateDir: state.dir
    }
  })
