/**
 * A totesys-shaped backlog of row changes, written by one PL/pgSQL block on the server
 * (benchmarks only).
 *
 * Why SQL and not the simulator: `runSimulator` commits each business event with 3–4
 * client round trips (~100,000 transactions for 300,000 changes: minutes), and
 * `simulateHistory` packs 500 events into one transaction, which is not the shape a
 * reader drains in production. This block writes the simulator's shapes at server speed:
 *  - one business event = one transaction: a sale (sales_order + transaction + payment,
 *    ~68%) or a purchase (purchase_order + transaction + payment, ~29%) as 3 inserts,
 *    or a new design (1 insert, ~3%), with the simulator's value ranges
 *    (SimulatorModel.ts: units 1,001..99,973 at 2.00..4.00, 8-digit account numbers, …);
 *  - every 30th event is the daily payment batch: one transaction flipping ~60% of the
 *    payments made since the previous batch to paid (≈ 18 updates).
 * Every transaction COMMITs on its own (DO-block transaction control), so the WAL holds
 * ~100,000 small transactions per 300,000 changes, as live totesys traffic would.
 *
 * Invariants:
 *  - Exactly `rows` row changes are committed (the last events are cut to fit: a design
 *    insert instead of a 3-row event, a smaller payment batch).
 *  - Deterministic for a seed on a database holding the same reference data
 *    (`setseed`; no wall clock in the values).
 *  - The returned counts come from the block itself (a temporary table, which is never
 *    logically decoded), not from what any consumer saw.
 *  - After the rows, one more transaction holds only a transactional logical message
 *    (`END_MARKER_PREFIX`): its commit is "the last backlog commit". A consumer has
 *    drained the backlog once it has seen (bare client) or confirmed (reader) a commit
 *    past the marker's LSN.
 */
import type { PgError, PgPool } from "@totes-cdc/platform"
import { Effect } from "effect"

/** Prefix of the logical message that ends the backlog. */
export const END_MARKER_PREFIX = "totes-cdc-bench-end"

export interface Backlog {
  /** Row changes committed (inserts + updates), exactly the requested number. */
  readonly rows: number
  readonly inserts: number
  readonly updates: number
  /** Source transactions holding them. */
  readonly transactions: number
  /** LSN of the end marker (a logical message in its own, final transaction). */
  readonly endMarkerLsn: string
  /** Seconds the server took to write the backlog. */
  readonly seconds: number
}

const generator = (rows: number, seed: number) => `
DO $bench$
DECLARE
  target      int := ${rows};
  total       int := 0;
  n_txns      int := 0;
  n_inserts   int := 0;
  n_updates   int := 0;
  ev          int := 0;
  n           int;
  r           double precision;
  designs     int[] := ARRAY(SELECT design_id FROM public.design ORDER BY 1);
  staff       int[] := ARRAY(SELECT staff_id FROM public.staff ORDER BY 1);
  parties     int[] := ARRAY(SELECT counterparty_id FROM public.counterparty ORDER BY 1);
  addresses   int[] := ARRAY(SELECT address_id FROM public.address ORDER BY 1);
  currencies  int[] := ARRAY(SELECT currency_id FROM public.currency ORDER BY 1);
  receipt     int := (SELECT payment_type_id FROM public.payment_type WHERE payment_type_name = 'SALES_RECEIPT' ORDER BY 1 LIMIT 1);
  outgoing    int := (SELECT payment_type_id FROM public.payment_type WHERE payment_type_name = 'PURCHASE_PAYMENT' ORDER BY 1 LIMIT 1);
  pending     int[] := '{}';
  chosen      int[];
  p           int;
  words       text[] := ARRAY['Bronze','Soft','Steel','Granite','Plastic','Frozen','Concrete','Cotton','Wooden','Fresh','Rubber','Metal'];
  dirs        text[] := ARRAY['/usr/share','/net','/private','/var/log','/opt','/home/user','/etc','/usr/local/src'];
  ts          timestamp(3) := '2024-03-04 08:00:00';
  order_id    int;
  txn_id      int;
  pay_id      int;
  party       int;
  currency    int;
  qty         int;
  price       numeric(10,2);
  word        text;
BEGIN
  PERFORM setseed(${seed});
  WHILE total < target LOOP
    ev := ev + 1;
    ts := ts + make_interval(secs => 30 + floor(random() * 2600));
    r := random();
    IF ev % 30 = 0 THEN
      -- the daily payment batch: ~60% of the payments made since the last batch become paid.
      -- By primary key (= ANY): a cached generic plan can never turn this into a table scan.
      chosen := '{}';
      FOREACH p IN ARRAY pending LOOP
        IF random() < 0.6 AND cardinality(chosen) < target - total THEN
          chosen := chosen || p;
        END IF;
      END LOOP;
      pending := '{}';
      n := 0;
      IF cardinality(chosen) > 0 THEN
        UPDATE public.payment SET paid = true, last_updated = ts WHERE payment_id = ANY (chosen);
        GET DIAGNOSTICS n = ROW_COUNT;
      END IF;
      n_updates := n_updates + n;
      total := total + n;
    ELSIF r < 0.03 OR target - total < 3 THEN
      word := words[1 + floor(random() * array_length(words, 1))::int];
      INSERT INTO public.design (created_at, design_name, file_location, file_name, last_updated)
      VALUES (ts, word, dirs[1 + floor(random() * array_length(dirs, 1))::int],
              lower(word) || '-' || to_char(ts - make_interval(days => 3 + floor(random() * 726)::int), 'YYYYMMDD') || '-' ||
                substr(md5(random()::text), 1, 4) || '.json',
              ts);
      n_inserts := n_inserts + 1;
      total := total + 1;
    ELSE
      party := parties[1 + floor(random() * array_length(parties, 1))::int];
      currency := currencies[1 + floor(random() * array_length(currencies, 1))::int];
      IF r < 0.32 THEN
        qty := 1 + floor(random() * 999)::int;
        price := round((3.33 + random() * 995.33)::numeric, 2);
        INSERT INTO public.purchase_order (created_at, last_updated, staff_id, counterparty_id, item_code, item_quantity,
                                           item_unit_price, currency_id, agreed_delivery_date, agreed_payment_date,
                                           agreed_delivery_location_id)
        VALUES (ts, ts, staff[1 + floor(random() * array_length(staff, 1))::int], party,
                upper(substr(md5(random()::text), 1, 7)), qty, price, currency,
                (ts::date + floor(random() * 8)::int)::text, (ts::date + floor(random() * 7)::int)::text,
                addresses[1 + floor(random() * array_length(addresses, 1))::int])
        RETURNING purchase_order_id INTO order_id;
        INSERT INTO public.transaction (transaction_type, purchase_order_id, created_at, last_updated)
        VALUES ('PURCHASE', order_id, ts, ts) RETURNING transaction_id INTO txn_id;
        INSERT INTO public.payment (created_at, last_updated, transaction_id, counterparty_id, payment_amount, currency_id,
                                    payment_type_id, paid, payment_date, company_ac_number, counterparty_ac_number)
        VALUES (ts, ts, txn_id, party, qty * price, currency, outgoing, false, (ts::date + floor(random() * 7)::int)::text,
                10000000 + floor(random() * 90000000)::int, 10000000 + floor(random() * 90000000)::int)
        RETURNING payment_id INTO pay_id;
        pending := pending || pay_id;
      ELSE
        qty := 1001 + floor(random() * 98973)::int;
        price := round((2 + random() * 2)::numeric, 2);
        INSERT INTO public.sales_order (created_at, last_updated, design_id, staff_id, counterparty_id, units_sold, unit_price,
                                        currency_id, agreed_delivery_date, agreed_payment_date, agreed_delivery_location_id)
        VALUES (ts, ts, designs[1 + floor(random() * array_length(designs, 1))::int],
                staff[1 + floor(random() * array_length(staff, 1))::int], party, qty, price, currency,
                (ts::date + floor(random() * 8)::int)::text, (ts::date + floor(random() * 7)::int)::text,
                addresses[1 + floor(random() * array_length(addresses, 1))::int])
        RETURNING sales_order_id INTO order_id;
        INSERT INTO public.transaction (transaction_type, sales_order_id, created_at, last_updated)
        VALUES ('SALE', order_id, ts, ts) RETURNING transaction_id INTO txn_id;
        INSERT INTO public.payment (created_at, last_updated, transaction_id, counterparty_id, payment_amount, currency_id,
                                    payment_type_id, paid, payment_date, company_ac_number, counterparty_ac_number)
        VALUES (ts, ts, txn_id, party, qty * price, currency, receipt, false, (ts::date + floor(random() * 7)::int)::text,
                10000000 + floor(random() * 90000000)::int, 10000000 + floor(random() * 90000000)::int)
        RETURNING payment_id INTO pay_id;
        pending := pending || pay_id;
      END IF;
      n_inserts := n_inserts + 3;
      total := total + 3;
    END IF;
    n_txns := n_txns + 1;
    COMMIT;
  END LOOP;
  INSERT INTO bench_backlog_counts VALUES (n_txns, n_inserts, n_updates);
END
$bench$`

/**
 * Writes a backlog of exactly `rows` row changes into the totesys database behind
 * `pool` (which must hold reference data: designs, staff, counterparties, addresses,
 * currencies, payment types), then the end marker. Fails with `PgError`.
 */
export const writeBacklog = (pool: PgPool, rows: number, seed = 0.42): Effect.Effect<Backlog, PgError> =>
  Effect.scoped(
    Effect.gen(function* () {
      const session = yield* pool.reserve
      const started = performance.now()
      // fsync is off on the ephemeral local stack already; this only saves the WAL write per commit.
      yield* session.query("SET synchronous_commit = off")
      yield* session.query("CREATE TEMPORARY TABLE bench_backlog_counts (transactions int, inserts int, updates int)")
      yield* session.query(generator(rows, seed))
      const [counts] = yield* session.query("SELECT transactions, inserts, updates FROM bench_backlog_counts")
      const [marker] = yield* session.query(`SELECT pg_logical_emit_message(true, '${END_MARKER_PREFIX}', 'end')::text AS lsn`)
      yield* session.query("SET synchronous_commit = on")
      const seconds = (performance.now() - started) / 1000
      const inserts = Number(counts?.inserts ?? 0)
      const updates = Number(counts?.updates ?? 0)
      return {
        rows: inserts + updates,
        inserts,
        updates,
        transactions: Number(counts?.transactions ?? 0),
        endMarkerLsn: marker?.lsn ?? "0/0",
        seconds
      }
    })
  )
