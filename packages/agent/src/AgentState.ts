/**
 * The agent's state dir (SPEC §0 `SLUICE_AGENT_STATE_DIR`): everything an
 * enrolled agent keeps across restarts, in files a human can read.
 *
 * ```
 * <stateDir>/            0700
 *   agent.json           identity: agentId, apiUrl, groupId
 *   token                the agent token (AGT_…), 0600, never logged
 *   config.yaml          the last config that applied, as served
 *   config.json          its version and etag (sha256 of config.yaml)
 *   inputs/<id>/         one dir per input id: its positions and checkpoints
 * ```
 *
 * Guarantees: every file is replaced atomically (written beside, then
 * renamed), so a crash leaves the old or the new content, never half of one;
 * the token is created 0600 before a byte is written; a read that fails names
 * the file and what is wrong with it. A `config.yaml` whose hash does not
 * match `config.json` (a crash between the two renames) is read as version 0,
 * so the next poll fetches the config again.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs/promises"
import * as Path from "node:path"

/** A file of the state dir cannot be read or written; `message` names it. */
export class AgentStateError extends Schema.TaggedError<AgentStateError>()("AgentStateError", {
  path: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `agent state ${this.path}: ${this.reason}`
  }
}

/** Who this agent is (`agent.json`). */
export const Identity = Schema.Struct({
  agentId: Schema.String.pipe(Schema.minLength(1)),
  apiUrl: Schema.String.pipe(Schema.minLength(1)),
  groupId: Schema.String
}).annotations({ identifier: "Identity" })
export type Identity = typeof Identity.Type

/** An agent token: `AGT_` and its secret. */
export const AgentToken = Schema.String.pipe(
  Schema.pattern(/^AGT_[A-Za-z0-9_-]+$/, { message: () => "must be AGT_ followed by base64url characters" })
)

/** The version and etag of the saved config (`config.json`). */
const SavedMeta = Schema.Struct({
  version: Schema.Int.pipe(Schema.nonNegative()),
  etag: Schema.String
})

/** The config that last applied. */
export interface SavedConfig {
  readonly version: number
  /** `sha256:<hex of text>`, as the control plane sends it. */
  readonly etag: string
  readonly text: string
}

/** The state dir. */
export class AgentState extends Context.Tag("@sluice/agent/AgentState")<AgentState, {
  /** The directory's path. */
  readonly dir: string
  readonly readIdentity: Effect.Effect<Identity, AgentStateError>
  /** Whether an identity is saved (an enrolled agent). */
  readonly hasIdentity: Effect.Effect<boolean>
  readonly writeIdentity: (identity: Identity) => Effect.Effect<void, AgentStateError>
  readonly readToken: Effect.Effect<Redacted.Redacted<string>, AgentStateError>
  readonly writeToken: (token: Redacted.Redacted<string>) => Effect.Effect<void, AgentStateError>
  /** The config that last applied; `None` when none was saved yet. */
  readonly readConfig: Effect.Effect<Option.Option<SavedConfig>, AgentStateError>
  readonly writeConfig: (config: SavedConfig) => Effect.Effect<void, AgentStateError>
  /** Forgets the saved config (a new enrolment starts from its group's). */
  readonly clearConfig: Effect.Effect<void, AgentStateError>
  /** The dir of one input (`inputs/<id>/`), created 0700. */
  readonly inputDir: (id: string) => Effect.Effect<string, AgentStateError>
}>() {}

/** `sha256:<hex>` of a text, the control plane's etag. */
export const etagOf = (text: string): string => `sha256:${Crypto.createHash("sha256").update(text).digest("hex")}`

const reasonOf = (error: unknown): string => {
  if (error instanceof Error) {
    const code = "code" in error && typeof error.code === "string" ? error.code : undefined
    if (code === "ENOENT") return "does not exist"
    if (code === "EACCES" || code === "EPERM") return "permission denied"
    return error.message
  }
  return String(error)
}

const io = <A>(path: string, what: string, run: () => Promise<A>) =>
  Effect.tryPromise({
    try: run,
    catch: (error) => new AgentStateError({ path, reason: `cannot ${what}: ${reasonOf(error)}` })
  })

const isMissing = (error: unknown): boolean => error instanceof Error && "code" in error && error.code === "ENOENT"

/** Writes a file atomically with this mode (a temp file beside it, synced, then renamed). */
const writeAtomic = (path: string, data: string, mode: number) => {
  const temp = `${path}.${process.pid}.${Crypto.randomBytes(4).toString("hex")}.tmp`
  return Effect.acquireUseRelease(
    io(path, "write", () => Fs.open(temp, "wx", mode)),
    (handle) => io(path, "write", () => handle.writeFile(data).then(() => handle.sync())),
    (handle) => Effect.promise(() => handle.close().catch(() => undefined))
  ).pipe(
    Effect.zipRight(io(path, "write", () => Fs.rename(temp, path))),
    Effect.onError(() => Effect.promise(() => Fs.rm(temp, { force: true })))
  )
}

/** Reads a file, `None` when it does not exist. */
const readOptional = (path: string) =>
  io(path, "read", () =>
    Fs.readFile(path, "utf8").then(
      (text) => Option.some(text),
      (error: unknown) => isMissing(error) ? Option.none<string>() : Promise.reject(error)
    ))

const decodeJson = <A, I>(path: string, schema: Schema.Schema<A, I>, text: string) =>
  Schema.decodeUnknown(Schema.parseJson(schema))(text).pipe(
    Effect.mapError((error) =>
      new AgentStateError({
        path,
        reason: `is not valid: ${
          ParseResult.ArrayFormatter.formatErrorSync(error).map((issue) =>
            `${issue.path.length === 0 ? "" : `${issue.path.join(".")}: `}${issue.message}`
          ).join("; ")
        }`
      })
    )
  )

const safeInputId = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/

/** Opens (and creates, 0700) the state dir. */
export const make = (dir: string): Effect.Effect<AgentState["Type"], AgentStateError> =>
  Effect.gen(function*() {
    const root = Path.resolve(dir)
    yield* io(root, "create the state dir", () => Fs.mkdir(root, { recursive: true, mode: 0o700 }))
    const identityPath = Path.join(root, "agent.json")
    const tokenPath = Path.join(root, "token")
    const configPath = Path.join(root, "config.yaml")
    const metaPath = Path.join(root, "config.json")
    const inputsPath = Path.join(root, "inputs")

    const readIdentity = Effect.flatMap(readOptional(identityPath), (text) =>
      Option.match(text, {
        onNone: () =>
          Effect.fail(
            new AgentStateError({
              path: identityPath,
              reason: "does not exist: this agent is not enrolled (run `sluice agent enrol` first)"
            })
          ),
        onSome: (t) => decodeJson(identityPath, Identity, t)
      }))

    const readToken = Effect.flatMap(readOptional(tokenPath), (text) =>
      Option.match(text, {
        onNone: () =>
          Effect.fail(
            new AgentStateError({
              path: tokenPath,
              reason: "does not exist: this agent is not enrolled (run `sluice agent enrol` first)"
            })
          ),
        onSome: (t) =>
          Schema.decodeUnknown(AgentToken)(t.trim()).pipe(
            // The token itself never goes into the message.
            Effect.mapError(() => new AgentStateError({ path: tokenPath, reason: "does not hold an AGT_ token" })),
            Effect.map(Redacted.make)
          )
      }))

    const readConfig = Effect.gen(function*() {
      const text = yield* readOptional(configPath)
      if (Option.isNone(text)) return Option.none<SavedConfig>()
      const metaText = yield* readOptional(metaPath)
      if (Option.isNone(metaText)) return Option.some({ version: 0, etag: etagOf(text.value), text: text.value })
      const meta = yield* decodeJson(metaPath, SavedMeta, metaText.value)
      const etag = etagOf(text.value)
      // A crash between the two renames: the text is right, its version is unknown.
      if (meta.etag !== etag) return Option.some({ version: 0, etag, text: text.value })
      return Option.some({ version: meta.version, etag, text: text.value })
    })

    return AgentState.of({
      dir: root,
      readIdentity,
      hasIdentity: readOptional(identityPath).pipe(Effect.map(Option.isSome), Effect.orElseSucceed(() => false)),
      writeIdentity: (identity) =>
        writeAtomic(identityPath, `${JSON.stringify(Schema.encodeSync(Identity)(identity), null, 2)}\n`, 0o600),
      readToken,
      writeToken: (token) => writeAtomic(tokenPath, `${Redacted.value(token)}\n`, 0o600),
      readConfig,
      writeConfig: (config) =>
        Effect.zipRight(
          writeAtomic(configPath, config.text, 0o600),
          writeAtomic(
            metaPath,
            `${JSON.stringify({ version: config.version, etag: etagOf(config.text) })}\n`,
            0o600
          )
        ),
      clearConfig: Effect.forEach(
        [metaPath, configPath],
        (path) => io(path, "remove", () => Fs.rm(path, { force: true })),
        { discard: true }
      ),
      inputDir: (id) => {
        const path = Path.join(inputsPath, id)
        return safeInputId.test(id)
          ? Effect.as(io(path, "create the input's dir", () => Fs.mkdir(path, { recursive: true, mode: 0o700 })), path)
          : Effect.fail(
            new AgentStateError({ path: inputsPath, reason: `input id '${id}' cannot name a directory` })
          )
      }
    })
  })

/** The state dir as a layer. */
export const layer = (dir: string): Layer.Layer<AgentState, AgentStateError> => Layer.effect(AgentState, make(dir))
