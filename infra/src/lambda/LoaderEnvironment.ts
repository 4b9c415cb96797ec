/**
 * The loader function's environment (infra/src/lambda/loader.ts): the loader's own
 * settings (loader/src/LoaderProgram.ts `loaderSettingsConfig`: WAREHOUSE_URL required,
 * WAREHOUSE_SCHEMA, WAREHOUSE_CA_FILE, WAREHOUSE_PASSWORD_SECRET_ARN, TRUNCATE_MODE,
 * LOADER_FOREIGN_KEY_CHECKS, …), with PROCESSED_BUCKET required (no local-stack default)
 * and S3 reached through the SDK's credential chain (Environment.ts).
 */
import { loaderSettingsConfig } from "@totes-cdc/loader"
import { Config } from "effect"
import { lambdaS3Config } from "./Environment.ts"

export const loaderEnvironment = Config.all({
  loader: loaderSettingsConfig,
  processedBucket: Config.String("PROCESSED_BUCKET"),
  s3: lambdaS3Config
}).pipe(Config.map(({ loader, processedBucket, s3 }) => ({ ...loader, processedBucket, s3 })))
