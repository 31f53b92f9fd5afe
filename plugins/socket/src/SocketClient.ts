/**
 * A client of the agent socket (SPEC §1), for `sluice send` and for scripts:
 * connects over a Unix path or TCP, authenticates when given a secret, sends
 * NDJSON lines (as given, or plain text lines wrapped as entries), ends with
 * `flush`, and answers how many entries the agent accepted (durably) and the
 * errors it sent back.
 *
 * Guarantees: writes respect the socket's backpressure (a blocked agent
 * blocks the sender, nothing piles up in memory); the answer comes only
 * after the agent's `flushed`, so `accepted` entries are durable. Every
 * answer line is decoded by a Schema.
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Mailbox from "effect/Mailbox"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as Net from "node:net"
import { protocolVersion } from "./Message.js"

/** Where the agent listens. */
export type Target =
  | { readonly _tag: "Unix"; readonly path: string }
  | { readonly _tag: "Tcp"; readonly host: string; readonly port: number }

/** A Unix socket target. */
export const unix = (path: string): Target => ({ _tag: "Unix", path })

/** A TCP target. */
export const tcp = (host: string, port: number): Target => ({ _tag: "Tcp", host, port })

/**
 * Reads a target: `unix:PATH`, a path (`/…`, `./…`), `tcp://HOST:PORT` or
 * `HOST:PORT` (`[::1]:9999` for IPv6).
 */
export const parseTarget = (text: string): Option.Option<Target> => {
  if (text.startsWith("unix:")) return text.length > 5 ? Option.some(unix(text.slice(5))) : Option.none()
  if (text.startsWith("/") || text.startsWith(".")) return Option.some(unix(text))
  const address = text.startsWith("tcp://") ? text.slice(6) : text
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(address)
  if (match === null) return Option.none()
  const port = Number(match[3])
  return port > 0 && port < 65536 ? Option.some(tcp(match[1] ?? match[2]!, port)) : Option.none()
}

/** A target as the user wrote it. */
export const describeTarget = (target: Target): string =>
  target._tag === "Unix" ? `unix:${target.path}` : `tcp://${target.host}:${target.port}`

/** What `send` does with each line. */
export interface SendOptions {
  readonly target: Target
  /** Sent in `authenticate` first, when set (required on TCP). */
  readonly sharedSecret?: Redacted.Redacted<string> | undefined
  /** `ndjson`: each line is a message, sent as given (default). `text`: each non-empty line becomes an entry. */
  readonly format?: "ndjson" | "text" | undefined
  /** `text`: the entries' `source` (default `sluice-send`). */
  readonly source?: string | undefined
  /** `text`: the entries' `logLevel` (default 7, INFO). */
  readonly level?: number | undefined
  /** `text`: the entries' `entryType` (default 1). */
  readonly entryType?: number | undefined
}

/** What the agent answered. */
export interface SendResult {
  /** Entries accepted on the connection, all durable (the `flushed` count). */
  readonly accepted: number
  /** The `error` of every error answer, in order. */
  readonly errors: ReadonlyArray<string>
}

/** The client could not connect, authenticate, or finish. */
export class SocketClientError extends Schema.TaggedError<SocketClientError>()("SocketClientError", {
  reason: Schema.Literal("Connect", "Authenticate", "Closed"),
  detail: Schema.String
}) {
  override get message() {
    return this.detail
  }
}

/** An answer of the agent. */
export const Reply = Schema.Union(
  Schema.Struct({ status: Schema.Literal("flushed"), accepted: Schema.Number }),
  Schema.Struct({ error: Schema.String, code: Schema.optional(Schema.String) }),
  Schema.Struct({ status: Schema.String, message: Schema.optional(Schema.String) })
)
export type Reply = typeof Reply.Type

const decodeReply = Schema.decodeUnknownEither(Schema.parseJson(Reply))

/** A connection whose answers arrive in a mailbox, decoded. */
interface Connection {
  readonly socket: Net.Socket
  readonly replies: Mailbox.ReadonlyMailbox<Reply>
}

const ignore = () => {}

const connect = (target: Target) =>
  Effect.acquireRelease(
    Effect.async<Net.Socket, SocketClientError>((resume) => {
      const socket = target._tag === "Unix"
        ? Net.createConnection({ path: target.path })
        : Net.createConnection({ host: target.host, port: target.port })
      const onError = (error: Error) => {
        socket.destroy()
        resume(
          Effect.fail(
            new SocketClientError({
              reason: "Connect",
              detail: `cannot connect to ${describeTarget(target)}: ${error.message}`
            })
          )
        )
      }
      // Errors after connecting end the connection; `close` follows and ends the mailbox.
      socket.on("error", ignore)
      socket.once("error", onError)
      socket.once("connect", () => {
        socket.off("error", onError)
        resume(Effect.succeed(socket))
      })
      return Effect.sync(() => socket.destroy())
    }),
    (socket) => Effect.sync(() => socket.destroy())
  ).pipe(
    Effect.flatMap((socket) =>
      Effect.gen(function*() {
        const replies = yield* Mailbox.make<Reply>()
        let pending = ""
        socket.setEncoding("utf8")
        socket.on("data", (text: string) => {
          pending += text
          let end = pending.indexOf("\n")
          while (end !== -1) {
            const line = pending.slice(0, end).trim()
            pending = pending.slice(end + 1)
            if (line.length > 0) {
              const reply = decodeReply(line)
              replies.unsafeOffer(
                reply._tag === "Right"
                  ? reply.right
                  : { error: `unexpected answer from the agent: ${line.slice(0, 200)}` }
              )
            }
            end = pending.indexOf("\n")
          }
        })
        socket.on("close", () => replies.unsafeDone(Exit.void))
        return { socket, replies } satisfies Connection
      })
    )
  )

/** Writes text, waiting while the socket's buffer is full; fails once the connection closed. */
const write = (socket: Net.Socket, text: string): Effect.Effect<void, SocketClientError> =>
  Effect.suspend(() => {
    if (socket.destroyed || !socket.writable) {
      return Effect.fail(new SocketClientError({ reason: "Closed", detail: "the agent closed the connection" }))
    }
    if (socket.write(text)) return Effect.void
    return Effect.async<void, SocketClientError>((resume) => {
      const cleanup = () => {
        socket.off("drain", onDrain)
        socket.off("close", onClose)
      }
      const onDrain = () => {
        cleanup()
        resume(Effect.void)
      }
      const onClose = () => {
        cleanup()
        resume(Effect.fail(new SocketClientError({ reason: "Closed", detail: "the agent closed the connection" })))
      }
      socket.on("drain", onDrain)
      socket.on("close", onClose)
      return Effect.sync(cleanup)
    })
  })

/** The next answer; fails once the connection closed. */
const nextReply = (connection: Connection, waitingFor: string) =>
  connection.replies.take.pipe(
    Effect.catchTag(
      "NoSuchElementException",
      () =>
        Effect.fail(
          new SocketClientError({ reason: "Closed", detail: `the agent closed the connection before ${waitingFor}` })
        )
    )
  )

const message = (body: Record<string, unknown>) => JSON.stringify({ version: protocolVersion, ...body }) + "\n"

/**
 * Authenticates on a connection (when a secret is given): fails with
 * `Authenticate` on an error answer.
 */
const authenticate = (connection: Connection, secret: Redacted.Redacted<string>) =>
  Effect.gen(function*() {
    yield* write(connection.socket, message({ action: "authenticate", shared_secret: Redacted.value(secret) }))
    const reply = yield* nextReply(connection, "answering authenticate")
    if ("error" in reply) {
      return yield* Effect.fail(new SocketClientError({ reason: "Authenticate", detail: reply.error }))
    }
  })

/**
 * Sends the lines to the agent and ends with `flush`: answers the number of
 * entries the agent accepted on this connection, all durable, and its errors.
 */
export const send = <E, R>(
  lines: Stream.Stream<string, E, R>,
  options: SendOptions
): Effect.Effect<SendResult, SocketClientError | E, R> =>
  Effect.scoped(Effect.gen(function*() {
    const connection = yield* connect(options.target)
    if (options.sharedSecret !== undefined) yield* authenticate(connection, options.sharedSecret)
    const toWire = options.format === "text"
      ? (line: string) =>
        line.length === 0 ? "" : message({
          payload: line,
          entryType: options.entryType ?? 1,
          source: options.source ?? "sluice-send",
          logLevel: options.level ?? 7
        })
      : (line: string) => line.length === 0 ? "" : line + "\n"
    const errors: Array<string> = []
    const finish = Effect.gen(function*() {
      yield* Stream.runForEachChunk(lines, (chunk) => {
        let text = ""
        for (const line of chunk) text += toWire(line)
        return write(connection.socket, text)
      })
      yield* write(connection.socket, message({ action: "flush" }))
      while (true) {
        const reply = yield* nextReply(connection, "answering flush")
        if ("error" in reply) errors.push(reply.error)
        else if ("accepted" in reply) return { accepted: reply.accepted, errors }
      }
    })
    // Closed early: say what the agent answered last, it usually says why.
    return yield* finish.pipe(
      Effect.catchIf(
        (error): error is SocketClientError => error instanceof SocketClientError && error.reason === "Closed",
        (error) =>
          Effect.gen(function*() {
            const [rest] = yield* connection.replies.takeAll
            for (const reply of rest) if ("error" in reply) errors.push(reply.error)
            const last = errors[errors.length - 1]
            return yield* Effect.fail(
              new SocketClientError({
                reason: "Closed",
                detail: last === undefined ? error.message : `${error.message}: ${last}`
              })
            )
          })
      )
    )
  }))
