export * from "./Totesys.ts"
