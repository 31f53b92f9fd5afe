/**
 * The JSON answers of this plugin's routes: the SPEC §3 error body
 * (`{"error":"validation_error","message":"…","details":{…}}`) with the codes
 * the drain uses, and plain JSON replies. One place, so every route of the
 * plugin answers errors alike.
 */
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"

/** The `error` codes the drain answers (SPEC §3, plus 415 and 503, which §3 does not list), with their statuses. */
export const codes = {
  validation_error: 400,
  unauthorized: 401,
  forbidden: 403,
  payload_too_large: 413,
  unsupported_media_type: 415,
  internal_error: 500,
  service_unavailable: 503
} as const

/** One of the error codes. */
export type Code = keyof typeof codes

/** A JSON reply with a status and optional headers. */
export const json = (
  status: number,
  body: unknown,
  headers?: Readonly<Record<string, string>>
): HttpServerResponse.HttpServerResponse => HttpServerResponse.unsafeJson(body, { status, headers })

/** The SPEC §3 error body for `code`, with its status. */
export const error = (
  code: Code,
  message: string,
  options?: {
    readonly details?: Readonly<Record<string, string>> | undefined
    readonly headers?: Readonly<Record<string, string>> | undefined
  }
): HttpServerResponse.HttpServerResponse =>
  json(
    codes[code],
    options?.details === undefined ? { error: code, message } : { error: code, message, details: options.details },
    options?.headers
  )
