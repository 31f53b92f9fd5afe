/**
 * Every operator setting of SPEC §0, from the config file < environment <
 * flags. Each value is decoded by a `Schema`; a bad one becomes one line
 * naming where it came from (`SLUICE_HTTP_PORT`, `--http-port`,
 * `sluice.yaml: http.port`) and the rule it broke. Secret values are never
 * echoed.
 */
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as fs from "node:fs"
import * as path from "node:path"
import * as YAML from "yaml"

/** A setting's definition: where it is read from and its rule. */
interface Definition<A, D extends string | undefined = string | undefined> {
  /** Dotted path in the config file. */
  readonly key: string
  readonly env: string
  /** Flag name without dashes, if it has one. */
  readonly flag?: string
  readonly schema: Schema.Schema<A, string>
  readonly default: D
  /** The default for `sluice agent run`, where it differs (an agent only buffers between its sockets and its spool). */
  readonly agentDefault?: string
  readonly secret?: boolean
}

const integerText = (message: string) => Schema.NumberFromString.annotations({ message: () => message })

const port = integerText("must be a port number between 0 and 65535").pipe(Schema.int(), Schema.between(0, 65535))
  .annotations({
    message: () => "must be a port number between 0 and 65535"
  })
const positiveInt = integerText("must be a positive integer").pipe(Schema.int(), Schema.positive()).annotations({
  message: () => "must be a positive integer"
})
const nonNegativeInt = integerText("must be an integer of 0 or more").pipe(Schema.int(), Schema.nonNegative())
  .annotations({
    message: () => "must be an integer of 0 or more"
  })
const nonEmpty = Schema.String.pipe(Schema.minLength(1)).annotations({ message: () => "must not be empty" })
const host = nonEmpty
const list = Schema.transform(Schema.String, Schema.Array(Schema.String), {
  strict: true,
  decode: (s) => s.split(/[,:]/).map((t) => t.trim()).filter((t) => t.length > 0),
  encode: (a) => a.join(",")
})
const fileMode = Schema.String.pipe(Schema.pattern(/^0?[0-7]{3}$/)).annotations({
  message: () => "must be an octal file mode such as 0660"
})
const secret = Schema.String.pipe(Schema.minLength(32)).annotations({
  message: () => "must be at least 32 characters"
})
const oneOf = <const L extends ReadonlyArray<string>>(...values: L) =>
  Schema.String.pipe(
    Schema.filter((s) => values.includes(s), { message: () => `must be one of ${values.join(", ")}` }),
    Schema.compose(Schema.Literal(...values), { strict: false })
  )

const def = <A, const D extends string | undefined>(d: Definition<A, D>) => d

/** The settings table (SPEC §0, plus retention, commit window and socket limits). */
export const definitions = {
  dataDir: def({ key: "data_dir", env: "SLUICE_DATA_DIR", flag: "data-dir", schema: nonEmpty, default: "./.sluice" }),
  httpHost: def({ key: "http.host", env: "SLUICE_HTTP_HOST", flag: "http-host", schema: host, default: "127.0.0.1" }),
  httpPort: def({ key: "http.port", env: "SLUICE_HTTP_PORT", flag: "http-port", schema: port, default: "8080" }),
  socketPath: def({
    key: "socket.path",
    env: "SLUICE_SOCKET",
    flag: "socket",
    schema: nonEmpty,
    default: "/tmp/sluice-agent.sock"
  }),
  socketMode: def({ key: "socket.mode", env: "SLUICE_SOCKET_MODE", schema: fileMode, default: "0660" }),
  tcpHost: def({ key: "tcp.host", env: "SLUICE_TCP_HOST", flag: "tcp-host", schema: host, default: "127.0.0.1" }),
  tcpPort: def({ key: "tcp.port", env: "SLUICE_TCP_PORT", flag: "tcp-port", schema: port, default: "9999" }),
  sharedSecret: def({
    key: "tcp.shared_secret",
    env: "SLUICE_SHARED_SECRET",
    schema: secret,
    default: undefined,
    secret: true
  }),
  drainTokens: def({
    key: "drain.tokens",
    env: "SLUICE_DRAIN_TOKENS",
    schema: list,
    default: undefined,
    secret: true
  }),
  adminEmail: def({ key: "admin.email", env: "SLUICE_ADMIN_EMAIL", schema: nonEmpty, default: undefined }),
  adminPassword: def({
    key: "admin.password",
    env: "SLUICE_ADMIN_PASSWORD",
    schema: Schema.String.pipe(Schema.minLength(12)).annotations({
      message: () => "must be at least 12 characters"
    }),
    default: undefined,
    secret: true
  }),
  jwtExpirySeconds: def({ key: "auth.jwt_expiry_s", env: "SLUICE_JWT_EXPIRY_S", schema: positiveInt, default: "3600" }),
  openRegistration: def({
    key: "auth.open_registration",
    env: "SLUICE_OPEN_REGISTRATION",
    schema: oneOf("true", "false"),
    default: "false"
  }),
  store: def({
    key: "store",
    env: "SLUICE_STORE",
    schema: Schema.String.pipe(Schema.filter((s) => s === "sqlite" || s.startsWith("postgres://"), {
      message: () => "must be sqlite or a postgres:// URL"
    })),
    default: "sqlite",
    secret: true
  }),
  queue: def({
    key: "queue.backend",
    env: "SLUICE_QUEUE",
    schema: Schema.String.pipe(Schema.filter((s) => s === "memory" || s.startsWith("nats://"), {
      message: () => "must be memory or a nats:// URL"
    })),
    default: "memory"
  }),
  agentStateDir: def({ key: "agent.state_dir", env: "SLUICE_AGENT_STATE_DIR", schema: nonEmpty, default: undefined }),
  allowedPaths: def({ key: "agent.allowed_paths", env: "SLUICE_ALLOWED_PATHS", schema: list, default: "/var/log" }),
  queueMaxEvents: def({
    key: "queue.max_events",
    env: "SLUICE_QUEUE_MAX_EVENTS",
    schema: positiveInt,
    default: "100000",
    agentDefault: "10000"
  }),
  queueMaxBytes: def({
    key: "queue.max_bytes",
    env: "SLUICE_QUEUE_MAX_BYTES",
    schema: positiveInt,
    default: "268435456",
    agentDefault: "8388608"
  }),
  queueFull: def({
    key: "queue.full",
    env: "SLUICE_QUEUE_FULL",
    schema: oneOf("block", "reject"),
    default: "block"
  }),
  queueBlockMs: def({ key: "queue.block_ms", env: "SLUICE_QUEUE_BLOCK_MS", schema: nonNegativeInt, default: "5000" }),
  commitWindowMs: def({
    key: "store.commit_window_ms",
    env: "SLUICE_COMMIT_WINDOW_MS",
    schema: nonNegativeInt,
    default: "50"
  }),
  commitMaxEvents: def({
    key: "store.commit_max_events",
    env: "SLUICE_COMMIT_MAX_EVENTS",
    schema: positiveInt,
    default: "20000",
    agentDefault: "5000"
  }),
  sqliteSync: def({
    key: "store.sqlite_synchronous",
    env: "SLUICE_SQLITE_SYNCHRONOUS",
    schema: oneOf("normal", "full"),
    default: "normal"
  }),
  retentionDays: def({
    key: "retention.max_age_days",
    env: "SLUICE_RETENTION_DAYS",
    schema: positiveInt,
    default: "7"
  }),
  retentionBytes: def({
    key: "retention.max_bytes",
    env: "SLUICE_RETENTION_BYTES",
    schema: positiveInt,
    default: String(10 * 1024 ** 3)
  }),
  maxMessageBytes: def({
    key: "socket.max_message_bytes",
    env: "SLUICE_MAX_MESSAGE_BYTES",
    schema: positiveInt,
    default: String(16 * 1024 * 1024)
  }),
  maxConnections: def({
    key: "socket.max_connections",
    env: "SLUICE_MAX_CONNECTIONS",
    schema: positiveInt,
    default: "1024"
  }),
  tcpIdleSeconds: def({
    key: "tcp.idle_timeout_s",
    env: "SLUICE_TCP_IDLE_TIMEOUT_S",
    schema: nonNegativeInt,
    default: "300"
  }),
  upstream: def({
    key: "agent.upstream",
    env: "SLUICE_UPSTREAM",
    flag: "upstream",
    schema: Schema.String.pipe(Schema.filter((s) => /^https?:\/\/[^/]+/.test(s), {
      message: () => "must be an http:// or https:// URL"
    })),
    default: undefined
  }),
  upstreamToken: def({
    key: "agent.token",
    env: "SLUICE_UPSTREAM_TOKEN",
    flag: "token",
    schema: nonEmpty,
    default: undefined,
    secret: true
  }),
  spoolQuotaBytes: def({
    key: "agent.spool_quota_bytes",
    env: "SLUICE_SPOOL_QUOTA_BYTES",
    schema: positiveInt,
    default: String(1024 ** 3)
  }),
  spoolFull: def({
    key: "agent.spool_full",
    env: "SLUICE_SPOOL_FULL",
    schema: oneOf("backpressure", "drop_oldest"),
    default: "backpressure"
  }),
  heapGrowingPercent: def({
    key: "agent.heap_growing_percent",
    env: "SLUICE_AGENT_HEAP_GROWING_PERCENT",
    schema: nonNegativeInt,
    default: "50"
  }),
  forwardBatchEvents: def({
    key: "agent.forward_batch_events",
    env: "SLUICE_FORWARD_BATCH_EVENTS",
    schema: positiveInt,
    default: "5000"
  }),
  apiUrl: def({
    key: "agent.api_url",
    env: "SLUICE_AGENT_API_URL",
    flag: "api-url",
    schema: Schema.String.pipe(Schema.filter((s) => /^https?:\/\/[^/]+/.test(s), {
      message: () => "must be an http:// or https:// URL (the control plane's base URL, without /api/v1)"
    })),
    default: undefined
  }),
  enrolGroup: def({
    key: "agent.group",
    env: "SLUICE_AGENT_GROUP",
    flag: "group",
    schema: nonEmpty,
    default: undefined
  }),
  agentVersion: def({ key: "agent.version", env: "SLUICE_AGENT_VERSION", schema: nonEmpty, default: undefined }),
  pollIntervalSeconds: def({
    key: "agent.poll_interval_s",
    env: "SLUICE_AGENT_POLL_INTERVAL_S",
    schema: positiveInt,
    default: "10"
  }),
  heartbeatIntervalSeconds: def({
    key: "agent.heartbeat_interval_s",
    env: "SLUICE_AGENT_HEARTBEAT_INTERVAL_S",
    schema: positiveInt,
    default: "30"
  }),
  upgradeCommand: def({
    key: "agent.upgrade_command",
    env: "SLUICE_AGENT_UPGRADE_COMMAND",
    schema: Schema.String.pipe(Schema.filter((s) => s.includes("{version}"), {
      message: () => "must contain {version}"
    })),
    default: "npm install -g @sluice/cli@{version}"
  }),
  offlineAfterSeconds: def({
    key: "fleet.offline_after_s",
    env: "SLUICE_OFFLINE_AFTER_S",
    schema: positiveInt,
    default: "300"
  }),
  rateLimitAuth: def({ key: "rate_limits.auth", env: "SLUICE_RATE_LIMIT_AUTH", schema: positiveInt, default: "10" }),
  rateLimitDashboard: def({
    key: "rate_limits.dashboard",
    env: "SLUICE_RATE_LIMIT_DASHBOARD",
    schema: positiveInt,
    default: "60"
  }),
  rateLimitAgents: def({
    key: "rate_limits.agents",
    env: "SLUICE_RATE_LIMIT_AGENTS",
    schema: positiveInt,
    default: "100"
  }),
  rateLimitEdge: def({ key: "rate_limits.edge", env: "SLUICE_RATE_LIMIT_EDGE", schema: positiveInt, default: "1000" }),
  rateLimitStreaming: def({
    key: "rate_limits.streaming",
    env: "SLUICE_RATE_LIMIT_STREAMING",
    schema: positiveInt,
    default: "10"
  }),
  forwardGzip: def({
    key: "agent.forward_gzip",
    env: "SLUICE_FORWARD_GZIP",
    schema: oneOf("true", "false"),
    default: "true"
  }),
  drainMaxBytes: def({
    key: "drain.max_bytes",
    env: "SLUICE_DRAIN_MAX_BYTES",
    schema: positiveInt,
    default: "10485760"
  }),
  drainMaxEvents: def({
    key: "drain.max_events",
    env: "SLUICE_DRAIN_MAX_EVENTS",
    schema: positiveInt,
    default: "10000"
  }),
  drainMaxInFlightBytes: def({
    key: "drain.max_inflight_bytes",
    env: "SLUICE_DRAIN_MAX_INFLIGHT_BYTES",
    schema: positiveInt,
    default: "67108864"
  })
} as const

type Definitions = typeof definitions
/** The decoded settings. */
export type Settings = {
  readonly [K in keyof Definitions]:
    | Schema.Schema.Type<Definitions[K]["schema"]>
    | (Definitions[K]["default"] extends string ? never : undefined)
}

/** Flags given on the command line, by flag name. */
export type Flags = Readonly<Record<string, string | undefined>>

/** A setting is invalid, or the config file cannot be read. */
export class SettingsError extends Schema.TaggedError<SettingsError>()("SettingsError", {
  setting: Schema.String,
  detail: Schema.String
}) {
  override get message() {
    return `${this.setting}: ${this.detail}`
  }
}

const lookup = (tree: unknown, key: string): unknown => {
  let node = tree
  for (const part of key.split(".")) {
    if (typeof node !== "object" || node === null) return undefined
    node = (node as Record<string, unknown>)[part]
  }
  return node
}

const knownKeys = new Set(Object.values(definitions).map((d) => d.key))
const flattenKeys = (tree: unknown, prefix = ""): Array<string> =>
  typeof tree === "object" && tree !== null && !Array.isArray(tree)
    ? Object.entries(tree).flatMap(([k, v]) => {
      const key = prefix === "" ? k : `${prefix}.${k}`
      return knownKeys.has(key) ? [key] : flattenKeys(v, key).concat(
        typeof v !== "object" || v === null || Array.isArray(v) ? [key] : []
      )
    })
    : []

/** Reads a YAML (or JSON) config file into a tree; `undefined` if it is absent and optional. */
export const readConfigFile = (file: string, required: boolean): Either.Either<unknown, SettingsError> => {
  if (!fs.existsSync(file)) {
    return required
      ? Either.left(new SettingsError({ setting: "--config", detail: `config file ${file} does not exist` }))
      : Either.right(undefined)
  }
  try {
    const tree: unknown = YAML.parse(fs.readFileSync(file, "utf8"))
    if (tree !== null && tree !== undefined && (typeof tree !== "object" || Array.isArray(tree))) {
      return Either.left(new SettingsError({ setting: file, detail: "must be a mapping of settings" }))
    }
    const unknown = flattenKeys(tree).filter((k) => !knownKeys.has(k))
    if (unknown.length > 0) {
      return Either.left(
        new SettingsError({ setting: `${path.basename(file)}: ${unknown[0]}`, detail: "unknown setting" })
      )
    }
    return Either.right(tree ?? undefined)
  } catch (error) {
    return Either.left(
      new SettingsError({
        setting: file,
        detail: `not valid YAML: ${error instanceof Error ? error.message : String(error)}`
      })
    )
  }
}

const asText = (value: unknown): string | undefined =>
  value === undefined || value === null
    ? undefined
    : Array.isArray(value)
    ? value.map(String).join(",")
    : typeof value === "object"
    ? JSON.stringify(value)
    : String(value)

/**
 * Resolves every setting: the file's value, overridden by the environment,
 * overridden by a flag; then decodes each with its rule.
 */
export const resolve = (options: {
  readonly file: { readonly path: string; readonly tree: unknown } | undefined
  readonly env: Readonly<Record<string, string | undefined>>
  readonly flags: Flags
  /** `agent`: the defaults of `sluice agent run` (`agentDefault`) apply. */
  readonly role?: "gateway" | "agent"
}): Either.Either<Settings, SettingsError> => {
  const out: Record<string, unknown> = {}
  for (const [name, d] of Object.entries(definitions) as Array<[keyof Definitions, Definition<unknown>]>) {
    let raw = options.role === "agent" && d.agentDefault !== undefined ? d.agentDefault : d.default
    let origin = d.env
    const fromFile = options.file === undefined ? undefined : asText(lookup(options.file.tree, d.key))
    if (fromFile !== undefined) {
      raw = fromFile
      origin = `${path.basename(options.file!.path)}: ${d.key}`
    }
    const fromEnv = options.env[d.env]
    if (fromEnv !== undefined && fromEnv !== "") {
      raw = fromEnv
      origin = d.env
    }
    const fromFlag = d.flag === undefined ? undefined : options.flags[d.flag]
    if (fromFlag !== undefined) {
      raw = fromFlag
      origin = `--${d.flag}`
    }
    const decoded = raw === undefined
      ? Either.right(undefined)
      : Schema.decodeUnknownEither(d.schema)(raw)
    if (Either.isLeft(decoded)) {
      const rule = ParseResult.ArrayFormatter.formatErrorSync(decoded.left)[0]?.message ?? "is invalid"
      const shown = d.secret === true ? "" : ` (got ${JSON.stringify(raw)})`
      return Either.left(new SettingsError({ setting: origin, detail: `${rule}${shown}` }))
    }
    out[name] = decoded.right
  }
  return Either.right(out as Settings)
}

/** The flags every running command accepts, by name, with their help. */
export const flagDefinitions = Object.values(definitions).flatMap((d) =>
  "flag" in d && d.flag !== undefined ? [{ flag: d.flag, env: d.env }] : []
)
