/**
 * When the containers test runs, skips or fails (ContainerRuntime.ts), without a container
 * runtime: the probe is given stand-ins for testcontainers' search (one that finds a runtime,
 * one that rejects as testcontainers does here, one that never answers, on the TestClock),
 * and the plan is checked for every combination of answer and TOTES_CDC_REQUIRE_CONTAINERS.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"
import { type ContainerRuntime, containerTestPlan, probeContainerRuntime } from "./ContainerRuntime.ts"

const NO_STRATEGY = "Could not find a working container runtime strategy"
const found: ContainerRuntime = { _tag: "Found" }
const missing: ContainerRuntime = { _tag: "Missing", reason: `no container runtime (${NO_STRATEGY})` }

describe("probing for a container runtime", () => {
  it.effect("a runtime testcontainers finds is found", () =>
    Effect.gen(function* () {
      expect(yield* probeContainerRuntime(() => Promise.resolve({}))).toEqual(found)
    })
  )

  it.effect("testcontainers' failure is the reason, in its own words", () =>
    Effect.gen(function* () {
      expect(yield* probeContainerRuntime(() => Promise.reject(new Error(NO_STRATEGY)))).toEqual(missing)
    })
  )

  it.effect("a search that never answers is given up after 20 s, not a millisecond before", () =>
    Effect.gen(function* () {
      const probe = yield* Effect.forkChild(probeContainerRuntime(() => new Promise(() => {})))
      yield* TestClock.adjust("19999 millis")
      expect(probe.pollUnsafe()).toBeUndefined()
      yield* TestClock.adjust("1 millis")
      expect(yield* Fiber.join(probe)).toEqual({ _tag: "Missing", reason: "no container runtime (none answered within 20s)" })
    })
  )
})

describe("what the containers test does", () => {
  it("runs wherever a runtime is found", () => {
    for (const required of [undefined, "false", "true"]) expect(containerTestPlan(found, required)).toEqual({ _tag: "Run" })
  })

  it("without a runtime, is skipped with the reason unless required", () => {
    for (const required of [undefined, "false"]) expect(containerTestPlan(missing, required)).toEqual({ _tag: "Skip", reason: missing.reason })
  })

  it("without a runtime and TOTES_CDC_REQUIRE_CONTAINERS=true, fails naming the setting and the reason", () => {
    const plan = containerTestPlan(missing, "true")
    expect(plan._tag).toBe("Fail")
    expect(plan._tag === "Fail" && plan.message).toContain(`TOTES_CDC_REQUIRE_CONTAINERS=true but ${missing.reason}`)
  })

  it("fails on any other value of TOTES_CDC_REQUIRE_CONTAINERS, runtime or not", () => {
    for (const runtime of [found, missing]) {
      expect(containerTestPlan(runtime, "yes")).toEqual({
        _tag: "Fail",
        message: `TOTES_CDC_REQUIRE_CONTAINERS must be "true" or "false" (it is "yes"); set it to true where a container runtime must be found`
      })
    }
  })
})
