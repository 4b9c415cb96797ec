/**
 * The whole pipeline on the real data set (issue 5, "End-to-end tests") on the embedded
 * local stack: embedded PostgreSQL, kinesalite and s3rver, started in-process. The
 * scenario itself (components as `totes-cdc` child processes, kills and restarts, verify,
 * archive replay) is PipelineScenario.ts; Pipeline.containers.integration.test.ts runs the
 * same scenario on a PostgreSQL container and LocalStack.
 */
import { layer } from "@effect/vitest"
import { LocalStack } from "@totes-cdc/local-stack"
import { quietly } from "@totes-cdc/local-stack/testing"
import { PIPELINE_SCENARIO, PIPELINE_SCENARIO_TIMEOUT, pipelineScenario } from "./PipelineScenario.ts"

layer(LocalStack.layer(), { excludeTestServices: true })("the pipeline end to end on the 2024-02-23 data set", (it) => {
  it.effect(PIPELINE_SCENARIO, () => quietly(pipelineScenario), { timeout: PIPELINE_SCENARIO_TIMEOUT })
})
