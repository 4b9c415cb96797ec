/**
 * What the chaos suite watches while faults strike, each from outside the pipeline:
 *  - freshness: when each single sale the load committed first appears in the
 *    warehouse's fact_sales_order (polled every 250 ms), and so commit → visible;
 *  - the slot's retained WAL on the source (`pg_current_wal_lsn() - restart_lsn`, bytes,
 *    every second);
 *  - dead letters: the objects under `dlq/` in the ingestion bucket, per stage.
 *
 * Invariants:
 *  - A poll that fails (the warehouse or source is down: that is the fault) is skipped,
 *    never fatal; the next poll tries again on a fresh connection.
 *  - Targets can be swapped (`retarget`) when a restarted `dev` comes back on new ports.
 */
import { ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3"
import type pg from "pg"
import { resilientPool } from "./ChaosLoad.ts"

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

export interface S3Target {
  readonly endpoint: string
  readonly region: string
  readonly accessKeyId: string
  readonly secretAccessKey: string
  readonly bucket: string
}

/** Every object key under `prefix` of `target.bucket` (ListObjectsV2: s3rver pages it only up to 1,000 keys, enough for `dlq/`). */
const listKeys = async (target: S3Target, prefix: string): Promise<ReadonlyArray<string>> => {
  const client = new S3Client({
    endpoint: target.endpoint,
    region: target.region,
    forcePathStyle: true,
    credentials: { accessKeyId: target.accessKeyId, secretAccessKey: target.secretAccessKey }
  })
  try {
    const keys: Array<string> = []
    let token: string | undefined
    do {
      const page = await client.send(new ListObjectsV2Command({ Bucket: target.bucket, Prefix: prefix, ContinuationToken: token }))
      for (const object of page.Contents ?? []) if (object.Key !== undefined) keys.push(object.Key)
      token = page.NextContinuationToken
    } while (token !== undefined)
    return keys
  } finally {
    client.destroy()
  }
}

/** Dead letters under `dlq/` of `target.bucket`: count per stage (`dlq/<stage>/…`). */
export const deadLetters = async (target: S3Target): Promise<Record<string, number>> => {
  const counts: Record<string, number> = {}
  for (const key of await listKeys(target, "dlq/")) {
    const stage = key.split("/")[1] ?? "?"
    counts[stage] = (counts[stage] ?? 0) + 1
  }
  return counts
}

export interface Watch {
  /** Resolves with the time (ms) sale `id` was first seen in the warehouse; rejects after `limitMs`. */
  readonly visible: (id: number, limitMs: number) => Promise<number>
  /** Commit → visible (ms) of the sales committed in [from, to], and of those still unseen at `to` (counted as `to - commit`). */
  readonly worstFreshness: (from: number, to: number) => number
  /** Peak retained WAL (bytes) since the last call; resets. */
  readonly takePeakRetainedWal: () => number
  readonly retarget: (urls: { source: string; warehouse: string }) => Promise<void>
  readonly close: () => Promise<void>
}

export const startWatch = (urls: { source: string; warehouse: string }, slot: string, committedSales: Map<number, number>): Watch => {
  let source: pg.Pool = resilientPool(urls.source, 1)
  let warehouse: pg.Pool = resilientPool(urls.warehouse, 1)
  let closed = false
  const seen = new Map<number, number>()
  let peak = 0

  const freshnessLoop = async () => {
    while (!closed) {
      const pending = [...committedSales.keys()].filter((id) => !seen.has(id))
      if (pending.length > 0) {
        try {
          const { rows } = await warehouse.query("SELECT DISTINCT sales_order_id FROM public.fact_sales_order WHERE sales_order_id = ANY($1::int[])", [pending])
          const at = Date.now()
          for (const row of rows as Array<{ sales_order_id: number }>) seen.set(Number(row.sales_order_id), at)
        } catch {
          // the warehouse is down: the fault under test
        }
      }
      await sleep(250)
    }
  }
  const slotLoop = async () => {
    while (!closed) {
      try {
        const { rows } = await source.query(
          "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint AS retained FROM pg_replication_slots WHERE slot_name = $1",
          [slot]
        )
        const retained = Number((rows[0] as { retained?: string } | undefined)?.retained ?? 0)
        peak = Math.max(peak, retained)
      } catch {
        // the source is down: the fault under test
      }
      await sleep(1_000)
    }
  }
  const loops = [freshnessLoop(), slotLoop()]

  return {
    visible: async (id, limitMs) => {
      const deadline = Date.now() + limitMs
      while (!seen.has(id)) {
        if (Date.now() > deadline) throw new Error(`sale ${id} did not reach the warehouse within ${limitMs / 1000} s`)
        await sleep(50)
      }
      return seen.get(id)!
    },
    worstFreshness: (from, to) => {
      let worst = 0
      for (const [id, committed] of committedSales) {
        if (committed < from || committed > to) continue
        const at = seen.get(id)
        worst = Math.max(worst, (at ?? to) - committed)
      }
      return worst
    },
    takePeakRetainedWal: () => {
      const value = peak
      peak = 0
      return value
    },
    retarget: async (next) => {
      const [oldSource, oldWarehouse] = [source, warehouse]
      source = resilientPool(next.source, 1)
      warehouse = resilientPool(next.warehouse, 1)
      await Promise.all([oldSource.end().catch(() => undefined), oldWarehouse.end().catch(() => undefined)])
    },
    close: async () => {
      closed = true
      await Promise.all(loops)
      await Promise.all([source.end().catch(() => undefined), warehouse.end().catch(() => undefined)])
    }
  }
}
