/**
 * The catalogue of what goes to CloudWatch, once (issue 13, DESIGN.md §9): every metric the
 * reader, the processor and the loader publish as CloudWatch Embedded Metric Format (EMF)
 * log lines — namespace, per component the metric names, their CloudWatch units and the
 * dimension sets each is published under — and `emfLine`, the one writer of those lines.
 * The reader's periodic report (cdc-reader MetricsReport.ts), the Lambda entries
 * (infra/src/lambda) and the CDK dashboard and alarms (infra/src/Observability.ts) all
 * take names, units and dimensions from here.
 *
 * Invariants:
 *  - Every EMF metric is in namespace `EMF_NAMESPACE` and carries the dimension
 *    `Component` (the component's name); other dimensions are the catalogue's.
 *  - `emfLine` writes only catalogued metrics of its component, each with its catalogued
 *    unit and dimension sets; a value that is null, undefined or not finite is left out,
 *    and so is a dimension set naming a dimension the caller gave no value.
 *  - The line is one JSON object on one line, in the shape of the EMF specification
 *    (`_aws.Timestamp` ms since the epoch, `_aws.CloudWatchMetrics[{Namespace,
 *    Dimensions, Metrics[{Name, Unit}]}]`, the dimension values and metric values at the
 *    top level). No library: the format is one object, and the maintained library
 *    (aws-embedded-metrics) probes the environment (instance metadata) and flushes
 *    asynchronously, which the tests must not and the Lambda entries need not do.
 */

/** The CloudWatch namespace of every EMF metric. */
export const EMF_NAMESPACE = "totes-cdc"

/** The CloudWatch units the catalogue uses (CloudWatch's unit strings). */
export type CloudWatchUnit = "Count" | "Count/Second" | "Milliseconds" | "Seconds" | "Bytes"

/** One catalogued metric: its unit, what it means, and the dimension sets it is published under. */
export interface EmfMetricSpec {
  readonly unit: CloudWatchUnit
  readonly description: string
  readonly dimensions: ReadonlyArray<ReadonlyArray<string>>
}

const READER_DIMENSIONS = [["Component", "Slot"]] as const
const COMPONENT_ONLY = [["Component"]] as const

/** The catalogue: component → metric name → spec. */
export const EMF_CATALOGUE = {
  "cdc-reader": {
    changesWritten: { unit: "Count", description: "Change records written to Kinesis since the reader started (a running total)", dimensions: READER_DIMENSIONS },
    kinesisRecordsWritten: { unit: "Count", description: "Kinesis records (aggregates) written since the reader started (a running total)", dimensions: READER_DIMENSIONS },
    putRetries: { unit: "Count", description: "PutRecords entries retried since the reader started (a running total)", dimensions: READER_DIMENSIONS },
    deadLetters: { unit: "Count", description: "Change records dead-lettered since the reader started (a running total)", dimensions: READER_DIMENSIONS },
    changesPerSecond: { unit: "Count/Second", description: "Changes written per second over the last report interval", dimensions: READER_DIMENSIONS },
    meanBatchChanges: { unit: "Count", description: "Mean change records per producer micro-batch since start", dimensions: READER_DIMENSIONS },
    commitToKinesisLagMs: { unit: "Milliseconds", description: "ms from source commit to durable in Kinesis, latest micro-batch", dimensions: READER_DIMENSIONS },
    slotRetainedWalBytes: { unit: "Bytes", description: "WAL the replication slot holds back", dimensions: READER_DIMENSIONS },
    slotConfirmedLagBytes: { unit: "Bytes", description: "How far the slot's confirmed LSN trails the WAL end", dimensions: READER_DIMENSIONS }
  },
  processor: {
    changesProcessed: { unit: "Count", description: "Change records transformed by one invocation", dimensions: COMPONENT_ONLY },
    deadLetters: { unit: "Count", description: "Records dead-lettered by one invocation", dimensions: COMPONENT_ONLY },
    failedShards: { unit: "Count", description: "Shards whose records one invocation reported failed (batchItemFailures)", dimensions: COMPONENT_ONLY },
    microBatchDurationMs: { unit: "Milliseconds", description: "ms one invocation took (its micro-batch)", dimensions: COMPONENT_ONLY }
  },
  loader: {
    rowsLoaded: { unit: "Count", description: "Rows applied to the warehouse by one invocation", dimensions: COMPONENT_ONLY },
    objectsLoaded: { unit: "Count", description: "Processed objects applied by one invocation", dimensions: COMPONENT_ONLY },
    failedObjects: { unit: "Count", description: "Objects one invocation failed to load (their messages are retried, then dead-lettered)", dimensions: COMPONENT_ONLY },
    commitToWarehouseP50Ms: { unit: "Milliseconds", description: "Median ms from source commit to warehouse commit of the rows one invocation loaded", dimensions: COMPONENT_ONLY },
    commitToWarehouseP99Ms: { unit: "Milliseconds", description: "99th percentile ms from source commit to warehouse commit, one invocation", dimensions: COMPONENT_ONLY },
    commitToWarehouseMaxMs: { unit: "Milliseconds", description: "Largest ms from source commit to warehouse commit, one invocation", dimensions: COMPONENT_ONLY },
    warehouseFreshnessSeconds: {
      unit: "Seconds",
      description: "Seconds since the newest _commit_ts applied to a warehouse table, when the loader applied it (per Table, and the largest over tables)",
      dimensions: [["Component", "Table"], ["Component"]]
    }
  }
} as const satisfies Record<string, Record<string, EmfMetricSpec>>

export type EmfComponent = keyof typeof EMF_CATALOGUE
export type EmfMetricName<C extends EmfComponent> = keyof (typeof EMF_CATALOGUE)[C] & string

/** The components, in pipeline order. */
export const EMF_COMPONENTS: ReadonlyArray<EmfComponent> = ["cdc-reader", "processor", "loader"]

/** The spec of `component`'s metric `name`, or undefined when the catalogue has none. */
export const emfMetricSpec = (component: string, name: string): EmfMetricSpec | undefined => {
  const metrics: Readonly<Record<string, EmfMetricSpec>> | undefined = (EMF_CATALOGUE as Readonly<Record<string, Readonly<Record<string, EmfMetricSpec>>>>)[component]
  return metrics === undefined || !Object.hasOwn(metrics, name) ? undefined : metrics[name]
}

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
  const specs = EMF_CATALOGUE[component] as Readonly<Record<string, EmfMetricSpec>>
  const directives = new Map<string, { dimensions: Array<Array<string>>; metrics: Array<{ Name: string; Unit: CloudWatchUnit }> }>()
  const metricValues: Record<string, number> = {}
  for (const [name, value] of Object.entries(values) as Array<[string, number | null | undefined]>) {
    const spec = specs[name]
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
