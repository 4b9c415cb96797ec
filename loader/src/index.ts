export * from "./WarehouseMigrations.ts"
