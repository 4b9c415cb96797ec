/**
 * The floors (README "Architecture"), enforced in the lint step (`npm run lint`, run by
 * `npm test`): imports point only down.
 *
 *   cli, infra                                    the binary and the deployment: may import any floor below
 *   ops                                           verify, status, pipeline progress: packages + apps
 *   cdc-reader, stream-processors, loader         the apps: packages only, never each other
 *   packages/local-stack                          core + platform
 *   packages/platform                             core
 *   packages/core                                 nothing of ours
 *   test                                          end-to-end tests and benchmarks: anything
 *
 * Plus: no cycles, nothing unresolvable, every imported npm package declared in the
 * importing workspace's own package.json (dependencies, or devDependencies for tests;
 * the test runner, vitest and @effect/vitest, is the root's, and so is the type checker,
 * typescript, which only test/ may import).
 */
const { readFileSync } = require("node:fs")
const { join } = require("node:path")

const APPS = "(cdc-reader|stream-processors|loader)"
const above = (floors) => `^(${floors.join("|")})/`
const escapeRegExp = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

/**
 * Workspaces import each other through symlinks that resolve to their folders, which
 * dependency-cruiser cannot match against package.json: one rule per workspace forbids
 * importing a workspace it does not declare (and, from src/ or bin/, one it declares only
 * as a devDependency).
 */
const readJson = (file) => JSON.parse(readFileSync(join(__dirname, file), "utf8"))
const folders = readJson("package.json").workspaces
const nameOf = new Map(folders.map((folder) => [readJson(`${folder}/package.json`).name, folder]))
const declarationRules = folders.flatMap((folder) => {
  const pkg = readJson(`${folder}/package.json`)
  const runtime = Object.keys(pkg.dependencies ?? {})
  const dev = Object.keys(pkg.devDependencies ?? {})
  const others = [...nameOf].filter(([name]) => name !== pkg.name)
  const notIn = (declared) => others.filter(([name]) => !declared.includes(name)).map(([, f]) => escapeRegExp(f))
  const undeclared = notIn([...runtime, ...dev])
  const devOnly = notIn(runtime).filter((f) => !undeclared.includes(f))
  return [
    undeclared.length > 0 && {
      name: "workspace-declared",
      comment: `${folder} imports only the workspaces its package.json declares`,
      severity: "error",
      from: { path: `^${escapeRegExp(folder)}/` },
      to: { path: above(undeclared) }
    },
    devOnly.length > 0 && {
      name: "workspace-declared-as-dependency",
      comment: `${folder}/src and bin import only the workspaces declared in its dependencies`,
      severity: "error",
      from: { path: `^${escapeRegExp(folder)}/(src|bin)/` },
      to: { path: above(devOnly) }
    }
  ].filter(Boolean)
})

/** @type {import("dependency-cruiser").IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "core-imports-nothing-of-ours",
      comment: "packages/core is pure logic and contracts: it imports no other workspace",
      severity: "error",
      from: { path: "^packages/core/" },
      to: { path: above(["packages/platform", "packages/local-stack", APPS, "ops", "cli", "infra", "test"]) }
    },
    {
      name: "platform-imports-core-only",
      severity: "error",
      from: { path: "^packages/platform/" },
      to: { path: above(["packages/local-stack", APPS, "ops", "cli", "infra", "test"]) }
    },
    {
      name: "local-stack-imports-packages-only",
      severity: "error",
      from: { path: "^packages/local-stack/" },
      to: { path: above([APPS, "ops", "cli", "infra", "test"]) }
    },
    {
      name: "apps-import-packages-only",
      comment: "an app never imports ops, the binary, the tests, or another app: what two apps share is a contract in core",
      severity: "error",
      from: { path: `^${APPS}/` },
      to: { path: above([APPS, "ops", "cli", "infra", "test"]), pathNot: "^$1/" }
    },
    {
      name: "ops-imports-packages-and-apps",
      severity: "error",
      from: { path: "^ops/" },
      to: { path: above(["cli", "infra", "test"]) }
    },
    {
      name: "binary-imports-no-tests",
      severity: "error",
      from: { path: "^(cli|infra)/" },
      to: { path: above(["test"]) }
    },
    {
      name: "no-circular",
      severity: "error",
      from: {},
      to: { circular: true }
    },
    {
      name: "not-to-unresolvable",
      severity: "error",
      from: {},
      to: { couldNotResolve: true }
    },
    {
      name: "npm-declared",
      comment:
        "every npm package a workspace imports is in its own package.json; the test runner (vitest, @effect/vitest) is the root's, run once over every workspace's tests",
      severity: "error",
      from: {},
      to: { dependencyTypes: ["npm-no-pkg", "npm-unknown"], pathNot: "^node_modules/(vitest|@effect/vitest|typescript)/" }
    },
    {
      name: "npm-declared",
      comment:
        "the type checker (typescript) is the root's, like the test runner, and only test/ may read it: test/security/SqlText.ts checks the sources with it",
      severity: "error",
      from: { pathNot: "^test/" },
      to: { dependencyTypes: ["npm-no-pkg", "npm-unknown"], path: "^node_modules/typescript/" }
    },
    {
      name: "no-dev-dependency-in-src",
      comment: "a workspace's src/ and bin/ run in production: what they import is a dependency, not a devDependency",
      severity: "error",
      from: { path: "^(packages/[^/]+|[^/]+)/(src|bin)/", pathNot: "^test/" },
      to: { dependencyTypes: ["npm-dev"] }
    },
    ...declarationRules
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "^(\\.tmp|infra/cdk\\.out)/" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["import", "require", "node", "default", "types"],
      extensions: [".ts", ".js", ".mjs", ".cjs", ".d.ts", ".json"]
    },
    skipAnalysisNotInRules: false
  }
}
