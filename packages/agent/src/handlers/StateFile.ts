/**
 * Small JSON files in the agent's state dir that must survive a crash whole:
 * the action journal (`actions.json`) and the upgrade marker
 * (`upgrade.json`). A write goes to a temporary file beside the target, is
 * flushed to disk, then renamed over it, so a reader sees the old or the new
 * content, never a torn one, and the directory is flushed after the rename.
 * Reads decode with a `Schema`.
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as NodePath from "node:path"

/** A state file could not be read, decoded or written. */
export class StateFileError extends Schema.TaggedError<StateFileError>()("StateFileError", {
  path: Schema.String,
  /** `read`: the file is there but unreadable; `decode`: its content is not what was written. */
  reason: Schema.Literal("read", "decode", "encode", "write", "remove"),
  message: Schema.String
}) {}

/** The file decoded by `schema`, or `None` when it does not exist. */
export const read = <A, I>(
  path: string,
  schema: Schema.Schema<A, I>
): Effect.Effect<Option.Option<A>, StateFileError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const text = yield* fs.readFileString(path).pipe(
      Effect.map(Option.some),
      Effect.catchIf((e) => e._tag === "SystemError" && e.reason === "NotFound", () => Effect.succeedNone),
      Effect.mapError((e) => new StateFileError({ path, reason: "read", message: `cannot read: ${e.message}` }))
    )
    if (Option.isNone(text)) return Option.none()
    return yield* Schema.decodeUnknown(Schema.parseJson(schema))(text.value).pipe(
      Effect.map(Option.some),
      Effect.mapError((e) => new StateFileError({ path, reason: "decode", message: `invalid content: ${e.message}` }))
    )
  })

let sequence = 0

/** Replaces the file with `value` encoded by `schema`: temp file, fsync, rename (mode 0600). */
export const write = <A, I>(
  path: string,
  schema: Schema.Schema<A, I>,
  value: A
): Effect.Effect<void, StateFileError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const text = yield* Schema.encode(Schema.parseJson(schema))(value).pipe(
      Effect.mapError((e) => new StateFileError({ path, reason: "encode", message: `cannot encode: ${e.message}` }))
    )
    const tmp = `${path}.${process.pid}.${sequence++}.tmp`
    yield* Effect.scoped(Effect.gen(function*() {
      const file = yield* fs.open(tmp, { flag: "w", mode: 0o600 })
      yield* file.writeAll(new TextEncoder().encode(text))
      yield* file.sync
    })).pipe(
      Effect.zipRight(fs.rename(tmp, path)),
      // The rename itself is durable once the directory is flushed (best effort).
      Effect.tap(() => Effect.ignore(Effect.scoped(Effect.flatMap(fs.open(NodePath.dirname(path)), (d) => d.sync)))),
      Effect.tapError(() => Effect.ignore(fs.remove(tmp))),
      Effect.mapError((e) => new StateFileError({ path, reason: "write", message: `cannot write: ${e.message}` }))
    )
  }).pipe(Effect.uninterruptible)

/** Removes the file; a missing file is fine. */
export const remove = (path: string): Effect.Effect<void, StateFileError, FileSystem.FileSystem> =>
  Effect.flatMap(FileSystem.FileSystem, (fs) =>
    fs.remove(path).pipe(
      Effect.catchIf((e) => e._tag === "SystemError" && e.reason === "NotFound", () => Effect.void),
      Effect.mapError((e) => new StateFileError({ path, reason: "remove", message: `cannot remove: ${e.message}` }))
    ))
