export * from "./Errors.ts"
export * from "./StateFile.ts"
