/**
 * The agent pipeline config the control plane renders for a group (SPEC §4)
 * and agents apply: the group's enabled inputs for the agent's platform, each
 * with its settings and routing. Served as YAML (`GET /agents/:id/config`,
 * `GET /groups/:id/config`); with no input it is exactly `{}`.
 *
 * ```yaml
 * version: 8
 * group: web-servers
 * inputs:
 *   - id: 0b6c…
 *     name: nginx-access
 *     type: file
 *     settings:
 *       paths: [/var/log/nginx/access.log]
 *     index: web
 *     sourcetype: nginx
 *     source: sluice-agent
 * ```
 */
import * as Schema from "effect/Schema"

const Name = Schema.String.pipe(Schema.minLength(1), Schema.maxLength(256))

/** One input of the rendered config. */
export const ConfigInput = Schema.Struct({
  id: Schema.String,
  name: Name,
  type: Name,
  settings: Schema.Record({ key: Schema.String, value: Schema.Unknown }),
  index: Name,
  sourcetype: Name,
  source: Name
}).annotations({ identifier: "ConfigInput" })
export type ConfigInput = typeof ConfigInput.Type

/** The whole rendered config; `{}` decodes to no version and no inputs. */
export const AgentConfig = Schema.Struct({
  version: Schema.optional(Schema.Int.pipe(Schema.nonNegative())),
  group: Schema.optional(Schema.String),
  inputs: Schema.optionalWith(Schema.Array(ConfigInput), { default: () => [] })
}).annotations({ identifier: "AgentConfig" })
export type AgentConfig = typeof AgentConfig.Type
