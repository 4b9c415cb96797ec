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
 *    NULL is `null`: callers can tell them apart.
 *  - The slot is confirmed only through `confirm(lsn)`: the library's own timer is off
 *    (`acknowledge: { auto: false, timeoutSeconds: 0 }`, kibae/pg-logical-replication
 *    #174). Keepalives and a 10 s status timer re-send the last confirmed LSN, never
 *    more, so the server neither times the connection out nor advances past it.
 *  - Back-pressure: `flowControl` pauses the socket while a message waits for room in
 *    the bounded buffer between the library and the stream's consumer.
 */
import { Effect, Queue, Schema, type Scope, Stream } from "effect"
import pg from "pg"
import { LogicalReplicationService, PgoutputPlugin, type Pgoutput } from "pg-logical-replication"

export type { Pgoutput }

/** A decoded pgoutput message with the WAL position of the XLogData that carried it. */
export interface ReplicationMessage {
  readonly lsn: string
  readonly message: Pgoutput.Message
}

/** Replication failed: connection, slot or protocol. `message` names the problem and the fix. */
export class ReplicationError extends Schema.TaggedError<ReplicationError>()("ReplicationError", {
  message: Schema.String,
  code: Schema.optional(Schema.String)
}) {}

export interface SlotWithSnapshot {
  /** LSN from which the slot decodes: every change committed before it is in the snapshot. */
  readonly consistentPoint: string
  /** Exported snapshot name for `SET TRANSACTION SNAPSHOT`; valid while the scope is open. */
  readonly snapshotName: string
}

const identity = (value: string) => value

/** The library's pgoutput parser, with column values kept as text (see module invariants). */
class TextPgoutputPlugin extends PgoutputPlugin {
  constructor(options: Pgoutput.Options) {
    super(options)
    const parser = (this as unknown as { parser: { readRelationColumn: (reader: unknown) => Pgoutput.RelationColumn } })
      .parser
    const readRelationColumn = parser.readRelationColumn.bind(parser)
    parser.readRelationColumn = (reader) => ({ ...readRelationColumn(reader), parser: identity })
  }
}

const describe = (cause: unknown, what: string): ReplicationError => {
  const err = cause as { message?: unknown; code?: unknown }
  const text = typeof err?.message === "string" ? err.message.split("\n")[0] : String(cause)
  const code = typeof err?.code === "string" ? err.code : undefined
  return new ReplicationError({ message: `${what}: ${text}`, ...(code === undefined ? {} : { code }) })
}

/** A client on the replication protocol (`replication=database`), closed with the scope. */
const replicationClient = (url: string) =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: async () => {
        const client = new pg.Client({ connectionString: url, replication: "database" } as pg.ClientConfig)
        client.on("error", () => undefined)
        await client.connect()
        return client
      },
      catch: (cause) => describe(cause, "cannot open a replication connection")
    }),
    (client) => Effect.promise(() => client.end().catch(() => undefined))
  )

/**
 * Creates logical slot `slot` (pgoutput) and exports its snapshot, on a replication
 * connection held open until the scope closes (the snapshot is usable only that long).
 * Fails with `ReplicationError` (e.g. the slot already exists: SQLSTATE 42710).
 */
export const createSlotWithSnapshot = (url: string, slot: string): Effect.Effect<SlotWithSnapshot, ReplicationError, Scope.Scope> =>
  Effect.gen(function* () {
    const client = yield* replicationClient(url)
    const result = yield* Effect.tryPromise({
      try: () => client.query(`CREATE_REPLICATION_SLOT "${slot}" LOGICAL pgoutput (SNAPSHOT 'export')`),
      catch: (cause) => describe(cause, `cannot create replication slot ${slot}`)
    })
    const row = result.rows[0] as { consistent_point: string; snapshot_name: string } | undefined
    if (row === undefined) return yield* new ReplicationError({ message: `CREATE_REPLICATION_SLOT ${slot} returned no row` })
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

/**
 * Streams slot `slot` from its confirmed position, with logical messages enabled
 * (heartbeats). Stopped when the scope closes. Fails with `ReplicationError`.
 */
export const startReplication = (url: string, options: ReplicationOptions): Effect.Effect<ReplicationSession, never, Scope.Scope> =>
  Effect.gen(function* () {
    const service = new LogicalReplicationService(
      { connectionString: url },
      { acknowledge: { auto: false, timeoutSeconds: 0 }, flowControl: { enabled: true } }
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
    const plugin = new TextPgoutputPlugin({ protoVersion: 1, publicationNames: [options.publication], messages: true })
    const messages = Stream.callback<ReplicationMessage, ReplicationError>(
      (queue) =>
        Effect.sync(() => {
          service.on("data", (lsn: string, message: Pgoutput.Message) =>
            Effect.runPromise(Queue.offer(queue, { lsn, message })).then(() => undefined)
          )
          service.on("error", (cause: Error) => {
            void Effect.runPromise(Queue.fail(queue, describe(cause, `replication from slot ${options.slot} failed`)))
          })
          service.subscribe(plugin, options.slot).then(
            () => Effect.runPromise(Queue.fail(queue, new ReplicationError({ message: `replication from slot ${options.slot} ended: the connection closed` }))),
            (cause: unknown) => Effect.runPromise(Queue.fail(queue, describe(cause, `cannot stream from replication slot ${options.slot}`)))
          )
        }),
      { bufferSize: options.bufferSize ?? 1024, strategy: "suspend" }
    )
    return {
      messages,
      confirm: (lsn: string) =>
        Effect.promise(() => {
          confirmed = lsn
          return sendStatus()
        }).pipe(Effect.asVoid)
    }
  })
