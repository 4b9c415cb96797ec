/**
 * The baseline of the reader benchmark: a bare pg-logical-replication client that only
 * counts what its slot sends (benchmarks only).
 *
 * Same library settings as the reader (platform/src/Replication.ts): pgoutput proto 1
 * with logical messages, `acknowledge: { auto: false, timeoutSeconds: 0 }`,
 * `flowControl: { enabled: true }`; keepalives that ask for a reply are answered with the
 * last commit seen (so the server never times the client out). Unlike the reader it keeps
 * the library's stock `PgoutputPlugin`, whose values go through node-postgres' global
 * type parsers (the reader keeps text): that is the "bare" client a user would write.
 *
 * Invariants:
 *  - Timed from the `subscribe` call to the arrival of the first commit whose end is past
 *    the end marker (the last backlog transaction): connection set-up is inside the time, as it
 *    is for the reader.
 *  - The replication connection is closed before this returns (or fails).
 */
import { compareLsn } from "@totes-cdc/core"
import { Effect, Schema } from "effect"
import { LogicalReplicationService, type Pgoutput, PgoutputPlugin } from "pg-logical-replication"

export class BareClientError extends Schema.TaggedError<BareClientError>()("BareClientError", {
  message: Schema.String
}) {}

export interface BareDrain {
  /** insert + update + delete messages counted. */
  readonly rowChanges: number
  /** Every XLogData message (begin, relation, changes, commit, message, …). */
  readonly messages: number
  readonly commits: number
  /** Seconds from `subscribe` to the commit past the end marker. */
  readonly seconds: number
}

/**
 * Drains slot `slot` (publication `publication`) from its confirmed position until a
 * commit after `endMarkerLsn` arrives. `onDone` runs when that commit is seen, while the
 * connection is still open (e.g. to read the walsender's CPU time). Fails with
 * `BareClientError` on a replication error or after `timeoutMs`.
 */
export const drainWithBareClient = <A>(options: {
  readonly url: string
  readonly slot: string
  readonly publication: string
  readonly endMarkerLsn: string
  readonly timeoutMs: number
  readonly onDone: () => Promise<A>
}): Effect.Effect<{ readonly drain: BareDrain; readonly done: A }, BareClientError> =>
  Effect.tryPromise({
    try: async () => {
      const service = new LogicalReplicationService(
        { connectionString: options.url },
        { acknowledge: { auto: false, timeoutSeconds: 0 }, flowControl: { enabled: true } }
      )
      const plugin = new PgoutputPlugin({ protoVersion: 1, publicationNames: [options.publication], messages: true })
      let rowChanges = 0
      let messages = 0
      let commits = 0
      let lastCommit: string | undefined
      try {
        return await new Promise<{ drain: BareDrain; done: A }>((resolve, reject) => {
          const timer = setTimeout(
            () => reject(new Error(`no commit past ${options.endMarkerLsn} within ${options.timeoutMs} ms (${rowChanges} row changes seen)`)),
            options.timeoutMs
          )
          let started = 0
          let finished = false
          service.on("heartbeat", (_lsn: string, _timestamp: number, shouldRespond: boolean) => {
            if (shouldRespond && lastCommit !== undefined) void service.acknowledge(lastCommit)
          })
          service.on("error", (error: Error) => {
            clearTimeout(timer)
            reject(error)
          })
          service.on("data", (_lsn: string, message: Pgoutput.Message) => {
            if (finished) return
            messages += 1
            switch (message.tag) {
              case "insert":
              case "update":
              case "delete":
                rowChanges += 1
                return
              case "commit": {
                commits += 1
                lastCommit = message.commitEndLsn ?? message.commitLsn ?? lastCommit
                // The marker's LSN (pg_logical_emit_message) is the END of its record, which can
                // be the START of the commit record after it: compare the commit's end.
                const end = message.commitEndLsn ?? "0/0"
                if (compareLsn(end, options.endMarkerLsn) > 0) {
                  finished = true
                  const seconds = (performance.now() - started) / 1000
                  clearTimeout(timer)
                  options.onDone().then(
                    (done) => resolve({ drain: { rowChanges, messages, commits, seconds }, done }),
                    reject
                  )
                }
                return
              }
              default:
                return
            }
          })
          started = performance.now()
          service.subscribe(plugin, options.slot).catch((error: unknown) => {
            clearTimeout(timer)
            if (!finished) reject(error)
          })
        })
      } finally {
        await service.destroy().catch(() => undefined)
      }
    },
    catch: (cause) =>
      new BareClientError({
        message: `bare client on slot ${options.slot}: ${cause instanceof Error ? cause.message : String(cause)}`
      })
  })
