/**
 * CloudWatch Embedded Metric Format (EMF), derived from the one metrics catalogue
 * (Metrics.ts `METRIC_CATALOGUE`): the metrics the reader, the processor and the loader
 * publish as EMF log lines — namespace, per component the catalogue's names, units and
 * CloudWatch dimension sets — and `emfLine`, the one writer of those lines. The reader's
 * periodic report (cdc-reader MetricsReport.ts), the Lambda entries (infra/src/lambda) and
 * the CDK dashboard and alarms (infra/src/Observability.ts) use it.
 *
 * Invariants:
 *  - Every EMF metric is in namespace `EMF_NAMESPACE` and carries the dimension
 *    `Component` (the component's name); other dimensions are the catalogue's.
 *  - `emfLine` writes only catalogued metrics of its component that have CloudWatch
 *    dimension sets, each with its catalogued unit and dimension sets; a value that is
 *    null, undefined or not finite is left out, and so is a dimension set naming a
 *    dimension the caller gave no value.
 *  - The line is one JSON object on one line, in the shape of the EMF specification
 *    (`_aws.Timestamp` ms since the epoch, `_aws.CloudWatchMetrics[{Namespace,
 *    Dimensions, Metrics[{Name, Unit}]}]`, the dimension values and metric values at the
 *    top level). No library: the format is one object, and the maintained library
 *    (aws-embedded-metrics) probes the environment (instance metadata) and flushes
 *    asynchronously, which the tests must not and the Lambda entries need not do.
 */
import { type CloudWatchUnit, METRIC_CATALOGUE, type MetricSpec } from "./Metrics.ts"

export type { CloudWatchUnit } from "./Metrics.ts"

/** The CloudWatch namespace of every EMF metric. */
export const EMF_NAMESPACE = "totes-cdc"

/** A metric as CloudWatch sees it: its unit, what it means, and the dimension sets it is published under. */
export interface EmfMetricSpec {
  readonly unit: CloudWatchUnit
  readonly description: string
  readonly dimensions: ReadonlyArray<ReadonlyArray<string>>
}

/** The components that publish EMF. */
export type EmfComponent = "cdc-reader" | "processor" | "loader"

/** The names of `C`'s catalogued metrics that have CloudWatch dimensions. */
export type EmfMetricName<C extends EmfComponent> = {
  [K in keyof (typeof METRIC_CATALOGUE)[C]]: (typeof METRIC_CATALOGUE)[C][K] extends { readonly cloudWatch: ReadonlyArray<ReadonlyArray<string>> } ? K & string : never
}[keyof (typeof METRIC_CATALOGUE)[C]]

/** The components, in pipeline order. */
export const EMF_COMPONENTS: ReadonlyArray<EmfComponent> = ["cdc-reader", "processor", "loader"]

/** The CloudWatch spec of `component`'s metric `name`, or undefined when the catalogue publishes none under that name. */
export const emfMetricSpec = (component: string, name: string): EmfMetricSpec | undefined => {
  if (!(EMF_COMPONENTS as ReadonlyArray<string>).includes(component)) return undefined
  const metrics = METRIC_CATALOGUE[component as EmfComponent] as Readonly<Record<string, MetricSpec>>
  const spec = Object.hasOwn(metrics, name) ? metrics[name] : undefined
  return spec?.cloudWatch === undefined ? undefined : { unit: spec.unit, description: spec.description, dimensions: spec.cloudWatch }
}

/** The names of `component`'s metrics published as EMF, in catalogue order. */
export const emfMetricNames = <C extends EmfComponent>(component: C): ReadonlyArray<EmfMetricName<C>> =>
  Object.keys(METRIC_CATALOGUE[component]).filter((name) => emfMetricSpec(component, name) !== undefined) as Array<EmfMetricName<C>>

/**
 * Pure: the EMF line (no newline) of `values` of `component` at `timestampMs`, with the
 * dimension values `dimensions` (`Component` is added). One directive per distinct
 * dimension-set list, so metrics published under different dimension sets share the line.
 */
export const emfLine = <C extends EmfComponent>(
  component: C,
  dimensions: Readonly<Record<string, string>>,
  values: Partial<Readonly<Record<EmfMetricName<C>, number | null | undefined>>>,
  timestampMs: number
): string => {
  const dimensionValues: Record<string, string> = { ...dimensions, Component: component }
  const directives = new Map<string, { dimensions: Array<Array<string>>; metrics: Array<{ Name: string; Unit: CloudWatchUnit }> }>()
  const metricValues: Record<string, number> = {}
  for (const [name, value] of Object.entries(values) as Array<[string, number | null | undefined]>) {
    const spec = emfMetricSpec(component, name)
    if (spec === undefined || typeof value !== "number" || !Number.isFinite(value)) continue
    const sets = spec.dimensions.filter((set) => set.every((dimension) => dimensionValues[dimension] !== undefined)).map((set) => [...set])
    if (sets.length === 0) continue
    const signature = JSON.stringify(sets)
    const directive = directives.get(signature) ?? { dimensions: sets, metrics: [] }
    directive.metrics.push({ Name: name, Unit: spec.unit })
    directives.set(signature, directive)
    metricValues[name] = value
  }
  const used = new Set([...directives.values()].flatMap((directive) => directive.dimensions.flat()))
  return JSON.stringify({
    _aws: {
      Timestamp: timestampMs,
      CloudWatchMetrics: [...directives.values()].map((directive) => ({ Namespace: EMF_NAMESPACE, Dimensions: directive.dimensions, Metrics: directive.metrics }))
    },
    ...Object.fromEntries(Object.entries(dimensionValues).filter(([dimension]) => used.has(dimension) || dimension === "Component")),
    ...metricValues
  })
}
