/**
 * The `totes-cdc` process's heap budget (README "Configuration", "Memory"), pure: whether the
 * launcher (cli/bin/totes-cdc.js) re-executes itself with V8's old-generation cap, and with
 * which arguments.
 *
 * Why: V8 sizes a heap from the host's memory (a limit of ~4.5 GB on a 24 GB machine) and then
 * lets the old generation grow to up to 4× what survived the last full collection before
 * collecting again; under a cap below its own default it grows by 1.3–2× instead (V8's
 * heap-controller.cc, `MaxGrowingFactor`). `dev` under a 1,000,000-row
 * transaction holds ~100–175 MB of live objects, yet its heap reached 390–440 MB uncapped and
 * ~330 MB with a 1,536 MB cap (BENCHMARKS.md, "Issue 17, fifth cuts"). The cap is read only at
 * start-up, hence the re-execution (`process.execve`: the same pid, stdio and signal
 * handling, so a supervisor or a terminal sees one process).
 *
 * Invariants:
 *  - A cap the user already gave node (`--max-old-space-size` in NODE_OPTIONS or node's own
 *    arguments) wins: nothing is re-executed, so the re-executed process (which has the cap)
 *    never re-executes again.
 *  - `TOTES_CDC_MAX_HEAP_MB` = 0 turns the cap off (V8's own sizing); anything but a whole
 *    number ≥ 256 (or 0) is `Invalid`, with one line naming the variable and the fix.
 *  - The new argument list keeps node's arguments (e.g. `--cpu-prof`) and the command's,
 *    in order: `execPath`, the cap, `execArgv`, then `argv` after node's own path.
 */

/** The environment variable of the cap, MB. */
export const MAX_HEAP_VARIABLE = "TOTES_CDC_MAX_HEAP_MB"

/**
 * The default cap of the old generation, MB: ~9× the live heap of `dev` at its busiest (module
 * header). 1,024 MB measured the same peak RSS (BENCHMARKS.md, "Issue 17, fifth cuts") with
 * less room to spare.
 */
export const DEFAULT_MAX_HEAP_MB = 1536

/** The smallest cap accepted, MB: `dev` alone keeps ~100 MB of live objects. */
export const MIN_MAX_HEAP_MB = 256

/** What the launcher does: re-execute node with `argv` (argv[0] = node's path), go on as is, or stop (exit 2). */
export type HeapBudget =
  | { readonly _tag: "Exec"; readonly argv: ReadonlyArray<string> }
  | { readonly _tag: "AsIs" }
  | { readonly _tag: "Invalid"; readonly message: string }

/** The running process as the launcher sees it (`process.execPath`, `process.execArgv`, `process.argv`, `process.env`). */
export interface LauncherProcess {
  readonly execPath: string
  readonly execArgv: ReadonlyArray<string>
  readonly argv: ReadonlyArray<string>
  readonly env: Readonly<Record<string, string | undefined>>
}

const CAP_FLAG = /^--max[-_]old[-_]space[-_]size(=|$)/

/** Pure: what the launcher does with `process` (module header). */
export const heapBudget = (process: LauncherProcess): HeapBudget => {
  const given = process.env[MAX_HEAP_VARIABLE]?.trim() ?? ""
  const mb = given === "" ? DEFAULT_MAX_HEAP_MB : /^\d+$/.test(given) ? Number(given) : Number.NaN
  if (Number.isNaN(mb) || (mb !== 0 && mb < MIN_MAX_HEAP_MB)) {
    return {
      _tag: "Invalid",
      message: `${MAX_HEAP_VARIABLE}=${given} is not a heap cap: give a whole number of MB ≥ ${MIN_MAX_HEAP_MB} (default ${DEFAULT_MAX_HEAP_MB}), or 0 for V8's own sizing`
    }
  }
  const nodeOptions = (process.env.NODE_OPTIONS ?? "").split(/\s+/)
  if (mb === 0 || [...process.execArgv, ...nodeOptions].some((arg) => CAP_FLAG.test(arg))) return { _tag: "AsIs" }
  return { _tag: "Exec", argv: [process.execPath, `--max-old-space-size=${mb}`, ...process.execArgv, ...process.argv.slice(1)] }
}
