/**
 * The TCP transport (SPEC §0, §1): the shared secret first, the 10 s
 * authentication timeout and the idle timeout on the test clock, and the
 * start-up errors that name their setting.
 */
import { describe, expect, it } from "@effect/vitest"
import * as MemoryEventStore from "@sluice/core/MemoryEventStore"
import * as Pipeline from "@sluice/core/Pipeline"
import { StartupError } from "@sluice/core/StartupError"
import { layer as tcpLayer, TcpTransport } from "@sluice/socket/TcpTransport"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import * as net from "node:net"
import { connect, flush, harness, line, ping, pong, secret, sleepingUntil, startupFailure, stored } from "./harness.js"

const authenticate = (sharedSecret: string) =>
  JSON.stringify({ version: "1.0", action: "authenticate", shared_secret: sharedSecret })
const success = { status: "success", message: "Authentication successful" }
const authRequired = {
  error:
    "Authentication required: the first message on TCP must be {\"action\":\"authenticate\",\"shared_secret\":\"…\"}"
}

const connectTcp = TcpTransport.pipe(Effect.flatMap((tcp) => connect({ port: tcp.port })))

describe("TCP authentication", () => {
  it.scoped("the right secret is answered with success; entries follow", () =>
    Effect.gen(function*() {
      const client = yield* connectTcp
      yield* client.send(authenticate(secret), line(), flush)
      expect(yield* client.replies(2)).toEqual([success, { status: "flushed", accepted: 1 }])
      expect((yield* stored).map((e) => e.transport)).toEqual(["tcp"])
    }).pipe(Effect.provide(harness())))

  it.scoped("a wrong secret is answered with an error and the connection is closed", () =>
    Effect.gen(function*() {
      const client = yield* connectTcp
      yield* client.send(authenticate(secret.slice(0, -1) + "X"), line())
      expect(yield* client.reply).toEqual({ error: "Authentication failed: wrong shared secret" })
      yield* client.closed
      expect(yield* stored).toEqual([])
    }).pipe(Effect.provide(harness())))

  for (
    const [name, first, answer] of [
      ["an entry", line(), authRequired],
      ["a ping", ping, authRequired],
      ["a flush", flush, authRequired],
      ["invalid JSON", "{oops", { error: expect.stringMatching(/^Invalid JSON: /) }],
      [
        "authenticate without a secret",
        JSON.stringify({ action: "authenticate" }),
        { error: "Invalid authenticate message: missing required field 'shared_secret'" }
      ]
    ] as const
  ) {
    it.scoped(`${name} before authenticating is answered with an error and the connection is closed`, () =>
      Effect.gen(function*() {
        const client = yield* connectTcp
        yield* client.send(first, authenticate(secret), line())
        expect(yield* client.reply).toEqual(answer)
        yield* client.closed
        expect(yield* client.unread).toBe(0)
        expect(yield* stored).toEqual([])
      }).pipe(Effect.provide(harness())))
  }

  it.scoped("a wrong secret after a right one closes the connection", () =>
    Effect.gen(function*() {
      const client = yield* connectTcp
      yield* client.send(authenticate(secret), authenticate("x".repeat(48)))
      expect(yield* client.replies(2)).toEqual([success, { error: "Authentication failed: wrong shared secret" }])
      yield* client.closed
    }).pipe(Effect.provide(harness())))

  it.scoped("a connection that does not authenticate within 10 s is closed, not one second before", () =>
    Effect.gen(function*() {
      const early = yield* connectTcp
      yield* sleepingUntil(10_000)
      yield* TestClock.adjust(9_999)
      // Still open at 9.999 s: it can authenticate.
      yield* early.send(authenticate(secret))
      expect(yield* early.reply).toEqual(success)
      const late = yield* connectTcp
      yield* sleepingUntil(9_999 + 10_000)
      yield* TestClock.adjust(10_000)
      expect(yield* late.reply).toEqual({ error: "Authentication timeout: no authenticate message in time; closing" })
      yield* late.closed
      // The authenticated one is not affected.
      yield* early.send(ping)
      expect(yield* early.reply).toEqual(pong)
    }).pipe(Effect.provide(harness())))

  it.scoped("the authentication timeout is configurable", () =>
    Effect.gen(function*() {
      const client = yield* connectTcp
      yield* sleepingUntil(500)
      yield* TestClock.adjust(500)
      yield* client.closed
    }).pipe(Effect.provide(harness({ tcp: { authTimeout: "500 millis" } }))))
})

describe("TCP idle timeout", () => {
  it.scoped("a connection idle for the idle timeout is closed; traffic restarts the clock", () =>
    Effect.gen(function*() {
      const client = yield* connectTcp
      yield* client.send(authenticate(secret))
      expect(yield* client.reply).toEqual(success)
      yield* sleepingUntil(60_000)
      yield* TestClock.adjust(59_999)
      yield* client.send(ping)
      expect(yield* client.reply).toEqual(pong)
      yield* sleepingUntil(59_999 + 60_000)
      yield* TestClock.adjust(59_999)
      expect(client.isClosed()).toBe(false)
      yield* TestClock.adjust(1)
      expect(yield* client.reply).toEqual({ error: "Idle timeout: nothing received in time; closing" })
      yield* client.closed
    }).pipe(Effect.provide(harness({ tcp: { idleTimeout: "1 minute" } }))))

  it.scoped("the default idle timeout is 5 minutes", () =>
    Effect.gen(function*() {
      const client = yield* connectTcp
      yield* client.send(authenticate(secret))
      expect(yield* client.reply).toEqual(success)
      yield* sleepingUntil(300_000)
      yield* TestClock.adjust(300_000)
      yield* client.closed
    }).pipe(Effect.provide(harness())))
})

describe("TCP start-up errors", () => {
  const pipeline = Pipeline.layer({ ...Pipeline.defaultOptions, writer: { window: 0, maxBatchEvents: 1000 } }).pipe(
    Layer.provide(MemoryEventStore.layer)
  )

  it.scoped("a taken port names SLUICE_TCP_PORT", () =>
    Effect.gen(function*() {
      const taken = yield* Effect.acquireRelease(
        Effect.async<net.Server>((resume) => {
          const server = net.createServer().listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
        }),
        (server) => Effect.sync(() => server.close())
      )
      const address = taken.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      const error = yield* startupFailure(
        tcpLayer({ host: "127.0.0.1", port, sharedSecret: Redacted.make(secret) }).pipe(Layer.provide(pipeline))
      )
      expect(error).toEqual(
        new StartupError({
          setting: "SLUICE_TCP_PORT",
          detail: `port ${port} on 127.0.0.1 is already in use; stop the other process or choose another port`
        })
      )
    }))

  it.scoped("an address that is not local names SLUICE_TCP_HOST", () =>
    Effect.gen(function*() {
      const error = yield* startupFailure(
        tcpLayer({ host: "192.0.2.1", port: 0, sharedSecret: Redacted.make(secret) }).pipe(Layer.provide(pipeline))
      )
      expect(error).toEqual(
        new StartupError({
          setting: "SLUICE_TCP_HOST",
          detail: "cannot listen on 192.0.2.1: it is not an address of this machine"
        })
      )
    }))

  it.scoped("a shared secret under 32 characters names SLUICE_SHARED_SECRET", () =>
    Effect.gen(function*() {
      const error = yield* startupFailure(
        tcpLayer({ port: 0, sharedSecret: Redacted.make("s".repeat(31)) }).pipe(Layer.provide(pipeline))
      )
      expect(error).toEqual(
        new StartupError({
          setting: "SLUICE_SHARED_SECRET",
          detail: "the shared secret must be at least 32 characters"
        })
      )
      // 32 is enough.
      const context = yield* Layer.build(
        tcpLayer({ port: 0, sharedSecret: Redacted.make("s".repeat(32)) }).pipe(Layer.provide(pipeline))
      )
      const client = yield* connect({ port: Context.get(context, TcpTransport).port })
      yield* client.send(authenticate("s".repeat(32)))
      expect(yield* client.reply).toEqual(success)
    }))
})
