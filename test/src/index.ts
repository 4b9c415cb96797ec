export * from "./Introspection.ts"
