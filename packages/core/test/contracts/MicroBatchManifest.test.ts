/** The micro-batch manifest contract: its key beside its objects' keys, its LSN range, and what `decodeManifest` refuses. */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import {
  decodeManifest,
  encodeManifest,
  makeManifest,
  manifestKey,
  manifestKeyOfObject,
  parseManifestKey,
  parseProcessedKey,
  processedKey
} from "../../src/index.ts"

const date = new Date("2024-02-23T23:59:59.999Z")
const objects = [
  { key: processedKey("dim_date", date, "mb-1"), table: "dim_date" as const, rows: 2 },
  { key: processedKey("fact_payment", date, "mb-1"), table: "fact_payment" as const, rows: 1 }
]

describe("micro-batch manifest", () => {
  it("a key names the date folder and batch id of its objects, and no object's key reads as a manifest", () => {
    expect(manifestKey(date, "mb-1")).toBe("manifests/2024/02/23/mb-1.json")
    expect(parseManifestKey("manifests/2024/02/23/mb-1.json")).toEqual({ folder: "2024/02/23", batchId: "mb-1" })
    for (const object of objects) expect(manifestKeyOfObject(object.key)).toBe(manifestKey(date, "mb-1"))
    for (const key of [objects[0]!.key, "manifests/2024/02/23/mb-1.parquet", "manifests/2024/2/23/mb-1.json", "dlq/processor/2024/02/23/x.json"]) {
      expect(parseManifestKey(key), key).toBeUndefined()
    }
    expect(parseProcessedKey(manifestKey(date, "mb-1"))).toBeUndefined()
    expect(manifestKeyOfObject("state/processor/join-state.json")).toBeUndefined()
  })

  it("holds the lowest and highest commit LSN of its rows, compared as LSNs, not as text", () => {
    const manifest = makeManifest("mb-1", objects, ["0/FF", "0/100", "1/0", "0/A"])
    expect(manifest).toEqual({ v: 1, batchId: "mb-1", objects, firstCommitLsn: "0/A", lastCommitLsn: "1/0" })
    // A transaction's rows repeat its LSN; the lowest and highest still come out, wherever they stand.
    expect(makeManifest("mb-1", objects, ["0/A", "0/A", "0/FF", "0/FF", "0/3", "0/3", "0/A"])).toMatchObject({ firstCommitLsn: "0/3", lastCommitLsn: "0/FF" })
    expect(() => makeManifest("mb-1", objects, [])).toThrow(/at least one row/)
  })

  it.effect("reads back what was written; refuses another batch's manifest, a foreign object, and text that is no manifest, naming the key", () =>
    Effect.gen(function* () {
      const key = manifestKey(date, "mb-1")
      const manifest = makeManifest("mb-1", objects, ["0/10"])
      expect(yield* decodeManifest(key, encodeManifest(manifest))).toEqual(manifest)
      const refused = (at: string, text: string) => decodeManifest(at, text).pipe(Effect.flip, Effect.map((error) => error.message))
      expect(yield* refused(manifestKey(date, "mb-2"), encodeManifest(manifest))).toMatch(/^manifest manifests\/2024\/02\/23\/mb-2\.json names batch mb-1, not its key's mb-2: inspect it/)
      const foreign = { ...manifest, objects: [{ key: processedKey("fact_payment", new Date("2024-02-24T00:00:00Z"), "mb-1"), table: "fact_payment" as const, rows: 1 }] }
      expect(yield* refused(key, encodeManifest(foreign))).toMatch(/lists fact_payment\/2024\/02\/24\/mb-1\.parquet, not a fact_payment object of 2024\/02\/23\/mb-1/)
      const mislabelled = { ...manifest, objects: [{ ...objects[0]!, table: "dim_currency" as const }] }
      expect(yield* refused(key, encodeManifest(mislabelled))).toMatch(/lists dim_date\/2024\/02\/23\/mb-1\.parquet, not a dim_currency object/)
      expect(yield* refused(key, "{")).toMatch(/^manifest manifests\/2024\/02\/23\/mb-1\.json is not a micro-batch manifest \(.+\): inspect it; delete it and run `totes-cdc replay`/)
      expect(yield* refused(key, JSON.stringify({ ...manifest, firstCommitLsn: "nope" }))).toMatch(/is not a micro-batch manifest/)
      expect(yield* refused(objects[0]!.key, encodeManifest(manifest))).toMatch(/is not a manifest key/)
    })
  )
})
