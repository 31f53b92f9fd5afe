/**
 * The data directory and the secrets generated in it on first start
 * (SPEC §0): the TCP shared secret and the drain tokens, each in its own
 * file of mode 0600. Values given by the operator win and are not written.
 */
import { describeError, errorCode, StartupError } from "@sluice/core/StartupError"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { randomBytes } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"

/** Where things live inside the data directory. */
export interface DataLayout {
  readonly dir: string
  readonly mainDb: string
  readonly searchDb: string
  readonly secretsDir: string
  readonly sharedSecretFile: string
  readonly drainTokensFile: string
}

/** The layout of a data directory. */
export const layout = (dataDir: string): DataLayout => {
  const dir = path.resolve(dataDir)
  const secretsDir = path.join(dir, "secrets")
  return {
    dir,
    mainDb: path.join(dir, "sluice.db"),
    searchDb: path.join(dir, "search.db"),
    secretsDir,
    sharedSecretFile: path.join(secretsDir, "shared_secret"),
    drainTokensFile: path.join(secretsDir, "drain_tokens")
  }
}

const describe = (error: unknown) => {
  const code = errorCode(error)
  return code === undefined ? describeError(error) : `${code} (${describeError(error)})`
}

/** Creates the data directory (0700) and checks it is writable. */
export const ensure = (dataDir: string) =>
  Effect.try({
    try: () => {
      const l = layout(dataDir)
      fs.mkdirSync(l.dir, { recursive: true, mode: 0o700 })
      fs.mkdirSync(l.secretsDir, { recursive: true, mode: 0o700 })
      fs.accessSync(l.dir, fs.constants.R_OK | fs.constants.W_OK)
      return l
    },
    catch: (error) =>
      new StartupError({
        setting: "SLUICE_DATA_DIR",
        detail: `cannot use ${path.resolve(dataDir)} as the data directory: ${describe(error)}`
      })
  })

const readOrCreate = (file: string, create: () => string) =>
  Effect.try({
    try: () => {
      if (fs.existsSync(file)) return { value: fs.readFileSync(file, "utf8").trim(), generated: false }
      const value = create()
      fs.writeFileSync(file, `${value}\n`, { mode: 0o600, flag: "wx" })
      return { value, generated: true }
    },
    catch: (error) =>
      new StartupError({
        setting: "SLUICE_DATA_DIR",
        detail: `cannot write the secret file ${file}: ${describe(error)}`
      })
  })

/** The secrets in force, and the files that hold the generated ones. */
export interface Secrets {
  readonly sharedSecret: Redacted.Redacted<string>
  readonly drainTokens: ReadonlyArray<Redacted.Redacted<string>>
  /** Files of secrets that came from the data dir (to print where they are). */
  readonly files: ReadonlyArray<string>
}

/** Loads or generates the shared secret and drain tokens. */
export const secrets = (
  l: DataLayout,
  given: { readonly sharedSecret: string | undefined; readonly drainTokens: ReadonlyArray<string> | undefined }
) =>
  Effect.gen(function*() {
    const files: Array<string> = []
    let sharedSecret = given.sharedSecret
    if (sharedSecret === undefined) {
      sharedSecret = (yield* readOrCreate(l.sharedSecretFile, () => randomBytes(32).toString("base64url"))).value
      files.push(l.sharedSecretFile)
    }
    let drainTokens = given.drainTokens
    if (drainTokens === undefined || drainTokens.length === 0) {
      const text = (yield* readOrCreate(l.drainTokensFile, () => `sdt_${randomBytes(32).toString("base64url")}`)).value
      drainTokens = text.split(/[\s,]+/).filter((t) => t.length > 0)
      files.push(l.drainTokensFile)
    }
    return {
      sharedSecret: Redacted.make(sharedSecret),
      drainTokens: drainTokens.map((t) => Redacted.make(t)),
      files
    } satisfies Secrets
  })
