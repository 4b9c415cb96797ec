#!/usr/bin/env node
// Entry point of the `totes-cdc` command. The sources are TypeScript run by Node's own
// type stripping (Node >= 22.18); npm scripts and npx put the project's Node 24
// (the `node` devDependency) first on PATH.
import { setImmediate } from "node:timers"

const [major, minor] = process.versions.node.split(".").map(Number)
if (major < 22 || (major === 22 && minor < 18)) {
  process.stderr.write(
    `totes-cdc: Node ${process.versions.node} is too old (needs >= 22.18); run it through npm ("npm start", "npx totes-cdc") so the project's Node 24 is used\n`
  )
  process.exit(2)
}
// Loading the program takes a moment; a Ctrl-C or SIGTERM meanwhile must not kill it by
// the signal's default action (no exit code of ours): it is held, and the program then
// ends at once with 130 (interrupted) before it starts anything.
const held = []
const hold = (signal) => held.push(signal)
process.on("SIGINT", hold)
process.on("SIGTERM", hold)
const { main } = await import("../src/main.ts")
// Loading kept the event loop busy: let a signal that arrived meanwhile be dispatched first.
await new Promise((resolve) => setImmediate(resolve))
process.removeListener("SIGINT", hold)
process.removeListener("SIGTERM", hold)
if (held.length > 0) process.exit(130)
main()
