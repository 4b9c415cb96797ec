/**
 * How the Lambda functions are bundled, in one place: the stack's `NodejsFunction`s use
 * `nodejsBundling()`, and a test can build the very same bundles with esbuild's own API
 * (`esbuildOptions` + `copyRuntimeFiles`).
 *
 * Choices (infra/README.md "Bundles"):
 *  - ESM for Node 24 (`index.mjs`), minified with names kept (Effect's spans and errors
 *    name functions and classes), no source map (it would be loaded on every cold start to
 *    be of use).
 *  - The AWS SDK is bundled, not taken from the runtime: the runtime's SDK is another
 *    version than the one the tests run against, and changes under a deployed function
 *    when AWS updates it; bundling pins it, and esbuild keeps only the clients used.
 *  - CommonJS dependencies (pg, parquet-wasm's Node build) call `require` and read
 *    `__dirname`, which an ES module does not have: the banner defines both.
 *  - parquet-wasm's Node build reads `parquet_wasm_bg.wasm` from its own directory at
 *    import (`${__dirname}/parquet_wasm_bg.wasm`); in the bundle `__dirname` is the bundle's
 *    directory, so the file is copied next to `index.mjs` after bundling.
 */
import { copyFileSync } from "node:fs"
import { createRequire } from "node:module"
import { basename, dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { OutputFormat, type BundlingOptions } from "aws-cdk-lib/aws-lambda-nodejs"
import type { BuildOptions } from "esbuild"

/** The repository's root (this file is infra/src/Bundling.ts). */
export const REPOSITORY_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..")

/** The lock file `NodejsFunction` needs (`depsLockFilePath`); its folder is the project root. */
export const LOCK_FILE = join(REPOSITORY_ROOT, "package-lock.json")

/** The entry modules of the two functions. */
export const LAMBDA_ENTRIES = {
  processor: join(REPOSITORY_ROOT, "infra/src/lambda/processor.ts"),
  loader: join(REPOSITORY_ROOT, "infra/src/lambda/loader.ts")
} as const

/** The bundle's file name, as `NodejsFunction` writes it for ESM (handler `index.handler`). */
export const BUNDLE_FILE = "index.mjs"

/** The WebAssembly module parquet-wasm's Node build (the one `import "parquet-wasm"` resolves to on Node) loads. */
export const PARQUET_WASM_FILE = createRequire(join(REPOSITORY_ROOT, "packages/platform/package.json")).resolve("parquet-wasm/node/parquet_wasm_bg.wasm")

/** Files a bundle reads at run time from its own directory. */
export const RUNTIME_FILES: ReadonlyArray<string> = [PARQUET_WASM_FILE]

/** `require`, `__filename` and `__dirname` for the CommonJS modules inside the ES module bundle (no `$`, backquote or double quote: it passes through a shell). */
export const ESM_BANNER = [
  "import { createRequire as __totesCreateRequire } from 'node:module';",
  "import { fileURLToPath as __totesFileURLToPath } from 'node:url';",
  "import { dirname as __totesDirname } from 'node:path';",
  "const require = __totesCreateRequire(import.meta.url);",
  "const __filename = __totesFileURLToPath(import.meta.url);",
  "const __dirname = __totesDirname(__filename);"
].join(" ")

/** The esbuild settings both builds share. */
export const LAMBDA_BUNDLE = {
  target: "node24",
  minify: true,
  keepNames: true,
  sourcemap: false,
  /** ESM entry points of dual packages first (smaller, tree-shaken), CommonJS otherwise. */
  mainFields: ["module", "main"],
  banner: ESM_BANNER,
  /** Nothing is left to the runtime (the AWS SDK included, see the module header). */
  external: [] as ReadonlyArray<string>
} as const

/** Shell commands copying `RUNTIME_FILES` into a bundle's output directory. */
const copyCommands = (outputDir: string): Array<string> => RUNTIME_FILES.map((file) => `cp "${file}" "${join(outputDir, basename(file))}"`)

/** The `bundling` props of the stack's `NodejsFunction`s: local esbuild, never Docker. */
export const nodejsBundling = (): BundlingOptions => ({
  forceDockerBundling: false,
  format: OutputFormat.ESM,
  target: LAMBDA_BUNDLE.target,
  minify: LAMBDA_BUNDLE.minify,
  keepNames: LAMBDA_BUNDLE.keepNames,
  sourceMap: LAMBDA_BUNDLE.sourcemap,
  mainFields: [...LAMBDA_BUNDLE.mainFields],
  banner: LAMBDA_BUNDLE.banner,
  externalModules: [...LAMBDA_BUNDLE.external],
  commandHooks: {
    beforeBundling: () => [],
    beforeInstall: () => [],
    afterBundling: (_inputDir: string, outputDir: string) => copyCommands(outputDir)
  }
})

/** The same bundle of `entry` as `NodejsFunction` makes, as esbuild `build` options writing `<outdir>/index.mjs`. */
export const esbuildOptions = (entry: string, outdir: string): BuildOptions => ({
  entryPoints: [entry],
  outfile: join(outdir, BUNDLE_FILE),
  bundle: true,
  platform: "node",
  format: "esm",
  target: LAMBDA_BUNDLE.target,
  minify: LAMBDA_BUNDLE.minify,
  keepNames: LAMBDA_BUNDLE.keepNames,
  sourcemap: LAMBDA_BUNDLE.sourcemap,
  mainFields: [...LAMBDA_BUNDLE.mainFields],
  banner: { js: LAMBDA_BUNDLE.banner },
  external: [...LAMBDA_BUNDLE.external],
  logLevel: "warning"
})

/** Copies `RUNTIME_FILES` next to a bundle built with `esbuildOptions` (what `afterBundling` does for the stack). */
export const copyRuntimeFiles = (outdir: string): void => {
  for (const file of RUNTIME_FILES) copyFileSync(file, join(outdir, basename(file)))
}
