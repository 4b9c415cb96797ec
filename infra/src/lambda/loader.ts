/**
 * The loader's Lambda entry (bundled by esbuild, infra/src/Bundling.ts): an SQS event
 * source mapping invokes `handler` with the processed bucket's `s3:ObjectCreated:*`
 * notifications (`.parquet` objects only); the answer is SQS's partial batch response.
 *
 * Environment (LoaderEnvironment.ts; set by the stack, a missing or malformed one fails the
 * init with one line naming it): WAREHOUSE_URL (no password in it),
 * WAREHOUSE_PASSWORD_SECRET_ARN, WAREHOUSE_CA_FILE (TLS verify-full; by default
 * `/var/runtime/ca-cert.pem`, the Lambda runtime's Amazon CA bundle, which holds RDS's CAs),
 * WAREHOUSE_SCHEMA, PROCESSED_BUCKET, AWS_REGION (set by Lambda); S3_ENDPOINT only for an
 * emulator. Each invocation writes EMF metrics lines to stdout (Emf.ts).
 */
import { makeSqsLoaderHandler } from "@totes-cdc/loader"
import { emitLoaderMetrics } from "./Emf.ts"
import { readEnvironment } from "./Environment.ts"
import { loaderEnvironment } from "./LoaderEnvironment.ts"

export const handler = makeSqsLoaderHandler(readEnvironment(loaderEnvironment), { onInvocation: emitLoaderMetrics() })
