/** The `users` group (admins): list, create with a role, change role or disable, delete. */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as Effect from "effect/Effect"
import { Api } from "./Api.js"
import * as Pagination from "./Pagination.js"
import { Users } from "./Users.js"

/** The handlers of the `users` group. */
export const layer = HttpApiBuilder.group(Api, "users", (handlers) =>
  Effect.gen(function*() {
    const users = yield* Users
    return handlers
      .handle("list", ({ urlParams }) =>
        Effect.map(users.list(urlParams), ({ items, total }) =>
          Pagination.page(urlParams, items, total)))
      .handle("create", ({ payload }) =>
        users.create({ email: payload.email, password: payload.password, role: payload.role ?? "viewer" }))
      .handle("update", ({ path, payload }) =>
        users.update(path.id, payload))
      .handle("remove", ({ path }) =>
        users.remove(path.id))
  }))
