export * from "./Introspection.ts"
export * from "./Databases.ts"
export * from "./ChangeReadback.ts"
export * from "./Paths.ts"
