export * from "./Aws.ts"
export * from "./Postgres.ts"
