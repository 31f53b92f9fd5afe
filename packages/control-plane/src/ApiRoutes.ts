/**
 * Mounts the control plane's `HttpApi` on the shared `HttpLayerRouter`, like
 * `HttpLayerRouter.addHttpApi`, with one difference that the wire contract
 * needs: every route is wrapped by the one error mapper (`ApiError.fromCause`)
 * before the platform encodes anything, so request-decoding errors, malformed
 * JSON and defects answer the SPEC §3 body too (the stock mount answers its
 * own shapes and an empty 500). Also here: bodies over the limit answer 413
 * before they are read, any other path under `/api/v1` answers the SPEC 404,
 * and `GET /api/v1/openapi.json` serves the document. Middleware is declared
 * on groups and endpoints (API-level middleware is not applied here).
 */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpIncomingMessage from "@effect/platform/HttpIncomingMessage"
import * as HttpLayerRouter from "@effect/platform/HttpLayerRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerRespondable from "@effect/platform/HttpServerRespondable"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as OpenApi from "@effect/platform/OpenApi"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { Api, basePath } from "./Api.js"
import * as ApiError from "./ApiError.js"

/** Settings of the mount. */
export interface ApiRoutesOptions {
  /** The largest request body, in bytes (413 past it). */
  readonly maxBodyBytes: number
  /** Endpoints (`"GET /api/v1/…"`) another module mounts as plain routes; they stay in the document. */
  readonly mountedElsewhere?: ReadonlySet<string> | undefined
}

/** 1 MiB bodies. */
export const defaultOptions: ApiRoutesOptions = { maxBodyBytes: 1024 * 1024 }

/** Where the OpenAPI document is served. */
export const openapiPath = `${basePath}/openapi.json` as const

type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS"
const methods: ReadonlySet<string> = new Set<Method>(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
const isMethod = (method: string): method is Method => methods.has(method)

const endpointKeys = (): ReadonlySet<string> => {
  const keys = new Set<string>()
  for (const group of Object.values(Api.groups)) {
    for (const endpoint of Object.values(group.endpoints)) keys.add(`${endpoint.method} ${endpoint.path}`)
  }
  return keys
}

/** Bounds the body and maps every failure of a route to its SPEC §3 answer. */
export const guard = (options: ApiRoutesOptions) =>
<E, R>(
  handler: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>
): Effect.Effect<HttpServerResponse.HttpServerResponse, never, R | HttpServerRequest.HttpServerRequest> =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const length = Number(request.headers["content-length"] ?? "0")
    if (length > options.maxBodyBytes) {
      return ApiError.toResponse(
        new ApiError.PayloadTooLarge({
          message: `the body is over the limit of ${options.maxBodyBytes} bytes`,
          details: { body: `must be at most ${options.maxBodyBytes} bytes` }
        })
      )
    }
    return yield* HttpIncomingMessage.withMaxBodySize(handler, Option.some(options.maxBodyBytes))
  }).pipe(Effect.catchAllCause(ApiError.fromCause))

const withContext = <A, E, R>(self: Effect.Effect<A, E, R>, context: Context.Context<never>): Effect.Effect<A, E, R> =>
  Effect.mapInputContext(self, (input: Context.Context<R>) => Context.merge(context, input))

const notFound = ApiError.toResponse(new ApiError.NotFound({ message: "no such endpoint" }))

/** The API's routes, the OpenAPI document and the 404 of `/api/v1`. Provide the group handlers. */
export const layer = (options: ApiRoutesOptions = defaultOptions) =>
  HttpApiBuilder.Router.unwrap((apiRouter) =>
    Layer.effectDiscard(Effect.gen(function*() {
      const router = yield* HttpLayerRouter.HttpRouter
      const context = yield* Effect.context<never>()
      const keys = endpointKeys()
      const wrap = guard(options)
      const routes = []
      for (const route of apiRouter.routes) {
        const key = `${route.method} ${route.path}`
        if (!isMethod(route.method) || !keys.has(key) || options.mountedElsewhere?.has(key) === true) continue
        const handler = withContext(route.handler, context).pipe(Effect.flatMap(HttpServerRespondable.toResponse))
        routes.push(HttpLayerRouter.route(route.method, route.path, wrap(handler), {
          uninterruptible: route.uninterruptible
        }))
      }
      yield* router.addAll(routes)
      const spec = OpenApi.fromApi(Api)
      yield* router.add("GET", openapiPath, Effect.succeed(HttpServerResponse.unsafeJson(spec)))
      yield* router.add("*", basePath, Effect.succeed(notFound))
      yield* router.add("*", `${basePath}/*`, Effect.succeed(notFound))
    }))
  )
