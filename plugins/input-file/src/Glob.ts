/**
 * The path globs of the file input, written here because Node 20 has no
 * `fs.glob`: `*` and `?` match within one path segment (any character but
 * `/`, a leading dot included), `**` as a whole segment matches any number of
 * directories (none included). A pattern is absolute and normalised (`..`
 * resolved) before anything checks it against the allowed directories.
 *
 * Expanding a glob walks only below its literal prefix, never follows a
 * symbolic link to a directory under `**` (so a link cannot loop or leave the
 * tree), stops at a depth bound, and never fails: a directory it cannot read
 * contributes nothing. What a symbolic link to a file points at is the
 * reader's to check (`within` on its real path).
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type { Dirent } from "node:fs"
import * as fs from "node:fs/promises"
import * as Path from "node:path"

/** One segment of a pattern. */
type Segment =
  | { readonly _tag: "Literal"; readonly name: string }
  | { readonly _tag: "Wild"; readonly regex: RegExp }
  | { readonly _tag: "Globstar" }

/** A parsed absolute glob. */
export interface Glob {
  /** The normalised pattern. */
  readonly pattern: string
  readonly segments: ReadonlyArray<Segment>
  /** The path before the first wildcard segment (the whole path when there is none). */
  readonly prefix: string
  /** Whether any segment has a wildcard. */
  readonly wild: boolean
}

const wildChars = /[*?]/
const unsupported = /[[\]{}]/

const toRegex = (segment: string): RegExp => {
  let source = "^"
  for (const c of segment) {
    if (c === "*") source += "[^/]*"
    else if (c === "?") source += "[^/]"
    else source += c.replace(/[.+^${}()|[\]\\]/g, "\\$&")
  }
  return new RegExp(source + "$", "s")
}

/**
 * Parses an absolute glob, or answers why it is refused (relative, empty,
 * ending in `/`, `**` inside a segment, brackets or braces, a NUL byte).
 */
export const parse = (input: string): Either.Either<Glob, string> => {
  if (input.length === 0) return Either.left("is empty")
  if (input.includes("\0")) return Either.left("contains a NUL byte")
  if (!input.startsWith("/")) return Either.left(`"${input}" is not an absolute path`)
  if (input.length > 1 && input.endsWith("/")) {
    return Either.left(`"${input}" ends with "/": name files (e.g. "${input}*.log" or "${input}**/*.log")`)
  }
  if (unsupported.test(input)) {
    return Either.left(`"${input}" uses [ ] { }, which are not supported (only *, ? and **)`)
  }
  const pattern = Path.posix.normalize(input)
  const names = pattern.split("/").filter((s) => s.length > 0)
  if (names.length === 0) return Either.left(`"${input}" names no file`)
  const segments: Array<Segment> = []
  const literal: Array<string> = []
  let wild = false
  for (const name of names) {
    if (name.includes("**") && name !== "**") {
      return Either.left(`"${input}": "**" must be a whole path segment (as in /var/log/**/*.log)`)
    }
    if (name === "**") {
      segments.push({ _tag: "Globstar" })
      wild = true
    } else if (wildChars.test(name)) {
      segments.push({ _tag: "Wild", regex: toRegex(name) })
      wild = true
    } else {
      segments.push({ _tag: "Literal", name })
      if (!wild) literal.push(name)
    }
  }
  if (segments[segments.length - 1]!._tag === "Globstar" && names.length === 1) {
    return Either.left(`"${input}" would read the whole file system`)
  }
  return Either.right({ pattern, segments, prefix: "/" + literal.join("/"), wild })
}

/** Parses a file-name pattern (no `/`), matched against the last segment only. */
export const parseName = (input: string): Either.Either<RegExp, string> => {
  if (input.length === 0) return Either.left("is empty")
  if (input.includes("/")) return Either.left(`"${input}" is neither absolute nor a file name`)
  if (input.includes("**")) return Either.left(`"${input}": "**" is for paths, not file names`)
  if (unsupported.test(input)) {
    return Either.left(`"${input}" uses [ ] { }, which are not supported (only *, ? and **)`)
  }
  return Either.right(toRegex(input))
}

/** Whether `path` is `dir` or below it (both normalised and absolute). */
export const within = (dir: string, path: string): boolean =>
  path === dir || path.startsWith(dir === "/" ? "/" : dir + "/")

const matchFrom = (segments: ReadonlyArray<Segment>, i: number, names: ReadonlyArray<string>, j: number): boolean => {
  while (i < segments.length) {
    const segment = segments[i]!
    if (segment._tag === "Globstar") {
      for (let k = j; k <= names.length; k++) {
        if (matchFrom(segments, i + 1, names, k)) return true
      }
      return false
    }
    if (j >= names.length) return false
    const name = names[j]!
    if (segment._tag === "Literal" ? segment.name !== name : !segment.regex.test(name)) return false
    i++
    j++
  }
  return j === names.length
}

/** Whether an absolute, normalised path matches the glob. */
export const matches = (glob: Glob, path: string): boolean =>
  matchFrom(glob.segments, 0, path.split("/").filter((s) => s.length > 0), 0)

const readDir = (dir: string): Effect.Effect<ReadonlyArray<Dirent>> =>
  Effect.tryPromise(() => fs.readdir(dir, { withFileTypes: true })).pipe(
    Effect.orElseSucceed((): ReadonlyArray<Dirent> => [])
  )

/**
 * The paths that match the glob now, in walk order: a candidate is any entry
 * whose path matches (files and links to them; the caller stats it). `**`
 * descends real directories only, at most `maxDepth` levels.
 */
export const expand = (glob: Glob, maxDepth: number): Effect.Effect<Array<string>> =>
  Effect.gen(function*() {
    const found: Array<string> = []
    const seen = new Set<string>()
    const add = (path: string) => {
      if (!seen.has(path)) {
        seen.add(path)
        found.push(path)
      }
    }
    const visit = (dir: string, i: number, depth: number): Effect.Effect<void> =>
      Effect.gen(function*() {
        const segment = glob.segments[i]!
        const last = i === glob.segments.length - 1
        if (segment._tag === "Literal") {
          const path = Path.posix.join(dir, segment.name)
          if (last) add(path)
          else yield* visit(path, i + 1, depth)
          return
        }
        const entries = yield* readDir(dir)
        if (segment._tag === "Globstar") {
          // `**` matching nothing: the rest of the pattern applies here.
          if (last) {
            for (const entry of entries) if (!entry.isDirectory()) add(Path.posix.join(dir, entry.name))
          } else {
            yield* visit(dir, i + 1, depth)
          }
          if (depth >= maxDepth) return
          for (const entry of entries) {
            if (entry.isDirectory()) yield* visit(Path.posix.join(dir, entry.name), i, depth + 1)
          }
          return
        }
        for (const entry of entries) {
          if (!segment.regex.test(entry.name)) continue
          const path = Path.posix.join(dir, entry.name)
          if (last) add(path)
          else if (entry.isDirectory() || entry.isSymbolicLink()) yield* visit(path, i + 1, depth)
        }
      })
    if (!glob.wild) return [glob.pattern]
    const start = glob.segments.findIndex((s) => s._tag !== "Literal")
    yield* visit(glob.prefix, start, 0)
    return found
  })
