/**
 * One run at a time per kept data directory (`--data-dir`): `totes-cdc.lock` in it names
 * the process that holds it and the helper processes it started (kinesalite).
 *
 * Invariants:
 *  - Taken only when no live process holds it: a holder that still runs (same pid, same
 *    start time — not a later process reusing the pid) is `LocalStackSetupError` ("in use").
 *  - A lock left by a run that died (kill -9, OOM) is taken over, saying so, once the
 *    helpers it names are gone: asked to stop (SIGTERM) at once, killed after 5 s. So an
 *    immediate restart never meets the old kinesalite on its LevelDB.
 *  - The file is replaced atomically (written aside, renamed) and removed when the scope
 *    closes; a kill -9 leaves it, to be taken over.
 */
import { Effect, Schema, type Scope } from "effect"
import { readFileSync, renameSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { LocalStackSetupError } from "./LocalStackError.ts"
import { processIdentity, signalProcess, stillRuns } from "./Processes.ts"

const Holder = Schema.Struct({ pid: Schema.Number, identity: Schema.optional(Schema.String) })
const LockFile = Schema.Struct({ ...Holder.fields, helpers: Schema.Array(Holder) })
type LockFile = typeof LockFile.Type
const decode = Schema.decodeUnknownOption(Schema.fromJsonString(LockFile))

/** A taken lock: records helper processes as they start. */
export interface DataDirLock {
  readonly addHelper: (pid: number) => Effect.Effect<void>
}

const HELPERS_LIMIT_MS = 5_000

/** Takes the lock of `dir` for the life of the scope (see the header). Fails with `LocalStackSetupError` when another run holds it. */
export const lockDataDir = (dir: string): Effect.Effect<DataDirLock, LocalStackSetupError, Scope.Scope> =>
  Effect.gen(function* () {
    const path = join(dir, "totes-cdc.lock")
    const write = (content: LockFile) =>
      Effect.sync(() => {
        writeFileSync(`${path}.${process.pid}`, JSON.stringify(content))
        renameSync(`${path}.${process.pid}`, path)
      })
    const former = yield* Effect.sync(() => {
      try {
        return decode(readFileSync(path, "utf8"))
      } catch {
        return undefined
      }
    })
    if (former !== undefined && former._tag === "Some") {
      const { pid, identity, helpers } = former.value
      if (stillRuns(pid, identity)) {
        return yield* new LocalStackSetupError({
          message: `data directory ${dir} is in use by another totes-cdc run (pid ${pid}); stop it first, or pass another --data-dir`
        })
      }
      const running = helpers.filter((h) => stillRuns(h.pid, h.identity))
      if (running.length > 0) {
        yield* Effect.logInfo(`taking over ${dir} from a run that did not stop (pid ${pid}): stopping its helper processes ${running.map((h) => h.pid).join(", ")}`)
        for (const helper of running) signalProcess(helper.pid, "SIGTERM")
        const started = Date.now()
        while (running.some((h) => stillRuns(h.pid, h.identity)) && Date.now() - started < HELPERS_LIMIT_MS) yield* Effect.sleep("50 millis")
        for (const helper of running) if (stillRuns(helper.pid, helper.identity)) signalProcess(helper.pid, "SIGKILL")
      }
    }
    let content: LockFile = { pid: process.pid, identity: processIdentity(process.pid), helpers: [] }
    yield* Effect.acquireRelease(write(content), () => Effect.sync(() => rmSync(path, { force: true })))
    return {
      addHelper: (pid) =>
        Effect.suspend(() => {
          content = { ...content, helpers: [...content.helpers, { pid, identity: processIdentity(pid) }] }
          return write(content)
        })
    }
  })
