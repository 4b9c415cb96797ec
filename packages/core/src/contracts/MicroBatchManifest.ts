/**
 * The micro-batch manifest (DESIGN.md §4): the processor's (and `replay`'s) commit record of
 * one micro-batch in the processed bucket, written after every Parquet object it lists.
 * A loader that finds objects in the bucket applies them only through their manifest, so
 * a micro-batch the processor is still writing is never applied in part.
 *
 * Invariants:
 *  - Key: `manifests/YYYY/MM/DD/<batchId>.json`, the date folder and batch id of the
 *    micro-batch's objects (`processedKey`); `parseManifestKey` answers exactly the keys
 *    `manifestKey` makes, and nothing for a processed object or any other key.
 *  - Written last: its presence means every object it lists is stored. A micro-batch
 *    without rows writes no objects and no manifest.
 *  - Every object listed is a processed key of the same date folder and batch id
 *    (`decodeManifest` rejects anything else).
 *  - The same micro-batch written again (a retry) gives the same bytes.
 */
import { Effect, Schema } from "effect"
import { compareLsn, LsnString } from "../Lsn.ts"
import { WAREHOUSE_TABLES } from "../WarehouseColumns.ts"
import { datePath } from "./DeadLetter.ts"
import { parseProcessedKey } from "./ProcessedObject.ts"

/** Prefix of every manifest in the processed bucket (the loader's S3 notification filter). */
export const MANIFEST_PREFIX = "manifests/"

/** Suffix of every manifest key. */
export const MANIFEST_SUFFIX = ".json"

/** Pure: `manifests/YYYY/MM/DD/<batchId>.json` (the date in UTC). */
export const manifestKey = (date: Date, batchId: string): string => `${MANIFEST_PREFIX}${datePath(date)}/${batchId}${MANIFEST_SUFFIX}`

const KEY = /^manifests\/(\d{4}\/\d{2}\/\d{2})\/([^/]+)\.json$/

/** Pure: the date folder (`YYYY/MM/DD`) and batch id `key` names, or undefined when it is not a manifest's key. */
export const parseManifestKey = (key: string): { readonly folder: string; readonly batchId: string } | undefined => {
  const match = KEY.exec(key)
  return match === null ? undefined : { folder: match[1]!, batchId: match[2]! }
}

/** Pure: the manifest key of the micro-batch a processed object belongs to, or undefined when `key` is not a processed object's key. */
export const manifestKeyOfObject = (key: string): string | undefined => {
  const parsed = parseProcessedKey(key)
  return parsed === undefined ? undefined : `${MANIFEST_PREFIX}${parsed.folder}/${parsed.batchId}${MANIFEST_SUFFIX}`
}

/** One object of a micro-batch: its key, warehouse table and row count. */
export const ManifestObject = Schema.Struct({
  key: Schema.String,
  table: Schema.Literals(WAREHOUSE_TABLES),
  rows: Schema.Number
})
export type ManifestObject = typeof ManifestObject.Type

/**
 * A micro-batch's manifest: `v` 1; its batch id; its objects in load order; the lowest and
 * highest commit LSN among its rows (joined rows re-emitted by a partner's change carry
 * their own, earlier, position) — what `verify --wait-for-lsn` compares with its target.
 */
export const MicroBatchManifest = Schema.Struct({
  v: Schema.Literal(1),
  batchId: Schema.String,
  objects: Schema.Array(ManifestObject),
  firstCommitLsn: LsnString,
  lastCommitLsn: LsnString
})
export type MicroBatchManifest = typeof MicroBatchManifest.Type

/**
 * Pure: the manifest of micro-batch `batchId` holding `objects` (non-empty), whose rows'
 * commit LSNs are `commitLsns` (non-empty).
 */
export const makeManifest = (batchId: string, objects: ReadonlyArray<ManifestObject>, commitLsns: Iterable<string>): MicroBatchManifest => {
  let first: string | undefined
  let last: string | undefined
  let previous: string | undefined
  for (const lsn of commitLsns) {
    // Rows come in commit order, a transaction's rows with one LSN: a repeat changes nothing.
    if (lsn === previous) continue
    previous = lsn
    if (first === undefined || compareLsn(lsn, first) < 0) first = lsn
    if (last === undefined || compareLsn(lsn, last) > 0) last = lsn
  }
  if (first === undefined || last === undefined) throw new Error(`micro-batch ${batchId}: a manifest needs the commit LSN of at least one row`)
  return { v: 1, batchId, objects: objects.map(({ key, table, rows }) => ({ key, table, rows })), firstCommitLsn: first, lastCommitLsn: last }
}

/** The manifest's JSON text, as stored. */
export const encodeManifest = (manifest: MicroBatchManifest): string => JSON.stringify(manifest)

/** A stored manifest does not decode, or does not belong where it is stored. */
export class ManifestError extends Schema.TaggedError<ManifestError>()("ManifestError", {
  message: Schema.String
}) {}

const decodeJson = Schema.decodeUnknownEffect(Schema.fromJsonString(MicroBatchManifest))

/**
 * Parses the manifest stored at `key` (its JSON text). Fails with `ManifestError` naming the
 * key when the text is not a manifest, its batch id is not the key's, or an object it lists
 * is not a processed object of the same date folder and batch id.
 */
export const decodeManifest = (key: string, text: string): Effect.Effect<MicroBatchManifest, ManifestError> =>
  Effect.gen(function* () {
    const fail = (why: string) => new ManifestError({ message: `manifest ${key} ${why}: inspect it; delete it and run \`totes-cdc replay\` for its time range if it is damaged` })
    const at = parseManifestKey(key)
    if (at === undefined) return yield* fail("is not a manifest key (manifests/YYYY/MM/DD/<batchId>.json)")
    const manifest = yield* decodeJson(text).pipe(Effect.mapError((error) => fail(`is not a micro-batch manifest (${(error.message.split("\n")[0] ?? "").trim()})`)))
    if (manifest.batchId !== at.batchId) return yield* fail(`names batch ${manifest.batchId}, not its key's ${at.batchId}`)
    for (const object of manifest.objects) {
      const parsed = parseProcessedKey(object.key)
      if (parsed === undefined || parsed.folder !== at.folder || parsed.batchId !== at.batchId || parsed.table !== object.table) {
        return yield* fail(`lists ${object.key}, not a ${object.table} object of ${at.folder}/${at.batchId}`)
      }
    }
    return manifest
  })
