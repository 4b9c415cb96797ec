/**
 * Operations over the running pipeline (the ops floor, above the three apps): `verify`
 * and the wait for the pipeline to pass a position (verify/), `status` and `dev`'s live
 * status line (status/).
 */
export * from "./verify/index.ts"
export * from "./dashboard/Dashboard.ts"
export * from "./status/Alerts.ts"
export * from "./status/PipelineStatus.ts"
export * from "./status/StatusLine.ts"
