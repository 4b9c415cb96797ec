/**
 * Kinesis shard routing, pure: which shard a partition key lands on (DESIGN.md §3) — the
 * OPEN shard whose inclusive hash-key range holds the key's MD5, as Kinesis does, so the
 * producer can aggregate per shard. Details: packages/core/SPEC.md §5.
 *
 * Invariants:
 *  - `hashKeyOf` is in [0, 2^128 - 1] and equals Kinesis' own hash of the key.
 *  - `shardFor` only ever answers an open shard (closed parents of a reshard take no
 *    writes), and answers a failure rather than a guess when no open shard covers the key.
 *  - MD5 from node:crypto is a pure function here (no I/O), so it is allowed in core.
 */
import { Result, Schema } from "effect"
import { hash } from "node:crypto"

/** The largest hash key: 2^128 - 1. */
export const MAX_HASH_KEY = (1n << 128n) - 1n

/** What routing needs to know about a shard. Ranges are inclusive at both ends. */
export interface ShardRange {
  readonly shardId: string
  readonly startingHashKey: bigint
  readonly endingHashKey: bigint
  /** False once the shard was split or merged (it has an ending sequence number). */
  readonly open: boolean
}

/** No open shard's range contains the hash key: the shard map is stale or incomplete. */
export class NoShardForHashKey extends Schema.TaggedError<NoShardForHashKey>()("NoShardForHashKey", {
  message: Schema.String,
  /** The hash key, in decimal. */
  hashKey: Schema.String
}) {}

/**
 * The 128-bit Kinesis hash key of `partitionKey`: MD5 of its UTF-8 bytes as an unsigned
 * big-endian integer, in [0, 2^128 - 1].
 */
export const hashKeyOf = (partitionKey: string): bigint => BigInt(`0x${hash("md5", partitionKey, "hex")}`)

/**
 * The open shard of `shards` whose inclusive hash-key range contains `hashKey`.
 * Fails with `NoShardForHashKey` when none does (e.g. the map was read mid-reshard).
 * O(shards); shard maps are small (tens to hundreds of shards).
 */
export const shardFor = <S extends ShardRange>(hashKey: bigint, shards: ReadonlyArray<S>): Result.Result<S, NoShardForHashKey> => {
  for (const shard of shards) {
    if (shard.open && shard.startingHashKey <= hashKey && hashKey <= shard.endingHashKey) return Result.succeed(shard)
  }
  const open = shards.filter((shard) => shard.open).length
  return Result.fail(
    new NoShardForHashKey({
      hashKey: hashKey.toString(),
      message: `no open shard of ${open} open (${shards.length} listed) covers hash key ${hashKey}; re-read the shard map (the stream may be resharding)`
    })
  )
}
