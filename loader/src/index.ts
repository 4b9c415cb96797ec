export * from "./WarehouseMigrations.ts"
export * from "./WarehouseTarget.ts"
