/**
 * Positions across runs, through the real pipeline (queue, group-commit
 * writer, in-memory store) and an `emit` that dedupes by idempotency key:
 * a stop between emits, a crash after an emit was committed but before the
 * checkpoint, a rotation while stopped, and `start_at: end` on a restart.
 */
import { assert, describe, it } from "@effect/vitest"
import type * as Input from "@sluice/core/Input"
import { FileInput } from "@sluice/input-file"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Schema from "effect/Schema"
import * as fs from "node:fs"
import * as path from "node:path"
import {
  append,
  contextOf,
  dirs,
  eventually,
  numbered,
  pipeline,
  pipelineEmit,
  start,
  storedMessages
} from "./harness.js"

const checkpointOf = (state: string) => path.join(state, "file-positions.json")
/** What these tests read of the checkpoint file. */
const CheckpointShape = Schema.Struct({
  files: Schema.Array(Schema.Struct({ path: Schema.String, offset: Schema.Number })),
  pending: Schema.NullOr(Schema.Struct({ start: Schema.Number, end: Schema.Number }))
})
const readCheckpoint = (state: string) =>
  Schema.decodeUnknownSync(Schema.parseJson(CheckpointShape))(fs.readFileSync(checkpointOf(state), "utf8"))

const stored = (n: number) =>
  eventually(
    storedMessages.pipe(Effect.map((m) => m.length >= n)),
    () => `${n} stored events`
  )

/** Runs the input with `emit` until `until` completes, then stops it (interrupts the run). */
const runUntil = <E, R>(
  settings: unknown,
  context: Input.InputContext,
  until: (fiber: Fiber.RuntimeFiber<void, Input.InputError>) => Effect.Effect<void, E, R>
) =>
  Effect.gen(function*() {
    const fiber = yield* start(FileInput.FileInput, settings, context)
    yield* until(fiber)
    yield* Fiber.interrupt(fiber)
  }).pipe(Effect.scoped)

/** An `emit` that records each call's key and delegates. */
const recording =
  (emit: Input.InputContext["emit"], keys: Array<string | undefined>): Input.InputContext["emit"] =>
  (records, options) =>
    Effect.suspend(() => {
      keys.push(options?.idempotencyKey)
      return emit(records, options)
    })

describe("file input across restarts", () => {
  it.scopedLive("a stop between emits and a restart: everything stored once, in order; the pending range keeps its key", () =>
    Effect.gen(function*() {
      const d = yield* dirs
      const emit = yield* pipelineEmit
      const file = path.join(d.logs, "app.log")
      fs.writeFileSync(file, numbered("line", 2000))
      const settings = { paths: [file], max_batch_lines: 100, poll_interval_ms: 10 }

      // The 8th emit never answers: the run is stopped while it waits.
      const firstKeys: Array<string | undefined> = []
      const eighth = yield* Deferred.make<void>()
      const stalling: Input.InputContext["emit"] = (records, options) =>
        Effect.suspend(() => {
          firstKeys.push(options?.idempotencyKey)
          return firstKeys.length < 8 ? emit(records, options) : Deferred.succeed(eighth, undefined).pipe(
            Effect.zipRight(Effect.never)
          )
        })
      yield* runUntil(settings, contextOf(d, stalling), () => Deferred.await(eighth))
      assert.deepStrictEqual(yield* storedMessages, numbered("line", 700).trimEnd().split("\n"))
      const stopped = readCheckpoint(d.state)
      assert.deepStrictEqual(stopped.pending, { start: stopped.files[0]!.offset, end: stopped.pending!.end })

      // Lines written while stopped are read too.
      yield* append(file, numbered("line", 500, 2000))
      const secondKeys: Array<string | undefined> = []
      yield* runUntil(settings, contextOf(d, recording(emit, secondKeys)), () => stored(2500))
      assert.deepStrictEqual(yield* storedMessages, numbered("line", 2500).trimEnd().split("\n"))
      assert.strictEqual(secondKeys[0], firstKeys[7])
      const done = readCheckpoint(d.state)
      assert.deepStrictEqual(done.files, [{ path: file, offset: fs.statSync(file).size }])
      assert.isNull(done.pending)
    }).pipe(Effect.provide(pipeline)))

  it.scopedLive("a crash after an emit was committed but before the checkpoint: re-emitted with the same key, stored once", () =>
    Effect.gen(function*() {
      const d = yield* dirs
      const emit = yield* pipelineEmit
      const file = path.join(d.logs, "app.log")
      fs.writeFileSync(file, numbered("line", 50))
      const settings = { paths: [file], max_batch_lines: 10, poll_interval_ms: 10 }

      // The 3rd emit is committed, then the run dies before it records that.
      const firstKeys: Array<string | undefined> = []
      const crashing: Input.InputContext["emit"] = (records, options) =>
        Effect.suspend(() => {
          firstKeys.push(options?.idempotencyKey)
          return firstKeys.length < 3 ? emit(records, options) : emit(records, options).pipe(
            Effect.zipRight(Effect.interrupt)
          )
        })
      const exit = yield* Effect.gen(function*() {
        const fiber = yield* start(FileInput.FileInput, settings, contextOf(d, crashing))
        return yield* Fiber.await(fiber)
      }).pipe(Effect.scoped)
      assert.isTrue(Exit.isInterrupted(exit))
      assert.strictEqual((yield* storedMessages).length, 30)
      const crashed = readCheckpoint(d.state)
      assert.isNotNull(crashed.pending)
      assert.isTrue(firstKeys[2]!.endsWith(`:${crashed.pending!.start}:${crashed.pending!.end}`))

      const secondKeys: Array<string | undefined> = []
      yield* runUntil(settings, contextOf(d, recording(emit, secondKeys)), () => stored(50))
      assert.strictEqual(secondKeys[0], firstKeys[2])
      assert.deepStrictEqual(yield* storedMessages, numbered("line", 50).trimEnd().split("\n"))
    }).pipe(Effect.provide(pipeline)))

  it.scopedLive("a file rotated while the agent was stopped: its rest is read, then the new file", () =>
    Effect.gen(function*() {
      const d = yield* dirs
      const emit = yield* pipelineEmit
      const file = path.join(d.logs, "app.log")
      fs.writeFileSync(file, numbered("a", 3))
      const settings = { paths: [file], poll_interval_ms: 10 }
      yield* runUntil(settings, contextOf(d, emit), () => stored(3))

      fs.appendFileSync(file, "a-3\n")
      fs.renameSync(file, path.join(d.logs, "app.log.1"))
      fs.writeFileSync(file, "b-0\n")
      yield* runUntil(settings, contextOf(d, emit), () => stored(5))
      assert.deepStrictEqual(yield* storedMessages, ["a-0", "a-1", "a-2", "a-3", "b-0"])
    }).pipe(Effect.provide(pipeline)))

  it.scopedLive("a file dropped from the settings is not read again by the next run", () =>
    Effect.gen(function*() {
      const d = yield* dirs
      const emit = yield* pipelineEmit
      const a = path.join(d.logs, "a.log")
      const b = path.join(d.logs, "b.log")
      fs.writeFileSync(a, "a-0\n")
      fs.writeFileSync(b, "b-0\n")
      yield* runUntil({ paths: [a, b], poll_interval_ms: 10 }, contextOf(d, emit), () => stored(2))
      yield* append(b, "b-1\n")
      yield* append(a, "a-1\n")
      yield* runUntil({ paths: [a], poll_interval_ms: 10 }, contextOf(d, emit), () => stored(3))
      assert.deepStrictEqual([...(yield* storedMessages)].sort(), ["a-0", "a-1", "b-0"])
      assert.deepStrictEqual(readCheckpoint(d.state).files.map((f) => f.path), [a])
    }).pipe(Effect.provide(pipeline)))

  it.scopedLive("start_at end applies to the first run only: lines written while stopped are read", () =>
    Effect.gen(function*() {
      const d = yield* dirs
      const emit = yield* pipelineEmit
      const file = path.join(d.logs, "app.log")
      fs.writeFileSync(file, "before\n")
      const settings = { paths: [file], start_at: "end", poll_interval_ms: 10 }
      yield* runUntil(
        settings,
        contextOf(d, emit),
        () => eventually(Effect.sync(() => fs.existsSync(checkpointOf(d.state))), () => "the first checkpoint")
      )
      yield* append(file, "while stopped\n")
      yield* runUntil(settings, contextOf(d, emit), () => stored(1))
      yield* append(file, "sentinel\n")
      yield* runUntil(settings, contextOf(d, emit), () => stored(2))
      assert.deepStrictEqual(yield* storedMessages, ["while stopped", "sentinel"])
    }).pipe(Effect.provide(pipeline)))
})
