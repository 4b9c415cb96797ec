export * from "./Totesys.ts"
export * from "./ChangeRecord.ts"
export * from "./Lsn.ts"
export * from "./Sharding.ts"
