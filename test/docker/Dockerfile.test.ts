/**
 * docker/Dockerfile and the build context the root .dockerignore leaves it:
 *  - dockerfile-utils (the maintained linter of the Dockerfile language server) finds
 *    nothing in it, errors and warnings alike — and does find a planted deprecated
 *    instruction and a second CMD, so the check is live;
 *  - the image is multi-stage and runs as the non-root `node` user the `totes-cdc` binary;
 *  - the build context, computed by docker-py's own .dockerignore matcher (docker-compose's
 *    build path; python3-docker comes with Debian's docker-compose), holds every workspace
 *    manifest (npm ci checks the lock file against all of them), the lock file, the binary,
 *    and the sources of every workspace the `cli` workspace runs (from the package.json
 *    files, not a list), each of them copied by the Dockerfile; and none of node_modules,
 *    .git, tests or the shared data set.
 */
import { spawnSync } from "node:child_process"
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, relative } from "node:path"
import { describe, expect, it } from "vitest"
import { dockerComposeBin, REPOSITORY_ROOT } from "./ComposeConfig.ts"

const DOCKERFILE = join(REPOSITORY_ROOT, "docker", "Dockerfile")
const LINTER = join(REPOSITORY_ROOT, "node_modules", "dockerfile-utils", "bin", "dockerfile-utils")

/** dockerfile-utils' findings for `file` (its `lint --json` output). */
const lint = (file: string): ReadonlyArray<{ readonly message: string; readonly severity: string; readonly range: { readonly start: { readonly line: number } } }> => {
  const run = spawnSync(process.execPath, [LINTER, "lint", "--json", file], { encoding: "utf8" })
  if (run.stdout.trim() === "") throw new Error(`dockerfile-utils printed nothing (exit ${run.status}): ${run.stderr}`)
  return JSON.parse(run.stdout) as ReturnType<typeof lint>
}

/** The files of the build context of the repository root, as docker-py computes it from the root .dockerignore (relative paths). */
const buildContext = (): ReadonlySet<string> => {
  const bin = dockerComposeBin()
  const python = (readFileSync(bin, "utf8").split("\n")[0] ?? "").slice(2).trim().split(/\s+/)[0] ?? "python3"
  const script = [
    "import json, os, sys",
    "from docker.utils.build import exclude_paths",
    "root = sys.argv[1]",
    "lines = [l.strip() for l in open(os.path.join(root, '.dockerignore')).read().splitlines()]",
    "patterns = [l for l in lines if l != '' and not l.startswith('#')]",
    "json.dump(sorted(exclude_paths(root, patterns, dockerfile='docker/Dockerfile')), sys.stdout)"
  ].join("\n")
  const run = spawnSync(python, ["-c", script, REPOSITORY_ROOT], { encoding: "utf8" })
  if (run.status !== 0) throw new Error(`docker-py could not compute the build context: ${run.stderr}`)
  return new Set(JSON.parse(run.stdout) as Array<string>)
}

/** Every file under `dir` (relative to the repository root). */
const filesUnder = (dir: string): ReadonlyArray<string> =>
  readdirSync(join(REPOSITORY_ROOT, dir), { recursive: true, encoding: "utf8" })
    .map((entry) => join(dir, entry))
    .filter((path) => statSync(join(REPOSITORY_ROOT, path)).isFile())

const readJson = (path: string) => JSON.parse(readFileSync(join(REPOSITORY_ROOT, path), "utf8")) as { name: string; workspaces?: Array<string>; dependencies?: Record<string, string> }

describe("docker/Dockerfile", () => {
  it("has no finding of dockerfile-utils, which does find a deprecated MAINTAINER and a second CMD", () => {
    expect(lint(DOCKERFILE)).toEqual([])
    const dir = mkdtempSync(join(tmpdir(), "dockerfile-"))
    try {
      const planted = join(dir, "Dockerfile")
      writeFileSync(planted, `${readFileSync(DOCKERFILE, "utf8")}\nMAINTAINER someone\nCMD ["status"]\n`)
      const messages = lint(planted).map((finding) => finding.message)
      expect(messages.some((m) => m.includes("MAINTAINER"))).toBe(true)
      expect(messages.some((m) => m.includes("only be one CMD"))).toBe(true)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it("builds in stages and runs the totes-cdc binary as the non-root node user", () => {
    const lines = readFileSync(DOCKERFILE, "utf8").split("\n").map((line) => line.trim())
    const stages = lines.filter((line) => line.startsWith("FROM "))
    expect(stages.length).toBeGreaterThanOrEqual(2)
    const lastStage = lines.slice(lines.lastIndexOf(stages.at(-1)!))
    expect(lastStage.filter((line) => line.startsWith("USER "))).toEqual(["USER node"])
    expect(lastStage).toContain('ENTRYPOINT ["node", "cli/bin/totes-cdc.js"]')
    expect(lastStage.some((line) => line.startsWith("COPY --from="))).toBe(true)
  })

  it("gets from .dockerignore every manifest, the lock file, the binary and the sources of the workspaces the cli runs, and copies them; nothing else of weight", () => {
    const context = buildContext()
    const dockerfile = readFileSync(DOCKERFILE, "utf8")
    const copied = dockerfile
      .split("\n")
      .filter((line) => line.startsWith("COPY ") && !line.includes("--from="))
      .flatMap((line) => line.replace(/^COPY\s+/, "").split(/\s+/).slice(0, -1))
    const isCopied = (path: string) => copied.some((source) => path === source || path.startsWith(`${source.replace(/\/$/, "")}/`))

    const root = readJson("package.json")
    const folderOf = new Map((root.workspaces ?? []).map((folder) => [readJson(join(folder, "package.json")).name, folder]))
    for (const path of ["package.json", "package-lock.json", ...(root.workspaces ?? []).map((folder) => join(folder, "package.json"))]) {
      expect({ path, inContext: context.has(path), copied: isCopied(path) }).toEqual({ path, inContext: true, copied: true })
    }
    // The workspaces `cli` runs, transitively, from their manifests.
    const running = new Set<string>()
    const visit = (folder: string) => {
      if (running.has(folder)) return
      running.add(folder)
      for (const dependency of Object.keys(readJson(join(folder, "package.json")).dependencies ?? {})) {
        const next = folderOf.get(dependency)
        if (next !== undefined) visit(next)
      }
    }
    visit("cli")
    expect([...running].sort()).toEqual(["cdc-reader", "cli", "loader", "ops", "packages/core", "packages/local-stack", "packages/platform", "stream-processors"])
    for (const path of [...[...running].flatMap((folder) => filesUnder(join(folder, "src"))), "cli/bin/totes-cdc.js"]) {
      expect({ path, inContext: context.has(path), copied: isCopied(path) }).toEqual({ path, inContext: true, copied: true })
    }
    const heavy = [...context].filter((path) => /(^|\/)(node_modules|\.git|test|cdk\.out|coverage|\.totes-cdc)(\/|$)/.test(path) && path !== "test/package.json" && path !== "test")
    expect(heavy).toEqual([])
    expect([...context].filter((path) => path.endsWith(".sql") || path.includes("shared/"))).toEqual([])
    expect(relative(REPOSITORY_ROOT, DOCKERFILE)).toBe("docker/Dockerfile")
  })
})
