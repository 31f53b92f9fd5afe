/**
 * The `file` input: tails files named by absolute paths and globs inside the
 * agent's allowed directories, one event per line.
 *
 * Guarantees:
 * - Nothing lost, nothing twice. Per file (device + inode) the byte offset
 *   read up to is checkpointed in the input's state directory. Before a range
 *   is emitted it is recorded as `pending`; `emit` carries the idempotency key
 *   `file:<input id>:<dev>:<ino>:<start>:<end>`; only after `emit` answers is
 *   the offset advanced and `pending` cleared. A run that stops or crashes in
 *   between re-emits exactly that range first when it starts again, with the
 *   same key, so a store that dedupes by key keeps it once.
 * - Only complete lines: a partial last line waits for its newline (`\r\n`
 *   loses its `\r`); a line over `max_line_bytes` is cut and flagged
 *   `metadata.truncated: true`, the rest of it skipped.
 * - Rotation: a path that now names another file (rename) has its old file
 *   read to the end through the open descriptor before the new file is read
 *   from offset 0; a file smaller than its offset (truncation) is read again
 *   from 0; a file that left its path is read to its end and forgotten after
 *   a grace period (its last line then ends the file, newline or not).
 * - Bounded: files are read in chunks, one batch (up to `max_batch_lines`
 *   lines within one chunk) at a time, and the next read waits for `emit`.
 *   Files take turns chunk by chunk.
 * - Confined: every path and glob must lie inside `allowedPaths` once `..`
 *   is resolved; a file whose real path (symbolic links followed) leaves
 *   them is refused when it is opened, and at build when it is named
 *   literally. `build` checks all this and starts nothing.
 *
 * Polling runs on the `Clock` (`poll_interval_ms`): `fs.watch` misses events
 * on network and overlay file systems, and a poll sees renames and
 * truncations the same way everywhere.
 */
import * as Input from "@sluice/core/Input"
import { describeError } from "@sluice/core/StartupError"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as fs from "node:fs/promises"
import * as Path from "node:path"
import * as Checkpoint from "./Checkpoint.js"
import * as Glob from "./Glob.js"
import { frame, type Lines } from "./Lines.js"

const MiB = 1024 * 1024

/** The settings of a `file` input (snake_case, as in the rendered agent config). */
export const FileInputSettings = Schema.Struct({
  /** Absolute paths or globs of the files to read; `*` and `?` within a segment, `**` for any depth. */
  paths: Schema.NonEmptyArray(Schema.String).annotations({
    description: "Absolute paths or globs (*, ? within a path segment; ** as a segment for any depth) " +
      "of the files to read; each must lie inside the agent's allowed paths"
  }),
  /** Files not to read: an absolute glob matches the whole path, a pattern without `/` the file name. */
  exclude: Schema.optionalWith(
    Schema.Array(Schema.String).annotations({
      description: "Globs of files not to read: an absolute glob matches the whole path, " +
        "a pattern without / (e.g. *.gz) matches the file name"
    }),
    { default: () => [] }
  ),
  /** Where a file seen on the input's very first poll starts; files found later always start at 0. */
  start_at: Schema.optionalWith(
    Schema.Literal("beginning", "end").annotations({
      description: "Where a file found on the input's first poll starts (beginning or end); " +
        "files that appear later, or while the agent was stopped, are read from the beginning"
    }),
    { default: () => "beginning" as const }
  ),
  /** How often the globs are expanded and the files read (milliseconds). */
  poll_interval_ms: Schema.optionalWith(
    Schema.Int.pipe(Schema.between(10, 3_600_000)).annotations({
      description: "Milliseconds between polls (10 to 3,600,000; default 250)"
    }),
    { default: () => 250 }
  ),
  /** Longer lines are cut at this many bytes and flagged `metadata.truncated`. */
  max_line_bytes: Schema.optionalWith(
    Schema.Int.pipe(Schema.between(1, 64 * MiB)).annotations({
      description: "Bytes a line may have; longer lines are cut and flagged metadata.truncated: true " +
        "(1 to 64 MiB; default 1 MiB)"
    }),
    { default: () => MiB }
  ),
  /** The most lines one `emit` carries. */
  max_batch_lines: Schema.optionalWith(
    Schema.Int.pipe(Schema.between(1, 100_000)).annotations({
      description: "The most lines in one batch (1 to 100,000; default 1000)"
    }),
    { default: () => 1000 }
  )
}).annotations({ identifier: "FileInputSettings" })
export type FileInputSettings = typeof FileInputSettings.Type

/** Tuning that is not a setting (tests shorten it). */
export interface FileInputOptions {
  /** How long a file that left its path is still read before it is forgotten (default 5 s). */
  readonly forgetAfterMs: number
  /** Bytes read at once (default 256 KiB; at least `max_line_bytes` + 1). */
  readonly chunkBytes: number
  /** How deep a `**` descends (default 32 directories). */
  readonly maxDepth: number
}

/** Defaults of the tuning. */
export const defaultOptions: FileInputOptions = { forgetAfterMs: 5_000, chunkBytes: 256 * 1024, maxDepth: 32 }

/** The idempotency key of an emitted range. */
export const idempotencyKey = (inputId: string, dev: string, ino: string, start: number, end: number): string =>
  `file:${inputId}:${dev}:${ino}:${start}:${end}`

/** An exclude pattern: a whole-path glob or a file-name pattern. */
type Exclude =
  | { readonly _tag: "Path"; readonly glob: Glob.Glob }
  | { readonly _tag: "Name"; readonly regex: RegExp }

/** A file being read. */
interface Tracked {
  /** `dev:ino` */
  readonly key: string
  readonly dev: string
  readonly ino: string
  path: string
  readonly handle: fs.FileHandle
  offset: number
  skipping: boolean
  /** When its path stopped naming it (renamed away or removed). */
  detachedSince: number | undefined
  /** The last read found no complete line. */
  atEof: boolean
  /** The file that had its path before it: read that one to its end first. */
  after: string | undefined
}

const stripSlash = (dir: string) => dir.length > 1 && dir.endsWith("/") ? dir.slice(0, -1) : dir

/** An IO call whose failure the caller decides about. */
const io = <A>(f: () => Promise<A>): Effect.Effect<A, unknown> => Effect.tryPromise({ try: f, catch: (e) => e })

/** The allowed directories, as written and with their symbolic links resolved. */
const resolveAllowed = (allowed: ReadonlyArray<string>): Effect.Effect<Array<string>> =>
  Effect.forEach(allowed, (dir) =>
    io(() => fs.realpath(dir)).pipe(
      Effect.map((real) => real === dir ? [dir] : [dir, real]),
      Effect.orElseSucceed(() => [dir])
    )).pipe(Effect.map((dirs) => dirs.flat()))

const retrySchedule = Schedule.exponential("100 millis", 2).pipe(Schedule.union(Schedule.spaced("5 seconds")))

const keyOf = (stat: { readonly dev: bigint; readonly ino: bigint }) => ({
  dev: String(stat.dev),
  ino: String(stat.ino),
  key: `${stat.dev}:${stat.ino}`
})

/** Builds the `file` input type with this tuning. */
export const make = (tuning: Partial<FileInputOptions> = {}): Input.Input => {
  const options: FileInputOptions = { ...defaultOptions, ...tuning }
  return Input.make({
    type: "file",
    platforms: ["linux", "kubernetes"],
    settings: FileInputSettings,
    build: (settings, context) =>
      Effect.gen(function*() {
        const refuse = (setting: string, rule: string) =>
          new Input.InputError({ input: context.name, message: `settings.${setting}: ${rule}` })
        const allowed = context.allowedPaths.filter((p) => Path.isAbsolute(p)).map((p) =>
          stripSlash(Path.posix.normalize(p))
        )
        const allowedList = allowed.length === 0 ? "none" : allowed.join(":")
        const allowedReal = yield* resolveAllowed(allowed)
        const globs: Array<Glob.Glob> = []
        for (let i = 0; i < settings.paths.length; i++) {
          const raw = settings.paths[i]!
          const parsed = Glob.parse(raw)
          if (Either.isLeft(parsed)) return yield* refuse(`paths.${i}`, parsed.left)
          const glob = parsed.right
          if (!allowed.some((dir) => Glob.within(dir, glob.prefix))) {
            const shown = glob.pattern === raw ? `"${raw}"` : `"${raw}" (${glob.pattern})`
            return yield* refuse(
              `paths.${i}`,
              `${shown} is outside the allowed paths (${allowedList}; SLUICE_ALLOWED_PATHS)`
            )
          }
          if (!glob.wild) {
            const real = yield* io(() => fs.realpath(glob.pattern)).pipe(Effect.option)
            if (Option.isSome(real) && !allowedReal.some((dir) => Glob.within(dir, real.value))) {
              return yield* refuse(
                `paths.${i}`,
                `"${raw}" resolves to "${real.value}", outside the allowed paths (${allowedList})`
              )
            }
          }
          globs.push(glob)
        }
        const excludes: Array<Exclude> = []
        for (let i = 0; i < settings.exclude.length; i++) {
          const raw = settings.exclude[i]!
          if (raw.startsWith("/")) {
            const parsed = Glob.parse(raw)
            if (Either.isLeft(parsed)) return yield* refuse(`exclude.${i}`, parsed.left)
            excludes.push({ _tag: "Path", glob: parsed.right })
          } else {
            const parsed = Glob.parseName(raw)
            if (Either.isLeft(parsed)) return yield* refuse(`exclude.${i}`, parsed.left)
            excludes.push({ _tag: "Name", regex: parsed.right })
          }
        }
        return { run: run(settings, context, options, globs, excludes, allowed) }
      })
  })
}

/** The `file` input (type `file`, linux and kubernetes). */
export const FileInput: Input.Input = make()

const run = (
  settings: FileInputSettings,
  context: Input.InputContext,
  options: FileInputOptions,
  globs: ReadonlyArray<Glob.Glob>,
  excludes: ReadonlyArray<Exclude>,
  allowed: ReadonlyArray<string>
): Effect.Effect<void, Input.InputError, Scope.Scope> =>
  Effect.gen(function*() {
    const maxLine = settings.max_line_bytes
    const buffer = Buffer.allocUnsafe(Math.max(options.chunkBytes, maxLine + 1))
    const tracked = new Map<string, Tracked>()
    // Paths refused once (escaping link, unreadable), so each is logged once.
    const refused = new Set<string>()
    let dirty = false
    yield* Effect.addFinalizer(() =>
      Effect.promise(() => Promise.allSettled([...tracked.values()].map((t) => t.handle.close())))
    )

    yield* io(() => fs.mkdir(context.stateDir, { recursive: true })).pipe(Effect.ignore)
    const loaded = yield* Checkpoint.load(context.stateDir).pipe(
      Effect.mapError((e) =>
        new Input.InputError({ input: context.name, message: `checkpoint ${e.path} ${e.message}` })
      )
    )
    const allowedReal = yield* resolveAllowed(allowed)

    const persist = (pending: Checkpoint.Pending | null) => {
      dirty = false
      const checkpoint: Checkpoint.Checkpoint = {
        version: 1,
        files: [...tracked.values()].map((t) => ({
          dev: t.dev,
          ino: t.ino,
          path: t.path,
          offset: t.offset,
          skipping: t.skipping
        })),
        pending
      }
      return Checkpoint.save(context.stateDir, checkpoint).pipe(
        Effect.tapError((e) => Effect.logWarning(`checkpoint ${e.path} ${e.message}; retrying`)),
        Effect.retry(retrySchedule),
        Effect.mapError((e) =>
          new Input.InputError({ input: context.name, message: `checkpoint ${e.path} ${e.message}` })
        )
      )
    }

    const refuseOnce = (path: string, key: string, why: string) =>
      refused.has(`${path}\0${key}`)
        ? Effect.void
        : Effect.sync(() => refused.add(`${path}\0${key}`)).pipe(Effect.zipRight(Effect.logWarning(why)))

    /** Emits one framed range: pending first, then emit, then the offset. */
    const deliver = (t: Tracked, start: number, end: number, lines: Lines, lineBytes: number, path: string) =>
      Effect.gen(function*() {
        yield* persist({ dev: t.dev, ino: t.ino, path, start, end, maxLineBytes: lineBytes })
        const now = yield* Clock.currentTimeMillis
        const metadata = { file: path }
        const cut = { file: path, truncated: true }
        const records = new Array<Input.InputRecord>(lines.messages.length)
        for (let i = 0; i < records.length; i++) records[i] = { message: lines.messages[i]!, timestamp: now, metadata }
        for (const i of lines.truncated) records[i] = { message: lines.messages[i]!, timestamp: now, metadata: cut }
        yield* context.emit(records, { idempotencyKey: idempotencyKey(context.id, t.dev, t.ino, start, end) }).pipe(
          Effect.tapError((e) => Effect.logWarning(`emit failed (${e.message}); retrying the same range`)),
          Effect.retry(retrySchedule)
        )
        t.offset = end
        t.skipping = lines.endsCut
        yield* persist(null)
      })

    /** Reads `length` bytes at `position`; the bytes read, or none on an error. */
    const readAt = (t: Tracked, into: Buffer, length: number, position: number) =>
      io(() => t.handle.read(into, 0, length, position)).pipe(
        Effect.map((r) => r.bytesRead),
        Effect.tapError((e) => Effect.logWarning(`cannot read ${t.path}: ${describeError(e)}`)),
        Effect.option
      )

    /** Opens a file found at `path` (checked against the allowed dirs by its real path). */
    const open = (
      path: string,
      key: string,
      startAt: "beginning" | "end",
      saved: ReadonlyMap<string, Checkpoint.Position>
    ) =>
      Effect.gen(function*() {
        const real = yield* io(() => fs.realpath(path)).pipe(Effect.option)
        if (Option.isNone(real)) return undefined
        if (!allowedReal.some((dir) => Glob.within(dir, real.value))) {
          yield* refuseOnce(path, key, `refused ${path}: it resolves to ${real.value}, outside the allowed paths`)
          return undefined
        }
        const opened = yield* io(() => fs.open(path, "r")).pipe(Effect.either)
        if (Either.isLeft(opened)) {
          yield* refuseOnce(path, key, `cannot open ${path}: ${describeError(opened.left)}`)
          return undefined
        }
        const handle = opened.right
        const stat = yield* io(() => handle.stat({ bigint: true })).pipe(Effect.option)
        // The path may have changed between the stat and the open: the next poll sees it.
        if (Option.isNone(stat) || keyOf(stat.value).key !== key) {
          yield* Effect.promise(() => handle.close().catch(() => undefined))
          return undefined
        }
        const { dev, ino } = keyOf(stat.value)
        const size = Number(stat.value.size)
        const position = saved.get(key)
        let offset = position?.offset ?? (startAt === "end" ? size : 0)
        let skipping = position?.skipping ?? false
        if (position === undefined && startAt === "end" && size > 0) {
          // Starting at the end of a line being written: skip the rest of it.
          const last = Buffer.alloc(1)
          const read = yield* io(() => handle.read(last, 0, 1, size - 1)).pipe(Effect.option)
          skipping = Option.isSome(read) && read.value.bytesRead === 1 && last[0] !== 10
        }
        if (offset > size) {
          offset = 0
          skipping = false
        }
        const t: Tracked = {
          key,
          dev,
          ino,
          path,
          handle,
          offset,
          skipping,
          detachedSince: undefined,
          atEof: false,
          after: undefined
        }
        return t
      })

    const excluded = (path: string) =>
      excludes.some((e) => e._tag === "Path" ? Glob.matches(e.glob, path) : e.regex.test(Path.posix.basename(path)))

    /** Expands the globs and attaches what they find; files no longer at their path are detached. */
    const discover = (now: number, startAt: "beginning" | "end", saved: ReadonlyMap<string, Checkpoint.Position>) =>
      Effect.gen(function*() {
        const owners = new Map<string, string>()
        for (const t of tracked.values()) if (t.detachedSince === undefined) owners.set(t.path, t.key)
        const attached = new Set<string>()
        for (const glob of globs) {
          for (const path of yield* Glob.expand(glob, options.maxDepth)) {
            if (excluded(path)) continue
            const stat = yield* io(() => fs.stat(path, { bigint: true })).pipe(Effect.option)
            if (Option.isNone(stat) || !stat.value.isFile()) continue
            const { key } = keyOf(stat.value)
            if (attached.has(key)) continue
            const known = tracked.get(key)
            if (known !== undefined) {
              if (known.path !== path) {
                known.path = path
                dirty = true
              }
              known.detachedSince = undefined
              attached.add(key)
              continue
            }
            const t = yield* open(path, key, startAt, saved)
            if (t === undefined) continue
            const previous = owners.get(path)
            if (previous !== undefined) t.after = previous
            tracked.set(key, t)
            attached.add(key)
            dirty = true
          }
        }
        for (const t of tracked.values()) {
          if (!attached.has(t.key) && t.detachedSince === undefined) t.detachedSince = now
        }
      })

    /**
     * Files of the checkpoint that are no longer at their path (rotated while
     * the agent was stopped): looked for beside it by identity, read to the end.
     */
    const findMoved = (now: number, saved: ReadonlyMap<string, Checkpoint.Position>) =>
      Effect.gen(function*() {
        for (const position of saved.values()) {
          const key = `${position.dev}:${position.ino}`
          if (tracked.has(key)) continue
          const dir = Path.posix.dirname(position.path)
          const names = yield* io(() => fs.readdir(dir)).pipe(Effect.orElseSucceed((): Array<string> => []))
          for (const name of names) {
            const path = Path.posix.join(dir, name)
            const stat = yield* io(() => fs.stat(path, { bigint: true })).pipe(Effect.option)
            if (Option.isNone(stat) || !stat.value.isFile() || keyOf(stat.value).key !== key) continue
            // Still at its path, only no longer selected (the settings changed): left alone.
            if (path === position.path) break
            const t = yield* open(path, key, "beginning", saved)
            if (t === undefined) break
            t.detachedSince = now
            // The file now at its old path comes after it.
            for (const other of tracked.values()) {
              if (other.path === position.path && other.detachedSince === undefined) other.after = key
            }
            tracked.set(key, t)
            dirty = true
            break
          }
        }
      })

    /** Re-emits the range that was pending when the last run stopped, with the same bounds. */
    const replay = (pending: Checkpoint.Pending) =>
      Effect.gen(function*() {
        const t = tracked.get(`${pending.dev}:${pending.ino}`)
        const range = `${pending.path} bytes ${pending.start}-${pending.end}`
        if (t === undefined) {
          return yield* Effect.logWarning(`the file of the pending range ${range} is gone; it cannot be re-emitted`)
        }
        const length = pending.end - pending.start
        const into = length <= buffer.length ? buffer : Buffer.allocUnsafe(length)
        const n = yield* readAt(t, into, length, pending.start)
        if (Option.isNone(n) || n.value !== length) {
          return yield* Effect.logWarning(`the pending range ${range} was truncated away; it cannot be re-emitted`)
        }
        t.offset = pending.start
        t.skipping = false
        const lines = frame(into.subarray(0, length), pending.maxLineBytes, Number.MAX_SAFE_INTEGER, true)
        yield* deliver(t, pending.start, pending.end, lines, pending.maxLineBytes, pending.path)
      })

    /** Reads one chunk of a file and emits its lines; whether it moved. */
    const readChunk = (t: Tracked) =>
      Effect.gen(function*() {
        const stat = yield* io(() => t.handle.stat()).pipe(Effect.option)
        if (Option.isNone(stat)) {
          t.atEof = true
          return false
        }
        const size = stat.value.size
        if (size < t.offset) {
          yield* Effect.logInfo(`${t.path} was truncated (${size} < ${t.offset} bytes): reading it again from 0`)
          t.offset = 0
          t.skipping = false
          dirty = true
        }
        const n = size === t.offset
          ? Option.some(0)
          : yield* readAt(t, buffer, Math.min(buffer.length, size - t.offset), t.offset)
        if (Option.isNone(n) || n.value === 0) {
          t.atEof = true
          return false
        }
        const chunk = buffer.subarray(0, n.value)
        if (t.skipping) {
          const nl = chunk.indexOf(10)
          t.offset += nl === -1 ? chunk.length : nl + 1
          t.skipping = nl === -1
          t.atEof = false
          dirty = true
          return true
        }
        const lines = frame(chunk, maxLine, settings.max_batch_lines, false)
        if (lines.messages.length === 0) {
          t.atEof = true
          return false
        }
        t.atEof = false
        yield* deliver(t, t.offset, t.offset + lines.consumed, lines, maxLine, t.path)
        return true
      })

    /** Files take turns chunk by chunk; a rotated file's successor waits for it. Whether work is left. */
    const readRounds = Effect.gen(function*() {
      for (let round = 0; round < 16; round++) {
        let progress = false
        for (const t of [...tracked.values()]) {
          if (t.after !== undefined) {
            const before = tracked.get(t.after)
            if (before !== undefined && !before.atEof) continue
            t.after = undefined
          }
          if (yield* readChunk(t)) progress = true
        }
        if (!progress) return false
      }
      return true
    })

    /** Closes files that left their path more than the grace period ago and are read to the end. */
    const forget = (now: number) =>
      Effect.gen(function*() {
        for (const t of [...tracked.values()]) {
          if (t.detachedSince === undefined || now - t.detachedSince < options.forgetAfterMs || !t.atEof) continue
          if (!t.skipping) {
            // Its last line will never get a newline now.
            const stat = yield* io(() => t.handle.stat()).pipe(Effect.option)
            const rest = Option.isSome(stat) ? Math.min(buffer.length, stat.value.size - t.offset) : 0
            const n = rest > 0 ? yield* readAt(t, buffer, rest, t.offset) : Option.none()
            if (Option.isSome(n) && n.value > 0) {
              const lines = frame(buffer.subarray(0, n.value), maxLine, settings.max_batch_lines, true)
              yield* deliver(t, t.offset, t.offset + lines.consumed, lines, maxLine, t.path)
            }
          }
          yield* Effect.promise(() => t.handle.close().catch(() => undefined))
          tracked.delete(t.key)
          dirty = true
        }
      })

    const poll = Effect.gen(function*() {
      yield* discover(yield* Clock.currentTimeMillis, "beginning", new Map())
      const busy = yield* readRounds
      yield* forget(yield* Clock.currentTimeMillis)
      if (dirty) yield* persist(null)
      return busy
    })

    // Start: where the last run stopped, then its pending range, then the poll loop.
    const saved = new Map((loaded?.files ?? []).map((p) => [`${p.dev}:${p.ino}`, p] as const))
    const now = yield* Clock.currentTimeMillis
    yield* discover(now, loaded === undefined ? settings.start_at : "beginning", saved)
    yield* findMoved(now, saved)
    if (loaded?.pending) yield* replay(loaded.pending)
    yield* persist(null)
    const interval = Duration.millis(settings.poll_interval_ms)
    while (true) {
      const busy = yield* poll
      if (!busy) yield* Effect.sleep(interval)
    }
  }).pipe(Effect.annotateLogs({ input: context.name, inputType: "file" }))
