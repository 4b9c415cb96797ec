/**
 * Pure rules for reading the data of a totesys pg_dump (`COPY public.<t> (…) FROM stdin;`
 * blocks in PostgreSQL's text COPY format) into the real totesys schema.
 *
 * Source: totesys/README.md ("The real data set"): the dump's DDL is loosened, so its
 * values need two repairs before they fit the real types:
 *  - in `address`, missing `address_line_2`/`district` were written as the literal text
 *    `NULL` (34 cells): they become SQL NULL (`\N`);
 *  - integer columns typed `character varying` in the dump hold floats such as `2.0`
 *    (`transaction.sales_order_id`/`purchase_order_id`): an integral float becomes the
 *    integer; a fractional one is an error, never rounded.
 * Invariants: a data line is changed only by these two rules; every other byte of the
 * COPY text format (escapes, `\N`) passes through unchanged.
 */
import { COLUMNS, PRIMARY_KEY, type TotesysTable, isTotesysTable } from "@totes-cdc/core"

/** A `COPY public.<table> (<columns>) FROM stdin;` line, parsed. */
export interface CopyHeader {
  readonly _tag: "CopyHeader"
  readonly table: TotesysTable
  readonly columns: ReadonlyArray<string>
}

const COPY_LINE = /^COPY\s+(?:public\.)?"?([A-Za-z_][A-Za-z0-9_]*)"?\s*\(([^)]*)\)\s+FROM\s+stdin;\s*$/

/** Nullable columns where the dump wrote the literal text NULL for SQL NULL. */
const LITERAL_NULL_COLUMNS: Partial<Record<TotesysTable, ReadonlySet<string>>> = {
  address: new Set(["address_line_2", "district"])
}

const INTEGER_COLUMNS: ReadonlySet<string> = new Set([
  ...Object.values(PRIMARY_KEY),
  "legal_address_id",
  "department_id",
  "design_id",
  "staff_id",
  "counterparty_id",
  "currency_id",
  "agreed_delivery_location_id",
  "sales_order_id",
  "purchase_order_id",
  "transaction_id",
  "payment_type_id",
  "units_sold",
  "item_quantity",
  "company_ac_number",
  "counterparty_ac_number"
])

const INTEGRAL_FLOAT = /^(-?\d+)\.0*$/

/** A problem with one line of the dump; `line` is 1-based. */
export interface DumpProblem {
  readonly _tag: "DumpProblem"
  readonly line: number
  readonly message: string
}

/**
 * Parses a COPY header. Returns `undefined` for lines that are not COPY headers,
 * a `DumpProblem` for a COPY into a table or column totesys does not have.
 */
export const parseCopyHeader = (text: string, line: number): CopyHeader | DumpProblem | undefined => {
  const match = COPY_LINE.exec(text)
  if (match === null) return undefined
  const table = match[1] ?? ""
  const columns = (match[2] ?? "").split(",").map((c) => c.trim().replace(/^"|"$/g, ""))
  if (!isTotesysTable(table)) {
    return { _tag: "DumpProblem", line, message: `COPY into "${table}", which is not a totesys table` }
  }
  const unknown = columns.filter((c) => !COLUMNS[table].includes(c))
  if (unknown.length > 0) {
    return { _tag: "DumpProblem", line, message: `COPY into ${table} names column(s) totesys does not have: ${unknown.join(", ")}` }
  }
  return { _tag: "CopyHeader", table, columns }
}

/** Repairs one COPY text data line (tab-separated) for `header`; see the module comment. */
export const repairDataLine = (header: CopyHeader, text: string, line: number): string | DumpProblem => {
  const fields = text.split("\t")
  if (fields.length !== header.columns.length) {
    return { _tag: "DumpProblem", line, message: `${header.table} row has ${fields.length} fields, expected ${header.columns.length}` }
  }
  const literalNull = LITERAL_NULL_COLUMNS[header.table]
  for (let i = 0; i < fields.length; i++) {
    const column = header.columns[i] ?? ""
    const value = fields[i] ?? ""
    if (literalNull?.has(column) && value === "NULL") {
      fields[i] = "\\N"
    } else if (INTEGER_COLUMNS.has(column) && value !== "\\N" && !/^-?\d+$/.test(value)) {
      const integral = INTEGRAL_FLOAT.exec(value)
      if (integral === null) {
        return { _tag: "DumpProblem", line, message: `${header.table}.${column} = "${value}" is not an integer` }
      }
      fields[i] = integral[1] ?? value
    }
  }
  return fields.join("\t")
}
