/**
 * Last-resort cleanups: synchronous actions that undo what a scope acquired — kill a
 * server's process group, remove a temporary directory, remove the state file — for
 * when the process must end before its scopes close (a second Ctrl-C).
 *
 * Invariants:
 *  - An action is registered when its resource is acquired and unregistered when the
 *    resource is released the normal way, so only what is still held is undone.
 *  - `runLastResorts` runs every registered action once, newest first (the reverse of
 *    acquisition, as scopes release), and goes on past an action that throws.
 */
import { Effect, type Scope } from "effect"

const actions = new Set<() => void>()

/** Registers `action` for the life of the current scope (see the header). */
export const lastResort = (action: () => void): Effect.Effect<void, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => void actions.add(action)),
    () => Effect.sync(() => void actions.delete(action))
  )

/** Runs and forgets every registered action, newest first. */
export const runLastResorts = (): void => {
  const pending = [...actions].reverse()
  actions.clear()
  for (const action of pending) {
    try {
      action()
    } catch {
      // the next one must still run
    }
  }
}
