// Minimal typings for aws-kinesis-agg 4.2.8 (the KPL aggregated-record format). Its own
// index.d.ts imports aws-sdk v2 and aws-lambda types, which this project does not install,
// and omits RecordAggregator. Only what the tests call (the KPL contract's reference implementation).
declare module "aws-kinesis-agg" {
  /** A user record to aggregate. `data` strings are read as UTF-8 (the library converts them in place). */
  export interface AggUserRecordInput {
    partitionKey: string
    explicitHashKey?: string
    data: Buffer | string
  }

  /** What `build()` answers: the aggregate's payload and its first user record's partition key. */
  export interface AggEncodedRecord {
    partitionKey: string
    data: Buffer
    ExplicitHashKey?: string
  }

  /**
   * Accumulates user records into one KPL aggregated record of at most 1 MiB − 20 bytes of
   * protobuf (its own limit; sizes are estimated from JavaScript string lengths).
   */
  export class RecordAggregator {
    constructor(onReadyCallback?: (error: Error | null, encoded?: AggEncodedRecord) => void)
    /** Whether `record` still fits under the library's 1 MiB limit. */
    checkIfUserRecordFits(record: AggUserRecordInput): boolean
    /** Adds `record`; throws when it does not fit. */
    addUserRecord(record: AggUserRecordInput): void
    /** The aggregate of the records added so far (undefined when none), and clears them. */
    build(): AggEncodedRecord | undefined
    /** How many user records are buffered. */
    length(): number
    clearRecords(): void
  }

  /** A Kinesis record as Lambda (v2 shape: base64 `data`) hands it to a consumer. */
  export interface AggKinesisRecordPayload {
    partitionKey: string
    explicitPartitionKey?: string
    sequenceNumber: string
    /** Base64 of the record's bytes. */
    data: string
  }

  /** A de-aggregated user record; `data` is base64. `subSequenceNumber` is absent for a non-aggregated record. */
  export interface AggDeaggregatedRecord {
    partitionKey: string
    explicitPartitionKey?: string
    sequenceNumber: string
    subSequenceNumber?: number
    data: string
  }

  /**
   * De-aggregates one Kinesis record (aggregated or not) synchronously: calls `callback`
   * with an error, or with every user record in order.
   */
  export function deaggregateSync(
    kinesisRecord: AggKinesisRecordPayload,
    computeChecksums: boolean,
    callback: (error: Error | null | undefined, userRecords?: Array<AggDeaggregatedRecord>) => void
  ): void
}
