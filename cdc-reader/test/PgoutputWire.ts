/**
 * Test helper: pgoutput protocol-version-1 messages as PostgreSQL's walsender writes them
 * (https://www.postgresql.org/docs/current/protocol-logicalrep-message-formats.html), to
 * feed the replication parser without a server. Builds bytes only; no I/O.
 */

/** A TupleData column: text (string), SQL NULL (null), unchanged TOAST (undefined), binary (Uint8Array). */
export type WireValue = string | null | undefined | Uint8Array

const bytesOf = (parts: ReadonlyArray<Uint8Array>): Buffer => Buffer.concat(parts)
const u8 = (n: number) => Uint8Array.of(n)
const i16 = (n: number) => {
  const b = Buffer.alloc(2)
  b.writeInt16BE(n)
  return b
}
const i32 = (n: number) => {
  const b = Buffer.alloc(4)
  b.writeInt32BE(n)
  return b
}
const u32 = (n: number) => {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(n)
  return b
}
const i64 = (n: bigint) => {
  const b = Buffer.alloc(8)
  b.writeBigUInt64BE(n)
  return b
}
const cstring = (s: string) => Buffer.concat([Buffer.from(s, "utf8"), u8(0)])
const tag = (c: string) => u8(c.charCodeAt(0))

/** Microseconds between the Unix epoch and PostgreSQL's (2000-01-01). */
const PG_EPOCH_MICROS = 946_684_800_000_000n

/** A Begin; `xid` is PostgreSQL's unsigned 32-bit transaction id. */
export const beginMessage = (finalLsn: bigint, commitMicros: bigint, xid: number) =>
  bytesOf([tag("B"), i64(finalLsn), i64(commitMicros - PG_EPOCH_MICROS), u32(xid)])

export const commitMessage = (commitLsn: bigint, endLsn: bigint, commitMicros: bigint) =>
  bytesOf([tag("C"), u8(0), i64(commitLsn), i64(endLsn), i64(commitMicros - PG_EPOCH_MICROS)])

/** A Relation message; `keyColumns` get flag 1. Every column is typed text (OID 25). */
export const relationMessage = (oid: number, name: string, columns: ReadonlyArray<string>, keyColumns: ReadonlyArray<string>) =>
  bytesOf([
    tag("R"),
    i32(oid),
    cstring("public"),
    cstring(name),
    tag("d"),
    i16(columns.length),
    ...columns.flatMap((column) => [u8(keyColumns.includes(column) ? 1 : 0), cstring(column), i32(25), i32(-1)])
  ])

const tupleData = (values: ReadonlyArray<WireValue>) =>
  bytesOf([
    i16(values.length),
    ...values.flatMap((value) => {
      if (value === null) return [tag("n")]
      if (value === undefined) return [tag("u")]
      const bytes = typeof value === "string" ? Buffer.from(value, "utf8") : value
      return [tag(typeof value === "string" ? "t" : "b"), i32(bytes.byteLength), bytes]
    })
  ])

export const insertMessage = (oid: number, values: ReadonlyArray<WireValue>) => bytesOf([tag("I"), i32(oid), tag("N"), tupleData(values)])

/** An Update; with `old` the old tuple is sent ('O', replica identity full). */
export const updateMessage = (oid: number, values: ReadonlyArray<WireValue>, old?: ReadonlyArray<WireValue>) =>
  bytesOf([tag("U"), i32(oid), ...(old === undefined ? [] : [tag("O"), tupleData(old)]), tag("N"), tupleData(values)])

/** A Delete carrying the key columns ('K': the other columns null). */
export const deleteMessage = (oid: number, keyValues: ReadonlyArray<WireValue>) => bytesOf([tag("D"), i32(oid), tag("K"), tupleData(keyValues)])

/** A Truncate of the relations `oids` (`flags`: 1 cascade, 2 restart identity). */
export const truncateMessage = (oids: ReadonlyArray<number>, flags = 0) => bytesOf([tag("T"), i32(oids.length), u8(flags), ...oids.map(i32)])

/** A logical decoding message (`pg_logical_emit_message`), e.g. a heartbeat. */
export const logicalMessage = (lsn: bigint, prefix: string, content: string, transactional = false) => {
  const bytes = Buffer.from(content, "utf8")
  return bytesOf([tag("M"), u8(transactional ? 1 : 0), i64(lsn), cstring(prefix), i32(bytes.byteLength), bytes])
}
