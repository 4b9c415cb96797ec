/**
 * The processor function's environment (infra/src/lambda/processor.ts): INGESTION_BUCKET
 * and PROCESSED_BUCKET, required (the stack sets both), and S3 (Environment.ts).
 */
import { Config } from "effect"
import { lambdaS3Config } from "./Environment.ts"

export const processorEnvironment = Config.all({
  ingestionBucket: Config.String("INGESTION_BUCKET"),
  processedBucket: Config.String("PROCESSED_BUCKET"),
  s3: lambdaS3Config
})
