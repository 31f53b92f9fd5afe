/**
 * The file input's positions on disk: one JSON file in the input's state
 * directory, holding per file (device + inode, and its path) the byte offset
 * read up to, and at most one `pending` range: the range being emitted.
 *
 * A save is atomic and durable (write a temporary file, fsync it, rename it
 * over the checkpoint, fsync the directory) and cannot be interrupted half
 * way, so a crash leaves the previous checkpoint or the new one, never a mix.
 * A checkpoint that does not decode is an error naming the file, never
 * silently replaced (starting over would read everything twice).
 */
import { describeError, errorCode } from "@sluice/core/StartupError"
import * as Effect from "effect/Effect"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as fs from "node:fs/promises"
import * as Path from "node:path"

/** Where one file has been read up to. */
export const Position = Schema.Struct({
  /** `stat.dev`, as a decimal string (64-bit safe). */
  dev: Schema.String,
  /** `stat.ino`, as a decimal string (64-bit safe). */
  ino: Schema.String,
  /** The path the file was last seen at. */
  path: Schema.String,
  /** Bytes read and emitted (or skipped). */
  offset: Schema.NonNegativeInt,
  /** The line at `offset` was cut at `max_line_bytes`: skip up to its newline. */
  skipping: Schema.Boolean
})
export type Position = typeof Position.Type

/** A range handed to `emit` whose answer has not been recorded yet. */
export const Pending = Schema.Struct({
  dev: Schema.String,
  ino: Schema.String,
  path: Schema.String,
  start: Schema.NonNegativeInt,
  end: Schema.NonNegativeInt,
  /** The `max_line_bytes` the range was framed with, so it is framed again the same way. */
  maxLineBytes: Schema.Int.pipe(Schema.positive())
})
export type Pending = typeof Pending.Type

/** The whole checkpoint file. */
export const Checkpoint = Schema.Struct({
  version: Schema.Literal(1),
  files: Schema.Array(Position),
  pending: Schema.NullOr(Pending)
})
export type Checkpoint = typeof Checkpoint.Type

/** The checkpoint could not be read or written. */
export class CheckpointError extends Schema.TaggedError<CheckpointError>()("CheckpointError", {
  path: Schema.String,
  message: Schema.String
}) {}

/** The checkpoint's file name in the state directory. */
export const fileName = "file-positions.json"

const decode = Schema.decodeUnknown(Schema.parseJson(Checkpoint))

/** Reads the checkpoint; `undefined` when there is none yet. */
export const load = (stateDir: string): Effect.Effect<Checkpoint | undefined, CheckpointError> => {
  const path = Path.join(stateDir, fileName)
  return Effect.tryPromise({
    try: () =>
      fs.readFile(path, "utf8").catch((e: unknown) => errorCode(e) === "ENOENT" ? undefined : Promise.reject(e)),
    catch: (cause) => new CheckpointError({ path, message: `cannot read: ${describeError(cause)}` })
  }).pipe(
    Effect.flatMap((text) =>
      text === undefined ? Effect.succeed(undefined) : decode(text).pipe(
        Effect.mapError((error) =>
          new CheckpointError({
            path,
            message: `does not decode (${ParseResult.TreeFormatter.formatErrorSync(error)}); ` +
              "remove it to read the files again from their start"
          })
        )
      )
    )
  )
}

/** Writes the checkpoint atomically and durably; not interruptible. */
export const save = (stateDir: string, checkpoint: Checkpoint): Effect.Effect<void, CheckpointError> => {
  const path = Path.join(stateDir, fileName)
  const tmp = path + ".tmp"
  return Effect.tryPromise({
    try: async () => {
      const file = await fs.open(tmp, "w")
      try {
        await file.writeFile(JSON.stringify(checkpoint))
        await file.sync()
      } finally {
        await file.close()
      }
      await fs.rename(tmp, path)
      const dir = await fs.open(stateDir, "r")
      try {
        await dir.sync()
      } finally {
        await dir.close()
      }
    },
    catch: (cause) => new CheckpointError({ path, message: `cannot write: ${describeError(cause)}` })
  }).pipe(Effect.uninterruptible)
}
