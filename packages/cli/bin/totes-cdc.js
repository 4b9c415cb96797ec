#!/usr/bin/env node
// Entry point of the `totes-cdc` command. The sources are TypeScript run by Node's own
// type stripping (Node >= 22.18); npm scripts and npx put the project's Node 24
// (the `node` devDependency) first on PATH.
const [major, minor] = process.versions.node.split(".").map(Number)
if (major < 22 || (major === 22 && minor < 18)) {
  process.stderr.write(
    `totes-cdc: Node ${process.versions.node} is too old (needs >= 22.18); run it through npm ("npm start", "npx totes-cdc") so the project's Node 24 is used\n`
  )
  process.exit(2)
}
await import("../src/main.ts")
