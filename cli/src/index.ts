export * from "./Errors.ts"
export * from "./StateFile.ts"
export * from "./SecondSignal.ts"
