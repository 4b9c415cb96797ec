/**
 * Files the tests use from outside the workspaces: the real data set (read from the
 * shared folder beside the checkout, never committed) and the `totes-cdc` entry point.
 */
import { Effect, References } from "effect"
import { fileURLToPath } from "node:url"

/** ../shared/totesys/totesys-2024-02-23.sql, relative to the repository root. */
export const TOTESYS_DUMP = fileURLToPath(new URL("../../../../../shared/totesys/totesys-2024-02-23.sql", import.meta.url))

/** The `totes-cdc` command's entry point, for tests that run it as a child process. */
export const CLI_BIN = fileURLToPath(new URL("../../../../cli/bin/totes-cdc.js", import.meta.url))

/** Runs `effect` with only errors logged, so tests stay quiet. */
export const quietly = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  effect.pipe(Effect.provideService(References.MinimumLogLevel, "Error"))
