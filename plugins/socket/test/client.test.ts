/**
 * The client `sluice send` uses, against the real listeners: NDJSON as
 * given, text lines wrapped as entries, authentication on TCP, errors
 * collected, and `accepted` as the agent's durable count.
 */
import { describe, expect, it } from "@effect/vitest"
import { EventStore } from "@sluice/core/EventStore"
import * as SocketClient from "@sluice/socket/SocketClient"
import { TcpTransport } from "@sluice/socket/TcpTransport"
import { UnixTransport } from "@sluice/socket/UnixTransport"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import { batch, entry, eventually, harness, line, secret, stored, StoreGate, TempDir } from "./harness.js"

const unixTarget = UnixTransport.pipe(Effect.map((u) => SocketClient.unix(u.path)))
const tcpTarget = TcpTransport.pipe(Effect.map((t) => SocketClient.tcp("127.0.0.1", t.port)))

describe("SocketClient.send", () => {
  it.scoped("sends NDJSON lines as given and answers the flushed count and the errors", () =>
    Effect.gen(function*() {
      const result = yield* SocketClient.send(
        Stream.make(line({ payload: "a" }), "", "not json", batch([entry({ payload: "b" }), entry({ payload: "c" })])),
        { target: yield* unixTarget }
      )
      expect(result.accepted).toBe(3)
      expect(result.errors).toHaveLength(1)
      expect(result.errors[0]).toMatch(/^Invalid JSON: /)
      expect((yield* stored).map((e) => e.message)).toEqual(["a", "b", "c"])
    }).pipe(Effect.provide(harness())))

  it.scoped("wraps text lines as entries with the given source and level, skipping empty lines", () =>
    Effect.gen(function*() {
      const result = yield* SocketClient.send(Stream.make("first line", "", "second {line}"), {
        target: yield* unixTarget,
        format: "text",
        source: "cron",
        level: 4
      })
      expect(result).toEqual({ accepted: 2, errors: [] })
      const events = yield* stored
      expect(events.map((e) => [e.message, e.source, e.level, e.entryType, e.payloadType])).toEqual([
        ["first line", "cron", 4, 1, "generic"],
        ["second {line}", "cron", 4, 1, "generic"]
      ])
    }).pipe(Effect.provide(harness())))

  it.scoped("text defaults: source sluice-send, level 7 (INFO)", () =>
    Effect.gen(function*() {
      yield* SocketClient.send(Stream.make("hello"), { target: yield* unixTarget, format: "text" })
      expect((yield* stored).map((e) => [e.source, e.level])).toEqual([["sluice-send", 7]])
    }).pipe(Effect.provide(harness())))

  it.scoped("authenticates on TCP with the secret", () =>
    Effect.gen(function*() {
      const result = yield* SocketClient.send(Stream.make(line({ payload: "over tcp" })), {
        target: yield* tcpTarget,
        sharedSecret: Redacted.make(secret)
      })
      expect(result).toEqual({ accepted: 1, errors: [] })
      expect((yield* stored).map((e) => e.transport)).toEqual(["tcp"])
    }).pipe(Effect.provide(harness())))

  it.scoped("a wrong secret fails with Authenticate and sends nothing", () =>
    Effect.gen(function*() {
      const error = yield* SocketClient.send(Stream.make(line()), {
        target: yield* tcpTarget,
        sharedSecret: Redacted.make("w".repeat(48))
      }).pipe(Effect.flip)
      expect(error).toEqual(
        new SocketClient.SocketClientError({
          reason: "Authenticate",
          detail: "Authentication failed: wrong shared secret"
        })
      )
      expect(yield* stored).toEqual([])
    }).pipe(Effect.provide(harness())))

  it.scoped("without a secret on TCP, the agent's refusal ends the send", () =>
    Effect.gen(function*() {
      const error = yield* SocketClient.send(Stream.make(line()), { target: yield* tcpTarget }).pipe(Effect.flip)
      expect(error.reason).toBe("Closed")
      expect(error.message).toMatch(/: Authentication required: the first message on TCP must be/)
      expect(yield* stored).toEqual([])
    }).pipe(Effect.provide(harness())))

  it.scoped("nobody listening fails with Connect, naming the target", () =>
    Effect.gen(function*() {
      const dir = yield* TempDir
      const error = yield* SocketClient.send(Stream.make(line()), { target: SocketClient.unix(`${dir}/none.sock`) })
        .pipe(
          Effect.flip
        )
      expect(error.reason).toBe("Connect")
      expect(error.message).toMatch(new RegExp(`^cannot connect to unix:${dir}/none.sock: `))
    }).pipe(Effect.provide(harness())))

  it.scoped("answers only once the entries are durable", () =>
    Effect.gen(function*() {
      const gate = yield* StoreGate
      const store = yield* EventStore
      const sending = yield* SocketClient.send(Stream.make(line(), line()), { target: yield* unixTarget }).pipe(
        Effect.fork
      )
      // Held at the store: the send cannot finish. Then let the commit through.
      yield* eventually(Effect.sync(() => gate.appendsStarted() > 0), "the writer to reach the store")
      expect((yield* store.query({ offset: 0, limit: 10 })).total).toBe(0)
      yield* gate.open
      const result = yield* sending.await
      expect(result._tag).toBe("Success")
      expect((yield* store.query({ offset: 0, limit: 10 })).total).toBe(2)
    }).pipe(Effect.provide(harness({ gateOpen: false }))))
})

describe("SocketClient.parseTarget", () => {
  it("reads unix paths and TCP addresses", () => {
    expect(SocketClient.parseTarget("unix:/run/a.sock")).toEqual(Option.some(SocketClient.unix("/run/a.sock")))
    expect(SocketClient.parseTarget("/tmp/sluice-agent.sock")).toEqual(
      Option.some(SocketClient.unix("/tmp/sluice-agent.sock"))
    )
    expect(SocketClient.parseTarget("./a.sock")).toEqual(Option.some(SocketClient.unix("./a.sock")))
    expect(SocketClient.parseTarget("tcp://127.0.0.1:9999")).toEqual(Option.some(SocketClient.tcp("127.0.0.1", 9999)))
    expect(SocketClient.parseTarget("localhost:9999")).toEqual(Option.some(SocketClient.tcp("localhost", 9999)))
    expect(SocketClient.parseTarget("[::1]:9999")).toEqual(Option.some(SocketClient.tcp("::1", 9999)))
    expect(SocketClient.parseTarget("localhost")).toEqual(Option.none())
    expect(SocketClient.parseTarget("host:0")).toEqual(Option.none())
    expect(SocketClient.parseTarget("host:70000")).toEqual(Option.none())
    expect(SocketClient.parseTarget("unix:")).toEqual(Option.none())
  })
})
