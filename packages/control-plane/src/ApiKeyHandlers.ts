/** The `apiKeys` group (admins): create (the key shown once), list (never the secret), revoke. */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as Effect from "effect/Effect"
import { Api } from "./Api.js"
import { ApiKeys } from "./ApiKeys.js"
import * as Pagination from "./Pagination.js"

/** The handlers of the `apiKeys` group. */
export const layer = HttpApiBuilder.group(Api, "apiKeys", (handlers) =>
  Effect.gen(function*() {
    const keys = yield* ApiKeys
    return handlers
      .handle("list", ({ urlParams }) =>
        Effect.map(keys.list(urlParams), ({ items, total }) =>
          Pagination.page(urlParams, items, total)))
      .handle("create", ({ payload }) =>
        keys.create({ name: payload.name, role: payload.role ?? "viewer" }))
      .handle("revoke", ({ path }) => keys.revoke(path.id))
  }))
