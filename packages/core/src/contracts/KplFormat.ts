/**
 * The KPL aggregated-record format's framing, shared by its writer (KplEncode.ts) and its
 * reader (KplDecode.ts): `F3 89 9A C2 | protobuf AggregatedRecord | MD5 of the protobuf`.
 * Source: amazon-kinesis-producer's aggregation-format.md and aws-kinesis-agg 4.x.
 */

/** The magic number that opens every aggregate. */
export const KPL_MAGIC = Uint8Array.of(0xf3, 0x89, 0x9a, 0xc2)

/** Bytes of the MD5 checksum that closes every aggregate. */
export const KPL_MD5_BYTES = 16

/** The framing around the protobuf: magic number (4 bytes) + MD5 (16 bytes). */
export const AGGREGATE_OVERHEAD_BYTES = KPL_MAGIC.length + KPL_MD5_BYTES

/** aws-kinesis-agg's own ceiling for an aggregate: 1 MiB (Kinesis' classic record limit). */
export const KPL_MAX_RECORD_BYTES = 1024 * 1024

/** Whether `bytes` start with the magic number, i.e. claim to be an aggregate (anything else is a plain Kinesis record). */
export const hasKplMagic = (bytes: Uint8Array): boolean =>
  bytes.length >= KPL_MAGIC.length && KPL_MAGIC.every((byte, i) => bytes[i] === byte)
