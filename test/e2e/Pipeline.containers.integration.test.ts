/**
 * The end-to-end scenario of Pipeline.integration.test.ts (PipelineScenario.ts) on
 * containers instead of the embedded stack: a PostgreSQL container and LocalStack for
 * Kinesis and S3 (ContainerStack.ts), the components still `totes-cdc` child processes.
 *
 * Where no container runtime is found the test is reported as skipped, and the reason
 * ("no container runtime (…)") is printed with it; with TOTES_CDC_REQUIRE_CONTAINERS=true
 * (the CI job that exists to run it) that is a failure instead (ContainerRuntime.ts).
 */
import { describe, expect, it } from "@effect/vitest"
import { quietly } from "@totes-cdc/local-stack/testing"
import { Effect } from "effect"
import { LOCALSTACK_IMAGE, POSTGRES_IMAGE } from "./ContainerImages.ts"
import { containerTestPlan, probeContainerRuntime, REQUIRE_CONTAINERS } from "./ContainerRuntime.ts"
import { containerStackLayer } from "./ContainerStack.ts"
import { PIPELINE_SCENARIO, PIPELINE_SCENARIO_TIMEOUT, pipelineScenario } from "./PipelineScenario.ts"

/** The scenario's time plus starting the containers (pulling an image the first time on a laptop). */
const TIMEOUT = PIPELINE_SCENARIO_TIMEOUT + 300_000

const plan = containerTestPlan(await Effect.runPromise(probeContainerRuntime()), process.env[REQUIRE_CONTAINERS])

describe(`the pipeline end to end on the 2024-02-23 data set, on containers (${POSTGRES_IMAGE}, ${LOCALSTACK_IMAGE})`, () => {
  switch (plan._tag) {
    case "Run":
      // The scenario's scope (child processes, pools) closes before the containers stop.
      it.live(PIPELINE_SCENARIO, () => Effect.scoped(quietly(pipelineScenario)).pipe(Effect.provide(containerStackLayer())), { timeout: TIMEOUT })
      break
    case "Skip":
      it(PIPELINE_SCENARIO, (context) => {
        // The default reporter shows a skip's note only where it prints the test's line (a TTY, one file): say it here too.
        console.warn(`skipped: ${plan.reason}`)
        context.skip(plan.reason)
      })
      break
    case "Fail":
      it(PIPELINE_SCENARIO, () => expect.fail(plan.message))
  }
})
