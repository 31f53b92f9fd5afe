/**
 * The options every running command shares (`--config` and one flag per
 * setting), and reading the settings from them.
 */
import * as Options from "@effect/cli/Options"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import { flagDefinitions, type Flags, readConfigFile, resolve } from "./Settings.js"

/** `--config FILE` (default: ./sluice.yaml if present). */
export const configOption = Options.file("config").pipe(
  Options.withAlias("c"),
  Options.withDescription("config file (default: ./sluice.yaml if present)"),
  Options.optional
)

/** One flag per setting that has one. */
export const settingFlags = Options.all(
  Object.fromEntries(
    flagDefinitions.map((d) => [
      d.flag,
      Options.text(d.flag).pipe(Options.withDescription(`overrides ${d.env}`), Options.optional)
    ])
  )
)

/** Reads the settings from the file, the environment and the flags. */
export const loadSettings = (
  config: Option.Option<string>,
  flags: Readonly<Record<string, Option.Option<string>>>,
  role: "gateway" | "agent" = "gateway"
) =>
  Effect.suspend(() => {
    const file = Option.getOrElse(config, () => "sluice.yaml")
    const tree = readConfigFile(file, Option.isSome(config))
    if (Either.isLeft(tree)) return Effect.fail(tree.left)
    const given: Record<string, string | undefined> = {}
    for (const [k, v] of Object.entries(flags)) given[k] = Option.getOrUndefined(v)
    const settings = resolve({
      file: tree.right === undefined ? undefined : { path: file, tree: tree.right },
      env: process.env,
      flags: given satisfies Flags,
      role
    })
    return Either.isLeft(settings) ? Effect.fail(settings.left) : Effect.succeed(settings.right)
  })
