/**
 * The star-schema transform (totesys/transform_rules.md): change records → rows of the
 * 11 warehouse tables, dim_date generation, and the join state kept across batches.
 */
export * from "./StarRow.ts"
export * from "./PgText.ts"
export * from "./DimDate.ts"
export * from "./CurrencyName.ts"
export * from "./JoinState.ts"
export * from "./Mappings.ts"
export * from "./TransformBatch.ts"
