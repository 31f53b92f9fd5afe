/**
 * Renders a group's agent config (core `AgentConfig`, as YAML) and keeps the
 * rendered text per (group, version, platform) in memory, because config
 * polls are the fleet's hottest endpoint: a poll that needs a config reads
 * no inputs and renders nothing once its group's current version has been
 * rendered for its platform.
 *
 * What is rendered: the group's enabled inputs for the platform (`journald`
 * is skipped for `kubernetes`, `kubernetes_logs` for `linux`), in creation
 * order, each with its settings and effective routing; with none the text is
 * exactly `{}` (no newline). The etag is `sha256:<hex of the text>`.
 */
import type { AgentConfig } from "@sluice/core/AgentConfig"
import type { Platform } from "@sluice/core/Input"
import * as TokenVerifier from "@sluice/core/TokenVerifier"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as YAML from "yaml"
import type { NotFound } from "./ApiError.js"
import { Groups, type Snapshot } from "./Groups.js"

/** A rendered config. */
export interface Rendered {
  readonly version: number
  readonly text: string
  /** `sha256:<hex of text>`. */
  readonly etag: string
}

/** The input type each platform leaves out. */
export const skippedOn: Readonly<Record<Platform, string>> = { linux: "kubernetes_logs", kubernetes: "journald" }

/** The config text of a group for a platform. */
export const render = (snapshot: Snapshot, platform: Platform): string => {
  const skipped = skippedOn[platform]
  const inputs = snapshot.inputs.filter((input) => input.enabled && input.type !== skipped)
  if (inputs.length === 0) return "{}"
  const config: AgentConfig = {
    version: snapshot.group.config_version,
    group: snapshot.group.slug,
    inputs: inputs.map((input) => ({
      id: input.id,
      name: input.name,
      type: input.type,
      settings: input.settings,
      index: input.index,
      sourcetype: input.sourcetype,
      source: input.source
    }))
  }
  return YAML.stringify(config)
}

/** The etag of a config text. */
export const etagOf = (text: string): string => `sha256:${TokenVerifier.sha256(text)}`

/** Rendered configs, cached per (group, version, platform). */
export class RenderedConfigs extends Context.Tag("@sluice/control-plane/RenderedConfigs")<RenderedConfigs, {
  /**
   * The group's config for a platform at its current version. With
   * `atLeast` (a version the caller knows is current or older), a cached
   * rendering of that version or newer is answered without reading the
   * database.
   */
  readonly get: (groupId: string, platform: Platform, atLeast?: number) => Effect.Effect<Rendered, NotFound>
  /** Drops a group's renderings (it was deleted). */
  readonly forget: (groupId: string) => Effect.Effect<void>
}>() {}

interface Entry {
  readonly version: number
  readonly byPlatform: Map<Platform, Rendered>
}

/** Builds the cache over `Groups`; one entry per group (its newest version). */
export const make = Effect.gen(function*() {
  const groups = yield* Groups
  const cache = new Map<string, Entry>()

  const store = (groupId: string, platform: Platform, rendered: Rendered) => {
    const entry = cache.get(groupId)
    if (entry === undefined || entry.version < rendered.version) {
      cache.set(groupId, { version: rendered.version, byPlatform: new Map([[platform, rendered]]) })
    } else if (entry.version === rendered.version) {
      entry.byPlatform.set(platform, rendered)
    }
  }

  const get = (groupId: string, platform: Platform, atLeast?: number) =>
    Effect.suspend(() => {
      const entry = cache.get(groupId)
      const hit = atLeast !== undefined && entry !== undefined && entry.version >= atLeast
        ? entry.byPlatform.get(platform)
        : undefined
      if (hit !== undefined) return Effect.succeed(hit)
      return Effect.map(groups.snapshot(groupId), (snapshot) => {
        const text = render(snapshot, platform)
        const rendered: Rendered = { version: snapshot.group.config_version, text, etag: etagOf(text) }
        store(groupId, platform, rendered)
        return rendered
      })
    })

  return RenderedConfigs.of({ get, forget: (groupId) => Effect.sync(() => cache.delete(groupId)) })
})

/** `RenderedConfigs` over `Groups`. */
export const layer: Layer.Layer<RenderedConfigs, never, Groups> = Layer.effect(RenderedConfigs, make)
