/**
 * Where the time goes in a V8 CPU profile (`.cpuprofile`, e.g. from
 * `npm run bench -- --cpu-prof-dir DIR` or `node --cpu-prof`): self time per package or
 * workspace module, per function, and the inclusive time of chosen functions.
 *
 *   node test/bench/ProfileSummary.ts FILE.cpuprofile [--top N] [--inclusive NAME,NAME…] [--categories reader|processor]
 *
 * `--categories` picks the benchmark whose categories are used (default: reader).
 */
import { readFileSync } from "node:fs"
import { parseArgs } from "node:util"

interface ProfileNode {
  readonly id: number
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number }
  readonly children?: ReadonlyArray<number>
}

interface CpuProfile {
  readonly nodes: ReadonlyArray<ProfileNode>
  readonly startTime: number
  readonly endTime: number
  readonly samples: ReadonlyArray<number>
  readonly timeDeltas: ReadonlyArray<number>
}

/**
 * "node_modules/@smithy/foo/…" → "@smithy/foo"; "/work/main/cdc-reader/src/X.ts" → "cdc-reader/src/X.ts".
 * Effect's schema and encoding modules are told apart from the rest of effect (its runtime):
 * "effect (Schema)", "effect (encoding)".
 */
export const moduleOf = (url: string): string => {
  if (url === "") return "(native / V8)"
  const nm = url.lastIndexOf("node_modules/")
  if (nm >= 0) {
    const rest = url.slice(nm + "node_modules/".length).split("/")
    if (rest[0] === "effect" && rest[1] === "dist") {
      if (/^(Schema|internal\/schema\/)/.test(rest.slice(2).join("/"))) return "effect (Schema)"
      if (rest[2] === "encoding") return "effect (encoding)"
    }
    return rest[0]?.startsWith("@") === true ? `${rest[0]}/${rest[1]}` : (rest[0] ?? url)
  }
  if (url.startsWith("node:")) return url
  const m = /\/(cdc-reader|packages\/[^/]+|test|stream-processors|loader)\/(.*)$/.exec(url)
  return m === null ? url : `${m[1]}/${m[2]}`
}

/**
 * Categories of the reader-drain benchmark, first match wins, tested against every
 * module on a sample's stack: kinesalite's work is charged to the emulator even where
 * it calls node or V8, and so on down the list.
 */
export const CATEGORIES: ReadonlyArray<readonly [string, (module: string) => boolean]> = [
  ["profiler (inspector session)", (m) => m === "node:inspector"],
  [
    "kinesalite + its LevelDB store (emulator, when it runs in the profiled process)",
    (m) => ["kinesalite", "levelup", "level-codec", "encoding-down", "abstract-leveldown", "deferred-leveldown", "memdown", "lock"].includes(m) || m === "node:_http_server"
  ],
  ["AWS SDK client (PutRecords requests)", (m) => m.startsWith("@smithy/") || m.startsWith("@aws-sdk/") || m === "node:_http_client"],
  ["aggregation (aws-kinesis-agg, protobuf, md5)", (m) => m === "aws-kinesis-agg" || m === "protobufjs" || m === "packages/core/src/contracts/KplEncode.ts"],
  ["change → JSON, partition key, shard routing", (m) => m === "packages/core/src/contracts/ChangeRecord.ts" || m === "packages/core/src/Sharding.ts" || m === "cdc-reader/src/ProducerPlan.ts"],
  ["pgoutput → change record (Decoder)", (m) => m === "cdc-reader/src/Decoder.ts"],
  ["pg-logical-replication (socket, pgoutput parse, flow control)", (m) => m === "pg-logical-replication" || m === "eventemitter2"],
  ["reader: Replication.ts queue hand-off", (m) => m === "packages/platform/src/Replication.ts"],
  ["effect runtime (fibers, Stream, groupedWithin)", (m) => m === "effect" || m.startsWith("effect (")],
  ["pg driver (socket, protocol)", (m) => m === "pg" || m === "pg-protocol" || m === "pg-pool"]
]

/**
 * Categories of the processor-throughput benchmark, first match wins (as `CATEGORIES`).
 * "profiler" is the profiler stopping and writing its profile, after the timed phase.
 * s3rver runs in the processor's process (its HTTP server is node:_http_server here);
 * kinesalite runs in a child process, so it is not in these profiles at all (time
 * waiting for it shows as idle).
 */
export const PROCESSOR_CATEGORIES: ReadonlyArray<readonly [string, (module: string) => boolean]> = [
  ["profiler (inspector session)", (m) => m === "node:inspector"],
  [
    "s3rver (emulator, in-process)",
    (m) => ["s3rver", "koa", "koa-compose", "koa-logger", "@koa/router", "busboy", "fast-xml-parser", "fs-extra", "winston", "statuses"].includes(m) || m === "node:_http_server"
  ],
  ["AWS SDK client (GetRecords response, PutObject)", (m) => m.startsWith("@smithy/") || m.startsWith("@aws-sdk/") || m === "node:_http_client"],
  [
    "de-aggregation (aws-kinesis-agg, base64 both ways, library output Schema)",
    (m) => m === "aws-kinesis-agg" || m === "protobufjs" || m === "long" || m === "stream-processors/src/consumer/MicroBatch.ts" || m === "effect (encoding)"
  ],
  [
    "bytes → change record (UTF-8, JSON.parse, Effect Schema)",
    (m) => m === "stream-processors/src/processor/DecodeChange.ts" || m === "packages/core/src/contracts/ChangeRecord.ts" || m === "effect (Schema)"
  ],
  [
    "Parquet: rows, Arrow tables, parquet-wasm",
    (m) => m === "parquet-wasm" || m === "apache-arrow" || m === "packages/platform/src/Parquet.ts" || m === "stream-processors/src/processor/ProcessedObjects.ts"
  ],
  ["transform (core/star: transformBatch, join state, LSN compare)", (m) => m.startsWith("packages/core/src/star/") || m === "packages/core/src/Lsn.ts"],
  ["processor + poller (windows, ordering, checkpoints)", (m) => m.startsWith("stream-processors/src/")],
  ["effect runtime (fibers, schedules)", (m) => m === "effect"]
]

/** The category lists by benchmark (`--categories`). */
export const CATEGORY_SETS = { reader: CATEGORIES, processor: PROCESSOR_CATEGORIES } as const

export const summarizeProfile = (
  profile: CpuProfile,
  top: number,
  inclusive: ReadonlyArray<string>,
  categories: ReadonlyArray<readonly [string, (module: string) => boolean]> = CATEGORIES
) => {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const self = new Map<number, number>()
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)))
  const total = [...self.values()].reduce((a, b) => a + b, 0)

  const byCategory = new Map<string, number>()
  const byModule = new Map<string, number>()
  const byOwner = new Map<string, number>()
  const onStack = new Map<string, number>()
  const byFunction = new Map<string, number>()
  const incl = new Map<string, number>(inclusive.map((name) => [name, 0]))
  for (const [id, us] of self) {
    const node = byId.get(id)
    if (node === undefined) continue
    const { functionName, url, lineNumber } = node.callFrame
    const mod = moduleOf(url)
    byModule.set(mod, (byModule.get(mod) ?? 0) + us)
    const fn = `${functionName || "(anonymous)"} ${mod}:${lineNumber + 1}`
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + us)
    // inclusive: count each sample once per named function / module on its stack;
    // owner: the nearest frame (leaf first) that is neither native nor node's own code
    const seen = new Set<string>()
    const modules = new Set<string>()
    let owner: string | undefined
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at)?.callFrame
      const name = frame?.functionName ?? ""
      const frameModule = moduleOf(frame?.url ?? "")
      if (frameModule !== "(native / V8)") modules.add(frameModule)
      if (owner === undefined && frameModule !== "(native / V8)" && !frameModule.startsWith("node:")) owner = frameModule
      if (incl.has(name) && !seen.has(name)) {
        seen.add(name)
        incl.set(name, (incl.get(name) ?? 0) + us)
      }
    }
    const ownerName = owner ?? (mod === "(native / V8)" ? `${functionName} (V8)` : mod)
    byOwner.set(ownerName, (byOwner.get(ownerName) ?? 0) + us)
    for (const m of modules) onStack.set(m, (onStack.get(m) ?? 0) + us)
    const category =
      categories.find(([, matches]) => [...modules].some(matches))?.[0] ??
      (mod === "(native / V8)" && functionName.startsWith("(") ? functionName : "other")
    byCategory.set(category, (byCategory.get(category) ?? 0) + us)
  }
  const rows = (m: Map<string, number>) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => `${(us / 1000).toFixed(0).padStart(7)} ms ${((100 * us) / total).toFixed(1).padStart(5)}%  ${name}`)
  return [
    `sampled ${(total / 1000).toFixed(0)} ms over ${((profile.endTime - profile.startTime) / 1000).toFixed(0)} ms wall`,
    "",
    "by category (first match over the whole stack; see CATEGORIES):",
    ...rows(byCategory),
    "",
    "self time by module:",
    ...rows(byModule),
    "",
    "self time by owner (nearest caller that is not V8 or node: — native work charged to who asked for it):",
    ...rows(byOwner),
    "",
    "inclusive time by module (samples with the module anywhere on the stack):",
    ...rows(onStack),
    "",
    "self time by function:",
    ...rows(byFunction),
    ...(inclusive.length === 0 ? [] : ["", "inclusive time (functions by name):", ...rows(incl)])
  ].join("\n")
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { top: { type: "string", default: "25" }, inclusive: { type: "string", default: "" }, categories: { type: "string", default: "reader" } }
  })
  const categories = CATEGORY_SETS[values.categories as keyof typeof CATEGORY_SETS]
  if (categories === undefined) {
    process.stderr.write(`ProfileSummary: --categories ${values.categories}: give one of ${Object.keys(CATEGORY_SETS).join(", ")}\n`)
    process.exit(2)
  }
  for (const file of positionals) {
    const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile
    const names = values.inclusive.split(",").filter((s) => s !== "")
    process.stdout.write(`== ${file}\n${summarizeProfile(profile, Number(values.top), names, categories)}\n\n`)
  }
}
