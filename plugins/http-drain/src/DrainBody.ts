/**
 * Reads a drain request body with a byte limit, and decompresses it.
 *
 * The platform's own body limit resets the connection and does not apply to
 * streams, so the limit is kept here: a `Content-Length` over it is refused
 * before anything is read, and a streamed (chunked) body is counted as it
 * arrives. Past the limit the rest of the body is discarded, not read into
 * memory, so the client still gets its 413 on a usable connection. With
 * `Content-Encoding` (gzip, deflate, br) the limit applies to the compressed
 * bytes and again to the decompressed ones; decompression stops at the limit,
 * so a small bomb cannot grow past it.
 */
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import type * as Headers from "@effect/platform/Headers"
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { IncomingMessage } from "node:http"
import * as Zlib from "node:zlib"

/** The body is over the limit (413). */
export class PayloadTooLarge extends Schema.TaggedError<PayloadTooLarge>()("PayloadTooLarge", {
  limit: Schema.Number,
  /** Whether the limit was passed after decompression. */
  decompressed: Schema.Boolean
}) {
  override get message() {
    return `the request body is over the limit of ${this.limit} bytes${this.decompressed ? " after decompression" : ""}`
  }
}

/** The `Content-Encoding` is not one the drain decodes (415). */
export class UnsupportedEncoding extends Schema.TaggedError<UnsupportedEncoding>()("UnsupportedEncoding", {
  encoding: Schema.String
}) {
  override get message() {
    return `Content-Encoding "${this.encoding}" is not supported (use gzip, deflate, br or none)`
  }
}

/** The route holds as many body bytes as its budget allows (429); see `BodyBudget`. */
export class BodyBudgetFull extends Schema.TaggedError<BodyBudgetFull>()("BodyBudgetFull", {}) {
  override get message() {
    return "the server holds as many request bodies as it may"
  }
}

/** Takes bytes of a request's share of the body budget; `false` when the budget is spent. */
export type Charge = (bytes: number) => boolean

/** The body could not be read or decoded: a broken upload, bad compression, not UTF-8 JSON (400). */
export class MalformedBody extends Schema.TaggedError<MalformedBody>()("MalformedBody", {
  reason: Schema.String
}) {
  override get message() {
    return this.reason
  }
}

type Encoding = "identity" | "gzip" | "deflate" | "br"

const encodingOf = (header: string | undefined): Encoding | UnsupportedEncoding => {
  const value = header === undefined ? "" : header.trim().toLowerCase()
  switch (value) {
    case "":
    case "identity":
      return "identity"
    case "gzip":
    case "x-gzip":
      return "gzip"
    case "deflate":
      return "deflate"
    case "br":
      return "br"
    default:
      return new UnsupportedEncoding({ encoding: value })
  }
}

const malformed = (reason: string) => (cause: unknown) =>
  new MalformedBody({ reason: `${reason}: ${cause instanceof Error ? cause.message : String(cause)}` })

// On a Node request: one listener per event, no stream machinery. Past the
// limit (or the budget) the listeners go and the rest of the body is
// discarded (`resume`), so the 413 (429) can still be sent on this connection.
const collectNode = (incoming: IncomingMessage, limit: number, charge: Charge) =>
  Effect.async<Buffer, PayloadTooLarge | BodyBudgetFull | MalformedBody>((resume) => {
    const chunks: Array<Buffer> = []
    let size = 0
    const detach = () => {
      incoming.off("data", onData)
      incoming.off("end", onEnd)
      incoming.off("error", onError)
    }
    function onData(chunk: Buffer) {
      size += chunk.length
      if (size > limit) {
        detach()
        incoming.resume()
        resume(Effect.fail(new PayloadTooLarge({ limit, decompressed: false })))
      } else if (!charge(chunk.length)) {
        detach()
        incoming.resume()
        resume(Effect.fail(new BodyBudgetFull()))
      } else {
        chunks.push(chunk)
      }
    }
    function onEnd() {
      detach()
      resume(Effect.succeed(Buffer.concat(chunks, size)))
    }
    function onError(error: Error) {
      detach()
      resume(Effect.fail(malformed("the request body could not be read")(error)))
    }
    if (incoming.readableEnded) return resume(Effect.succeed(Buffer.alloc(0)))
    incoming.on("data", onData)
    incoming.on("end", onEnd)
    incoming.on("error", onError)
    return Effect.sync(() => {
      detach()
      incoming.resume()
    })
  })

// Elsewhere (e.g. a web handler), the platform's stream, counted.
const collectStream = (request: HttpServerRequest.HttpServerRequest, limit: number, charge: Charge) =>
  Stream.runFoldEffect(
    request.stream.pipe(Stream.mapError(malformed("the request body could not be read"))),
    { chunks: new Array<Uint8Array>(), size: 0 },
    (acc, chunk): Effect.Effect<{ chunks: Array<Uint8Array>; size: number }, PayloadTooLarge | BodyBudgetFull> => {
      acc.size += chunk.length
      if (acc.size > limit) return Effect.fail(new PayloadTooLarge({ limit, decompressed: false }))
      if (!charge(chunk.length)) return Effect.fail(new BodyBudgetFull())
      acc.chunks.push(chunk)
      return Effect.succeed(acc)
    }
  ).pipe(Effect.map((acc) => Buffer.concat(acc.chunks, acc.size)))

const collect = (request: HttpServerRequest.HttpServerRequest, limit: number, charge: Charge) => {
  const incoming = NodeHttpServerRequest.toIncomingMessage(request)
  return incoming instanceof IncomingMessage
    ? collectNode(incoming, limit, charge)
    : collectStream(request, limit, charge)
}

const inflate = (encoding: Exclude<Encoding, "identity">, input: Buffer, limit: number) =>
  Effect.async<Buffer, PayloadTooLarge | MalformedBody>((resume) => {
    const done = (error: Error | null, output: Buffer) => {
      if (error === null) return resume(Effect.succeed(output))
      if ("code" in error && error.code === "ERR_BUFFER_TOO_LARGE") {
        return resume(Effect.fail(new PayloadTooLarge({ limit, decompressed: true })))
      }
      resume(Effect.fail(malformed(`the ${encoding} body could not be decompressed`)(error)))
    }
    const options = { maxOutputLength: limit }
    if (encoding === "gzip") Zlib.gunzip(input, options, done)
    else if (encoding === "deflate") Zlib.inflate(input, options, done)
    else Zlib.brotliDecompress(input, options, done)
  })

/**
 * What a request reserves of the body budget before its body is read: a
 * declared plain body and its decoded form; a declared compressed body, its
 * compressed bytes; nothing else (the rest is charged as it comes).
 */
export const upfront = (headers: Headers.Headers, limit: number): number => {
  const declared = Number(headers["content-length"])
  if (!Number.isFinite(declared) || declared <= 0 || declared > limit) return 0
  return encodingOf(headers["content-encoding"]) === "identity" ? 2 * declared + 1024 : declared
}

type ReadError = PayloadTooLarge | UnsupportedEncoding | BodyBudgetFull | MalformedBody

/**
 * The request body, decompressed, at most `limit` bytes; fails with
 * `PayloadTooLarge`, `UnsupportedEncoding` or `MalformedBody`. Every byte
 * read, and the decompressed body, is charged to `charge` first
 * (`BodyBudgetFull` when it refuses).
 */
export const read = (
  request: HttpServerRequest.HttpServerRequest,
  headers: Headers.Headers,
  limit: number,
  charge: Charge = () => true
): Effect.Effect<Buffer, ReadError> =>
  Effect.suspend((): Effect.Effect<Buffer, ReadError> => {
    const encoding = encodingOf(headers["content-encoding"])
    if (typeof encoding !== "string") return Effect.fail(encoding)
    const declared = Number(headers["content-length"])
    if (declared > limit) return Effect.fail(new PayloadTooLarge({ limit, decompressed: false }))
    const body = collect(request, limit, charge)
    if (encoding === "identity") return body
    return body.pipe(
      Effect.flatMap((compressed) => inflate(encoding, compressed, limit)),
      Effect.filterOrFail((inflated) => charge(inflated.length), () => new BodyBudgetFull())
    )
  })

/** Parses the body as JSON; `MalformedBody` when it is not. */
export const parseJson = (body: Buffer): Effect.Effect<unknown, MalformedBody> =>
  Effect.try({
    try: (): unknown => JSON.parse(body.toString("utf8")),
    catch: malformed("the request body is not valid JSON")
  })
