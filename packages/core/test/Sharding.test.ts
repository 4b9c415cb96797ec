import { describe, expect, it } from "@effect/vitest"
import { Result } from "effect"
import { hashKeyOf, MAX_HASH_KEY, type ShardRange, shardFor } from "../src/Sharding.ts"

// Expected digests are RFC 1321's MD5 test vectors, and (for UTF-8) Python's hashlib.
describe("hashKeyOf", () => {
  it("is the MD5 digest of the key read as an unsigned big-endian 128-bit integer (RFC 1321 vectors)", () => {
    expect(hashKeyOf("")).toBe(0xd41d8cd98f00b204e9800998ecf8427en)
    expect(hashKeyOf("a")).toBe(0x0cc175b9c0f1b6a831c399e269772661n)
    expect(hashKeyOf("abc")).toBe(0x900150983cd24fb0d6963f7d28e17f72n)
    expect(hashKeyOf("message digest")).toBe(0xf96b697d7cb7938d525a2f31aaf161d0n)
  })

  it("hashes the UTF-8 bytes of the key, not UTF-16 code units", () => {
    // hashlib.md5("é".encode("utf-8")) — the two bytes C3 A9
    expect(hashKeyOf("é")).toBe(0x66ddcd97cfdeabb2f6fb8a999b4bc76fn)
    expect(hashKeyOf("sales_order:1")).toBe(280403618599351655395978225873692012792n)
  })

  it("keeps leading zero bytes as a small number (no sign, no truncation)", () => {
    // md5("a") starts with 0x0c: a value below 2^124
    expect(hashKeyOf("a") < 1n << 124n).toBe(true)
    expect(hashKeyOf("a") >= 0n).toBe(true)
  })
})

const HALF = 1n << 127n
const twoShards: ReadonlyArray<ShardRange> = [
  { shardId: "shardId-000000000000", startingHashKey: 0n, endingHashKey: HALF - 1n, open: true },
  { shardId: "shardId-000000000001", startingHashKey: HALF, endingHashKey: MAX_HASH_KEY, open: true }
]

const idOf = (hashKey: bigint, shards: ReadonlyArray<ShardRange>) =>
  Result.match(shardFor(hashKey, shards), { onSuccess: (shard) => shard.shardId, onFailure: (error) => error._tag })

describe("shardFor", () => {
  it("answers the shard whose inclusive range contains the hash key, at both edges", () => {
    expect(idOf(0n, twoShards)).toBe("shardId-000000000000")
    expect(idOf(HALF - 1n, twoShards)).toBe("shardId-000000000000")
    expect(idOf(HALF, twoShards)).toBe("shardId-000000000001")
    expect(idOf(MAX_HASH_KEY, twoShards)).toBe("shardId-000000000001")
  })

  it("routes a partition key by its digest: 'a' (0x0c…) to the low half, '' (0xd4…) to the high half", () => {
    expect(idOf(hashKeyOf("a"), twoShards)).toBe("shardId-000000000000")
    expect(idOf(hashKeyOf(""), twoShards)).toBe("shardId-000000000001")
  })

  it("skips closed parent shards after a split and answers the open child", () => {
    const quarter = 1n << 126n
    const afterSplit: ReadonlyArray<ShardRange> = [
      { ...twoShards[0]!, open: false },
      twoShards[1]!,
      { shardId: "shardId-000000000002", startingHashKey: 0n, endingHashKey: quarter - 1n, open: true },
      { shardId: "shardId-000000000003", startingHashKey: quarter, endingHashKey: HALF - 1n, open: true }
    ]
    expect(idOf(quarter - 1n, afterSplit)).toBe("shardId-000000000002")
    expect(idOf(quarter, afterSplit)).toBe("shardId-000000000003")
    expect(idOf(HALF, afterSplit)).toBe("shardId-000000000001")
  })

  it("fails with NoShardForHashKey when no open shard covers the key", () => {
    const onlyHigh = [{ ...twoShards[0]!, open: false }, twoShards[1]!]
    const result = shardFor(5n, onlyHigh)
    expect(Result.isFailure(result)).toBe(true)
    if (Result.isFailure(result)) {
      expect(result.failure._tag).toBe("NoShardForHashKey")
      expect(result.failure.hashKey).toBe("5")
      expect(result.failure.message).toContain("re-read the shard map")
    }
    expect(idOf(1n, [])).toBe("NoShardForHashKey")
  })
})
