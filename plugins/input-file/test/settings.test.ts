/**
 * What `build` refuses (each error names the setting and the rule), the
 * allowed directories (`..` resolved, symbolic links followed), and the glob
 * matcher's rules.
 */
import { assert, describe, it } from "@effect/vitest"
import type * as Input from "@sluice/core/Input"
import { FileInput, Glob } from "@sluice/input-file"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as fs from "node:fs"
import * as path from "node:path"
import { append, collected, collector, contextOf, dirs, eventually, start } from "./harness.js"

/** The error `prepare` fails with. */
const refusal = (settings: unknown, context: Input.InputContext) =>
  FileInput.FileInput.prepare(settings, context).pipe(Effect.flip)

describe("file input settings", () => {
  it.scoped("settings errors name the field", () =>
    Effect.gen(function*() {
      const d = yield* dirs
      const context = contextOf(d, collector().emit)
      const file = path.join(d.logs, "app.log")
      const cases: ReadonlyArray<readonly [unknown, string]> = [
        [{}, "settings.paths"],
        [{ paths: [] }, "settings.paths"],
        [{ paths: [file], start_at: "middle" }, "settings.start_at"],
        [{ paths: [file], poll_interval_ms: 0 }, "settings.poll_interval_ms"],
        [{ paths: [file], max_line_bytes: "1MiB" }, "settings.max_line_bytes"],
        [{ paths: [file], max_batch_lines: 0 }, "settings.max_batch_lines"],
        [{ paths: [file], follow: true }, "settings.follow"],
        [{ paths: ["logs/*.log"] }, "settings.paths.0: \"logs/*.log\" is not an absolute path"],
        [{ paths: [file, `${d.logs}/a**b/*.log`] }, "settings.paths.1: "],
        [{ paths: [`${d.logs}/[ab].log`] }, "settings.paths.0: "],
        [{ paths: [`${d.logs}/`] }, "settings.paths.0: "],
        [{ paths: [file], exclude: ["old/*.gz"] }, "settings.exclude.0: "]
      ]
      for (const [settings, expected] of cases) {
        const error = yield* refusal(settings, context)
        assert.strictEqual(error._tag, "InputError")
        assert.strictEqual(error.input, "app-logs")
        assert.include(error.message, expected, JSON.stringify(settings))
      }
      const glob = yield* refusal({ paths: [`${d.logs}/a**b/*.log`] }, context)
      assert.include(glob.message, "\"**\" must be a whole path segment")
    }))

  it.scoped("paths outside the allowed dirs are refused, `..` resolved", () =>
    Effect.gen(function*() {
      const d = yield* dirs
      const context = contextOf(d, collector().emit)
      const outside = yield* refusal({ paths: ["/etc/passwd"] }, context)
      assert.include(outside.message, `settings.paths.0: "/etc/passwd" is outside the allowed paths (${d.logs};`)
      const dotdot = yield* refusal({ paths: [`${d.logs}/../outside/*.log`] }, context)
      assert.include(dotdot.message, `(${d.outside}/*.log) is outside the allowed paths`)
      // A wildcard above the allowed dir could match beside it.
      const above = yield* refusal({ paths: [`${d.root}/**/*.log`] }, context)
      assert.include(above.message, "settings.paths.0")
      const none = yield* refusal({ paths: [`${d.logs}/*.log`] }, { ...context, allowedPaths: [] })
      assert.include(none.message, "outside the allowed paths (none;")
      // Inside is fine, `..` that stays inside too.
      yield* FileInput.FileInput.prepare({ paths: [`${d.logs}/sub/../*.log`, `${d.logs}/**/*.log`] }, context)
    }))

  it.scoped("build starts nothing", () =>
    Effect.gen(function*() {
      const d = yield* dirs
      const c = collector()
      fs.writeFileSync(path.join(d.logs, "app.log"), "line\n")
      yield* FileInput.FileInput.prepare({ paths: [`${d.logs}/*.log`] }, contextOf(d, c.emit))
      assert.deepStrictEqual(fs.readdirSync(d.state), [])
      assert.strictEqual(c.emitted.length, 0)
    }))

  it.scoped("a symbolic link leaving the allowed dirs is refused at build when named", () =>
    Effect.gen(function*() {
      const d = yield* dirs
      fs.writeFileSync(path.join(d.outside, "secret.log"), "secret\n")
      fs.symlinkSync(path.join(d.outside, "secret.log"), path.join(d.logs, "link.log"))
      const error = yield* refusal({ paths: [path.join(d.logs, "link.log")] }, contextOf(d, collector().emit))
      assert.include(error.message, `settings.paths.0: "${path.join(d.logs, "link.log")}" resolves to`)
      assert.include(error.message, "outside the allowed paths")
    }))

  it.scopedLive("a symbolic link leaving the allowed dirs is never read; one inside them is", () =>
    Effect.gen(function*() {
      const d = yield* dirs
      fs.writeFileSync(path.join(d.outside, "secret.log"), "secret\n")
      fs.symlinkSync(path.join(d.outside, "secret.log"), path.join(d.logs, "escape.log"))
      fs.mkdirSync(path.join(d.logs, "data"))
      fs.writeFileSync(path.join(d.logs, "data", "inner.txt"), "inner\n")
      fs.symlinkSync(path.join(d.logs, "data", "inner.txt"), path.join(d.logs, "inner.log"))
      const app = path.join(d.logs, "app.log")
      fs.writeFileSync(app, "app\n")
      const c = collector()
      yield* start(FileInput.FileInput, { paths: [`${d.logs}/*.log`], poll_interval_ms: 10 }, contextOf(d, c.emit))
      yield* collected(c, 2)
      // A later poll has run as well.
      yield* append(app, "app-2\n")
      yield* eventually(Effect.sync(() => c.messages().includes("app-2")), () => "app-2")
      fs.appendFileSync(path.join(d.outside, "secret.log"), "more secret\n")
      yield* append(app, "app-3\n")
      yield* eventually(Effect.sync(() => c.messages().includes("app-3")), () => "app-3")
      assert.deepStrictEqual([...c.messages()].sort(), ["app", "app-2", "app-3", "inner"])
    }))

  it("globs: * and ? stay in a segment, ** spans directories, malformed ones are refused", () => {
    const glob = (p: string) => Either.getOrThrow(Glob.parse(p))
    assert.isTrue(Glob.matches(glob("/var/log/*.log"), "/var/log/a.log"))
    assert.isFalse(Glob.matches(glob("/var/log/*.log"), "/var/log/x/a.log"))
    assert.isTrue(Glob.matches(glob("/var/log/app-?.log"), "/var/log/app-1.log"))
    assert.isFalse(Glob.matches(glob("/var/log/app-?.log"), "/var/log/app-10.log"))
    assert.isTrue(Glob.matches(glob("/var/log/**/*.log"), "/var/log/a.log"))
    assert.isTrue(Glob.matches(glob("/var/log/**/*.log"), "/var/log/x/y/a.log"))
    assert.isFalse(Glob.matches(glob("/var/log/**/*.log"), "/var/lib/a.log"))
    assert.isTrue(Glob.matches(glob("/var/log/a.(1)+*.log"), "/var/log/a.(1)+x.log"))
    assert.isFalse(Glob.matches(glob("/var/log/a.(1)+*.log"), "/var/log/a-(1)x.log"))
    assert.strictEqual(glob("/var/log/nginx/../*.log").prefix, "/var/log")
    for (const bad of ["", "var/log", "/var/log/", "/var/**x/a", "/var/log/{a,b}.log", "/**"]) {
      assert.isTrue(Either.isLeft(Glob.parse(bad)), bad)
    }
  })
})
