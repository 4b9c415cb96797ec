/**
 * Whether the containers path can run here, and what the test does about it: run on a
 * container runtime, be reported as skipped with the reason when there is none, or fail
 * when `TOTES_CDC_REQUIRE_CONTAINERS=true` says there must be one (the CI job that exists
 * to run it cannot pass vacuously).
 *
 * Invariants:
 *  - The probe is bounded (`RUNTIME_PROBE_LIMIT`): testcontainers tries its strategies one
 *    after the other, and a `DOCKER_HOST` that does not answer can keep it waiting; the
 *    probe then answers "missing" with what it waited for. It never fails.
 *  - Every reason reads "no container runtime (<what testcontainers said>)".
 *  - `TOTES_CDC_REQUIRE_CONTAINERS` is "true", "false" or unset; any other value is a
 *    failure naming the setting and its values, never read as either.
 */
import { Duration, Effect } from "effect"
import { getContainerRuntimeClient } from "testcontainers"

/** What the probe found. */
export type ContainerRuntime = { readonly _tag: "Found" } | { readonly _tag: "Missing"; readonly reason: string }

/** What the containers test does. */
export type ContainerTestPlan =
  | { readonly _tag: "Run" }
  | { readonly _tag: "Skip"; readonly reason: string }
  | { readonly _tag: "Fail"; readonly message: string }

/** How long the probe waits for testcontainers to find a runtime. */
export const RUNTIME_PROBE_LIMIT = Duration.seconds(20)

/** The setting that turns "skipped" into a failure. */
export const REQUIRE_CONTAINERS = "TOTES_CDC_REQUIRE_CONTAINERS"

/**
 * Asks `findRuntime` (testcontainers' own search: TESTCONTAINERS_HOST_OVERRIDE, DOCKER_HOST,
 * ~/.testcontainers.properties, the Docker and rootless sockets) for a working runtime,
 * waiting at most `limit`.
 */
export const probeContainerRuntime = (
  findRuntime: () => Promise<unknown> = getContainerRuntimeClient,
  limit: Duration.Duration = RUNTIME_PROBE_LIMIT
): Effect.Effect<ContainerRuntime> =>
  Effect.tryPromise({
    try: () => findRuntime(),
    catch: (cause) => (cause instanceof Error ? cause.message : String(cause))
  }).pipe(
    Effect.as<ContainerRuntime>({ _tag: "Found" }),
    Effect.timeoutOrElse({ duration: limit, orElse: () => Effect.fail(`none answered within ${Duration.format(limit)}`) }),
    Effect.catch((why) => Effect.succeed<ContainerRuntime>({ _tag: "Missing", reason: `no container runtime (${why})` }))
  )

/** Pure: what the test does given the probe's answer and the value of `TOTES_CDC_REQUIRE_CONTAINERS`. */
export const containerTestPlan = (runtime: ContainerRuntime, required: string | undefined): ContainerTestPlan => {
  if (required !== undefined && required !== "true" && required !== "false") {
    return { _tag: "Fail", message: `${REQUIRE_CONTAINERS} must be "true" or "false" (it is "${required}"); set it to true where a container runtime must be found` }
  }
  if (runtime._tag === "Found") return { _tag: "Run" }
  if (required === "true") {
    return { _tag: "Fail", message: `${REQUIRE_CONTAINERS}=true but ${runtime.reason}; start Docker (or point DOCKER_HOST at a running engine) on this machine` }
  }
  return { _tag: "Skip", reason: runtime.reason }
}
