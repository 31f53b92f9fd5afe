/**
 * The one error mapper of the control plane. Every failure under `/api/v1`
 * answers the SPEC §3 body `{"error":"<code>","message":"…","details":{…}}`
 * with the status of its code: the API's own errors, the platform's request
 * decoding errors, malformed JSON, and defects. A defect is logged with its
 * cause and answered `internal_error` with a fixed message, so nothing
 * internal leaks.
 */
import * as HttpApiError from "@effect/platform/HttpApiError"
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as HttpServerError from "@effect/platform/HttpServerError"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"

/** The error codes of SPEC §3 and their statuses. */
export const statuses = {
  validation_error: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  payload_too_large: 413,
  rate_limited: 429,
  internal_error: 500
} as const

/** One of the SPEC §3 error codes. */
export type Code = keyof typeof statuses

/** Per-field explanations: field (or path) → what is wrong. */
export const Details = Schema.Record({ key: Schema.String, value: Schema.String })

const fields = { message: Schema.String, details: Schema.optional(Details) }

/** 400: the request does not match what the endpoint takes. */
export class ValidationError extends Schema.TaggedError<ValidationError>()("ValidationError", fields) {}
/** 401: no credentials, or credentials that are wrong, expired or revoked. */
export class Unauthorized extends Schema.TaggedError<Unauthorized>()("Unauthorized", fields) {}
/** 403: authenticated, but the role (or a setting) does not allow it. */
export class Forbidden extends Schema.TaggedError<Forbidden>()("Forbidden", fields) {}
/** 404: no such resource (or route). */
export class NotFound extends Schema.TaggedError<NotFound>()("NotFound", fields) {}
/** 409: exists already, or the change would break an invariant. */
export class Conflict extends Schema.TaggedError<Conflict>()("Conflict", fields) {}
/** 413: the body is over the limit. */
export class PayloadTooLarge extends Schema.TaggedError<PayloadTooLarge>()("PayloadTooLarge", fields) {}
/** 429: over the rate limit (the answer carries `Retry-After`). */
export class RateLimited extends Schema.TaggedError<RateLimited>()("RateLimited", fields) {}
/** 500: something failed inside; the message never says what. */
export class InternalError extends Schema.TaggedError<InternalError>()("InternalError", fields) {}

/** Any error the API answers with. */
export type ApiError =
  | ValidationError
  | Unauthorized
  | Forbidden
  | NotFound
  | Conflict
  | PayloadTooLarge
  | RateLimited
  | InternalError

const codes: Record<ApiError["_tag"], Code> = {
  ValidationError: "validation_error",
  Unauthorized: "unauthorized",
  Forbidden: "forbidden",
  NotFound: "not_found",
  Conflict: "conflict",
  PayloadTooLarge: "payload_too_large",
  RateLimited: "rate_limited",
  InternalError: "internal_error"
}

/** The SPEC §3 error body. */
export interface Body {
  readonly error: Code
  readonly message: string
  readonly details?: Readonly<Record<string, string>>
}

/** The body of an API error. */
export const bodyOf = (error: ApiError): Body =>
  error.details === undefined
    ? { error: codes[error._tag], message: error.message }
    : { error: codes[error._tag], message: error.message, details: error.details }

type ErrorClass<A extends ApiError, I> = Schema.Schema<A, I> & {
  new(props: { readonly message: string; readonly details?: Readonly<Record<string, string>> | undefined }): A
}

/**
 * The wire schema of an error class for `HttpApiEndpoint.addError`: its
 * encoded side is the SPEC body (so the OpenAPI document shows what is sent)
 * and it carries the status.
 */
const wire = <A extends ApiError, I>(self: ErrorClass<A, I>, code: Code, description: string) =>
  Schema.transform(
    Schema.Struct({ error: Schema.Literal(code), message: Schema.String, details: Schema.optional(Details) }),
    Schema.typeSchema(self),
    {
      strict: true,
      decode: (body) => new self({ message: body.message, details: body.details }),
      encode: (error) => ({ error: code, message: error.message, details: error.details })
    }
  ).annotations({
    ...HttpApiSchema.annotations({ status: statuses[code] }),
    identifier: `Error_${code}`,
    description
  })

/** The wire schemas, one per code, to declare on endpoints. */
export const Wire = {
  ValidationError: wire(ValidationError, "validation_error", "The request did not match what the endpoint takes"),
  Unauthorized: wire(Unauthorized, "unauthorized", "Missing, invalid, expired or revoked credentials"),
  Forbidden: wire(Forbidden, "forbidden", "The role of the caller does not allow this"),
  NotFound: wire(NotFound, "not_found", "No such resource"),
  Conflict: wire(Conflict, "conflict", "Exists already, or would break an invariant"),
  PayloadTooLarge: wire(PayloadTooLarge, "payload_too_large", "The body is over the limit"),
  RateLimited: wire(RateLimited, "rate_limited", "Over the rate limit; see Retry-After"),
  InternalError: wire(InternalError, "internal_error", "An internal failure (nothing internal is disclosed)")
} as const

/** Whether a value is one of the API's errors. */
export const isApiError = (u: unknown): u is ApiError =>
  u instanceof ValidationError || u instanceof Unauthorized || u instanceof Forbidden || u instanceof NotFound ||
  u instanceof Conflict || u instanceof PayloadTooLarge || u instanceof RateLimited || u instanceof InternalError

/** The response for an API error. */
export const toResponse = (error: ApiError): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.unsafeJson(bodyOf(error), { status: statuses[codes[error._tag]] })

/** The platform's decoding error as a validation error naming each bad field. */
export const fromDecodeError = (error: HttpApiError.HttpApiDecodeError): ValidationError => {
  const details: Record<string, string> = {}
  for (const issue of error.issues) {
    const key = issue.path.length === 0 ? "request" : issue.path.map(String).join(".")
    // The first issue of a field is the one that explains it (a union adds "Expected undefined").
    details[key] ??= issue.message
  }
  return new ValidationError({ message: "Invalid request parameters", details })
}

const internal = new InternalError({ message: "internal error" })

/**
 * Turns any failure of a route into its SPEC §3 answer. Interruption (the
 * client went away) is kept as interruption.
 */
export const fromCause = (cause: Cause.Cause<unknown>): Effect.Effect<HttpServerResponse.HttpServerResponse> => {
  if (Cause.isInterruptedOnly(cause)) return Effect.interrupt
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure)) {
    const error = failure.value
    if (isApiError(error)) return Effect.succeed(toResponse(error))
    if (error instanceof HttpApiError.HttpApiDecodeError) return Effect.succeed(toResponse(fromDecodeError(error)))
  }
  const defect = Cause.dieOption(cause)
  if (Option.isSome(defect) && HttpServerError.isServerError(defect.value)) {
    const error = defect.value
    // The body could not be read as JSON (the platform dies with this).
    if (error._tag === "RequestError" && error.reason === "Decode") {
      return Effect.succeed(toResponse(
        new ValidationError({ message: "The request body is not valid JSON", details: { body: "must be valid JSON" } })
      ))
    }
  }
  return Effect.as(Effect.logError("control plane request failed", cause), toResponse(internal))
}
