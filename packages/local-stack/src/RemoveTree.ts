/**
 * Removes a directory tree fast: a long `dev` run's s3rver directory holds hundreds of
 * thousands of files (three per object), which Node's `fs.rm` removes at about 5,000
 * files/s — 20 s and more after Ctrl-C — where `rm -rf` takes about 1 s per 100,000.
 * Falls back to `fs.rm` where there is no `rm` (Windows). A tree already gone is no error.
 */
import { execFile, spawnSync } from "node:child_process"
import { rmSync } from "node:fs"
import { rm } from "node:fs/promises"

/** Removes `dir` and everything below it. */
export const removeTree = (dir: string): Promise<void> =>
  new Promise<void>((resolve) => execFile("rm", ["-rf", "--", dir], (error) => resolve(error === null ? undefined : rm(dir, { recursive: true, force: true }))))

/** `removeTree`, blocking: for the last resort, when the process is about to exit. */
export const removeTreeSync = (dir: string): void => {
  if (spawnSync("rm", ["-rf", "--", dir], { stdio: "ignore" }).status !== 0) rmSync(dir, { recursive: true, force: true })
}
