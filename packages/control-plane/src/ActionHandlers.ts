/**
 * The handlers of the `actions` group over `ActionBus`: each endpoint is one
 * call of the service, whose errors (404 unknown agent or action, 409 not
 * pending, 400 invalid) are already the SPEC §3 ones.
 */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as Effect from "effect/Effect"
import { ActionBus } from "./ActionBus.js"
import { Api } from "./Api.js"
import * as Pagination from "./Pagination.js"

/** The handlers of the `actions` group. */
export const layer = HttpApiBuilder.group(Api, "actions", (handlers) =>
  Effect.gen(function*() {
    const bus = yield* ActionBus
    return handlers
      .handle("create", ({ path, payload }) =>
        bus.create(path.id, {
          type: payload.type,
          payload: payload.payload,
          ...(payload.deadline_seconds === undefined ? {} : { deadlineSeconds: payload.deadline_seconds })
        }))
      .handle("list", ({ path, urlParams }) =>
        Effect.map(
          bus.list(path.id, { page: urlParams.page, pageSize: urlParams.page_size }),
          ({ items, total }) => Pagination.page(urlParams, items, total)
        ))
      .handle("get", ({ path }) => bus.get(path.id))
      .handle("cancel", ({ path }) => bus.cancel(path.id))
  }))
