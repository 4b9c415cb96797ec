/**
 * The wire contracts between the stages: each defined once, writer and reader side by side,
 * imported by both sides of the wire.
 */
export * from "./ChangeRecord.ts"
export * from "./KplFormat.ts"
export * from "./KplEncode.ts"
export * from "./KplDecode.ts"
export * from "./DeadLetter.ts"
export * from "./ProcessedObject.ts"
export * from "./Layout.ts"
export * from "./MicroBatchManifest.ts"
export * from "./SnapshotChunk.ts"
