export * from "./Introspection.ts"
export * from "./Databases.ts"
