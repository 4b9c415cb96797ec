/**
 * The Lambda entries' metrics: each invocation's report (the handlers' `onInvocation`)
 * written to stdout as CloudWatch Embedded Metric Format lines (core's CloudWatchMetrics.ts:
 * namespace, names, units, dimensions). Lambda ships stdout to CloudWatch Logs, which turns
 * the lines into metrics; nothing here calls AWS or probes the environment.
 *
 * Invariants: the processor writes one line per invocation; the loader one line per
 * invocation plus one per warehouse table it loaded (`warehouseFreshnessSeconds` with
 * dimension `Table`: one line holds one value per dimension). A failing write is dropped,
 * never thrown into the handler. The local programs (`dev`) do not use this module.
 */
import { emfLine, type WarehouseTable } from "@totes-cdc/core"
import type { LoaderInvocationReport } from "@totes-cdc/loader"
import type { ProcessorInvocationReport } from "@totes-cdc/stream-processors"

/** Writes one line (a newline is added). */
export type LineWriter = (line: string) => void

const stdoutWriter: LineWriter = (line) => {
  process.stdout.write(`${line}\n`)
}

const safely = (write: LineWriter, lines: ReadonlyArray<string>) => {
  try {
    for (const line of lines) write(line)
  } catch {
    // Metrics never fail an invocation.
  }
}

/** Pure: the processor's EMF lines of one invocation at `nowMs`. */
export const processorEmfLines = (report: ProcessorInvocationReport, nowMs: number): ReadonlyArray<string> => [
  emfLine(
    "processor",
    {},
    {
      changesProcessed: report.changesProcessed,
      deadLetters: report.deadLetters,
      failedShards: report.failedShards,
      microBatchDurationMs: report.microBatchDurationMs
    },
    nowMs
  )
]

/** Pure: the loader's EMF lines of one invocation at `nowMs`: the invocation's, then one per table loaded. */
export const loaderEmfLines = (report: LoaderInvocationReport, nowMs: number): ReadonlyArray<string> => {
  const freshness = Object.entries(report.freshnessSecondsOfTable) as Array<[WarehouseTable, number]>
  return [
    emfLine(
      "loader",
      {},
      {
        rowsLoaded: report.rowsLoaded,
        objectsLoaded: report.objectsLoaded,
        failedBatches: report.failedBatches,
        commitToWarehouseP50Ms: report.commitToWarehouseP50Ms,
        commitToWarehouseP99Ms: report.commitToWarehouseP99Ms,
        commitToWarehouseMaxMs: report.commitToWarehouseMaxMs
      },
      nowMs
    ),
    ...freshness.map(([table, seconds]) => emfLine("loader", { Table: table }, { warehouseFreshnessSeconds: seconds }, nowMs))
  ]
}

/** The processor handler's `onInvocation`: its EMF line to `write` (stdout by default). */
export const emitProcessorMetrics =
  (write: LineWriter = stdoutWriter, now: () => number = Date.now) =>
  (report: ProcessorInvocationReport): void =>
    safely(write, processorEmfLines(report, now()))

/** The loader handler's `onInvocation`: its EMF lines to `write` (stdout by default). */
export const emitLoaderMetrics =
  (write: LineWriter = stdoutWriter, now: () => number = Date.now) =>
  (report: LoaderInvocationReport): void =>
    safely(write, loaderEmfLines(report, now()))
