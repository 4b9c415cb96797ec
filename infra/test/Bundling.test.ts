import { spawnSync } from "node:child_process"
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import { afterAll, describe, expect, it } from "vitest"
import { BUNDLE_FILE, esbuildOptions, LAMBDA_BUNDLE, LAMBDA_ENTRIES, nodejsBundling, PARQUET_WASM_FILE } from "../src/Bundling.ts"
import { logicalId, synthesize } from "./Fixtures.ts"

const outdir = mkdtempSync(join(tmpdir(), "totes-cdc-infra-bundling-"))
afterAll(() => rmSync(outdir, { recursive: true, force: true }))

/** The directory of a function's code asset in the cloud assembly. */
const assetDirectory = (template: ReturnType<typeof synthesize>["template"], functionId: string): string => {
  const key: string = template.findResources("AWS::Lambda::Function")[functionId]!["Properties"].Code.S3Key
  return join(outdir, `asset.${key.replace(/\.zip$/, "")}`)
}

/**
 * Imports `bundle` in a fresh Node process (this one's, Node 24) with `env` only, as the
 * Lambda runtime would; answers the handler's type and the import time, or the error's
 * message when the import fails.
 */
const importBundle = (bundle: string, env: Record<string, string>): { handler: string; importMs: number } | { error: string } => {
  const script = [
    `const t = performance.now()`,
    `try {`,
    `  const m = await import(${JSON.stringify(pathToFileURL(bundle).href)})`,
    `  process.stdout.write(JSON.stringify({ handler: typeof m.handler, importMs: Math.round(performance.now() - t) }))`,
    `} catch (error) { process.stdout.write(JSON.stringify({ error: error.message })) }`
  ].join("\n")
  const child = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
    env: { PATH: process.env["PATH"] ?? "", AWS_REGION: "eu-west-2", ...env },
    encoding: "utf8"
  })
  expect(child.stderr).toBe("")
  return JSON.parse(child.stdout)
}

describe("the full synth: Lambda bundles by esbuild, the image's build context, CloudFormation validation", () => {
  const { app, stack, template } = synthesize({}, { bundling: true, outdir, validate: true })
  const processorDir = assetDirectory(template, logicalId(stack.processor.function))
  const loaderDir = assetDirectory(template, logicalId(stack.loader.function))

  it("the processor's asset holds the ES module bundle and parquet-wasm's WebAssembly file next to it", () => {
    expect(readdirSync(processorDir).sort()).toEqual([BUNDLE_FILE, "parquet_wasm_bg.wasm"])
    expect(statSync(join(processorDir, "parquet_wasm_bg.wasm")).size).toBe(statSync(PARQUET_WASM_FILE).size)
    // 1.6 MB today (effect, apache-arrow, the AWS SDK): a guard against bundling something by mistake.
    for (const dir of [processorDir, loaderDir]) expect(statSync(join(dir, BUNDLE_FILE)).size).toBeLessThan(3 * 1024 * 1024)
  })

  it("the loader's asset too (it decodes Parquet)", () => {
    expect(readdirSync(loaderDir).sort()).toEqual([BUNDLE_FILE, "parquet_wasm_bg.wasm"])
  })

  it("each bundle loads in plain Node 24 with the stack's environment and exports its handler (AWS SDK inside, WebAssembly found)", () => {
    const processor = importBundle(join(processorDir, BUNDLE_FILE), { INGESTION_BUCKET: "ingestion", PROCESSED_BUCKET: "processed" })
    const loader = importBundle(join(loaderDir, BUNDLE_FILE), {
      WAREHOUSE_URL: "postgres://loader@warehouse.example:5432/warehouse",
      WAREHOUSE_CA_FILE: "/var/runtime/ca-cert.pem",
      WAREHOUSE_PASSWORD_SECRET_ARN: "arn:aws:secretsmanager:eu-west-2:123456789012:secret:w-AbCd12",
      PROCESSED_BUCKET: "processed"
    })
    expect(processor).toMatchObject({ handler: "function" })
    expect(loader).toMatchObject({ handler: "function" })
  })

  it("a bundle without its environment fails at import with one line naming the variable", () => {
    expect(importBundle(join(processorDir, BUNDLE_FILE), { PROCESSED_BUCKET: "processed" })).toEqual({
      error: "environment variable INGESTION_BUCKET is missing or invalid (Expected string); the stack sets it (infra/README.md)"
    })
  })

  it("passes CDK's CloudFormation validation (cfn-lint's rules) without an error or warning", () => {
    const report = JSON.parse(readFileSync(join(outdir, "validation-report.json"), "utf8"))
    expect(report.pluginReports.flatMap((plugin: { violations?: ReadonlyArray<unknown> }) => plugin.violations ?? [])).toEqual([])
    expect(app.node.tryGetContext("@aws-cdk/core:strictCfnValidateErrors")).toBe(true)
  })

  it("the reader image's build context holds the manifests and sources only (.dockerignore)", () => {
    const images = Object.values(JSON.parse(readFileSync(join(outdir, `${stack.stackName}.assets.json`), "utf8")).dockerImages) as ReadonlyArray<{ source: { directory: string; dockerFile: string } }>
    expect(images).toHaveLength(1)
    expect(images[0]!.source.dockerFile).toBe("docker/Dockerfile")
    const context = join(outdir, images[0]!.source.directory)
    const files: Array<string> = []
    const walk = (dir: string, prefix: string): void => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        if (entry.isDirectory()) walk(join(dir, entry.name), `${prefix}${entry.name}/`)
        else files.push(`${prefix}${entry.name}`)
      }
    }
    walk(context, "")
    for (const needed of ["package.json", "package-lock.json", "docker/Dockerfile", "cli/bin/totes-cdc.js", "cli/src/main.ts", "cdc-reader/src/ReaderSettings.ts", "packages/core/package.json", "infra/package.json", "test/package.json"]) {
      expect(files).toContain(needed)
    }
    expect(files.filter((file) => /(^|\/)(node_modules|\.git|\.totes-cdc|\.tmp|coverage|cdk\.out)\//.test(file))).toEqual([])
    expect(files.filter((file) => file.startsWith("infra/") || file.startsWith("test/"))).toEqual(["infra/package.json", "test/package.json"])
    expect(files.filter((file) => /\/test\//.test(file))).toEqual([])
    const bytes = files.reduce((sum, file) => sum + statSync(join(context, file)).size, 0)
    expect(bytes).toBeLessThan(10 * 1024 * 1024)
  })

  it("esbuild's own options are the stack's settings", () => {
    const bundling = nodejsBundling()
    const options = esbuildOptions(LAMBDA_ENTRIES.processor, outdir)
    expect(options).toMatchObject({ format: "esm", platform: "node", bundle: true, target: bundling.target, minify: bundling.minify, keepNames: bundling.keepNames })
    expect(options.banner).toEqual({ js: bundling.banner })
    expect(options.external).toEqual(bundling.externalModules)
    expect(options.mainFields).toEqual(bundling.mainFields)
    expect(bundling).toMatchObject({ forceDockerBundling: false, format: "esm", target: "node24", externalModules: [] })
    expect(LAMBDA_BUNDLE.external).toEqual([])
    expect(existsSync(LAMBDA_ENTRIES.loader)).toBe(true)
  })
})
