/**
 * Operations over the running pipeline (the ops floor, above the three apps): `verify`
 * and the wait for the pipeline to pass a position (verify/), `status` and `dev`'s live
 * status line (status/), and replaying a recording into a stream (replay/).
 */
export * from "./verify/index.ts"
export * from "./replay/FeedRecording.ts"
export * from "./replay/Pacing.ts"
export * from "./dashboard/Dashboard.ts"
export * from "./status/Alerts.ts"
export * from "./status/PipelineStatus.ts"
export * from "./status/StatusLine.ts"
