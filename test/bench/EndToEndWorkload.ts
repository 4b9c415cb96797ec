/**
 * The end-to-end benchmark's source workloads (pure: SQL text, parameters, seed text).
 *
 *  - Drain batches (`BATCH_SQL`): one statement = one source transaction (autocommit) of
 *    `inserts` sales_order rows (one multi-row INSERT … SELECT generate_series) and
 *    `updates` payment updates (`paid` flipped, `last_updated` + 1 day, so every update is
 *    a new fact version whatever the clock: fact_payment gains exactly one row per update).
 *    Default mix 700 inserts + 300 updates = 1,000 changes per transaction.
 *  - The big transaction: `BATCH_SQL` with n inserts and no updates.
 *  - The snapshot seed (`bigSeed`): the real dump with its sales_order COPY block extended
 *    to `rows` rows (generated rows with ids after the dump's largest, references drawn
 *    from the dump's own design/staff/counterparty/currency/address ids), so `dev --seed`
 *    loads it before the reader creates its slot.
 *
 * Invariants: deterministic (no clock, no randomness in values except the server's
 * `now()`); every reference id exists in the dump; a batch's updated payments are distinct.
 */

/** Reference ids an inserted sales order draws from (each array non-empty). */
export interface SalesReferences {
  readonly designs: ReadonlyArray<number>
  readonly staff: ReadonlyArray<number>
  readonly counterparties: ReadonlyArray<number>
  readonly currencies: ReadonlyArray<number>
  readonly addresses: ReadonlyArray<number>
}

/** SQL: the source's payment ids, as one int[] text (`payments`); the other references come from FreshnessTraffic's REFERENCE_IDS_SQL. */
export const PAYMENT_IDS_SQL = "SELECT ARRAY(SELECT payment_id FROM public.payment ORDER BY 1)::text AS payments"

/**
 * One transaction: $1..$2 (int) the generate_series of inserted orders, $3–$7 the
 * reference arrays (int[]), $8 the payment ids to update (int[]). Returns `inserted`, `updated`.
 */
export const BATCH_SQL = `WITH r AS (SELECT $3::int[] AS d, $4::int[] AS s, $5::int[] AS c, $6::int[] AS cu, $7::int[] AS a),
ins AS (
  INSERT INTO public.sales_order (created_at, last_updated, design_id, staff_id, counterparty_id, units_sold, unit_price,
                                  currency_id, agreed_delivery_date, agreed_payment_date, agreed_delivery_location_id)
  SELECT now(), now(), d[1 + g % cardinality(d)], s[1 + (g / 7) % cardinality(s)], c[1 + (g / 3) % cardinality(c)],
         1001 + (g::bigint * 7919) % 98973, 2.00 + ((g * 31) % 201) / 100.0, cu[1 + g % cardinality(cu)],
         (current_date + 1 + g % 30)::text, (current_date + 2 + g % 60)::text, a[1 + (g / 5) % cardinality(a)]
  FROM r, generate_series($1::int, $2::int) AS g
  RETURNING 1),
upd AS (
  UPDATE public.payment SET paid = NOT paid, last_updated = last_updated + interval '1 day'
  WHERE payment_id = ANY($8::int[])
  RETURNING 1)
SELECT (SELECT count(*) FROM ins)::int AS inserted, (SELECT count(*) FROM upd)::int AS updated`

/** Batch `k` (0-based) of a drain: its BATCH_SQL parameters. `payments` must hold more ids than `updates`. */
export const batchParams = (
  k: number,
  inserts: number,
  updates: number,
  refs: SalesReferences,
  payments: ReadonlyArray<number>
): ReadonlyArray<unknown> => {
  if (updates > 0 && payments.length < updates) throw new Error(`batchParams: ${updates} updates need at least as many payments (have ${payments.length})`)
  const from = k * inserts + 1
  const ids = Array.from({ length: updates }, (_, j) => payments[(k * updates + j) % payments.length]!)
  return [from, from + inserts - 1, refs.designs, refs.staff, refs.counterparties, refs.currencies, refs.addresses, ids]
}

/** The drain's plan: `changes` split into transactions of `perTransaction` changes, `insertShare` of each inserts. */
export const drainPlan = (changes: number, perTransaction: number, insertShare: number) => {
  const inserts = Math.round(perTransaction * insertShare)
  const updates = perTransaction - inserts
  const transactions = Math.ceil(changes / perTransaction)
  if (transactions * perTransaction !== changes) throw new Error(`drainPlan: ${changes} changes are not a whole number of ${perTransaction}-change transactions`)
  return { transactions, inserts, updates, totalInserts: transactions * inserts, totalUpdates: transactions * updates }
}

/** The first tab-separated field (the id) of each row of a dump's `COPY public.<table>` block. */
export const copyBlockIds = (dump: string, table: string): Array<number> => {
  const start = dump.indexOf(`COPY public.${table} (`)
  if (start < 0) throw new Error(`the dump has no COPY block for ${table}`)
  const body = dump.indexOf("\n", start) + 1
  const end = dump.indexOf("\n\\.", body - 1)
  return dump
    .slice(body, end)
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => Number(line.slice(0, line.indexOf("\t"))))
}

/** One sales_order COPY row (the dump's column order) for id `id`, references by `id`. */
export const salesOrderRow = (id: number, refs: SalesReferences): string => {
  const pick = (xs: ReadonlyArray<number>, k: number) => xs[k % xs.length]!
  const day = (offset: number) => new Date(Date.UTC(2024, 1, 23 + offset)).toISOString().slice(0, 10)
  const price = (200 + ((id * 31) % 201)) / 100
  return [
    id,
    "2024-02-23 12:00:00.000",
    "2024-02-23 12:00:00.000",
    pick(refs.designs, id),
    pick(refs.staff, Math.floor(id / 7)),
    pick(refs.counterparties, Math.floor(id / 3)),
    1001 + ((id * 7919) % 98973),
    price.toFixed(2),
    pick(refs.currencies, id),
    day(1 + (id % 30)),
    day(2 + (id % 60)),
    pick(refs.addresses, Math.floor(id / 5))
  ].join("\t")
}

/**
 * The dump with its sales_order COPY block extended to `rows` rows (ids after its
 * largest). Fails when the dump already holds `rows` or more.
 */
export const bigSeed = (dump: string, rows: number): { readonly text: string; readonly added: number } => {
  const existing = copyBlockIds(dump, "sales_order")
  const added = rows - existing.length
  if (added <= 0) throw new Error(`bigSeed: the dump already holds ${existing.length} sales orders (asked for ${rows})`)
  const refs: SalesReferences = {
    designs: copyBlockIds(dump, "design"),
    staff: copyBlockIds(dump, "staff"),
    counterparties: copyBlockIds(dump, "counterparty"),
    currencies: copyBlockIds(dump, "currency"),
    addresses: copyBlockIds(dump, "address")
  }
  const first = Math.max(...existing) + 1
  const start = dump.indexOf("COPY public.sales_order (")
  const end = dump.indexOf("\n\\.", start)
  const lines = Array.from({ length: added }, (_, k) => salesOrderRow(first + k, refs))
  return { text: `${dump.slice(0, end)}\n${lines.join("\n")}${dump.slice(end)}`, added }
}
