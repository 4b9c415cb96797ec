/**
 * The processor function's environment (infra/src/lambda/processor.ts): INGESTION_BUCKET
 * and PROCESSED_BUCKET, required (the stack sets both), and S3 (Environment.ts).
 */
import { Config } from "effect"
import { lambdaS3Config } from "./Environment.ts"

/**
 * The processor function's chunk budget (Processor.ts `chunkBudgetMs`), ms: past it an
 * invocation starts no further snapshot chunk and answers PartiallyFailed from the next
 * one's record. Its timeout (ProcessorFunction.ts, 60 s) leaves 20 s for the chunk under way
 * (~5,000 rows: well under a second at 1,024 MB) and the answer.
 */
export const PROCESSOR_CHUNK_BUDGET_MS = 40_000

export const processorEnvironment = Config.all({
  ingestionBucket: Config.String("INGESTION_BUCKET"),
  processedBucket: Config.String("PROCESSED_BUCKET"),
  s3: lambdaS3Config
})
