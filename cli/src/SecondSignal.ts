/**
 * A second Ctrl-C (or SIGTERM) ends the process at once.
 *
 * The first SIGINT/SIGTERM interrupts the program (NodeRuntime.runMain), whose scopes
 * then stop everything in order. If the user signals again while that runs, the
 * last-resort cleanups (LastResort.ts: kill PostgreSQL's and kinesalite's process
 * groups, remove the temporary directory and the state file) run synchronously and the
 * process exits with 130.
 *
 * Invariant: a repeat within `SAME_SIGNAL_MS` of the first is the same Ctrl-C delivered
 * twice — the terminal signals the whole process group, and a wrapper in it (npm, a
 * shell that exec'd us) forwards its own copy — not a second press.
 */
import { runLastResorts } from "@totes-cdc/local-stack"

export const SAME_SIGNAL_MS = 300

/** Pure: whether a signal at `now` (ms) is a second one, after a first at `first` (undefined = none yet). */
export const isSecondSignal = (first: number | undefined, now: number): boolean => first !== undefined && now - first >= SAME_SIGNAL_MS

/** Installs the handlers (see the header). */
export const exitOnSecondSignal = (): void => {
  let first: number | undefined
  const onSignal = () => {
    const now = Date.now()
    if (isSecondSignal(first, now)) {
      runLastResorts()
      process.exit(130)
    }
    first ??= now
  }
  process.on("SIGINT", onSignal)
  process.on("SIGTERM", onSignal)
}
