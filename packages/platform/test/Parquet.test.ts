import { describe, expect, it } from "@effect/vitest"
import {
  PIPELINE_COLUMNS,
  processedColumns,
  STAR_COLUMNS,
  WAREHOUSE_TABLES,
  warehouseColumns,
  type WarehouseTable
} from "@totes-cdc/core"
import { Effect, Result } from "effect"
import { Compression, ParquetFile } from "parquet-wasm"
import { arrowTable, decodeParquet, encodeParquet, type ParquetColumnSpec, type ParquetValue } from "../src/Parquet.ts"

type Row = Record<string, ParquetValue>

const at = (commitLsn: string, commitIdx: number, op = "upsert") => ({ _commit_lsn: commitLsn, _commit_idx: commitIdx, _op: op, _commit_ts: "2024-02-23T10:05:01.123Z" })

/** Hand-written rows of every warehouse table, in the value forms the processor produces. */
const SAMPLES: { readonly [T in WarehouseTable]: ReadonlyArray<Row> } = {
  dim_date: [
    { date_id: "2022-11-03", year: 2022, month: 11, day: 3, day_of_week: 4, day_name: "Thursday", month_name: "November", quarter: 4, ...at("0/1A2B3C4D", 0) },
    { date_id: "2024-02-29", year: 2024, month: 2, day: 29, day_of_week: 4, day_name: "Thursday", month_name: "February", quarter: 1, ...at("0/1A2B3C4D", 1) }
  ],
  dim_staff: [
    { staff_id: 1, first_name: "Jeremie", last_name: "Franey", department_name: "Purchasing", location: "Manchester", email_address: "jeremie.franey@terrifictotes.com", ...at("16/B374D848", 0) },
    { staff_id: 2, first_name: "Déborah", last_name: "O'Brien", department_name: "Sales", location: "Leeds", email_address: "deborah.obrien@terrifictotes.com", ...at("16/B374D848", 1) }
  ],
  dim_location: [
    { location_id: 1, address_line_1: "6826 Herzog Via", address_line_2: null, district: "Avon", city: "New Patienceburgh", postal_code: "28441", country: "Turkey", phone: "1803 637401", ...at("16/B374D848", 2) },
    { location_id: 2, address_line_1: "179 Alexie Cliffs", address_line_2: "Flat 3", district: null, city: "Aliso Viejo", postal_code: "99305-7380", country: "San Marino", phone: "9621 880720", ...at("16/B374D848", 3) }
  ],
  dim_currency: [
    { currency_id: 1, currency_code: "GBP", currency_name: "British pound sterling", ...at("16/B374D848", 4) },
    { currency_id: 2, currency_code: "USD", currency_name: "United States dollar", ...at("16/B374D848", 5) },
    { currency_id: 3, currency_code: "EUR", currency_name: "Euro", ...at("16/B374D848", 6) }
  ],
  dim_design: [
    { design_id: 8, design_name: "Wooden", file_location: "/usr", file_name: "wooden-20220717-npgz.json", ...at("16/B374D848", 7) }
  ],
  dim_counterparty: [
    {
      counterparty_id: 1, counterparty_legal_name: "Fahey and Sons", counterparty_legal_address_line_1: "605 Haskell Trafficway",
      counterparty_legal_address_line_2: "Axel Freeway", counterparty_legal_district: null, counterparty_legal_city: "East Bobbie",
      counterparty_legal_postal_code: "88253-4257", counterparty_legal_country: "Heard Island and McDonald Islands",
      counterparty_legal_phone_number: "9687 937447", ...at("16/B374D848", 8)
    }
  ],
  dim_payment_type: [
    { payment_type_id: 1, payment_type_name: "SALES_RECEIPT", ...at("16/B374D900", 0) },
    { payment_type_id: 4, payment_type_name: "PURCHASE_REFUND", ...at("16/B374D900", 1) }
  ],
  dim_transaction: [
    { transaction_id: 1, transaction_type: "PURCHASE", sales_order_id: null, purchase_order_id: 2, ...at("16/B374D900", 2) },
    { transaction_id: 2, transaction_type: "SALE", sales_order_id: 1, purchase_order_id: null, ...at("16/B374D900", 3) }
  ],
  fact_sales_order: [
    {
      sales_order_id: 1, created_date: "2022-11-03", created_time: "14:20:52.186", last_updated_date: "2022-11-03",
      last_updated_time: "14:20:52.186", sales_staff_id: 19, counterparty_id: 8, units_sold: 42972, unit_price: "3.94",
      currency_id: 2, design_id: 3, agreed_payment_date: "2022-11-08", agreed_delivery_date: "2022-11-07",
      agreed_delivery_location_id: 8, ...at("16/B374DA00", 0)
    },
    {
      sales_order_id: 2, created_date: "2022-11-03", created_time: "14:20:52.186", last_updated_date: "2022-11-04",
      last_updated_time: "00:00:00.000", sales_staff_id: 10, counterparty_id: 4, units_sold: 65839, unit_price: "2.43",
      currency_id: 3, design_id: 4, agreed_payment_date: "2022-11-07", agreed_delivery_date: "2022-11-06",
      agreed_delivery_location_id: 19, ...at("16/B374DA00", 1)
    }
  ],
  fact_purchase_order: [
    {
      purchase_order_id: 1, created_date: "2022-11-03", created_time: "14:20:52.187", last_updated_date: "2022-11-03",
      last_updated_time: "23:59:59.999", staff_id: 12, counterparty_id: 11, item_code: "ZDOI5EA", item_quantity: 371,
      item_unit_price: "361.39", currency_id: 2, agreed_delivery_date: "2022-11-09", agreed_payment_date: "2022-11-07",
      agreed_delivery_location_id: 6, ...at("16/B374DB00", 0)
    }
  ],
  fact_payment: [
    {
      payment_id: 2, created_date: "2022-11-03", created_time: "14:20:52.187", last_updated_date: "2022-11-03",
      last_updated_time: "14:20:52.187", transaction_id: 2, counterparty_id: 15, payment_amount: "552548.62", currency_id: 2,
      payment_type_id: 3, paid: false, payment_date: "2022-11-04", ...at("16/B374DC00", 0)
    },
    {
      payment_id: 3, created_date: "2022-11-03", created_time: "14:20:52.186", last_updated_date: "2022-11-03",
      last_updated_time: "14:20:52.186", transaction_id: 3, counterparty_id: 18, payment_amount: "-0.01", currency_id: 3,
      payment_type_id: 1, paid: true, payment_date: "2022-11-03", ...at("16/B374DC00", 1)
    }
  ]
}

const encode = (columns: ReadonlyArray<ParquetColumnSpec>, rows: ReadonlyArray<Row>) => Effect.runSync(encodeParquet(columns, rows))
const decode = (bytes: Uint8Array) => Effect.runSync(decodeParquet(bytes))
const failure = (columns: ReadonlyArray<ParquetColumnSpec>, rows: ReadonlyArray<Row>) =>
  Effect.runSync(Effect.flip(encodeParquet(columns, rows)))

// ---------------------------------------------------------------------------------
// A minimal Thrift compact-protocol reader for the Parquet footer (FileMetaData), so
// the test checks the Parquet schema itself, not the Arrow schema embedded next to it.
// ---------------------------------------------------------------------------------

type ThriftStruct = Map<number, unknown>

const readFooter = (bytes: Uint8Array): ThriftStruct => {
  const length = new DataView(bytes.buffer, bytes.byteOffset + bytes.length - 8, 4).getUint32(0, true)
  const data = bytes.subarray(bytes.length - 8 - length, bytes.length - 8)
  let pos = 0
  const byte = () => data[pos++]!
  const varint = (): bigint => {
    let result = 0n
    for (let shift = 0n; ; shift += 7n) {
      const b = byte()
      result |= BigInt(b & 0x7f) << shift
      if ((b & 0x80) === 0) return result
    }
  }
  const zigzag = () => {
    const v = varint()
    return (v >> 1n) ^ -(v & 1n)
  }
  const value = (type: number): unknown => {
    switch (type) {
      case 1: return true
      case 2: return false
      case 3: return (byte() << 24) >> 24
      case 4:
      case 5: return Number(zigzag())
      case 6: return zigzag()
      case 7: pos += 8; return undefined
      case 8: {
        const n = Number(varint())
        pos += n
        return new TextDecoder().decode(data.subarray(pos - n, pos))
      }
      case 9:
      case 10: {
        const header = byte()
        const size = header >> 4 === 15 ? Number(varint()) : header >> 4
        const element = header & 0x0f
        return Array.from({ length: size }, () => (element === 1 || element === 2 ? byte() === 1 : value(element)))
      }
      case 11: {
        const size = Number(varint())
        const kv = size > 0 ? byte() : 0
        return Array.from({ length: size }, () => [value(kv >> 4), value(kv & 0x0f)])
      }
      case 12: return struct()
      default: throw new Error(`thrift type ${type}`)
    }
  }
  const struct = (): ThriftStruct => {
    const fields: ThriftStruct = new Map()
    for (let last = 0; ;) {
      const header = byte()
      if (header === 0) return fields
      const id = header >> 4 === 0 ? Number(zigzag()) : last + (header >> 4)
      fields.set(id, value(header & 0x0f))
      last = id
    }
  }
  return struct()
}

const PHYSICAL = ["BOOLEAN", "INT32", "INT64", "INT96", "FLOAT", "DOUBLE", "BYTE_ARRAY", "FIXED_LEN_BYTE_ARRAY"]
const REPETITION = ["REQUIRED", "OPTIONAL", "REPEATED"]

/** The leaf columns of a Parquet file's own schema, e.g. "unit_price INT64 REQUIRED DECIMAL(10,2)". */
const parquetSchema = (bytes: Uint8Array): ReadonlyArray<string> => {
  const elements = readFooter(bytes).get(2) as ReadonlyArray<ThriftStruct>
  return elements.slice(1).map((element) => {
    const logical = element.get(10) as ThriftStruct | undefined
    const [kind, body] = logical === undefined ? [undefined, undefined] : ([...logical.entries()][0] as [number, ThriftStruct])
    const annotation =
      kind === undefined ? "" :
      kind === 1 ? " STRING" :
      kind === 5 ? ` DECIMAL(${String(body!.get(2))},${String(body!.get(1))})` :
      kind === 6 ? " DATE" :
      kind === 7 ? ` TIME(${["", "MILLIS", "MICROS", "NANOS"][[...(body!.get(2) as ThriftStruct).keys()][0]!]},utc=${String(body!.get(1))})` :
      ` logical#${kind}`
    return `${String(element.get(4))} ${PHYSICAL[element.get(1) as number]} ${REPETITION[element.get(3) as number]}${annotation}`
  })
}

// ---------------------------------------------------------------------------------

describe("the warehouse column catalogue", () => {
  it("lists the 11 tables in load order: dim_date, the other dimensions, then the facts", () => {
    expect(WAREHOUSE_TABLES).toHaveLength(11)
    expect(WAREHOUSE_TABLES[0]).toBe("dim_date")
    expect(WAREHOUSE_TABLES.slice(-3)).toEqual(["fact_sales_order", "fact_purchase_order", "fact_payment"])
  })

  it("has the transform's columns, in the same order, with matching types and nullability", () => {
    const expected = { int: "int32", date: "date", time: "time", "decimal(10,2)": "decimal(10,2)", numeric: "decimal(10,2)", varchar: "utf8", boolean: "boolean" }
    for (const table of WAREHOUSE_TABLES) {
      expect(warehouseColumns(table), table).toEqual(
        STAR_COLUMNS[table].map((column) => ({ name: column.name, type: expected[column.type], nullable: column.nullable }))
      )
    }
  })

  it("leaves out the facts' surrogate keys and types money as decimal(10,2)", () => {
    const all = WAREHOUSE_TABLES.flatMap((table) => warehouseColumns(table).map((column) => column.name))
    expect(all).not.toContain("sales_record_id")
    expect(all).not.toContain("purchase_record_id")
    expect(all).not.toContain("payment_record_id")
    const money = WAREHOUSE_TABLES.flatMap((table) => warehouseColumns(table).filter((column) => column.type === "decimal(10,2)").map((column) => column.name))
    expect(money).toEqual(["unit_price", "item_unit_price", "payment_amount"])
  })

  it("appends the pipeline columns; relaxed makes every warehouse column nullable", () => {
    expect(PIPELINE_COLUMNS.map((column) => `${column.name}:${column.type}`)).toEqual(["_commit_lsn:utf8", "_commit_idx:int32", "_op:utf8", "_commit_ts:utf8"])
    const relaxed = processedColumns("dim_currency", { relaxed: true })
    expect(relaxed.map((column) => `${column.name}:${column.nullable}`)).toEqual([
      "currency_id:true", "currency_code:true", "currency_name:true", "_commit_lsn:false", "_commit_idx:false", "_op:false", "_commit_ts:true"
    ])
  })
})

describe("encodeParquet / decodeParquet", () => {
  it.each([...WAREHOUSE_TABLES])("round-trips rows of %s exactly", (table) => {
    const columns = processedColumns(table)
    const bytes = encode(columns, SAMPLES[table])
    const decoded = decode(bytes)
    expect(decoded.rows).toEqual(SAMPLES[table])
    expect(decoded.columns.map((column) => column.name)).toEqual(columns.map((column) => column.name))
  })

  it("writes a file that starts and ends with the magic bytes PAR1", () => {
    const bytes = encode(processedColumns("fact_sales_order"), SAMPLES.fact_sales_order)
    const text = new TextDecoder()
    expect(text.decode(bytes.subarray(0, 4))).toBe("PAR1")
    expect(text.decode(bytes.subarray(bytes.length - 4))).toBe("PAR1")
  })

  it("types the Parquet columns DECIMAL(10,2), DATE, TIME(MILLIS), INT32, BOOLEAN and STRING", () => {
    const bytes = encode(processedColumns("fact_payment"), SAMPLES.fact_payment)
    expect(parquetSchema(bytes)).toEqual([
      "payment_id INT32 REQUIRED",
      "created_date INT32 REQUIRED DATE",
      "created_time INT32 REQUIRED TIME(MILLIS,utc=false)",
      "last_updated_date INT32 REQUIRED DATE",
      "last_updated_time INT32 REQUIRED TIME(MILLIS,utc=false)",
      "transaction_id INT32 REQUIRED",
      "counterparty_id INT32 REQUIRED",
      "payment_amount INT64 REQUIRED DECIMAL(10,2)",
      "currency_id INT32 REQUIRED",
      "payment_type_id INT32 REQUIRED",
      "paid BOOLEAN REQUIRED",
      "payment_date INT32 REQUIRED DATE",
      "_commit_lsn BYTE_ARRAY REQUIRED STRING",
      "_commit_idx INT32 REQUIRED",
      "_op BYTE_ARRAY REQUIRED STRING",
      "_commit_ts BYTE_ARRAY OPTIONAL STRING"
    ])
    expect(parquetSchema(encode(processedColumns("dim_transaction"), SAMPLES.dim_transaction)).slice(0, 4)).toEqual([
      "transaction_id INT32 REQUIRED",
      "transaction_type BYTE_ARRAY REQUIRED STRING",
      "sales_order_id INT32 OPTIONAL",
      "purchase_order_id INT32 OPTIONAL"
    ])
  })

  it("reports the Arrow types it wrote when decoding", () => {
    const decoded = decode(encode(processedColumns("fact_payment"), SAMPLES.fact_payment))
    const types = Object.fromEntries(decoded.columns.map((column) => [column.name, column.arrowType]))
    expect(types).toMatchObject({
      payment_id: "Int32",
      created_date: "Date32<DAY>",
      created_time: "Time32<MILLISECOND>",
      payment_amount: "Decimal[10e+2]",
      paid: "Bool",
      _op: "Utf8"
    })
  })

  it.effect("compresses every column chunk with ZSTD (parquet-wasm's metadata API)", () =>
    Effect.gen(function* () {
      const bytes = yield* encodeParquet(processedColumns("fact_sales_order"), SAMPLES.fact_sales_order)
      const file = yield* Effect.promise(() => ParquetFile.fromFile(new Blob([bytes])))
      const metadata = file.metadata()
      expect(metadata.fileMetadata().numRows()).toBe(2)
      expect(metadata.fileMetadata().createdBy()).toMatch(/^parquet-rs version /)
      const codecs = metadata.rowGroups().flatMap((group) => group.columns().map((column) => column.compression()))
      expect(codecs).toHaveLength(processedColumns("fact_sales_order").length)
      expect(new Set(codecs)).toEqual(new Set([Compression.ZSTD]))
    })
  )

  it("stores money as the exact unscaled integer (cents), never a float", () => {
    const columns: ReadonlyArray<ParquetColumnSpec> = [{ name: "amount", type: "decimal(10,2)", nullable: false }]
    const table = arrowTable(columns, [{ amount: "2.43" }, { amount: "-0.01" }, { amount: "99999999.99" }])
    if (Result.isFailure(table)) throw table.failure
    const words = table.success.getChild("amount")!.data[0]!.values as Uint32Array
    expect([...words]).toEqual([
      243, 0, 0, 0,
      0xffff_ffff, 0xffff_ffff, 0xffff_ffff, 0xffff_ffff,
      // 9_999_999_999 = 2 * 2^32 + 1_410_065_407
      1_410_065_407, 2, 0, 0
    ])
  })

  it("round-trips the edges of every type", () => {
    const columns: ReadonlyArray<ParquetColumnSpec> = [
      { name: "i", type: "int32", nullable: true },
      { name: "m", type: "decimal(10,2)", nullable: true },
      { name: "d", type: "date", nullable: true },
      { name: "t", type: "time", nullable: true },
      { name: "b", type: "boolean", nullable: true },
      { name: "s", type: "utf8", nullable: true }
    ]
    const rows: ReadonlyArray<Row> = [
      { i: -2_147_483_648, m: "-99999999.99", d: "0001-01-01", t: "00:00:00.000", b: true, s: "" },
      { i: 2_147_483_647, m: "99999999.99", d: "9999-12-31", t: "23:59:59.999", b: false, s: "Zürich 🙂 naïve" },
      { i: 0, m: "0.00", d: "1970-01-01", t: "12:00:00.001", b: true, s: "line\nbreak\ttab" },
      { i: -1, m: "-0.01", d: "1969-12-31", t: "00:00:00.999", b: false, s: "'quoted' \"double\"" },
      { i: null, m: null, d: null, t: null, b: null, s: null },
      { i: 7, m: "0.10", d: "2000-02-29", t: "14:20:52.186", b: true, s: "x".repeat(10_000) }
    ]
    expect(decode(encode(columns, rows)).rows).toEqual(rows)
  })

  it("accepts lossless shorter forms and decodes them to the canonical form", () => {
    const columns: ReadonlyArray<ParquetColumnSpec> = [
      { name: "m", type: "decimal(10,2)", nullable: false },
      { name: "t", type: "time", nullable: false }
    ]
    const rows = [
      { m: "2.4", t: "14:20:52" },
      { m: "7", t: "14:20:52.1" },
      { m: "+3.50", t: "14:20:52.18" },
      { m: "-0.5", t: "14:20:52.186000" },
      { m: "2.430", t: "00:00:00" },
      { m: "-0.00", t: "23:59:59.9990" },
      { m: "00012.34", t: "01:02:03.004" }
    ]
    expect(decode(encode(columns, rows)).rows).toEqual([
      { m: "2.40", t: "14:20:52.000" },
      { m: "7.00", t: "14:20:52.100" },
      { m: "3.50", t: "14:20:52.180" },
      { m: "-0.50", t: "14:20:52.186" },
      { m: "2.43", t: "00:00:00.000" },
      { m: "0.00", t: "23:59:59.999" },
      { m: "12.34", t: "01:02:03.004" }
    ])
  })

  it("writes and reads a file with no rows", () => {
    const columns = processedColumns("dim_currency")
    const decoded = decode(encode(columns, []))
    expect(decoded.rows).toEqual([])
    expect(decoded.columns.map((column) => column.name)).toEqual(columns.map((column) => column.name))
  })

  it("encodes 100,000 fact rows and reads them all back", () => {
    const rows = Array.from({ length: 100_000 }, (_, i): Row => ({
      sales_order_id: i + 1,
      created_date: `2023-${String(1 + (i % 12)).padStart(2, "0")}-${String(1 + (i % 28)).padStart(2, "0")}`,
      created_time: `${String(i % 24).padStart(2, "0")}:${String(i % 60).padStart(2, "0")}:${String((i * 7) % 60).padStart(2, "0")}.${String(i % 1000).padStart(3, "0")}`,
      last_updated_date: "2023-12-31",
      last_updated_time: "23:59:59.999",
      sales_staff_id: 1 + (i % 20),
      counterparty_id: 1 + (i % 20),
      units_sold: 1000 + (i % 99_000),
      unit_price: `${2 + (i % 3)}.${String(i % 100).padStart(2, "0")}`,
      currency_id: 1 + (i % 3),
      design_id: 1 + (i % 300),
      agreed_payment_date: "2024-01-08",
      agreed_delivery_date: "2024-01-07",
      agreed_delivery_location_id: 1 + (i % 30),
      ...at(`16/${(0xb374d848 + i).toString(16).toUpperCase()}`, i % 5)
    }))
    const bytes = encode(processedColumns("fact_sales_order"), rows)
    const decoded = decode(bytes)
    expect(decoded.rows).toHaveLength(100_000)
    for (const i of [0, 1, 1023, 1024, 54_321, 99_999]) expect(decoded.rows[i]).toEqual(rows[i])
  })
})

describe("encodeParquet refuses values that do not fit, naming the column and row", () => {
  const columns = processedColumns("fact_sales_order")
  const good = SAMPLES.fact_sales_order[0]!
  const withValue = (column: string, value: ParquetValue | undefined): ReadonlyArray<Row> => {
    const bad: Record<string, ParquetValue> = { ...good }
    if (value === undefined) delete bad[column]
    else bad[column] = value
    return [good, good, bad]
  }

  it.each([
    ["unit_price", "12.345", 'column unit_price, row 2: "12.345" does not fit decimal(10,2): more than 2 digits after the point'],
    ["unit_price", "123456789.00", 'column unit_price, row 2: "123456789.00" does not fit decimal(10,2): more than 8 digits before the point'],
    ["unit_price", "2,43", `column unit_price, row 2: "2,43" is not a decimal number such as '2.43'`],
    ["unit_price", "", `column unit_price, row 2: "" is not a decimal number such as '2.43'`],
    ["unit_price", "NaN", `column unit_price, row 2: "NaN" is not a decimal number such as '2.43'`],
    ["unit_price", 2.43, "column unit_price, row 2: 2.43 is a number; decimal(10,2) takes a decimal string such as '2.43' (never a float)"],
    ["created_date", "2024-13-01", 'column created_date, row 2: "2024-13-01" is not a calendar date'],
    ["created_date", "2023-02-29", 'column created_date, row 2: "2023-02-29" is not a calendar date'],
    ["created_date", "2024-1-01", `column created_date, row 2: "2024-1-01" is not a date 'YYYY-MM-DD'`],
    ["created_date", "2022-11-03 14:20:52", `column created_date, row 2: "2022-11-03 14:20:52" is not a date 'YYYY-MM-DD'`],
    ["created_time", "24:00:00.000", 'column created_time, row 2: "24:00:00.000" is not a time of day (00:00:00 to 23:59:59.999)'],
    ["created_time", "14:20:52.1865", 'column created_time, row 2: "14:20:52.1865" has more precision than milliseconds'],
    ["created_time", "14:20", `column created_time, row 2: "14:20" is not a time 'HH:MM:SS.mmm'`],
    ["created_time", "14:20:52.", `column created_time, row 2: "14:20:52." is not a time 'HH:MM:SS.mmm'`],
    ["units_sold", 1.5, "column units_sold, row 2: 1.5 is not a 32-bit integer"],
    ["units_sold", 2_147_483_648, "column units_sold, row 2: 2147483648 is not a 32-bit integer"],
    ["units_sold", "42", 'column units_sold, row 2: "42" is not a 32-bit integer'],
    ["sales_order_id", null, "column sales_order_id, row 2: null in non-nullable int32 column"],
    ["_commit_lsn", 5, "column _commit_lsn, row 2: 5 is a number, not a string"],
    ["_commit_lsn", "\ud800", 'column _commit_lsn, row 2: "\\ud800" is not valid Unicode (a lone surrogate)'],
    ["design_id", undefined, "column design_id, row 2: has no value (give null for SQL NULL)"]
  ])("%s = %j", (column, value, message) => {
    const error = failure(columns, withValue(column, value))
    expect(error._tag).toBe("ParquetError")
    expect(error.message).toBe(message)
    expect(error.message).not.toContain("\n")
  })

  it("refuses a boolean that is not a boolean", () => {
    const rows = [{ ...SAMPLES.fact_payment[0]!, paid: "true" }]
    expect(failure(processedColumns("fact_payment"), rows).message).toBe('column paid, row 0: "true" is a string, not a boolean')
  })

  it("names a key that is not a column (a misspelt name)", () => {
    const { counterparty_legal_address_line_2: line2, ...rest } = SAMPLES.dim_counterparty[0]!
    const rows = [{ ...rest, counterparty_legal_address_line2: line2 ?? null }]
    expect(failure(processedColumns("dim_counterparty"), rows).message).toMatch(
      /^column counterparty_legal_address_line2, row 0: not a column of this file \(columns: counterparty_id, /
    )
  })

  it("names the first bad row when several columns have bad values", () => {
    const rows = [good, good, good, { ...good, units_sold: "x" }, good, { ...good, created_date: "bad" }]
    const later = [good, { ...good, agreed_delivery_location_id: null }, { ...good, sales_order_id: -0.5 }]
    expect(failure(columns, rows).message).toBe('column units_sold, row 3: "x" is not a 32-bit integer')
    expect(failure(columns, later).message).toBe("column agreed_delivery_location_id, row 1: null in non-nullable int32 column")
  })

  it("refuses a column listed twice and a file without columns", () => {
    const twice: ReadonlyArray<ParquetColumnSpec> = [
      { name: "a", type: "int32", nullable: false },
      { name: "a", type: "utf8", nullable: false }
    ]
    expect(failure(twice, []).message).toBe("column a is listed twice")
    expect(failure([], []).message).toBe("a Parquet file needs at least one column")
  })

  it("shortens a long bad value in the message", () => {
    const message = failure(columns, withValue("created_date", "9".repeat(500))).message
    expect(message.length).toBeLessThan(140)
    expect(message).toContain("...")
  })
})

describe("decodeParquet", () => {
  it("refuses bytes that are not Parquet, in one line", () => {
    const error = Effect.runSync(Effect.flip(decodeParquet(new TextEncoder().encode("not parquet at all"))))
    expect(error._tag).toBe("ParquetError")
    expect(error.message).toMatch(/^not a readable Parquet file \(18 bytes\): /)
    expect(error.message).not.toContain("\n")
  })

  it("refuses a truncated file", () => {
    const bytes = encode(processedColumns("dim_currency"), SAMPLES.dim_currency)
    const error = Effect.runSync(Effect.flip(decodeParquet(bytes.subarray(0, bytes.length - 10))))
    expect(error.message).toMatch(/^not a readable Parquet file/)
  })
})
