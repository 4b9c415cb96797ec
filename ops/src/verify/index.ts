/**
 * `totes-cdc verify`: reconcile the source with the warehouse (issue 5). Pure parts:
 * `Reconcile.ts`, `Expected.ts`, `StarForeignKeys.ts`, `PipelineProgress.ts`; I/O:
 * `SourceSnapshot.ts`, `WarehouseContents.ts`, `AppliedObjects.ts`, `Verify.ts`, and the wait
 * for the pipeline to pass a position, `PipelineWait.ts`.
 */
export * from "./AppliedObjects.ts"
export * from "./Expected.ts"
export * from "./PipelineProgress.ts"
export * from "./PipelineWait.ts"
export * from "./RecordedSource.ts"
export * from "./Reconcile.ts"
export * from "./SourceSnapshot.ts"
export * from "./StarForeignKeys.ts"
export * from "./Verify.ts"
export * from "./WarehouseContents.ts"
