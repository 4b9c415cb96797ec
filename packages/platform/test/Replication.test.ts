/**
 * How a node-postgres / socket error of logical replication becomes a `ReplicationError`:
 * one line, the code, the error itself as `cause`, and `retryable` true only where
 * starting again unchanged can succeed (connection lost or refused, server restarting,
 * slot held by another connection).
 */
import { it as effectIt } from "@effect/vitest"
import { Effect, Exit, Fiber, Result, Stream } from "effect"
import { EventEmitter } from "node:events"
import { LogicalReplicationService } from "pg-logical-replication"
import { describe, expect, it } from "vitest"
import { describeReplicationError, parseXLogData, replicationMessages, startReplicationCommand, TextPgoutputPlugin } from "../src/Replication.ts"

const pgError = (code: string, message: string) => Object.assign(new Error(message), { code })

describe("describeReplicationError", () => {
  it("keeps the driver error as the cause, its code, and its first line in the message", () => {
    const cause = pgError("42704", 'replication slot "totes_cdc" does not exist\nHINT: create it')
    const error = describeReplicationError(cause, "cannot stream from replication slot totes_cdc")
    expect(error.message).toBe('cannot stream from replication slot totes_cdc: replication slot "totes_cdc" does not exist')
    expect(error.code).toBe("42704")
    expect(error.cause).toBe(cause)
  })

  it("hides a password the error's text carries", () => {
    const error = describeReplicationError(new Error("invalid connection string postgres://reader:Pw-9f3kXq!s3cret@db/totesys"), "cannot open a replication connection")
    expect(error.message).toBe("cannot open a replication connection: invalid connection string postgres://reader:***@db/totesys")
  })

  it("names the setting to fix when the connection cannot be made as configured (TLS, password), given where it connects", () => {
    const connection = { target: "postgres://reader:***@db/totesys", setting: "SOURCE_URL", caSetting: "SOURCE_CA_FILE" }
    const untrusted = describeReplicationError(pgError("SELF_SIGNED_CERT_IN_CHAIN", "self-signed certificate in certificate chain"), "cannot open a replication connection", connection)
    expect(untrusted.message).toBe(
      "cannot open a replication connection: the server certificate of postgres://reader:***@db/totesys (SOURCE_URL) is not trusted: self-signed certificate in certificate chain; give the PEM file of the CA that signed it (SOURCE_CA_FILE)"
    )
    expect(untrusted.retryable).toBe(false)
    const password = describeReplicationError(pgError("28P01", 'password authentication failed for user "reader"'), "cannot stream from replication slot totes_cdc", connection)
    expect(password.message).toContain("fix the user name or password in SOURCE_URL")
    const slot = describeReplicationError(pgError("42704", 'replication slot "totes_cdc" does not exist'), "cannot stream from replication slot totes_cdc", connection)
    expect(slot.message).toBe('cannot stream from replication slot totes_cdc: replication slot "totes_cdc" does not exist')
  })

  it.each([
    ["ECONNREFUSED", "connect ECONNREFUSED 127.0.0.1:5432"],
    ["ECONNRESET", "read ECONNRESET"],
    ["08006", "connection failure"],
    ["57P01", "terminating connection due to administrator command"],
    ["53300", "number of requested standby connections exceeds max_wal_senders (currently 10)"],
    ["55006", 'replication slot "totes_cdc" is active for PID 4242']
  ])("marks %s (%s) retryable: the connection or the server, not the request", (code, message) => {
    expect(describeReplicationError(pgError(code, message), "replication failed").retryable).toBe(true)
  })

  it("marks a connection ended without a code retryable", () => {
    expect(describeReplicationError(new Error("Connection terminated unexpectedly"), "replication failed").retryable).toBe(true)
  })

  it.each([
    ["28P01", 'password authentication failed for user "reader"'],
    ["3D000", 'database "totesys" does not exist'],
    ["42704", 'replication slot "totes_cdc" does not exist'],
    ["42704", 'publication "totes_cdc" does not exist'],
    ["55000", 'can no longer get changes from replication slot "totes_cdc"'],
    ["42501", "permission denied to start WAL sender"],
    ["42710", 'replication slot "totes_cdc" already exists']
  ])("marks %s (%s) not retryable: starting again unchanged cannot help", (code, message) => {
    expect(describeReplicationError(pgError(code, message), "replication failed").retryable).toBe(false)
  })

  it("marks an unknown error without a code not retryable", () => {
    expect(describeReplicationError("boom", "replication failed")).toMatchObject({ message: "replication failed: boom", retryable: false })
  })
})

/** An XLogData CopyData chunk as the walsender sends it: 'w', start LSN, WAL end, send time, then the pgoutput message. */
const xlogData = (lsn: bigint, payload: Uint8Array) => {
  const header = Buffer.alloc(25)
  header.write("w")
  header.writeBigUInt64BE(lsn, 1)
  header.writeBigUInt64BE(lsn, 9)
  return Buffer.concat([header, payload])
}

/** An Insert into relation 16384, which no Relation message described: pg-logical-replication's parser throws "missing relation". */
const INSERT_OF_UNKNOWN_RELATION = Buffer.from([0x49, 0x00, 0x00, 0x40, 0x00, 0x4e, 0x00, 0x01, 0x74, 0x00, 0x00, 0x00, 0x01, 0x37])

/** A Begin cut short after its final LSN (the parser throws "unexpected end of message"). */
const TRUNCATED_BEGIN = Buffer.from([0x42, 0x00, 0x00, 0x00, 0x16, 0xb3, 0x74, 0xd8, 0x48, 0x00, 0x02])

/**
 * A LogicalReplicationService on a fake connection: `subscribe` gets `connection` (an
 * event emitter whose 'copyData' events are the walsender's messages) and a client whose
 * START_REPLICATION never ends; `started` resolves once the service listens.
 */
const fakeService = () => {
  const service = new LogicalReplicationService({}, { acknowledge: { auto: false, timeoutSeconds: 0 }, flowControl: { enabled: false } })
  const connection = Object.assign(new EventEmitter(), { stream: { pause: () => undefined, resume: () => undefined } })
  let signal = () => {}
  const started = new Promise<void>((resolve) => (signal = resolve))
  const client = { query: () => (signal(), new Promise(() => undefined)), end: async () => undefined, removeAllListeners: () => undefined }
  Object.assign(service, {
    client: async () => {
      Object.assign(service, { _client: client, _connection: connection })
      return [client, connection]
    }
  })
  return { service, connection, started }
}

describe("parseXLogData", () => {
  it("answers the parsed message, or a ReplicationError naming the LSN and the reason for bytes that do not parse", () => {
    const plugin = new TextPgoutputPlugin({ protoVersion: 1, publicationNames: ["p"], messages: true })
    const error = Result.getFailure(parseXLogData(plugin, "16/B374D848", INSERT_OF_UNKNOWN_RELATION))
    expect(error._tag).toBe("Some")
    if (error._tag !== "Some") return
    expect(error.value).toMatchObject({ _tag: "ReplicationError", retryable: false })
    expect(error.value.message).toContain("the pgoutput message at 16/B374D848 (14 bytes) does not parse: missing relation")
    expect(Result.getOrThrow(parseXLogData(plugin, "0/1", Buffer.from([0x42, ...Buffer.alloc(20)])))).toMatchObject({ lsn: "0/1", message: { tag: "begin" } })
  })
})

describe("replicationMessages", () => {
  // Found by fuzzing (cdc-reader/test/PgoutputFuzz.test.ts): the library parsed each payload
  // inside the socket's data handler, so a payload that did not parse threw out of it — an
  // uncaught exception that ended the reader's process — instead of failing the stream.
  for (const [name, payload] of [
    ["an insert into a relation never described", INSERT_OF_UNKNOWN_RELATION],
    ["a begin cut short", TRUNCATED_BEGIN]
  ] as const) {
    effectIt.effect(`fails the stream with a ReplicationError naming the LSN for ${name}, without throwing out of the connection's data handler`, () =>
      Effect.gen(function* () {
        const { service, connection, started } = fakeService()
        const fiber = yield* Effect.forkChild(Stream.runCollect(replicationMessages(service, { slot: "s", publication: "p" })))
        yield* Effect.promise(() => started)
        const ok = Buffer.from([0x42, ...Buffer.alloc(20)]) // a Begin of zeros
        expect(() => connection.emit("copyData", { chunk: xlogData(0x16b374d800n, ok) })).not.toThrow()
        expect(() => connection.emit("copyData", { chunk: xlogData(0x16b374d848n, payload) })).not.toThrow()
        expect(() => connection.emit("copyData", { chunk: xlogData(0x16b374d900n, ok) })).not.toThrow()
        const exit = yield* Fiber.await(fiber)
        expect(Exit.isFailure(exit) && Exit.hasDies(exit)).toBe(false)
        const error = Exit.findErrorOption(exit)
        expect(error._tag).toBe("Some")
        if (error._tag === "Some") {
          expect(error.value).toMatchObject({ _tag: "ReplicationError", retryable: false })
          expect(error.value.message).toMatch(/^the pgoutput message at 16\/B374D848 \(\d+ bytes\) does not parse: /)
        }
        yield* Effect.promise(() => service.destroy())
      })
    )
  }
})

describe("TextPgoutputPlugin", () => {
  // Found by fuzzing (cdc-reader/test/PgoutputFuzz.test.ts, the 1 s bound per run): the
  // library sizes a Truncate's relation list by its count before reading it, so a damaged
  // count of 0x00800001 spent about a second and 64 MiB (2^25: 256 MiB) on a 10-byte message.
  it("refuses a Truncate whose relation count the message cannot hold before sizing anything for it", () => {
    const plugin = new TextPgoutputPlugin({ protoVersion: 1, publicationNames: ["p"], messages: true })
    for (const count of [0x00800001, 0x01ffffff, 2]) {
      const message = Buffer.from([0x54, ...Buffer.from(Uint32Array.of(count).buffer).reverse(), 0x00, 0x00, 0x00, 0x00, 0x08])
      const started = performance.now()
      expect(() => plugin.parse(message)).toThrow("unexpected end of message")
      expect(performance.now() - started).toBeLessThan(100)
    }
  })
})

describe("startReplicationCommand", () => {
  it("quotes the slot and every publication name, so names keep their case and may hold any character", () => {
    expect(startReplicationCommand("totes_cdc", "0/00000000", ["totes_cdc"], true)).toBe(
      `START_REPLICATION SLOT "totes_cdc" LOGICAL 0/00000000 (proto_version '1', publication_names '"totes_cdc"', messages 'true')`
    )
    expect(startReplicationCommand("totes_cdc", "16/B374D848", ["Totes CDC", `it's "x"`], false)).toBe(
      `START_REPLICATION SLOT "totes_cdc" LOGICAL 16/B374D848 (proto_version '1', publication_names '"Totes CDC","it''s ""x"""', messages 'false')`
    )
  })

  it("refuses a start position that is no LSN", () => {
    expect(() => startReplicationCommand("totes_cdc", "0/0') ; DROP", ["totes_cdc"], true)).toThrow(RangeError)
  })
})
