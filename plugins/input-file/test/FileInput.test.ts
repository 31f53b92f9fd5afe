/**
 * The file input over real files in a temp dir: existing lines, appends,
 * partial lines, start_at, `**` globs and new files, exclude, long lines,
 * batches, rename and truncation rotation, removed files, and polling on the
 * `Clock`.
 */
import { assert, describe, expect, it } from "@effect/vitest"
import * as Input from "@sluice/core/Input"
import { FileInput } from "@sluice/input-file"
import * as Effect from "effect/Effect"
import * as TestClock from "effect/TestClock"
import * as fs from "node:fs"
import * as path from "node:path"
import { append, collected, collector, contextOf, dirs, eventually, numbered, realTick, start } from "./harness.js"

const fast = { poll_interval_ms: 10 }
const checkpointOf = (state: string) => path.join(state, "file-positions.json")
const checkpointWritten = (state: string) =>
  eventually(Effect.sync(() => fs.existsSync(checkpointOf(state))), () => "the first checkpoint")

describe("file input", () => {
  it.scopedLive("reads the lines already in a file, each with its path and the time of reading", () =>
    Effect.gen(function*() {
      const d = yield* dirs
      const file = path.join(d.logs, "app.log")
      fs.writeFileSync(file, "first\nsecond\nthird\n")
      const c = collector()
      const before = Date.now()
      yield* start(FileInput.FileInput, { paths: [file], ...fast }, contextOf(d, c.emit))
      yield* collected(c, 3)
      assert.deepStrictEqual(c.messages(), ["first", "second", "third"])
      for (const e of c.emitted) {
        assert.deepStrictEqual(e.metadata, { file })
        assert.isTrue(e.timestamp !== undefined && e.timestamp >= before && e.timestamp <= Date.now())
      }
      const stat = fs.statSync(file, { bigint: true })
      assert.deepStrictEqual(c.keys, [`file:in-1:${stat.dev}:${stat.ino}:0:${"first\nsecond\nthird\n".length}`])
    }))

  it.scopedLive("follows appends; a partial last line waits for its newline; \\r\\n loses its \\r", () =>
    Effect.gen(function*() {
      const d = yield* dirs
      const file = path.join(d.logs, "app.log")
      fs.writeFileSync(file, "one\npar")
      const c = collector()
      yield* start(FileInput.FileInput, { paths: [file], ...fast }, contextOf(d, c.emit))
      yield* collected(c, 1)
      assert.deepStrictEqual(c.messages(), ["one"])
      yield* append(file, "tial\r\nthree\n")
      yield* collected(c, 3)
      assert.deepStrictEqual(c.messages(), ["one", "partial", "three"])
      yield* append(file, "\n\nfour\n")
      yield* collected(c, 6)
      assert.deepStrictEqual(c.messages(), ["one", "partial", "three", "", "", "four"])
    }))

  it.scopedLive("lines written in small pieces while being read arrive whole, once, in order", () =>
    Effect.gen(function*() {
      const d = yield* dirs
      const file = path.join(d.logs, "app.log")
      fs.writeFileSync(file, "")
      const c = collector()
      yield* start(FileInput.FileInput, { paths: [file], max_batch_lines: 7, ...fast }, contextOf(d, c.emit))
      const text = numbered("piece", 400)
      for (let at = 0; at < text.length; at += 37) {
        yield* append(file, text.slice(at, at + 37))
        // Real time passes now and then, so reads fall between the pieces.
        if (at % (37 * 8) === 0) yield* realTick(2)
      }
      yield* collected(c, 400)
      assert.deepStrictEqual(c.messages(), text.trimEnd().split("\n"))
    }))

  it.scopedLive("start_at end skips what is there (a half-written line included) and reads what follows", () =>
    Effect.gen(function*() {
      const d = yield* dirs
      const file = path.join(d.logs, "app.log")
      fs.writeFileSync(file, "old-1\nold-2\nhalf of a ")
      const c = collector()
      yield* start(FileInput.FileInput, { paths: [file], start_at: "end", ...fast }, contextOf(d, c.emit))
      yield* checkpointWritten(d.state)
      yield* append(file, "line\nnew-1\nnew-2\n")
      yield* collected(c, 2)
      assert.deepStrictEqual(c.messages(), ["new-1", "new-2"])
    }))

  it.scopedLive("a ** glob picks up files as they appear, from their beginning even with start_at end", () =>
    Effect.gen(function*() {
      const d = yield* dirs
      fs.mkdirSync(path.join(d.logs, "app"))
      const a = path.join(d.logs, "app", "a.log")
      fs.writeFileSync(a, "a-old\n")
      const c = collector()
      yield* start(
        FileInput.FileInput,
        { paths: [`${d.logs}/**/*.log`], start_at: "end", ...fast },
        contextOf(d, c.emit)
      )
      yield* checkpointWritten(d.state)
      yield* append(a, "a-new\n")
      fs.mkdirSync(path.join(d.logs, "app", "deep", "er"), { recursive: true })
      const b = path.join(d.logs, "app", "deep", "er", "b.log")
      fs.writeFileSync(b, "b-1\nb-2\n")
      fs.writeFileSync(path.join(d.logs, "app", "c.txt"), "not a .log\n")
      fs.writeFileSync(path.join(d.logs, "top.log"), "top\n")
      yield* collected(c, 4)
      // A later line proves the poll that could have read c.txt is over.
      yield* append(a, "a-last\n")
      yield* eventually(Effect.sync(() => c.messages().includes("a-last")), () => "a-last")
      assert.deepStrictEqual([...c.messages()].sort(), ["a-last", "a-new", "b-1", "b-2", "top"])
      assert.deepStrictEqual(c.emitted.find((e) => e.message === "b-1")?.metadata, { file: b })
    }))

  it.scopedLive("exclude leaves out file names and whole paths", () =>
    Effect.gen(function*() {
      const d = yield* dirs
      const x = path.join(d.logs, "x.log")
      fs.writeFileSync(x, "x\n")
      fs.writeFileSync(path.join(d.logs, "x.log.gz"), "gz\n")
      fs.mkdirSync(path.join(d.logs, "archive", "2024"), { recursive: true })
      fs.writeFileSync(path.join(d.logs, "archive", "2024", "y.log"), "archived\n")
      fs.mkdirSync(path.join(d.logs, "sub"))
      fs.writeFileSync(path.join(d.logs, "sub", "z.log"), "z\n")
      const c = collector()
      yield* start(
        FileInput.FileInput,
        { paths: [`${d.logs}/**`], exclude: ["*.gz", `${d.logs}/archive/**`], ...fast },
        contextOf(d, c.emit)
      )
      yield* collected(c, 2)
      yield* append(x, "x2\n")
      yield* eventually(Effect.sync(() => c.messages().includes("x2")), () => "x2")
      assert.deepStrictEqual([...c.messages()].sort(), ["x", "x2", "z"])
    }))

  it.scopedLive("a line over max_line_bytes is cut and flagged, and the rest of it skipped (across reads)", () =>
    Effect.gen(function*() {
      const d = yield* dirs
      const file = path.join(d.logs, "app.log")
      fs.writeFileSync(file, `short\n${"A".repeat(100)}\nexactly-16-bytes\n${"B".repeat(17)}`)
      const c = collector()
      // Reads of 17 bytes: the long line spans several of them.
      yield* start(
        FileInput.make({ chunkBytes: 1 }),
        { paths: [file], max_line_bytes: 16, ...fast },
        contextOf(d, c.emit)
      )
      yield* collected(c, 4)
      yield* append(file, "BBB\nafter\n")
      yield* collected(c, 5)
      assert.deepStrictEqual(c.messages(), ["short", "A".repeat(16), "exactly-16-bytes", "B".repeat(16), "after"])
      assert.deepStrictEqual(c.emitted.map((e) => e.metadata["truncated"] === true), [false, true, false, true, false])
    }))

  it.scopedLive("batches hold at most max_batch_lines lines, over contiguous byte ranges", () =>
    Effect.gen(function*() {
      const d = yield* dirs
      const file = path.join(d.logs, "app.log")
      const text = numbered("line", 25)
      fs.writeFileSync(file, text)
      const c = collector()
      yield* start(FileInput.FileInput, { paths: [file], max_batch_lines: 10, ...fast }, contextOf(d, c.emit))
      yield* collected(c, 25)
      assert.deepStrictEqual(c.messages(), text.trimEnd().split("\n"))
      const ranges = c.keys.map((k) => k!.split(":").slice(-2).map(Number))
      assert.deepStrictEqual(ranges.map(([s, e]) => c.emitted.filter((r) => r.key?.endsWith(`:${s}:${e}`)).length), [
        10,
        10,
        5
      ])
      assert.strictEqual(ranges[0]![0], 0)
      assert.strictEqual(ranges[1]![0], ranges[0]![1])
      assert.strictEqual(ranges[2]![0], ranges[1]![1])
      assert.strictEqual(ranges[2]![1], Buffer.byteLength(text))
    }))

  it.scopedLive("rename rotation: the old file is read to its end, then the new one from 0", () =>
    Effect.gen(function*() {
      const d = yield* dirs
      const file = path.join(d.logs, "app.log")
      fs.writeFileSync(file, numbered("r", 5))
      const c = collector()
      yield* start(FileInput.FileInput, { paths: [file], ...fast }, contextOf(d, c.emit))
      yield* collected(c, 5)
      yield* Effect.sync(() => {
        fs.renameSync(file, `${file}.1`)
        // The application's last lines into the old file, then its new file.
        fs.appendFileSync(`${file}.1`, "r-5\nr-6\n")
        fs.writeFileSync(file, "n-0\nn-1\n")
      })
      yield* collected(c, 9)
      assert.deepStrictEqual(c.messages(), [...numbered("r", 7).trimEnd().split("\n"), "n-0", "n-1"])
    }))

  it.scopedLive("rename rotation where both names match: the renamed file is not read again", () =>
    Effect.gen(function*() {
      const d = yield* dirs
      const file = path.join(d.logs, "app.log")
      fs.writeFileSync(file, numbered("r", 3))
      const c = collector()
      yield* start(FileInput.FileInput, { paths: [`${d.logs}/app.log*`], ...fast }, contextOf(d, c.emit))
      yield* collected(c, 3)
      yield* Effect.sync(() => {
        fs.renameSync(file, `${file}.1`)
        fs.appendFileSync(`${file}.1`, "r-3\n")
        fs.writeFileSync(file, "n-0\n")
      })
      yield* collected(c, 5)
      yield* append(file, "n-1\n")
      yield* collected(c, 6)
      assert.deepStrictEqual(c.messages(), ["r-0", "r-1", "r-2", "r-3", "n-0", "n-1"])
    }))

  it.scopedLive("truncation: a file cut shorter than its offset is read again from the start", () =>
    Effect.gen(function*() {
      const d = yield* dirs
      const file = path.join(d.logs, "app.log")
      fs.writeFileSync(file, "t-0\nt-1\nt-2\n")
      const c = collector()
      yield* start(FileInput.FileInput, { paths: [file], ...fast }, contextOf(d, c.emit))
      yield* collected(c, 3)
      yield* Effect.sync(() => {
        fs.truncateSync(file, 0)
        fs.appendFileSync(file, "u-0\n")
      })
      yield* collected(c, 4)
      yield* append(file, "u-1\n")
      yield* collected(c, 5)
      assert.deepStrictEqual(c.messages(), ["t-0", "t-1", "t-2", "u-0", "u-1"])
    }))

  it.scopedLive("a removed file is read to its end, its unterminated last line included, then forgotten", () =>
    Effect.gen(function*() {
      const d = yield* dirs
      const file = path.join(d.logs, "gone.log")
      fs.writeFileSync(file, "d-0\nd-1\nthe last words")
      const c = collector()
      yield* start(FileInput.make({ forgetAfterMs: 100 }), { paths: [file], ...fast }, contextOf(d, c.emit))
      yield* collected(c, 2)
      assert.deepStrictEqual(c.messages(), ["d-0", "d-1"])
      const positions = () => fs.existsSync(checkpointOf(d.state)) ? fs.readFileSync(checkpointOf(d.state), "utf8") : ""
      assert.include(positions(), "gone.log")
      fs.unlinkSync(file)
      yield* collected(c, 3)
      assert.deepStrictEqual(c.messages(), ["d-0", "d-1", "the last words"])
      yield* eventually(Effect.sync(() => !positions().includes("gone.log")), () => "the file to leave the checkpoint")
    }))

  it.scopedLive("a failing emit is retried with the same range and key; nothing else is read meanwhile", () =>
    Effect.gen(function*() {
      const d = yield* dirs
      const file = path.join(d.logs, "app.log")
      fs.writeFileSync(file, "e-0\ne-1\n")
      const c = collector()
      const attempts: Array<string | undefined> = []
      const flaky: Input.InputContext["emit"] = (records, options) =>
        Effect.suspend(() => {
          attempts.push(options?.idempotencyKey)
          return attempts.length <= 2
            ? Effect.fail(new Input.InputError({ input: "app-logs", message: "queue full" }))
            : c.emit(records, options)
        })
      yield* start(FileInput.FileInput, { paths: [file], ...fast }, contextOf(d, flaky))
      yield* append(file, "e-2\n")
      yield* collected(c, 2)
      assert.deepStrictEqual(c.messages().slice(0, 2), ["e-0", "e-1"])
      assert.strictEqual(new Set(attempts.slice(0, 3)).size, 1)
      yield* collected(c, 3)
      assert.deepStrictEqual(c.messages(), ["e-0", "e-1", "e-2"])
    }))

  it.scoped("polls on the Clock: an append is read once the poll interval has passed", () =>
    Effect.gen(function*() {
      const d = yield* dirs
      const file = path.join(d.logs, "app.log")
      fs.writeFileSync(file, "c-0\n")
      const c = collector()
      yield* start(FileInput.FileInput, { paths: [file], poll_interval_ms: 60_000 }, contextOf(d, c.emit))
      yield* collected(c, 1)
      // The run is asleep until the next poll.
      yield* eventually(TestClock.sleeps().pipe(Effect.map((s) => s.length > 0)), () => "the poll's sleep")
      yield* append(file, "c-1\n")
      yield* TestClock.adjust("60 seconds")
      yield* collected(c, 2)
      expect(c.messages()).toEqual(["c-0", "c-1"])
      // Events carry the Clock's time.
      expect(c.emitted[1]!.timestamp).toBe(60_000)
    }))
})
