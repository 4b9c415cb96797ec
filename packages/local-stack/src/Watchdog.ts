/**
 * Entry point of the local stack's watchdog child process: if the process that started
 * the stack dies without stopping it (kill -9), stops PostgreSQL (fast shutdown) and
 * removes the temporary data directory, so nothing is left behind. Exits quietly when
 * PostgreSQL stops first (a normal stop) or when it is told to (SIGTERM).
 * Arguments: parent pid, PostgreSQL postmaster pid, directory to remove ("" = keep).
 */
import { removeTreeSync } from "./RemoveTree.ts"

const [parentArg = "", postgresArg = "", dir = ""] = process.argv.slice(2)
const parent = Number(parentArg)
const postgres = Number(postgresArg)

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

const cleanUp = () => {
  if (alive(postgres)) process.kill(postgres, "SIGINT")
  const deadline = Date.now() + 15_000
  const wait = setInterval(() => {
    if (!alive(postgres) || Date.now() > deadline) {
      clearInterval(wait)
      if (dir !== "") removeTreeSync(dir)
      process.exit(0)
    }
  }, 100)
}

const watch = setInterval(() => {
  if (!alive(postgres)) process.exit(0)
  if (!alive(parent)) {
    clearInterval(watch)
    cleanUp()
  }
}, 500)
process.on("SIGTERM", () => process.exit(0))
