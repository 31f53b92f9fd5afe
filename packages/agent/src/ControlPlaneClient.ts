/**
 * The agent's side of the fleet protocol (SPEC §4): config polls, heartbeats
 * and token rotation, each authenticated with the agent's current token and
 * bounded by a timeout. Every answer is decoded by a `Schema`.
 *
 * Errors are sorted for the loops: `AgentRevoked` (401/403 with the token
 * still current) ends the agent; `ControlPlaneUnavailable` (network, timeout,
 * 408, 429, 5xx) and `ControlPlaneRejected` (any other unexpected answer) are
 * logged and tried again on the next tick, never crash the agent.
 *
 * The token lives in a `Ref`: `rotateToken` stores the new token in the state
 * dir, then swaps it, so the next call carries it. A call that started with
 * the old token and is refused after the swap is retried, not taken as a
 * revocation.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Action from "@sluice/core/Action"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { identity as unchanged } from "effect/Function"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"
import * as Schema from "effect/Schema"
import { AgentState, type AgentStateError, AgentToken } from "./AgentState.js"
import { MetricsSnapshot } from "./HostMetrics.js"

/** The control plane refused this agent's token (401/403): the agent must stop. */
export class AgentRevoked extends Schema.TaggedError<AgentRevoked>()("AgentRevoked", {
  call: Schema.String,
  status: Schema.Number
}) {
  override get message() {
    return `the control plane refused this agent's token (${this.status} on ${this.call}): ` +
      "it was revoked or replaced; enrol the agent again"
  }
}

/** The control plane could not be reached or is overloaded; tried again later. */
export class ControlPlaneUnavailable extends Schema.TaggedError<ControlPlaneUnavailable>()(
  "ControlPlaneUnavailable",
  { call: Schema.String, reason: Schema.String }
) {
  override get message() {
    return `control plane unavailable (${this.call}): ${this.reason}`
  }
}

/** The control plane answered something this agent does not understand. */
export class ControlPlaneRejected extends Schema.TaggedError<ControlPlaneRejected>()("ControlPlaneRejected", {
  call: Schema.String,
  status: Schema.Number,
  reason: Schema.String
}) {
  override get message() {
    return `unexpected answer from the control plane (${this.status} on ${this.call}): ${this.reason}`
  }
}

/** What a call to the control plane can fail with. */
export type ControlPlaneError = AgentRevoked | ControlPlaneUnavailable | ControlPlaneRejected

/** The heartbeat's body (SPEC §4). */
export const HeartbeatRequest = Schema.Struct({
  agentVersion: Schema.String,
  appliedConfigVersion: Schema.Int,
  pipelineRunning: Schema.Boolean,
  pipelineUptimeSeconds: Schema.Number,
  lastConfigError: Schema.NullOr(Schema.String),
  metrics: MetricsSnapshot,
  actionResults: Schema.Array(Action.ActionReport)
}).annotations({ identifier: "HeartbeatRequest" })
export type HeartbeatRequest = typeof HeartbeatRequest.Type

const HeartbeatAnswer = Schema.Struct({
  data: Schema.Struct({
    pendingActions: Schema.optionalWith(Schema.Array(Action.PendingAction), { default: () => [] })
  })
})

const RotateAnswer = Schema.Struct({ data: Schema.Struct({ agentToken: AgentToken }) })

/** A config the control plane served (`200` to a poll). */
export interface ServedConfig {
  readonly _tag: "ServedConfig"
  readonly version: number
  readonly etag: string
  readonly text: string
}

/** `304` to a poll with `If-None-Match`: the text the agent holds is current, at this version. */
export interface NotModified {
  readonly _tag: "NotModified"
  readonly version: number
  readonly etag: string
}

const ConfigHeaders = Schema.Struct({
  "x-config-version": Schema.NumberFromString.pipe(Schema.int(), Schema.nonNegative()),
  "x-config-etag": Schema.optional(Schema.String)
})

/** The agent's client of the control plane. */
export class ControlPlaneClient extends Context.Tag("@sluice/agent/ControlPlaneClient")<ControlPlaneClient, {
  readonly agentId: string
  /**
   * `GET /agents/:id/config?since=N`: `None` on 204. With `ifNoneMatch` (the
   * etag of the config the agent runs) an unchanged text answers `NotModified`.
   */
  readonly pollConfig: (
    since: number,
    ifNoneMatch?: string | undefined
  ) => Effect.Effect<Option.Option<ServedConfig | NotModified>, ControlPlaneError>
  /** `POST /agents/:id/heartbeat`: the actions the control plane offers. */
  readonly heartbeat: (
    body: HeartbeatRequest
  ) => Effect.Effect<ReadonlyArray<Action.PendingAction>, ControlPlaneError>
  /** `POST /agents/:id/rotate-token`: stores the new token, then uses it. */
  readonly rotateToken: Effect.Effect<void, ControlPlaneError | AgentStateError>
}>() {}

/** Settings of the client. */
export interface ControlPlaneClientOptions {
  /** The control plane's base URL (without `/api/v1`); default: the one saved at enrolment. */
  readonly apiUrl?: string | undefined
  /** Per call (default 10 s). */
  readonly requestTimeout?: Duration.DurationInput | undefined
}

/** Removes trailing slashes, so paths join cleanly. */
export const baseUrl = (apiUrl: string): string => apiUrl.replace(/\/+$/, "")

const formatParseError = (error: ParseResult.ParseError): string =>
  ParseResult.ArrayFormatter.formatErrorSync(error)
    .map((issue) => `${issue.path.length === 0 ? "" : `${issue.path.join(".")}: `}${issue.message}`)
    .join("; ")

/**
 * Sends one request with the token and the timeout, and sorts a failure or a
 * refusing status into the errors above. `ok` lists the statuses the caller
 * reads; anything else fails.
 */
export const send = (options: {
  readonly client: HttpClient.HttpClient
  readonly call: string
  readonly request: HttpClientRequest.HttpClientRequest
  readonly timeout: Duration.DurationInput
  readonly ok: ReadonlyArray<number>
}): Effect.Effect<HttpClientResponse.HttpClientResponse, ControlPlaneUnavailable | ControlPlaneRejected | Refused> =>
  Effect.gen(function*() {
    const { call } = options
    const response = yield* options.client.execute(options.request).pipe(
      Effect.timeoutFail({
        duration: options.timeout,
        onTimeout: () =>
          new ControlPlaneUnavailable({ call, reason: `no answer within ${Duration.format(options.timeout)}` })
      }),
      Effect.catchTag(
        "RequestError",
        (error) => Effect.fail(new ControlPlaneUnavailable({ call, reason: error.message }))
      )
    )
    const status = response.status
    if (options.ok.includes(status)) return response
    const text = yield* response.text.pipe(Effect.orElseSucceed(() => ""))
    if (status === 401 || status === 403 || status === 404) {
      return yield* new Refused({ status, body: text.slice(0, 512) })
    }
    if (status === 408 || status === 429 || status >= 500) {
      return yield* new ControlPlaneUnavailable({ call, reason: `answered ${status}` })
    }
    return yield* new ControlPlaneRejected({ call, status, reason: text.slice(0, 512) || "no body" })
  }).pipe(
    Effect.catchTag(
      "ResponseError",
      (error) => Effect.fail(new ControlPlaneUnavailable({ call: options.call, reason: error.message }))
    )
  )

/** A 401, 403 or 404 answer, for the caller to interpret. */
export class Refused extends Schema.TaggedError<Refused>()("Refused", {
  status: Schema.Number,
  body: Schema.String
}) {}

/** Reads and decodes a JSON body. */
export const readJson = <A, I>(
  response: HttpClientResponse.HttpClientResponse,
  call: string,
  schema: Schema.Schema<A, I>
): Effect.Effect<A, ControlPlaneUnavailable | ControlPlaneRejected> =>
  response.text.pipe(
    Effect.catchTag("ResponseError", (error) =>
      Effect.fail(new ControlPlaneUnavailable({ call, reason: error.message }))),
    Effect.flatMap((text) =>
      Schema.decodeUnknown(Schema.parseJson(schema))(text).pipe(
        Effect.mapError((error) =>
          new ControlPlaneRejected({ call, status: response.status, reason: formatParseError(error) })
        )
      )
    )
  )

/** Builds the client over the state dir (identity and token) and an `HttpClient`. */
export const make = (
  options: ControlPlaneClientOptions = {}
): Effect.Effect<ControlPlaneClient["Type"], AgentStateError, AgentState | HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const state = yield* AgentState
    const client = yield* HttpClient.HttpClient
    const identity = yield* state.readIdentity
    const token = yield* Ref.make(yield* state.readToken)
    const rotating = yield* Effect.makeSemaphore(1)
    const timeout = options.requestTimeout ?? Duration.seconds(10)
    const agentPath = `${baseUrl(options.apiUrl ?? identity.apiUrl)}/api/v1/agents/${
      encodeURIComponent(identity.agentId)
    }`

    /** Sends with the current token; a refusal is a revocation only if that token is still current. */
    const authorized = (
      call: string,
      request: HttpClientRequest.HttpClientRequest,
      ok: ReadonlyArray<number>,
      // A rotation in flight finishes first: its token may be the one the server now expects.
      tokenAfterRefusal: Effect.Effect<Redacted.Redacted<string>> = rotating.withPermits(1)(Ref.get(token))
    ) =>
      Effect.gen(function*() {
        const used = yield* Ref.get(token)
        return yield* send({
          client,
          call,
          request: HttpClientRequest.bearerToken(request, Redacted.value(used)),
          timeout,
          ok
        }).pipe(
          Effect.catchTag("Refused", (refused) =>
            Effect.flatMap(tokenAfterRefusal, (current): Effect.Effect<never, ControlPlaneError> =>
              current !== used
                ? Effect.fail(new ControlPlaneUnavailable({ call, reason: "the token was rotated during the call" }))
                : refused.status === 404
                ? Effect.fail(new ControlPlaneRejected({ call, status: 404, reason: refused.body || "not found" }))
                : Effect.fail(new AgentRevoked({ call, status: refused.status }))))
        )
      })

    const pollConfig = (since: number, ifNoneMatch?: string | undefined) =>
      Effect.gen(function*() {
        const call = "config poll"
        const response = yield* authorized(
          call,
          HttpClientRequest.get(`${agentPath}/config`).pipe(
            HttpClientRequest.setUrlParam("since", String(since)),
            HttpClientRequest.accept("application/yaml"),
            ifNoneMatch === undefined ? unchanged : HttpClientRequest.setHeader("if-none-match", `"${ifNoneMatch}"`)
          ),
          [200, 204, 304]
        )
        if (response.status === 204) return Option.none<ServedConfig | NotModified>()
        const headers = yield* Schema.decodeUnknown(ConfigHeaders)(response.headers).pipe(
          Effect.mapError((error) =>
            new ControlPlaneRejected({ call, status: response.status, reason: formatParseError(error) })
          )
        )
        const version = headers["x-config-version"]
        if (response.status === 304) {
          return Option.some<NotModified>({ _tag: "NotModified", version, etag: headers["x-config-etag"] ?? "" })
        }
        const text = yield* response.text.pipe(
          Effect.catchTag("ResponseError", (error) =>
            Effect.fail(new ControlPlaneUnavailable({ call, reason: error.message })))
        )
        return Option.some<ServedConfig>({ _tag: "ServedConfig", version, etag: headers["x-config-etag"] ?? "", text })
      })

    const heartbeat = (body: HeartbeatRequest) =>
      Effect.gen(function*() {
        const call = "heartbeat"
        const json = yield* Schema.encode(Schema.parseJson(HeartbeatRequest))(body).pipe(
          Effect.mapError((error) => new ControlPlaneRejected({ call, status: 0, reason: formatParseError(error) }))
        )
        const request = HttpClientRequest.post(`${agentPath}/heartbeat`).pipe(
          HttpClientRequest.bodyText(json, "application/json")
        )
        const response = yield* authorized(call, request, [200])
        const answer = yield* readJson(response, call, HeartbeatAnswer)
        return answer.data.pendingActions
      })

    const rotateToken = rotating.withPermits(1)(Effect.gen(function*() {
      const call = "token rotation"
      const response = yield* authorized(
        call,
        HttpClientRequest.post(`${agentPath}/rotate-token`),
        [200],
        Ref.get(token)
      )
      const answer = yield* readJson(response, call, RotateAnswer)
      const fresh = Redacted.make(answer.data.agentToken)
      // Stored before it is used: a crash now still restarts with the live token.
      yield* state.writeToken(fresh)
      yield* Ref.set(token, fresh)
    }))

    return ControlPlaneClient.of({ agentId: identity.agentId, pollConfig, heartbeat, rotateToken })
  })

/** The client as a layer. */
export const layer = (
  options: ControlPlaneClientOptions = {}
): Layer.Layer<ControlPlaneClient, AgentStateError, AgentState | HttpClient.HttpClient> =>
  Layer.effect(ControlPlaneClient, make(options))
