/**
 * The Kinesis client's codec (KinesisWireCodec.ts) against the SDK's own: the same
 * protocol settings as the client's defaults, the same GetRecords output for the same
 * response bytes (ASCII or not), and base64 blobs decoded and refused exactly as
 * @smithy/core's `fromBase64` decodes and refuses them.
 */
import { GetRecordsOutput$, KinesisClient, PutRecordsInput$ } from "@aws-sdk/client-kinesis"
import { JsonCodec2, JsonShapeDeserializer2 } from "@smithy/core/protocols"
import { fromBase64 } from "@smithy/core/serde"
import fc from "fast-check"
import { Buffer } from "node:buffer"
import { describe, expect, it } from "vitest"
import { bodyText, decodeBase64, kinesisProtocolConfig } from "../src/KinesisWireCodec.ts"

const outcome = (f: () => Uint8Array): { bytes: Array<number> } | { error: string } => {
  try {
    return { bytes: [...f()] }
  } catch (error) {
    return { error: String(error) }
  }
}

/** Base64 characters, padding, base64url characters and a few others, in any order; mostly in groups of 4. */
const unit = fc.constantFrom(..."AZaz09+/=-_ *\né")
const base64ish = fc.oneof(
  fc.array(fc.string({ unit, minLength: 4, maxLength: 4 }), { maxLength: 5 }).map((groups) => groups.join("")),
  fc.string({ unit, maxLength: 24 })
)

describe("decodeBase64", () => {
  it("decodes what base64 encoding gives back to the same bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        expect([...decodeBase64(Buffer.from(bytes).toString("base64"))]).toEqual([...bytes])
      })
    )
  })

  it("accepts and refuses exactly what the SDK's fromBase64 does, with its messages", () => {
    fc.assert(
      fc.property(fc.oneof(base64ish, fc.uint8Array({ maxLength: 30 }).map((b) => Buffer.from(b).toString("base64"))), (text) => {
        expect(outcome(() => decodeBase64(text))).toEqual(outcome(() => fromBase64(text)))
      }),
      { numRuns: 5_000 }
    )
  })

  it("refuses base64url, a pad in the middle, whitespace and bad padding", () => {
    for (const text of ["ab-_", "AB=CDEFG", "QQ==QQ==", "====", "QUJD REVG", "QUJDRA=\n", "QUJDR", "QUJDRA="]) {
      expect(() => decodeBase64(text), text).toThrow(TypeError)
    }
  })
})

describe("bodyText", () => {
  it("is the UTF-8 text of the body, ASCII or not, Buffer or plain Uint8Array", () => {
    for (const text of ['{"a":"plain ascii"}', '{"PartitionKey":"café ☕ 𝄞"}', ""]) {
      const bytes = Buffer.from(text, "utf8")
      expect(bodyText(bytes)).toBe(text)
      expect(bodyText(new Uint8Array(bytes))).toBe(text)
    }
  })
})

describe("kinesisProtocolConfig", () => {
  it("is the Kinesis client's default protocol and settings, codec aside", () => {
    const defaults = new KinesisClient({ region: "eu-west-2" }).config
    const ours = kinesisProtocolConfig()
    expect(defaults.protocol).toBeInstanceOf(ours.protocol)
    const { jsonCodec, ...settings } = ours.protocolSettings
    expect(jsonCodec).toBeInstanceOf(JsonCodec2)
    expect(settings).toEqual(defaults.protocolSettings)
  })

  it("reads a GetRecords response as the SDK's own codec does", async () => {
    const settings = { timestampFormat: { useTrait: true, default: 7 as const }, jsonName: false }
    const sdk = new JsonShapeDeserializer2(settings)
    const ours = kinesisProtocolConfig().protocolSettings.jsonCodec.createDeserializer()
    const record = (i: number, partitionKey: string) => ({
      SequenceNumber: `4963${i}`.padEnd(56, "0"),
      ApproximateArrivalTimestamp: 1_733_500_000.125 + i,
      Data: Buffer.from(`{"change":${i},"text":"${partitionKey}"}`).toString("base64"),
      PartitionKey: partitionKey,
      EncryptionType: "NONE"
    })
    for (const keys of [["sales_order:1", "staff:2"], ["sales_order:1", "désign:☕"]]) {
      const body = Buffer.from(JSON.stringify({ Records: keys.map((key, i) => record(i, key)), NextShardIterator: "AAAA", MillisBehindLatest: 12 }))
      const expected = await sdk.read(GetRecordsOutput$, body)
      const actual = await ours.read(GetRecordsOutput$, body)
      expect(actual).toEqual(expected)
      expect(actual.Records[0].Data).toBeInstanceOf(Uint8Array)
      expect(actual.Records[0].ApproximateArrivalTimestamp).toBeInstanceOf(Date)
    }
  })

  it("fails a response whose blob is not base64, as the SDK does", async () => {
    const body = Buffer.from(JSON.stringify({ Records: [{ SequenceNumber: "1", Data: "QUJ*", PartitionKey: "k" }] }))
    const ours = kinesisProtocolConfig().protocolSettings.jsonCodec.createDeserializer()
    await expect(ours.read(GetRecordsOutput$, body)).rejects.toThrow("Invalid base64 string.")
  })
})

/** A serialized body's bytes as Latin-1 text (one character a byte). */
const bytesOf = (body: Uint8Array) => Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString("latin1")

describe("the request serializer", () => {
  const settings = { timestampFormat: { useTrait: true, default: 7 as const }, jsonName: false }

  /** `input` serialized as a PutRecords request by the SDK's own serializer and by the codec's. */
  const serialized = (input: { Records: ReadonlyArray<{ Data: Uint8Array; PartitionKey: string }>; StreamName: string }) => {
    const sdk = new JsonCodec2(settings).createSerializer()
    const ours = kinesisProtocolConfig().protocolSettings.jsonCodec.createSerializer()
    sdk.write(PutRecordsInput$, input)
    ours.write(PutRecordsInput$, input)
    return { sdk: bytesOf(sdk.flush()), ours: bytesOf(ours.flush()) }
  }

  it("writes a PutRecords request as the SDK's own serializer does, byte for byte", () => {
    const records = fc.array(fc.record({ Data: fc.uint8Array({ maxLength: 3_000 }), PartitionKey: fc.string({ minLength: 1, maxLength: 40 }) }), { minLength: 1, maxLength: 12 })
    fc.assert(
      fc.property(records, fc.string({ maxLength: 20 }), (Records, StreamName) => {
        const { sdk, ours } = serialized({ Records, StreamName })
        expect(ours).toBe(sdk)
      }),
      { numRuns: 300 }
    )
  })

  it("writes blobs of several encoding steps, up to an aggregate's 1 MB, as the SDK does", () => {
    for (const length of [49_152, 49_153, 100_001, 147_455, 1_000_003]) {
      const Data = Uint8Array.from({ length }, (_, i) => (i * 31 + length) & 255)
      const { sdk, ours } = serialized({ Records: [{ Data, PartitionKey: "sales_order:1" }], StreamName: "s" })
      expect(ours, String(length)).toBe(sdk)
    }
  })
})
