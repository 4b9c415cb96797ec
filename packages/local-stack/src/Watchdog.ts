/**
 * Entry point of the local stack's watchdog child process: if the process that started
 * the stack dies without stopping it (kill -9), stops its PostgreSQL servers (fast shutdown)
 * and removes the temporary data directory, so nothing is left behind. Exits quietly when
 * every server stops first (a normal stop) or when it is told to (SIGTERM).
 * Arguments: parent pid, directory to remove ("" = keep), then each postmaster pid.
 */
import { removeTreeSync } from "./RemoveTree.ts"

const [parentArg = "", dir = "", ...postgresArgs] = process.argv.slice(2)
const parent = Number(parentArg)
const servers = postgresArgs.map(Number)

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

const cleanUp = () => {
  for (const server of servers) if (alive(server)) process.kill(server, "SIGINT")
  const deadline = Date.now() + 15_000
  const wait = setInterval(() => {
    if (!servers.some(alive) || Date.now() > deadline) {
      clearInterval(wait)
      if (dir !== "") removeTreeSync(dir)
      process.exit(0)
    }
  }, 100)
}

const watch = setInterval(() => {
  if (!servers.some(alive)) process.exit(0)
  if (!alive(parent)) {
    clearInterval(watch)
    cleanUp()
  }
}, 500)
process.on("SIGTERM", () => process.exit(0))
