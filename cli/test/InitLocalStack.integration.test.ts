/**
 * `totes-cdc init-localstack` as the compose `init` service runs it, here on the local
 * stack's kinesalite and s3rver (which have no SQS or Firehose: no queue and no delivery
 * stream are asked for; those are checked on fakes in local-stack's ProvisionEmulator test):
 * it makes the stream with the shards asked and both buckets, exits 0, and does it again
 * with nothing changed; a stream that exists with other shards, and settings naming no
 * emulator, each end with one line on stderr and the exit code of their kind.
 */
import { expect, layer } from "@effect/vitest"
import { LocalStack } from "@totes-cdc/local-stack"
import { CLI_BIN, emulatorEnvironment } from "@totes-cdc/local-stack/testing"
import { Kinesis, S3 } from "@totes-cdc/platform"
import { Effect, Layer } from "effect"
import { spawn } from "node:child_process"

/** Runs `totes-cdc init-localstack` with exactly `env` (and PATH): exit code, stdout, stderr. */
const initLocalStack = (env: Readonly<Record<string, string>>) =>
  Effect.promise(
    () =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, [CLI_BIN, "init-localstack"], { env: { PATH: process.env["PATH"] ?? "", ...env }, stdio: ["ignore", "pipe", "pipe"] })
        let stdout = ""
        let stderr = ""
        child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()))
        child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
        child.once("exit", (code) => resolve({ code, stdout, stderr }))
      })
  )

const services = Layer.unwrap(LocalStack.pipe(Effect.map((stack) => Layer.mergeAll(S3.layer(stack.s3), Kinesis.layer(stack.kinesis)))))

layer(Layer.provideMerge(services, LocalStack.layer()), { excludeTestServices: true })("totes-cdc init-localstack", (it) => {
  it.effect("makes the stream and the buckets, and a second run changes nothing; other shards and no emulator end with one line", () =>
    Effect.gen(function* () {
      const stack = yield* LocalStack
      const env = {
        ...emulatorEnvironment(stack),
        KINESIS_STREAM: "init-changes",
        KINESIS_SHARDS: "3",
        INGESTION_BUCKET: "init-ingestion",
        PROCESSED_BUCKET: "init-processed"
      }
      const first = yield* initLocalStack(env)
      expect({ code: first.code, stderr: first.stderr }).toEqual({ code: 0, stderr: "" })
      expect(first.stdout).toContain("emulator ready: stream init-changes, buckets init-ingestion and init-processed")
      expect((yield* (yield* Kinesis).listShards("init-changes")).map((shard) => shard.open)).toEqual([true, true, true])
      yield* (yield* S3).putObject("init-ingestion", "raw/x", "x")
      yield* (yield* S3).putObject("init-processed", "x.parquet", "x")

      const second = yield* initLocalStack(env)
      expect({ code: second.code, stderr: second.stderr }).toEqual({ code: 0, stderr: "" })
      expect((yield* (yield* S3).listObjects("init-ingestion", "")).map((o) => o.key)).toEqual(["raw/x"])
      expect((yield* (yield* Kinesis).listShards("init-changes")).length).toBe(3)

      const otherShards = yield* initLocalStack({ ...env, KINESIS_SHARDS: "2" })
      expect({ code: otherShards.code, lines: otherShards.stderr.trim().split("\n") }).toEqual({
        code: 1,
        lines: [`totes-cdc: Kinesis stream init-changes at ${stack.kinesis.endpoint} exists with 3 open shards, not 2; delete the stream or set KINESIS_SHARDS=3`]
      })

      const { KINESIS_ENDPOINT: _kinesis, S3_ENDPOINT: _s3, ...onAws } = env
      const noEmulator = yield* initLocalStack(onAws)
      expect({ code: noEmulator.code, lines: noEmulator.stderr.trim().split("\n") }).toEqual({
        code: 2,
        lines: [
          "totes-cdc: init-localstack provisions an AWS emulator, and KINESIS_ENDPOINT, S3_ENDPOINT are not set; set AWS_ENDPOINT_URL (e.g. http://localstack:4566) or each service's endpoint — on AWS, deploy infra/ instead"
        ]
      })
    })
  )
})
