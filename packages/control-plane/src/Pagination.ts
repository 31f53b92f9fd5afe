/**
 * The one pagination of every list (SPEC §3): `?page=` from 1 (default 1)
 * and `?page_size=` from 1 to 100 (default 20); anything else is a 400 that
 * names the parameter. Lists answer `{items, total, page, page_size}`.
 */
import * as Schema from "effect/Schema"

/** The largest page. */
export const maxPageSize = 100

/** The page size when none is asked. */
export const defaultPageSize = 20

const PageNumber = Schema.NumberFromString.pipe(
  Schema.int({ message: () => "must be an integer" }),
  Schema.greaterThanOrEqualTo(1, { message: () => "must be 1 or more" })
)

const PageSize = Schema.NumberFromString.pipe(
  Schema.int({ message: () => "must be an integer" }),
  Schema.between(1, maxPageSize, { message: () => `must be between 1 and ${maxPageSize}` })
)

/** The query parameters of a list; spread `PageParams.fields` into an endpoint's URL parameters. */
export const PageParams = Schema.Struct({
  page: Schema.optionalWith(PageNumber, { default: () => 1 }),
  page_size: Schema.optionalWith(PageSize, { default: () => defaultPageSize })
}).annotations({ parseOptions: { errors: "all" } })
export type PageParams = typeof PageParams.Type

/** The answer of a list of `item`. */
export const Page = <A, I, R>(item: Schema.Schema<A, I, R>, identifier: string) =>
  Schema.Struct({
    items: Schema.Array(item),
    total: Schema.Int,
    page: Schema.Int,
    page_size: Schema.Int
  }).annotations({ identifier })

/** The row offset of a page. */
export const offsetOf = (params: PageParams): number => (params.page - 1) * params.page_size

/** Builds a page answer. */
export const page = <A>(params: PageParams, items: ReadonlyArray<A>, total: number) => ({
  items,
  total,
  page: params.page,
  page_size: params.page_size
})
