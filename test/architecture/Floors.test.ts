/**
 * The import rules of `.dependency-cruiser.cjs` (run by `npm run lint`) catch what they
 * are for. Each case builds a small tree in a temporary folder laid out like the
 * repository, plants one import, cruises it with the repository's own rule set, and
 * expects the named rule to fire; the tree without the planted import has no violation.
 */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { cruise, type ICruiseResult, type IForbiddenRuleType } from "dependency-cruiser"
import { afterEach, describe, expect, it } from "vitest"

const config = createRequire(import.meta.url)("../../.dependency-cruiser.cjs") as {
  readonly forbidden: ReadonlyArray<IForbiddenRuleType>
}

/** A tree where every import points down: core ← platform ← local-stack ← an app ← ops ← cli. */
const downward: Record<string, string> = {
  "packages/core/src/Contract.ts": `export const contract = 1\n`,
  "packages/platform/src/Adapter.ts": `import { contract } from "../../core/src/Contract.ts"\nexport const adapter = contract\n`,
  "packages/local-stack/src/Stack.ts": `import { adapter } from "../../platform/src/Adapter.ts"\nexport const stack = adapter\n`,
  "cdc-reader/src/Reader.ts": `import { adapter } from "../../packages/platform/src/Adapter.ts"\nexport const reader = adapter\n`,
  "loader/src/Loader.ts": `import { contract } from "../../packages/core/src/Contract.ts"\nexport const loader = contract\n`,
  "ops/src/Verify.ts": `import { loader } from "../../loader/src/Loader.ts"\nexport const verify = loader\n`,
  "cli/src/main.ts": `import { verify } from "../../ops/src/Verify.ts"\nimport { reader } from "../../cdc-reader/src/Reader.ts"\nexport const main = [verify, reader]\n`
}

const folders: Array<string> = []
afterEach(() => {
  for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true })
})

/** The names of the rules the repository's rule set reports for `files` (path → source). */
const violatedRules = async (files: Record<string, string>) => {
  const baseDir = mkdtempSync(join(tmpdir(), "totes-cdc-floors-"))
  folders.push(baseDir)
  for (const [path, source] of Object.entries(files)) {
    mkdirSync(dirname(join(baseDir, path)), { recursive: true })
    writeFileSync(join(baseDir, path), source)
  }
  const roots = [...new Set(Object.keys(files).map((path) => path.split("/")[0]!))].filter((root) => root !== "node_modules")
  const { output } = await cruise(roots, {
    baseDir,
    validate: true,
    ruleSet: { forbidden: [...config.forbidden] },
    tsPreCompilationDeps: true,
    doNotFollow: { path: "node_modules" }
  })
  const result = output as ICruiseResult
  return [...new Set(result.summary.violations.map((v) => v.rule.name))].sort()
}

describe("the import rules", () => {
  it("find nothing in a tree whose imports all point down", async () => {
    expect(await violatedRules(downward)).toEqual([])
  })

  it("fail an upward import from core into platform", async () => {
    const rules = await violatedRules({
      ...downward,
      "packages/core/src/Upward.ts": `import { adapter } from "../../platform/src/Adapter.ts"\nexport const up = adapter\n`
    })
    expect(rules).toContain("core-imports-nothing-of-ours")
  })

  it("fail an app importing another app", async () => {
    const rules = await violatedRules({
      ...downward,
      "loader/src/Sideways.ts": `import { reader } from "../../cdc-reader/src/Reader.ts"\nexport const sideways = reader\n`
    })
    expect(rules).toContain("apps-import-packages-only")
  })

  it("fail an app importing the operations floor, and the operations floor importing the binary", async () => {
    const rules = await violatedRules({
      ...downward,
      "loader/src/Up.ts": `import { verify } from "../../ops/src/Verify.ts"\nexport const up = verify\n`,
      "ops/src/Up.ts": `import { main } from "../../cli/src/main.ts"\nexport const up = main\n`
    })
    expect(rules).toEqual(expect.arrayContaining(["apps-import-packages-only", "ops-imports-packages-and-apps"]))
  })

  it("fail an import of an npm package the importing workspace's package.json does not declare", async () => {
    const npmPackage = {
      "node_modules/left-pad/package.json": JSON.stringify({ name: "left-pad", version: "1.3.0", main: "index.js" }),
      "node_modules/left-pad/index.js": `module.exports = (s) => s\n`
    }
    const declared = { "packages/core/package.json": JSON.stringify({ name: "core", dependencies: { "left-pad": "1.3.0" } }) }
    const undeclared = { "packages/core/package.json": JSON.stringify({ name: "core", dependencies: {} }) }
    const importing = { "packages/core/src/Pad.ts": `import pad from "left-pad"\nexport const padded = pad("x")\n` }
    expect(await violatedRules({ ...downward, ...npmPackage, ...declared, ...importing })).toEqual([])
    expect(await violatedRules({ ...downward, ...npmPackage, ...undeclared, ...importing })).toEqual(["npm-declared"])
  })

  it("let test/ read the root's type checker (typescript), and no workspace's src/", async () => {
    const typescript = {
      "node_modules/typescript/package.json": JSON.stringify({ name: "typescript", version: "6.0.3", main: "index.js" }),
      "node_modules/typescript/index.js": `module.exports = {}\n`,
      "test/package.json": JSON.stringify({ name: "test", dependencies: {} }),
      "packages/core/package.json": JSON.stringify({ name: "core", dependencies: {} })
    }
    const reading = (path: string) => ({ [path]: `import ts from "typescript"\nexport const checker = ts\n` })
    expect(await violatedRules({ ...downward, ...typescript, ...reading("test/security/Check.ts") })).toEqual([])
    expect(await violatedRules({ ...downward, ...typescript, ...reading("packages/core/src/Check.ts") })).toEqual(["npm-declared"])
  })

  it("fail a cycle inside one floor", async () => {
    const rules = await violatedRules({
      ...downward,
      "packages/core/src/A.ts": `import { b } from "./B.ts"\nexport const a = () => b\n`,
      "packages/core/src/B.ts": `import { a } from "./A.ts"\nexport const b = () => a\n`
    })
    expect(rules).toEqual(["no-circular"])
  })
})
