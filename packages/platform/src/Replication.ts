/**
 * PostgreSQL logical replication adapter (pgoutput through pg-logical-replication 2.5.0):
 * replication slots with an exported snapshot, and a back-pressured stream of decoded
 * messages whose acknowledgement the caller owns.
 *
 * Invariants:
 *  - Values are PostgreSQL's text form: the pgoutput parser is given an identity parser
 *    per column instead of node-postgres' process-global registry (DESIGN.md §8), so
 *    what the reader emits does not depend on who else set a type parser.
 *  - An unchanged TOASTed column (pgoutput kind 'u') is `undefined` in the tuple, a SQL
 *    NULL is `null`: callers can tell them apart. Tuples are ordinary objects with the
 *    relation's columns in order (`readTextTuple`), the same columns and values the
 *    library's own reader gives.
 *  - The slot is confirmed only through `confirm(lsn)`: the library's own timer is off
 *    (`acknowledge: { auto: false, timeoutSeconds: 0 }`, kibae/pg-logical-replication
 *    #174). Keepalives and a 10 s status timer re-send the last confirmed LSN, never
 *    more, so the server neither times the connection out nor advances past it.
 *  - Back-pressure: the socket is paused while messages wait for room in the bounded
 *    buffer between the library and the stream's consumer (`socketHandOff`; the library's
 *    own `flowControl`, which does the same through a chain of promises per message, is
 *    off), so at most the buffer plus one socket chunk of messages is held.
 *  - A pgoutput message that does not parse (cut short, an unknown tag or kind, a relation
 *    no Relation message described, a tuple not as wide as its relation) fails the stream
 *    with a `ReplicationError` naming its LSN (`parseXLogData`), never throws: the library
 *    parses inside the socket's data handler, where a throw ends the process. A damaged
 *    count allocates nothing for it (a Truncate's relation count is checked first).
 *  - Slot and publication names reach the server as quoted identifiers (core's `quoteIdent`,
 *    `startReplicationCommand`), exactly as configured: never folded to lower case.
 *  - Replication connections take the same TLS as the pools (`PgTls`, verify-full) and,
 *    when one cannot be made, name the setting to fix as the pools do (`describePgError`).
 */
import { LSN_PATTERN, quoteIdent, quoteLiteral } from "@totes-cdc/core"
import { Context, Effect, Layer, Queue, Result, Schema, type Scope, Stream } from "effect"
import pg from "pg"
import { LogicalReplicationService, PgoutputPlugin, type Pgoutput } from "pg-logical-replication"
import { describePgError } from "./Postgres.ts"
import { type PgTls, pgSslOptions } from "./PostgresTls.ts"
import { redactSecrets, redactUrl } from "./Redact.ts"
import { NETWORK_ERROR_CODES } from "./SdkErrors.ts"

export type { Pgoutput }

/** A decoded pgoutput message with the WAL position of the XLogData that carried it. */
export interface ReplicationMessage {
  readonly lsn: string
  readonly message: Pgoutput.Message
}

/**
 * Replication failed: connection, slot or protocol. `message` names the problem and the
 * fix; `code` is the SQLSTATE or errno code, when there is one. `retryable`: the same call
 * may succeed later unchanged — the connection was lost or refused, the server is shutting
 * down or out of connections, the slot is held by another connection — as opposed to
 * wrong credentials, a missing / dropped / invalidated slot or publication, or a protocol
 * or library fault (`describeReplicationError`). `cause`: the driver / socket error it was
 * made from, when there was one.
 */
export class ReplicationError extends Schema.TaggedError<ReplicationError>()("ReplicationError", {
  message: Schema.String,
  code: Schema.optional(Schema.String),
  retryable: Schema.Boolean,
  cause: Schema.optional(Schema.Defect())
}) {}

export interface SlotWithSnapshot {
  /** LSN from which the slot decodes: every change committed before it is in the snapshot. */
  readonly consistentPoint: string
  /** Exported snapshot name for `SET TRANSACTION SNAPSHOT`; valid while the scope is open. */
  readonly snapshotName: string
}

const identity = (value: string) => value

/** pg-logical-replication 2.5.0's BinaryReader, as far as `readTextTuple` uses it. */
interface BinaryReader {
  readonly _b: Buffer
  _p: number
  decodeText(bytes: Uint8Array): string
}

const truncated = () => new Error("unexpected end of message")

/**
 * A TupleData of a pgoutput message (Insert, Update, Delete), read as the library's
 * `readTuple` reads it — text values through the column's parser ("t"), null ("n"),
 * unchanged TOAST = the old tuple's value or undefined ("u"), binary as bytes ("b") — but
 * into an ordinary object built in column order, decoding each text value straight from
 * the message buffer: the library slices a Buffer and builds a dictionary-mode object per
 * tuple, which cost more than the rest of the reader's decoding. A text value is decoded
 * exactly as the library's TextDecoder does (UTF-8, one leading BOM dropped). Stricter than
 * the library: a tuple must have exactly the relation's columns.
 */
const readTextTuple = (
  reader: BinaryReader,
  columns: ReadonlyArray<Pgoutput.RelationColumn>,
  unchangedToastFallback?: Record<string, unknown> | null
): Record<string, unknown> => {
  const buffer = reader._b
  let at = reader._p
  if (at + 2 > buffer.length) throw truncated()
  const fields = (buffer[at]! << 8) | buffer[at + 1]!
  at += 2
  // PostgreSQL sends every column the Relation message listed (null ones as 'n'): a tuple
  // of another width is damaged, and a short one would leave columns to Object.prototype.
  if (fields !== columns.length) throw new Error(`a tuple of ${fields} columns for a relation of ${columns.length}`)
  const tuple: Record<string, unknown> = {}
  for (let i = 0; i < fields; i++) {
    const { name, parser } = columns[i]!
    if (at + 1 > buffer.length) throw truncated()
    const kind = buffer[at++]
    switch (kind) {
      case 0x74: // 't' text
      case 0x62: {
        // 'b' binary
        if (at + 4 > buffer.length) throw truncated()
        const size = buffer.readInt32BE(at)
        at += 4
        if (size < 0 || at + size > buffer.length) throw truncated()
        if (kind === 0x62) tuple[name] = buffer.subarray(at, at + size)
        else {
          const bom = size >= 3 && buffer[at] === 0xef && buffer[at + 1] === 0xbb && buffer[at + 2] === 0xbf
          tuple[name] = parser(bom ? reader.decodeText(buffer.subarray(at, at + size)) : buffer.toString("utf8", at, at + size))
        }
        at += size
        break
      }
      case 0x6e: // 'n' null
        tuple[name] = null
        break
      case 0x75: // 'u' unchanged toast datum
        tuple[name] = unchangedToastFallback?.[name]
        break
      default:
        throw new Error(`unknown attribute kind ${String.fromCharCode(kind ?? 0)}`)
    }
  }
  reader._p = at
  return tuple
}

/** Column names that an ordinary object cannot hold as own data properties by assignment. */
const needsDictionary = (columns: ReadonlyArray<Pgoutput.RelationColumn>) => columns.some((column) => column.name === "__proto__")

/**
 * The library's pgoutput parser, with column values kept as text (see module invariants),
 * tuples read by `readTextTuple`, and a Truncate's relation count checked against the
 * message's length before the library allocates for it. `parse(bytes)` turns one XLogData
 * payload into a `Pgoutput.Message`, or throws (the reader calls it through
 * `parseXLogData`; exported for tests and benchmarks of the decoding path).
 */
export class TextPgoutputPlugin extends PgoutputPlugin {
  constructor(options: Pgoutput.Options) {
    super(options)
    const parser = (
      this as unknown as {
        parser: {
          readRelationColumn: (reader: unknown) => Pgoutput.RelationColumn
          readTuple: (reader: BinaryReader, relation: Pgoutput.MessageRelation, unchangedToastFallback?: Record<string, unknown> | null) => Record<string, unknown>
          msgTruncate: (reader: BinaryReader) => Pgoutput.MessageTruncate
        }
      }
    ).parser
    const readRelationColumn = parser.readRelationColumn.bind(parser)
    parser.readRelationColumn = (reader) => ({ ...readRelationColumn(reader), parser: identity })
    const readTuple = parser.readTuple.bind(parser)
    parser.readTuple = (reader, relation, unchangedToastFallback) =>
      needsDictionary(relation.columns) ? readTuple(reader, relation, unchangedToastFallback) : readTextTuple(reader, relation.columns, unchangedToastFallback)
    // The library sizes the relation list by the count before reading it: a damaged count
    // of ~2^25 allocated a 256 MiB array (seconds) for a 10-byte message. A count the rest
    // of the message (flags byte, then 4 bytes per relation) cannot hold is cut short.
    const msgTruncate = parser.msgTruncate.bind(parser)
    parser.msgTruncate = (reader) => {
      const buffer = reader._b
      const at = reader._p
      if (at + 4 <= buffer.length && buffer.readInt32BE(at) > (buffer.length - at - 5) / 4) throw truncated()
      return msgTruncate(reader)
    }
  }
}

/**
 * Pure: the pgoutput message of one XLogData payload (`bytes`) at WAL position `lsn`, as
 * `plugin` parses it — or, when it does not parse (`plugin.parse` throws: cut short, an
 * unknown message tag, attribute kind or replica identity, a relation no Relation message
 * described, a tuple not as wide as its relation), a `ReplicationError` naming the LSN and
 * the reason, not retryable (the slot sends the same bytes again). Never throws.
 */
export const parseXLogData = (plugin: PgoutputPlugin, lsn: string, bytes: Buffer): Result.Result<ReplicationMessage, ReplicationError> =>
  Result.try({
    try: () => ({ lsn, message: plugin.parse(bytes) }),
    catch: (cause) =>
      new ReplicationError({
        message: `the pgoutput message at ${lsn} (${bytes.length} bytes) does not parse: ${cause instanceof Error ? cause.message : String(cause)}; the slot cannot be read past it: check that the server speaks pgoutput protocol version 1`,
        retryable: false,
        cause
      })
  })

/**
 * Pure: the replication command that starts pgoutput (protocol version 1) streaming from
 * `slot` at `lastLsn` for `publications`, with logical messages on or off. The slot is a
 * quoted identifier and the publications a literal listing quoted identifiers, so any name
 * PostgreSQL allows (mixed case, spaces, quotes) is sent as it is — the library's own
 * command quotes the slot by hand and sends the publication names bare, which PostgreSQL
 * folds to lower case. Throws `RangeError` for an `lastLsn` that is no LSN.
 */
export const startReplicationCommand = (slot: string, lastLsn: string, publications: ReadonlyArray<string>, messages: boolean): string => {
  if (!LSN_PATTERN.test(lastLsn)) throw new RangeError(`not an LSN: ${lastLsn}`)
  return `START_REPLICATION SLOT ${quoteIdent(slot)} LOGICAL ${lastLsn} (proto_version '1', publication_names ${quoteLiteral(publications.map(quoteIdent).join(","))}, messages ${messages ? "'true'" : "'false'"})`
}

/**
 * What the reader subscribes with: replication starts with `startReplicationCommand` for
 * `plugin`'s publications, and `parse` hands each XLogData payload over as it is. The
 * library calls `parse` inside the socket's data handler, where a throw is an uncaught
 * exception; the payload is parsed in the 'data' listener instead, where its LSN is known
 * (`parseXLogData`). With the library's flow control off, 'data' is emitted in the same
 * tick, so the payload's buffer is still the socket chunk's.
 */
const payloadPlugin = (plugin: PgoutputPlugin): Parameters<LogicalReplicationService["subscribe"]>[0] => ({
  options: plugin.options,
  name: plugin.name,
  start: (client, slotName, lastLsn) =>
    client.query(startReplicationCommand(slotName, lastLsn, plugin.options.publicationNames, plugin.options.messages ?? false)),
  parse: (bytes: Buffer) => bytes
})

/** errno codes of a socket that could not connect or was cut: the network, not the request. */

/**
 * SQLSTATEs worth retrying unchanged: the server is shutting down or restarting (57P01
 * admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now), it has no connection
 * left (53300 too_many_connections, e.g. max_wal_senders), or the slot is active for
 * another connection (55006 object_in_use: a walsender of a reader that just died).
 * Class 08 (connection exception) is retryable as a whole.
 */
const RETRYABLE_SQLSTATES = new Set(["57P01", "57P02", "57P03", "53300", "55006"])

/** Where replication connects, for messages: the URL (its password hidden) and the settings that gave it and its CA. */
export interface ReplicationTarget {
  readonly target: string
  readonly setting: string
  readonly caSetting?: string
}

/** SQLSTATEs and errno codes of a connection that could not be made as configured (see `describePgError`). */
const CONNECTION_SETUP = /^(28|3D|08|E(CONNREFUSED|NOTFOUND|AI_AGAIN|TIMEDOUT)$|ERR_TLS_|(SELF_SIGNED|DEPTH_ZERO|UNABLE_TO|CERT_))/

/**
 * Pure: turns a node-postgres / pg-logical-replication / socket error into a
 * `ReplicationError` whose message is `${what}: <first line of the error>` (any password
 * in it hidden, `redactSecrets`) — or, when `connection` is given and the connection itself
 * could not be made (authentication, no database, the network, TLS: a certificate not
 * trusted or for another host, a server without TLS), `${what}: <describePgError's line>`
 * naming the setting to fix — with the
 * error's `code` (SQLSTATE or errno), `cause` the error itself, and `retryable` true
 * exactly for a lost or refused connection (errno network codes, SQLSTATE class 08, a
 * driver error without code saying the connection ended) and the transient SQLSTATEs of
 * `RETRYABLE_SQLSTATES`; false for anything else — wrong password (28P01, 28000), no
 * database (3D000), no such slot or publication (42704), an invalidated slot or wrong
 * wal_level (55000), missing privilege (42501), a slot that already exists (42710).
 */
export const describeReplicationError = (cause: unknown, what: string, connection?: ReplicationTarget): ReplicationError => {
  const err: { readonly message?: unknown; readonly code?: unknown } = typeof cause === "object" && cause !== null ? cause : {}
  const text = redactSecrets(typeof err.message === "string" ? (err.message.split("\n")[0] ?? "") : String(cause))
  const code = typeof err.code === "string" ? err.code : undefined
  if (connection !== undefined && ((code !== undefined && CONNECTION_SETUP.test(code)) || text === "The server does not support SSL connections")) {
    const described = describePgError(cause, connection.target, connection.setting, connection.caSetting)
    return new ReplicationError({ message: `${what}: ${described.message}`, ...(code === undefined ? {} : { code }), retryable: described.retryable, cause })
  }
  const retryable =
    code === undefined
      ? /connection (terminated|ended|closed)|ECONNRESET|socket hang up/i.test(text)
      : NETWORK_ERROR_CODES.has(code) || code.startsWith("08") || RETRYABLE_SQLSTATES.has(code)
  return new ReplicationError({ message: `${what}: ${text}`, ...(code === undefined ? {} : { code }), retryable, cause })
}

/**
 * How replication connects besides its URL: TLS with full verification (`ssl`, as the
 * pools' `makePgPool` option), and the setting the URL came from (named in messages).
 */
export interface ReplicationConnectionOptions {
  readonly ssl?: PgTls
  /** e.g. `SOURCE_URL` (default "the source URL"). */
  readonly setting?: string
}

const targetOf = (url: string, options: ReplicationConnectionOptions): ReplicationTarget => ({
  target: redactUrl(url),
  setting: options.setting ?? "the source URL",
  ...(options.ssl?.setting === undefined ? {} : { caSetting: options.ssl.setting })
})

/** A client on the replication protocol (`replication=database`), closed with the scope. */
const replicationClient = (url: string, options: ReplicationConnectionOptions) =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: async () => {
        const client = new pg.Client({ connectionString: url, replication: "database", ...pgSslOptions(options.ssl) } as pg.ClientConfig)
        client.on("error", () => undefined)
        await client.connect()
        return client
      },
      catch: (cause) => describeReplicationError(cause, "cannot open a replication connection", targetOf(url, options))
    }),
    (client) => Effect.promise(() => client.end().catch(() => undefined))
  )

/**
 * Creates logical slot `slot` (pgoutput) and exports its snapshot, on a replication
 * connection to `url` (TLS and the setting's name as `options` say) held open until the
 * scope closes (the snapshot is usable only that long). Answers the slot's consistent point
 * (LSN text) and the snapshot's name. Fails with `ReplicationError` (e.g. the slot already
 * exists: SQLSTATE 42710, not retryable; the connection refused: retryable).
 */
export const createSlotWithSnapshot = (url: string, slot: string, options: ReplicationConnectionOptions = {}): Effect.Effect<SlotWithSnapshot, ReplicationError, Scope.Scope> =>
  Effect.gen(function* () {
    const client = yield* replicationClient(url, options)
    const result = yield* Effect.tryPromise({
      try: () => client.query(`CREATE_REPLICATION_SLOT ${quoteIdent(slot)} LOGICAL pgoutput (SNAPSHOT 'export')`),
      catch: (cause) => describeReplicationError(cause, `cannot create replication slot ${slot}`)
    })
    const row = result.rows[0] as { consistent_point: string; snapshot_name: string } | undefined
    if (row === undefined) {
      return yield* new ReplicationError({
        message: `creating replication slot ${slot} returned no row`,
        retryable: false
      })
    }
    return { consistentPoint: row.consistent_point, snapshotName: row.snapshot_name }
  })

export interface ReplicationOptions {
  readonly slot: string
  readonly publication: string
  /** Messages buffered between the socket and the consumer (default 1,024). */
  readonly bufferSize?: number
}

export interface ReplicationSession {
  /** pgoutput messages in WAL order; ends only by failing (connection lost) or with the scope. */
  readonly messages: Stream.Stream<ReplicationMessage, ReplicationError>
  /** Confirms every change up to `lsn` as flushed: the slot may advance to it. */
  readonly confirm: (lsn: string) => Effect.Effect<void>
}

const STATUS_INTERVAL_MS = 10_000

/** A readable socket that can stop and restart delivering data. */
export interface PausableSocket {
  pause(): void
  resume(): void
}

/**
 * Back-pressure between a socket whose messages arrive synchronously (every message of a
 * received chunk in one go) and a bounded queue. Returns `offer(message)`:
 *  - while the queue has room, a message goes straight in (no fiber, no promise);
 *  - when it is full, the socket is paused and the message, and the rest of the chunk being
 *    parsed, wait in an overflow list, which is handed over in order as room frees up;
 *    once it is empty the socket resumes. So at most one chunk's messages wait outside the
 *    queue, and messages reach the queue in the order they arrived.
 * `socket()` finds the socket when needed; if there is none, `onNoSocket` is called and
 * the message is dropped (the caller fails the stream).
 */
export const socketHandOff = <A, E>(queue: Queue.Enqueue<A, E>, socket: () => PausableSocket | undefined, onNoSocket: () => void) => {
  let overflow: Array<A> | undefined
  const drainOverflow = Effect.gen(function* () {
    while (overflow !== undefined && overflow.length > 0) {
      const next = overflow
      overflow = []
      if ((yield* Queue.offerAll(queue, next)).length > 0) return // the queue was ended: nothing more to deliver
    }
    overflow = undefined
    socket()?.resume()
  })
  return (message: A): void => {
    if (overflow !== undefined) overflow.push(message)
    else if (!Queue.offerUnsafe(queue, message)) {
      const stream = socket()
      if (stream === undefined) return onNoSocket()
      stream.pause()
      overflow = [message]
      void Effect.runPromise(drainOverflow)
    }
  }
}

/**
 * The messages of `service` streaming slot `options.slot` (publication
 * `options.publication`, logical messages on) with the reader's text pgoutput parser:
 * back-pressured by `socketHandOff`, parsed by `parseXLogData` in the 'data' listener.
 * Fails with `ReplicationError`: the connection lost or closed (retryable), the slot or
 * publication missing (not), a message that does not parse (not; nothing after it is
 * parsed or delivered). `service` must have its flow control off (see `startReplication`).
 * `connection`: where it connects, so that a connection that cannot be made names the
 * setting to fix (`describeReplicationError`).
 */
export const replicationMessages = (
  service: LogicalReplicationService,
  options: ReplicationOptions,
  connection?: ReplicationTarget
): Stream.Stream<ReplicationMessage, ReplicationError> => {
  const plugin = new TextPgoutputPlugin({ protoVersion: 1, publicationNames: [options.publication], messages: true })
  return Stream.callback<ReplicationMessage, ReplicationError>(
    (queue) =>
      Effect.sync(() => {
        const fail = (error: ReplicationError) => void Effect.runPromise(Queue.fail(queue, error))
        const socket = () => {
          const stream = (service as unknown as { _connection?: { stream?: { pause?: unknown; resume?: unknown } } | null })._connection?.stream
          return typeof stream?.pause === "function" && typeof stream.resume === "function" ? (stream as PausableSocket) : undefined
        }
        const offer = socketHandOff(queue, socket, () =>
          fail(
            new ReplicationError({
              message: "pg-logical-replication's connection has no socket to pause: the library changed; pin pg-logical-replication 2.5.0",
              retryable: false
            })
          )
        )
        let broken = false
        service.on("data", (lsn: string, bytes: Buffer) => {
          if (broken) return
          const parsed = parseXLogData(plugin, lsn, bytes)
          if (Result.isSuccess(parsed)) return offer(parsed.success)
          broken = true
          fail(parsed.failure)
        })
        service.on("error", (cause: Error) => fail(describeReplicationError(cause, `replication from slot ${options.slot} failed`)))
        service.subscribe(payloadPlugin(plugin), options.slot).then(
          () =>
            fail(
              new ReplicationError({
                message: `replication from slot ${options.slot} ended: the connection closed`,
                retryable: true
              })
            ),
          (cause: unknown) => fail(describeReplicationError(cause, `cannot stream from replication slot ${options.slot}`, connection))
        )
      }),
    { bufferSize: options.bufferSize ?? 1024, strategy: "suspend" }
  )
}

/**
 * Streams slot `options.slot` of the source at `url` (TLS and the setting's name as
 * `connection` says) from its confirmed position, with logical messages enabled
 * (heartbeats), publication `options.publication`. Stopped when the scope closes. The
 * session's `messages` fail with `ReplicationError`: retryable when the connection was lost
 * or closed, not when the slot or publication is missing or the connection cannot be made as
 * configured (`describeReplicationError`).
 */
export const startReplication = (
  url: string,
  options: ReplicationOptions,
  connection: ReplicationConnectionOptions = {}
): Effect.Effect<ReplicationSession, never, Scope.Scope> =>
  Effect.gen(function* () {
    // The library's own flow control is off: it hands each message over through a chain of
    // promises (several per message, more than the rest of our decoding costs). Back-pressure
    // is kept here instead, on the same socket the library would pause (see `replicationMessages`).
    const service = new LogicalReplicationService(
      { connectionString: url, ...pgSslOptions(connection.ssl) },
      { acknowledge: { auto: false, timeoutSeconds: 0 }, flowControl: { enabled: false } }
    )
    let confirmed: string | undefined
    const sendStatus = () => (confirmed === undefined ? Promise.resolve(false) : service.acknowledge(confirmed))
    service.on("heartbeat", (_lsn, _timestamp, shouldRespond) => {
      if (shouldRespond) void sendStatus()
    })
    const timer = setInterval(() => void sendStatus(), STATUS_INTERVAL_MS)
    yield* Effect.addFinalizer(() =>
      Effect.promise(async () => {
        clearInterval(timer)
        await service.destroy().catch(() => undefined)
      })
    )
    const messages = replicationMessages(service, options, targetOf(url, connection))
    return {
      messages,
      confirm: (lsn: string) =>
        Effect.promise(() => {
          confirmed = lsn
          return sendStatus()
        }).pipe(Effect.asVoid)
    }
  })

/**
 * Logical replication of one source as a service: the replication connections
 * (`replication=database`) to the URL its layer was given. `createSlotWithSnapshot` and
 * `start` are `createSlotWithSnapshot` and `startReplication` above, with their errors
 * (`ReplicationError`) and scopes.
 */
export class Replication extends Context.Service<
  Replication,
  {
    /** Creates a pgoutput slot exporting a snapshot, held until the scope closes. Fails with `ReplicationError`. */
    readonly createSlotWithSnapshot: (slot: string) => Effect.Effect<SlotWithSnapshot, ReplicationError, Scope.Scope>
    /** Streams the slot's pgoutput messages from its confirmed position until the scope closes. */
    readonly start: (options: ReplicationOptions) => Effect.Effect<ReplicationSession, never, Scope.Scope>
  }
>()("@totes-cdc/platform/Replication") {
  /**
   * Replication connections to `url` (a PostgreSQL URL; the role needs REPLICATION), with
   * TLS as `connection.ssl` says (the pools' `PgTls`), messages naming `connection.setting`.
   */
  static readonly layer = (url: string, connection: ReplicationConnectionOptions = {}): Layer.Layer<Replication> =>
    Layer.succeed(Replication, {
      createSlotWithSnapshot: (slot) =>
        createSlotWithSnapshot(url, slot, connection).pipe(Effect.withSpan("Replication.createSlotWithSnapshot", { attributes: { slot } })),
      start: (options) => startReplication(url, options, connection).pipe(Effect.withSpan("Replication.start", { attributes: { slot: options.slot } }))
    })
}
