/**
 * The container images of the containers path, in one place: ContainerStack.ts starts
 * them and CI pulls them up front (`node test/e2e/ContainerImages.ts` prints one a line),
 * so a missing or unreachable image fails the pull step by name, not a test midway.
 *
 * Invariant: every tag is fixed. LocalStack stays on 4.14.0, the last release that starts
 * without an auth token (from 2026.03 the `localstack/localstack` image requires
 * LOCALSTACK_AUTH_TOKEN); PostgreSQL on 16, as docker/compose.yaml.
 */

/** PostgreSQL for totesys and the warehouse (started with wal_level=logical). */
export const POSTGRES_IMAGE = "postgres:16"

/** LocalStack for Kinesis and S3. */
export const LOCALSTACK_IMAGE = "localstack/localstack:4.14.0"

/** testcontainers 12.2's reaper (its default `RYUK_CONTAINER_IMAGE`), started with the first container. */
export const RYUK_IMAGE = "testcontainers/ryuk:0.14.0"

export const CONTAINER_IMAGES: ReadonlyArray<string> = [POSTGRES_IMAGE, LOCALSTACK_IMAGE, RYUK_IMAGE]

if (import.meta.main) console.log(CONTAINER_IMAGES.join("\n"))
