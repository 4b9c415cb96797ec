/**
 * The chaos suite's steady totesys-shaped load, and its independent ledger of what
 * committed: sales and purchases (order + transaction + payment), paid flips, updates
 * that leave `last_updated` as it was, address and department changes (they cascade into
 * dim_location / dim_counterparty / dim_staff), payment deletes, and on demand a
 * 50,000-row transaction.
 *
 * Invariants:
 *  - Every event is one source transaction that also appends a row to `chaos.ledger`
 *    (a table outside the publication): the ledger says what committed even when a fault
 *    cuts the connection during COMMIT, so the count of committed fact versions and
 *    deletes is independent of the pipeline and of the harness' own view of an error.
 *  - One event at a time on one connection (commit order = ledger order); a failed event
 *    is retried as a new event after 200 ms; the load never stops on a fault.
 *  - Freshness is observed on single sales (their order id is known only after COMMIT
 *    returned): committed → first seen in fact_sales_order, polled every 250 ms.
 */
import { REFERENCE_IDS_SQL, PURCHASE_SQL, SALE_SQL, purchaseParams, referenceIdsOf, saleParams, type ReferenceIds } from "../bench/FreshnessTraffic.ts"
import pg from "pg"

/** What one event adds to the warehouse's fact tables (versions) and deletes. */
interface Effects {
  readonly sales: number
  readonly purchases: number
  readonly payments: number
  readonly transactions: number
  readonly deletes: number
}

const NONE: Effects = { sales: 0, purchases: 0, payments: 0, transactions: 0, deletes: 0 }
const ORDER = (table: "sales" | "purchases"): Effects => ({ ...NONE, [table]: 1, payments: 1, transactions: 1 })

export const LEDGER_SQL = `CREATE SCHEMA IF NOT EXISTS chaos;
CREATE TABLE IF NOT EXISTS chaos.ledger (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp(), event text NOT NULL,
  sales int NOT NULL, purchases int NOT NULL, payments int NOT NULL, transactions int NOT NULL, deletes int NOT NULL)`

/** The ledger's totals: fact versions and payment deletes committed by the load. */
export type LedgerTotals = Effects & { readonly events: number }

export const ledgerTotals = async (pool: pg.Pool): Promise<LedgerTotals> => {
  const { rows } = await pool.query(
    `SELECT count(*)::int AS events, coalesce(sum(sales),0)::int AS sales, coalesce(sum(purchases),0)::int AS purchases, coalesce(sum(payments),0)::int AS payments,
            coalesce(sum(transactions),0)::int AS transactions, coalesce(sum(deletes),0)::int AS deletes FROM chaos.ledger`
  )
  return rows[0] as LedgerTotals
}

/** A pool that survives its server going away (idle connections' errors are expected under faults). */
export const resilientPool = (url: string, max = 2) => {
  const pool = new pg.Pool({ connectionString: url, max, connectionTimeoutMillis: 5_000, idleTimeoutMillis: 10_000 })
  pool.on("error", () => undefined)
  return pool
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

export interface ChaosLoad {
  /** Starts or resumes the steady load. */
  readonly resume: () => void
  /** Stops offering events; resolves once the event in flight has finished. */
  readonly pause: () => Promise<void>
  /** Commits one sale now (retrying through faults); its order id and commit time (ms). */
  readonly probe: () => Promise<{ readonly id: number; readonly committedAt: number }>
  /** Commits the 50,000-row transaction (on a connection of its own, beside the steady load). */
  readonly bigTransaction: () => Promise<void>
  /** Points the load at another source (a restarted `dev` has new ports). */
  readonly retarget: (url: string) => Promise<void>
  /** Events that failed (connection lost, server restarting), retried as new events. */
  readonly failures: () => number
  /** Single sales committed: order id → commit time (ms), for the freshness observer. */
  readonly committedSales: Map<number, number>
  readonly close: () => Promise<void>
}

/** Starts the load (paused) on `url`, `eventsPerSecond` events/s once resumed. */
export const startChaosLoad = async (url: string, eventsPerSecond: number, random: () => number): Promise<ChaosLoad> => {
  let pool = resilientPool(url)
  await pool.query(LEDGER_SQL)
  let ids: ReferenceIds = referenceIdsOf((await pool.query(REFERENCE_IDS_SQL)).rows[0])
  const [{ max_sale: maxSale, max_purchase: maxPurchase }] = (
    await pool.query("SELECT (SELECT max(sales_order_id) FROM public.sales_order)::int AS max_sale, (SELECT max(purchase_order_id) FROM public.purchase_order)::int AS max_purchase")
  ).rows as Array<{ max_sale: number; max_purchase: number }>
  const committedSales = new Map<number, number>()
  let running = false
  let closed = false
  let failures = 0
  let inFlight: Promise<void> = Promise.resolve()

  /** Runs `body` in one transaction with its ledger row; returns body's result, or throws. */
  const event = async <A>(name: string, body: (client: pg.PoolClient) => Promise<{ result: A; effects: Effects }>): Promise<A> => {
    const client = await pool.connect()
    // A checked-out client reports a lost connection as an 'error' event: without a listener it
    // would end this process (the fault under test cut the connection); the query in flight fails anyway.
    const ignore = () => undefined
    client.on("error", ignore)
    try {
      await client.query("BEGIN")
      const { result, effects } = await body(client)
      await client.query(
        "INSERT INTO chaos.ledger (event, sales, purchases, payments, transactions, deletes) VALUES ($1, $2, $3, $4, $5, $6)",
        [name, effects.sales, effects.purchases, effects.payments, effects.transactions, effects.deletes]
      )
      await client.query("COMMIT")
      client.removeListener("error", ignore)
      client.release()
      return result
    } catch (error) {
      client.removeListener("error", ignore)
      client.release(true)
      throw error
    }
  }
  const pick = <A>(items: ReadonlyArray<A>) => items[Math.floor(random() * items.length)]!
  const sale = () =>
    event("sale", async (client) => {
      const { rows } = await client.query(SALE_SQL, [...saleParams(random, ids)])
      return { result: Number(rows[0].order_id), effects: ORDER("sales") }
    }).then((id) => {
      committedSales.set(id, Date.now())
      return { id, committedAt: committedSales.get(id)! }
    })

  const oneEvent = async () => {
    const r = random()
    if (r < 0.3) return void (await sale())
    if (r < 0.45) return event("purchase", async (client) => (await client.query(PURCHASE_SQL, [...purchaseParams(random, ids)]), { result: undefined, effects: ORDER("purchases") }))
    if (r < 0.65)
      return event("flip", async (client) => {
        const { rowCount } = await client.query(
          "UPDATE public.payment SET paid = true, last_updated = now() WHERE payment_id = (SELECT payment_id FROM public.payment WHERE NOT paid ORDER BY payment_id LIMIT 1)"
        )
        return { result: undefined, effects: { ...NONE, payments: rowCount ?? 0 } }
      })
    if (r < 0.8)
      // totesys changes about 1 in 100 orders without moving last_updated: the version row is replaced in place.
      return event("unbumped", async (client) => {
        if (random() < 0.5) await client.query("UPDATE public.sales_order SET units_sold = units_sold + 1 WHERE sales_order_id = $1", [1 + Math.floor(random() * maxSale)])
        else await client.query("UPDATE public.purchase_order SET item_quantity = item_quantity + 1 WHERE purchase_order_id = $1", [1 + Math.floor(random() * maxPurchase)])
        return { result: undefined, effects: NONE }
      })
    if (r < 0.88)
      return event("address", async (client) => {
        await client.query("UPDATE public.address SET city = $1, last_updated = now() WHERE address_id = $2", [`Chaos City ${Math.floor(random() * 1_000)}`, pick(ids.addresses)])
        return { result: undefined, effects: NONE }
      })
    if (r < 0.93)
      return event("department", async (client) => {
        await client.query(
          "UPDATE public.department SET location = $1, last_updated = now() WHERE department_id = (SELECT department_id FROM public.staff WHERE staff_id = $2)",
          [`Chaos Floor ${Math.floor(random() * 100)}`, pick(ids.staff)]
        )
        return { result: undefined, effects: NONE }
      })
    return event("delete", async (client) => {
      const { rowCount } = await client.query(
        "DELETE FROM public.payment WHERE payment_id = (SELECT payment_id FROM public.payment WHERE paid AND payment_id <= 9899 ORDER BY payment_id LIMIT 1)"
      )
      return { result: undefined, effects: { ...NONE, deletes: rowCount ?? 0 } }
    })
  }

  const loop = async () => {
    const interval = 1_000 / eventsPerSecond
    let next = Date.now()
    while (running && !closed) {
      try {
        await oneEvent()
      } catch {
        failures += 1
        await sleep(200)
      }
      next = Math.max(next + interval, Date.now() - interval)
      await sleep(Math.max(0, next - Date.now()))
    }
  }

  const retrying = async <A>(attempt: () => Promise<A>): Promise<A> => {
    for (;;) {
      try {
        return await attempt()
      } catch {
        failures += 1
        await sleep(200)
      }
    }
  }

  return {
    resume: () => {
      if (running) return
      running = true
      inFlight = loop()
    },
    pause: async () => {
      running = false
      await inFlight
    },
    probe: () => retrying(sale),
    bigTransaction: () =>
      retrying(() =>
        event("big-transaction", async (client) => {
          await client.query(`INSERT INTO public.sales_order (created_at, last_updated, design_id, staff_id, counterparty_id, units_sold, unit_price, currency_id,
              agreed_delivery_date, agreed_payment_date, agreed_delivery_location_id)
            SELECT now(), now(), d.ids[1 + i % cardinality(d.ids)], 1 + i % 20, 1 + i % 20, 1000 + i % 99000, 2.00 + (i % 200) / 100.0, 1 + i % 3,
                   '2024-03-01', '2024-03-04', 1 + i % 30
            FROM generate_series(1, 50000) AS i, (SELECT array_agg(design_id) AS ids FROM public.design) AS d`)
          return { result: undefined, effects: { ...NONE, sales: 50_000 } }
        })
      ),
    retarget: async (next) => {
      const old = pool
      pool = resilientPool(next)
      ids = referenceIdsOf((await retrying(() => pool.query(REFERENCE_IDS_SQL))).rows[0])
      await old.end().catch(() => undefined)
    },
    failures: () => failures,
    committedSales,
    close: async () => {
      closed = true
      running = false
      await inFlight
      await pool.end().catch(() => undefined)
    }
  }
}
