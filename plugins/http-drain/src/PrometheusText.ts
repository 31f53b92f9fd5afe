/**
 * Renders Effect metrics (`Metric.snapshot`) in the Prometheus text format
 * 0.0.4, with no dependency beyond `effect`.
 *
 * Guarantees: one `# HELP` (when the metric has a description) and one
 * `# TYPE` per name, followed by every series of that name (tagged series
 * share a name); names, series and labels in a stable (sorted) order; counters that may go
 * down (non-incremental) are typed `gauge`; histograms have cumulative
 * `le` buckets ending with `+Inf`, then `_sum` and `_count`; summaries have
 * `quantile` series. Effect's own `effect_fiber_*` metrics are left out unless
 * asked for. A name used with two kinds keeps the first kind's series.
 */
import * as MetricKeyType from "effect/MetricKeyType"
import type * as MetricLabel from "effect/MetricLabel"
import type * as MetricPair from "effect/MetricPair"
import * as MetricState from "effect/MetricState"
import * as Option from "effect/Option"

/** The `Content-Type` of the text format. */
export const contentType = "text/plain; version=0.0.4; charset=utf-8"

/** What to render. */
export interface RenderOptions {
  /** Include Effect's runtime metrics (`effect_fiber_*`). Default false. */
  readonly includeEffect?: boolean | undefined
}

type Kind = "counter" | "gauge" | "histogram" | "summary"

interface Family {
  readonly kind: Kind
  readonly help: Option.Option<string>
  readonly series: Array<{ readonly order: string; readonly lines: ReadonlyArray<string> }>
}

/** A metric or label name made valid (`[a-zA-Z_:][a-zA-Z0-9_:]*`, no `:` in labels). */
export const sanitizeName = (name: string, label = false): string => {
  const cleaned = name.replace(label ? /[^a-zA-Z0-9_]/g : /[^a-zA-Z0-9_:]/g, "_")
  return /^[0-9]/.test(cleaned) || cleaned === "" ? `_${cleaned}` : cleaned
}

const escapeLabel = (value: string): string => value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, "\\\"")

const escapeHelp = (text: string): string => text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")

/** A sample value as Prometheus writes it (`+Inf`, `-Inf`, `NaN`). */
export const formatValue = (value: number | bigint): string =>
  typeof value === "bigint"
    ? value.toString()
    : Number.isNaN(value)
    ? "NaN"
    : value === Infinity
    ? "+Inf"
    : value === -Infinity
    ? "-Inf"
    : String(value)

const labelText = (tags: ReadonlyArray<readonly [string, string]>): string =>
  tags.length === 0 ? "" : `{${tags.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(",")}}`

const kindOf = (pair: MetricPair.MetricPair.Untyped): Kind | undefined => {
  const keyType = pair.metricKey.keyType
  const state = pair.metricState
  if (MetricState.isCounterState(state)) {
    return MetricKeyType.isCounterKey(keyType) && !keyType.incremental ? "gauge" : "counter"
  }
  if (MetricState.isGaugeState(state)) return "gauge"
  if (MetricState.isHistogramState(state)) return "histogram"
  if (MetricState.isSummaryState(state)) return "summary"
  if (MetricState.isFrequencyState(state)) return "counter"
  return undefined
}

const seriesLines = (name: string, tags: ReadonlyArray<readonly [string, string]>, state: unknown): Array<string> => {
  const plain = labelText(tags)
  const withLabel = (key: string, value: string) => labelText([...tags, [key, value]])
  if (MetricState.isCounterState(state)) return [`${name}${plain} ${formatValue(state.count)}`]
  if (MetricState.isGaugeState(state)) return [`${name}${plain} ${formatValue(state.value)}`]
  if (MetricState.isHistogramState(state)) {
    const lines: Array<string> = []
    let sawInf = false
    for (const [le, count] of state.buckets) {
      if (le === Infinity) sawInf = true
      lines.push(`${name}_bucket${withLabel("le", formatValue(le))} ${formatValue(count)}`)
    }
    if (!sawInf) lines.push(`${name}_bucket${withLabel("le", "+Inf")} ${formatValue(state.count)}`)
    lines.push(`${name}_sum${plain} ${formatValue(state.sum)}`, `${name}_count${plain} ${formatValue(state.count)}`)
    return lines
  }
  if (MetricState.isSummaryState(state)) {
    const lines = state.quantiles.map(([q, value]) =>
      `${name}${withLabel("quantile", formatValue(q))} ${formatValue(Option.getOrElse(value, () => NaN))}`
    )
    lines.push(`${name}_sum${plain} ${formatValue(state.sum)}`, `${name}_count${plain} ${formatValue(state.count)}`)
    return lines
  }
  if (MetricState.isFrequencyState(state)) {
    return [...state.occurrences.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([word, count]) =>
      `${name}${withLabel("value", word)} ${formatValue(count)}`
    )
  }
  return []
}

/** Renders the snapshot as Prometheus text (ends with a newline). */
export const render = (
  pairs: Iterable<MetricPair.MetricPair.Untyped>,
  options: RenderOptions = {}
): string => {
  const families = new Map<string, Family>()
  for (const pair of pairs) {
    const key = pair.metricKey
    if (options.includeEffect !== true && key.name.startsWith("effect_fiber_")) continue
    const kind = kindOf(pair)
    if (kind === undefined) continue
    const name = sanitizeName(key.name)
    let family = families.get(name)
    if (family === undefined) {
      family = { kind, help: key.description, series: [] }
      families.set(name, family)
    } else if (family.kind !== kind) {
      continue
    }
    const tags = key.tags.map((t: MetricLabel.MetricLabel) => [sanitizeName(t.key, true), t.value] as const)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    family.series.push({ order: labelText(tags), lines: seriesLines(name, tags, pair.metricState) })
  }
  const out: Array<string> = []
  const byName = [...families.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  for (const [name, family] of byName) {
    if (Option.isSome(family.help)) out.push(`# HELP ${name} ${escapeHelp(family.help.value)}`)
    out.push(`# TYPE ${name} ${family.kind}`)
    family.series.sort((a, b) => (a.order < b.order ? -1 : a.order > b.order ? 1 : 0))
    for (const series of family.series) out.push(...series.lines)
  }
  return out.length === 0 ? "" : `${out.join("\n")}\n`
}
