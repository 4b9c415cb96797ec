/**
 * The Kinesis client's JSON codec (AWS JSON 1.1, the protocol the SDK speaks to Kinesis):
 * the SDK's own codec (`JsonCodec2`, @smithy/core) with three per-byte costs taken out. A
 * GetRecords page is up to 10 MiB of records, base64 in JSON (~13 MB of text); the
 * processor and the archiver parse every one. A PutRecords request is up to 5 MiB of
 * records (the reader's KPL aggregates), base64 in JSON.
 *
 *  - A response body is handed to `JSON.parse` as a string decoded as Latin-1 when every
 *    byte is ASCII (`buffer.isAscii`, a vector scan), else as UTF-8. ASCII reads the same
 *    either way; the SDK passes the Buffer itself, which `JSON.parse` turns into a string
 *    through a UTF-8 decode (~4× slower on a 15.8 MB page here: 66 against 18 ms).
 *  - A blob (a record's `Data`) is decoded by Node's base64 decoder, and checked by its
 *    decoded length and by the absence of the two base64url characters Node also accepts,
 *    instead of the SDK's regular expression over the whole string (twice the decode).
 *  - A request's blob (PutRecords' `Data`) is encoded by Node's base64 encoder, 48 KiB at a
 *    time, into the serializer's buffer, instead of the SDK's byte-at-a-time JavaScript
 *    loop: a request of five 1 MB aggregates serializes in 0.40 instead of 2.97 ms per MB.
 *
 * Invariants (held by packages/platform/test/KinesisWireCodec.test.ts against the SDK's
 * codec): what a response decodes to is what the SDK's own codec decodes it to — same
 * shapes, same bytes, same timestamps — and a blob the SDK refuses (bad padding, a
 * character outside the base64 alphabet) fails the call here too, with the SDK's
 * `TypeError` message; a request serializes to the bytes the SDK's own serializer gives.
 * The blob encoder writes into the SDK serializer's buffer (its `json` and `i` fields, not
 * part of its typed API): the test compares the bytes, so an SDK that renames them fails it.
 */
import { errorTypeRegistries } from "@aws-sdk/client-kinesis"
import { AwsJson1_1Protocol } from "@aws-sdk/core/protocols"
import { JsonCodec2, JsonShapeDeserializer2, JsonShapeSerializer2 } from "@smithy/core/protocols"
import { NormalizedSchema } from "@smithy/core/schema"
import type { Schema } from "@smithy/types"
import { Buffer, isAscii } from "node:buffer"

/** Pure: the text of a JSON body — Latin-1 when all ASCII (the same string, decoded faster), else UTF-8. */
export const bodyText = (bytes: Uint8Array): string => {
  const buffer = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  return buffer.toString(isAscii(buffer) ? "latin1" : "utf8")
}

/**
 * Pure: the bytes of a standard base64 string (RFC 4648 §4, padded). Throws the SDK's
 * `TypeError`s (@smithy/core `fromBase64`) on bad padding or a character outside the
 * alphabet: Node's decoder skips such characters (so the decoded length comes out short) or
 * reads `-` and `_` as base64url (refused by looking for them).
 */
export const decodeBase64 = (text: string): Uint8Array => {
  if ((text.length * 3) % 4 !== 0) throw new TypeError("Incorrect padding on base64 string.")
  const padding = text.endsWith("==") ? 2 : text.endsWith("=") ? 1 : 0
  const bytes = Buffer.from(text, "base64")
  if (bytes.length !== (text.length / 4) * 3 - padding || text.includes("-") || text.includes("_")) {
    throw new TypeError("Invalid base64 string.")
  }
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

class KinesisJsonDeserializer extends JsonShapeDeserializer2 {
  override read(schema: Schema, data: unknown): Promise<unknown> {
    return super.read(schema, data instanceof Uint8Array ? bodyText(data) : data)
  }

  protected override _read(schema: Schema, value: unknown): unknown {
    if (typeof value === "string" && NormalizedSchema.of(schema).isBlobSchema()) return decodeBase64(value)
    return super._read(schema, value)
  }
}

/** The SDK serializer's output buffer and write position (private fields of `JsonShapeSerializer2`). */
interface SerializerBuffer {
  json: Uint8Array
  i: number
}

const QUOTE = 0x22

/**
 * Bytes base64-encoded per step: a multiple of 3 (no padding until the last step), small
 * enough that each step's text (64 KiB) is an ordinary young-generation string — one
 * string per blob would be a large object, freed only by a full collection.
 */
const BASE64_STEP = 3 * 16_384

class KinesisJsonSerializer extends JsonShapeSerializer2 {
  protected override writeBase64(data: Uint8Array): void {
    const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength)
    this.ensure(Math.ceil(bytes.length / 3) * 4 + 2)
    const state = this as unknown as SerializerBuffer
    const out = Buffer.from(state.json.buffer, state.json.byteOffset, state.json.byteLength)
    let at = state.i
    out[at++] = QUOTE
    for (let from = 0; from < bytes.length; from += BASE64_STEP) {
      at += out.write(bytes.toString("base64", from, Math.min(from + BASE64_STEP, bytes.length)), at, "latin1")
    }
    out[at++] = QUOTE
    state.i = at
  }
}

class KinesisJsonCodec extends JsonCodec2 {
  override createSerializer(): JsonShapeSerializer2 {
    const serializer = new KinesisJsonSerializer(this.settings)
    if (this.serdeContext !== undefined) serializer.setSerdeContext(this.serdeContext)
    return serializer
  }

  override createDeserializer(): JsonShapeDeserializer2 {
    const deserializer = new KinesisJsonDeserializer(this.settings)
    if (this.serdeContext !== undefined) deserializer.setSerdeContext(this.serdeContext)
    return deserializer
  }
}

/**
 * The Kinesis client's `protocol` and `protocolSettings`: the SDK's defaults for Kinesis
 * (AWS JSON 1.1, target `Kinesis_20131202`; the test compares them with the client's own)
 * with this module's codec.
 */
export const kinesisProtocolConfig = () => ({
  protocol: AwsJson1_1Protocol,
  protocolSettings: {
    defaultNamespace: "com.amazonaws.kinesis",
    errorTypeRegistries,
    xmlNamespace: "http://kinesis.amazonaws.com/doc/2013-12-02",
    version: "2013-12-02",
    serviceTarget: "Kinesis_20131202",
    jsonCodec: new KinesisJsonCodec({ timestampFormat: { useTrait: true, default: 7 }, jsonName: false })
  }
})
