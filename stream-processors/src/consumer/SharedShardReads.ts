/**
 * One GetRecords for several consumers of the same stream in one process (`totes-cdc dev`,
 * where the archiver and the processor read every shard): a `Kinesis` service that answers
 * a read from the records another consumer already read, and reads Kinesis only for records
 * nobody has read yet. In AWS each consumer reads for itself (Firehose, the processor's
 * event source mapping); this is the local stack's saving of a second parse of every
 * GetRecords response (the AWS SDK's JSON and base64) and of kinesalite's second read.
 *
 * Iterators of this service are its own tokens (`shared:` + JSON of stream, shard, the
 * sequence number they start after — null: TRIM_HORIZON — and, when known, a real iterator
 * positioned there). Consumers treat iterators as opaque, as the `Kinesis` contract says.
 *
 * Invariants:
 *  - What a consumer reads is exactly what Kinesis holds after its position, in order: the
 *    cache of a shard is one contiguous run of its records (`ShardRun`), extended only by a
 *    read that starts right after its last record, or started by a read of an empty run.
 *  - A read answers at most `limit` records; fewer than Kinesis would (the end of the run)
 *    is allowed by GetRecords' contract, and the next read goes on from there.
 *  - Memory: each shard's run keeps at most `maxBytesPerShard` bytes of record data (oldest
 *    records dropped first); a consumer behind the run reads Kinesis itself.
 *  - A shard's run is extended by one read at a time (a semaphore per shard), so two
 *    consumers at the end of the run cause one GetRecords, not two.
 *  - `millisBehindLatest` of an answer from the run is that of the read that extended it
 *    last (approximate: the consumers use it for the iterator-age metric and to decide
 *    whether to wait before reading again).
 */
import { Kinesis, type KinesisError, type KinesisRecord, type RecordsPage } from "@totes-cdc/platform"
import { Effect, Semaphore } from "effect"

/** A token of this service: where a read starts. */
interface Position {
  readonly stream: string
  readonly shardId: string
  /** The sequence number the read starts after; null: the shard's oldest record. */
  readonly after: string | null
  /** A Kinesis iterator at that position, when one is known. */
  readonly real?: string
}

const PREFIX = "shared:"

/** Pure: the token of `position`. */
export const encodePosition = (position: Position): string =>
  PREFIX + JSON.stringify([position.stream, position.shardId, position.after, position.real ?? null])

/** Pure: the position of a token of this service, or undefined for any other string. */
export const decodePosition = (token: string): Position | undefined => {
  if (!token.startsWith(PREFIX)) return undefined
  const [stream, shardId, after, real] = JSON.parse(token.slice(PREFIX.length)) as [string, string, string | null, string | null]
  return { stream, shardId, after, ...(real === null ? {} : { real }) }
}

/**
 * A contiguous run of one shard's records, in shard order (pure, in memory): the records
 * after `startAfter`, up to the end of what was read. Positions are absolute (record n of
 * the run since it was started), so dropping old records does not move them.
 */
export class ShardRun {
  private records: Array<KinesisRecord> = []
  /** Absolute position of records[0]. */
  private base = 0
  private readonly position = new Map<string, number>()
  private bytes = 0
  /** The sequence number just before records[0]; null: the shard's start; undefined: the run is empty and unstarted. */
  private startAfter: string | null | undefined = undefined
  /** A Kinesis iterator just after the last record (undefined: the shard is closed and fully read). */
  tipIterator: string | undefined
  tipMillisBehind: number | undefined

  private readonly maxBytes: number

  constructor(maxBytes: number) {
    this.maxBytes = maxBytes
  }

  /** Whether the run holds nothing yet. */
  get unstarted(): boolean {
    return this.startAfter === undefined
  }

  /** The sequence number of the run's last record (`startAfter` when it holds none). */
  get last(): string | null | undefined {
    return this.records.length > 0 ? this.records[this.records.length - 1]!.sequenceNumber : this.startAfter
  }

  /** Where a read after `after` starts in the run: an index into it (its length: at the end), or undefined when the run does not reach back there. */
  private indexAfter(after: string | null): number | undefined {
    if (this.startAfter === undefined) return undefined
    if (after === this.startAfter) return 0
    if (after === null) return undefined
    const at = this.position.get(after)
    return at === undefined ? undefined : at - this.base + 1
  }

  /** At most `limit` records after `after`, when the run holds that position (an empty array: at its end); undefined otherwise. */
  read(after: string | null, limit: number): ReadonlyArray<KinesisRecord> | undefined {
    const index = this.indexAfter(after)
    return index === undefined ? undefined : this.records.slice(index, index + limit)
  }

  /** Whether a read after `after` is at the end of the run (the next records are not read yet). */
  atEnd(after: string | null): boolean {
    return this.indexAfter(after) === this.records.length
  }

  /**
   * Starts an empty run with a page read after `after`, or extends the run with a page read
   * right after its last record. Drops the oldest records beyond `maxBytes`.
   */
  extend(after: string | null, page: RecordsPage): void {
    if (this.startAfter === undefined) this.startAfter = after
    else if (after !== this.last) throw new Error(`ShardRun.extend: a page after ${after} does not continue the run (last ${this.last})`)
    for (const record of page.records) {
      this.position.set(record.sequenceNumber, this.base + this.records.length)
      this.records.push(record)
      this.bytes += record.data.byteLength
    }
    this.tipIterator = page.nextIterator
    this.tipMillisBehind = page.millisBehindLatest
    let drop = 0
    while (this.bytes > this.maxBytes && drop < this.records.length - 1) {
      const record = this.records[drop++]!
      this.bytes -= record.data.byteLength
      this.position.delete(record.sequenceNumber)
      this.startAfter = record.sequenceNumber
    }
    if (drop > 0) {
      this.records = this.records.slice(drop)
      this.base += drop
    }
  }
}

/** Default memory of each shard's run: 16 MiB of record data (a GetRecords page is at most 10 MiB). */
export const DEFAULT_SHARED_BYTES_PER_SHARD = 16 * 1024 * 1024

/**
 * `kinesis` with its reads shared (module header). Every other call goes to `kinesis`
 * unchanged. Fails as `kinesis` does (`KinesisError`).
 */
export const shareShardReads = (kinesis: Kinesis["Service"], maxBytesPerShard = DEFAULT_SHARED_BYTES_PER_SHARD): Effect.Effect<Kinesis["Service"]> =>
  Effect.sync(() => {
    const runs = new Map<string, { readonly run: ShardRun; readonly lock: Semaphore.Semaphore }>()
    const shardOf = (stream: string, shardId: string) => {
      const key = `${stream}\u0000${shardId}`
      let shard = runs.get(key)
      if (shard === undefined) {
        shard = { run: new ShardRun(maxBytesPerShard), lock: Semaphore.makeUnsafe(1) }
        runs.set(key, shard)
      }
      return shard
    }

    /** The answer of records read after `from`; the next token carries `real` when it is a Kinesis iterator at the page's end. */
    const answer = (from: Position, records: ReadonlyArray<KinesisRecord>, next: { readonly real: string | undefined; readonly ended: boolean }, millisBehindLatest: number | undefined): RecordsPage => {
      const after = records.length > 0 ? records[records.length - 1]!.sequenceNumber : from.after
      return {
        records,
        nextIterator: next.ended ? undefined : encodePosition({ stream: from.stream, shardId: from.shardId, after, ...(next.real === undefined ? {} : { real: next.real }) }),
        ...(millisBehindLatest === undefined ? {} : { millisBehindLatest })
      }
    }

    /** A Kinesis read after `from`: with its own iterator if it has one, else a fresh one. */
    const readKinesis = (from: Position, limit: number) =>
      (from.real === undefined ? kinesis.getShardIterator(from.stream, from.shardId, from.after === null ? {} : { afterSequenceNumber: from.after }) : Effect.succeed(from.real)).pipe(
        Effect.flatMap((iterator) => kinesis.getRecords(iterator, limit))
      )

    /** Extends the run at its end (one reader at a time), once more from a fresh iterator when the run's iterator is refused (expired). */
    const extendRun = (shard: { readonly run: ShardRun; readonly lock: Semaphore.Semaphore }, from: Position, limit: number) =>
      shard.lock.withPermits(1)(
        Effect.gen(function* () {
          const { run } = shard
          const unstarted = run.unstarted
          if (!unstarted && !run.atEnd(from.after)) return // another consumer extended it meanwhile
          if (!unstarted && run.tipIterator === undefined) return // the shard is closed and fully read
          const after = unstarted ? from.after : (run.last ?? null)
          const iterator = unstarted ? from.real : run.tipIterator
          const page = yield* readKinesis({ ...from, after, ...(iterator === undefined ? {} : { real: iterator }) }, limit).pipe(
            Effect.catch((error) => (error.retryable || iterator === undefined ? Effect.fail(error) : readKinesis({ stream: from.stream, shardId: from.shardId, after }, limit)))
          )
          run.extend(after, page)
        })
      )

    const getRecords = (iterator: string, limit = 10_000): Effect.Effect<RecordsPage, KinesisError> =>
      Effect.gen(function* () {
        const from = decodePosition(iterator)
        if (from === undefined) return yield* kinesis.getRecords(iterator, limit)
        const shard = shardOf(from.stream, from.shardId)
        const { run } = shard
        if (run.unstarted || run.atEnd(from.after)) yield* extendRun(shard, from, limit)
        const cached = run.read(from.after, limit)
        if (cached !== undefined) {
          const atEnd = cached.length === 0 || run.atEnd(cached[cached.length - 1]!.sequenceNumber)
          return answer(from, cached, { real: atEnd ? run.tipIterator : undefined, ended: atEnd && run.tipIterator === undefined }, run.tipMillisBehind)
        }
        // Behind the run (or the run moved on without it): this consumer reads Kinesis itself.
        const page = yield* readKinesis(from, limit)
        return answer(from, page.records, { real: page.nextIterator, ended: page.nextIterator === undefined }, page.millisBehindLatest)
      })

    return Kinesis.of({
      ...kinesis,
      getShardIterator: (stream, shardId, from) => Effect.succeed(encodePosition({ stream, shardId, after: from.afterSequenceNumber ?? null })),
      getRecords
    })
  })
