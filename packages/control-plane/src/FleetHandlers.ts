/**
 * The users' side of the fleet: the handlers of the `groups`,
 * `enrolmentTokens` and `agents` groups over their repositories. The config
 * preview answers exactly what an agent of that platform would receive
 * (same text, version and etag headers). Deleting an agent removes its
 * actions in the same transaction.
 */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { ActionBus } from "./ActionBus.js"
import { type Rendered, RenderedConfigs } from "./AgentConfigRender.js"
import { Agents } from "./Agents.js"
import { Api } from "./Api.js"
import * as ApiError from "./ApiError.js"
import { EnrolmentTokens } from "./EnrolmentTokens.js"
import { Groups } from "./Groups.js"
import * as Pagination from "./Pagination.js"

/** The slug a name gives: lower-cased, runs of other characters as `-`, at most 64 characters. */
export const slugOf = (name: string): string =>
  name.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+/, "").slice(0, 64).replace(/-+$/, "")

/** The YAML answer of a rendered config, with its version and etag. */
export const configResponse = (rendered: Rendered): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.text(rendered.text, {
    contentType: "application/yaml",
    headers: {
      "x-config-version": String(rendered.version),
      "x-config-etag": rendered.etag,
      etag: `"${rendered.etag}"`,
      "cache-control": "no-cache"
    }
  })

/** The handlers of the `groups` group. */
export const groupsLayer = HttpApiBuilder.group(Api, "groups", (handlers) =>
  Effect.gen(function*() {
    const groups = yield* Groups
    const configs = yield* RenderedConfigs
    return handlers
      .handle("list", ({ urlParams }) =>
        Effect.map(groups.list(urlParams), ({ items, total }) =>
          Pagination.page(urlParams, items, total)))
      .handle("create", ({ payload }) =>
        Effect.gen(function*() {
          const slug = payload.slug ?? slugOf(payload.name)
          if (slug.length === 0) {
            return yield* new ApiError.ValidationError({
              message: "Invalid request parameters",
              details: { slug: "is required when the name has no letters or digits" }
            })
          }
          return yield* groups.create({ name: payload.name, slug, description: payload.description ?? "" })
        }))
      .handle("get", ({ path }) =>
        groups.get(path.id))
      .handle("update", ({ path, payload }) => groups.update(path.id, payload))
      .handle("remove", ({ path }) => Effect.zipLeft(groups.remove(path.id), configs.forget(path.id)))
      .handle("inputs", ({ path, urlParams }) =>
        Effect.map(groups.inputs(path.id, urlParams), ({ items, total }) =>
          Pagination.page(urlParams, items, total)))
      .handle("addInput", ({ path, payload }) =>
        groups.addInput(path.id, {
          type: payload.type,
          name: payload.name,
          enabled: payload.enabled ?? true,
          settings: payload.settings ?? {},
          index: payload.index ?? null,
          sourcetype: payload.sourcetype ?? null,
          source: payload.source ?? null
        }))
      .handle("updateInput", ({ path, payload }) =>
        groups.updateInput(path.id, path.inputId, payload))
      .handle("removeInput", ({ path }) =>
        groups.removeInput(path.id, path.inputId))
      .handle("config", ({ path, urlParams }) => Effect.map(configs.get(path.id, urlParams.platform), configResponse))
  }))

/** The handlers of the `enrolmentTokens` group. */
export const enrolmentTokensLayer = HttpApiBuilder.group(Api, "enrolmentTokens", (handlers) =>
  Effect.gen(function*() {
    const tokens = yield* EnrolmentTokens
    return handlers
      .handle("list", ({ path, urlParams }) =>
        Effect.map(tokens.list(path.id, urlParams), ({ items, total }) =>
          Pagination.page(urlParams, items, total)))
      .handle("create", ({ path, payload }) =>
        tokens.create(path.id, { ttlSeconds: payload.ttl_seconds, maxUses: payload.max_uses }))
      .handle("revoke", ({ path }) =>
        tokens.revoke(path.id))
  }))

/** The handlers of the `agents` group. */
export const agentsLayer = HttpApiBuilder.group(Api, "agents", (handlers) =>
  Effect.gen(function*() {
    const agents = yield* Agents
    const bus = yield* ActionBus
    const sql = yield* SqlClient.SqlClient
    return handlers
      .handle("list", ({ urlParams }) =>
        Effect.map(agents.list(urlParams, urlParams), ({ items, total }) =>
          Pagination.page(urlParams, items, total)))
      .handle("get", ({ path }) =>
        agents.get(path.id))
      .handle("update", ({ path, payload }) =>
        agents.update(path.id, {
          label: payload.label,
          tags: payload.tags === undefined ? undefined : [...new Set(payload.tags)],
          group_id: payload.group_id
        }))
      .handle("remove", ({ path }) =>
        sql.withTransaction(Effect.zipRight(bus.removeForAgent(path.id), agents.remove(path.id))).pipe(
          Effect.catchTag("SqlError", Effect.die)
        ))
      .handle("revoke", ({ path }) =>
        agents.revoke(path.id))
  }))

/** The three groups' handlers. */
export const layer = Layer.mergeAll(groupsLayer, enrolmentTokensLayer, agentsLayer)
