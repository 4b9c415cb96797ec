/**
 * Pure: when a micro-batch window closes. The local poller (ShardPoller.ts) groups the
 * pages its shards read into windows with Effect's `Stream.aggregateWithin`: this rule is
 * the sink's "keep folding" test, `maxWaitMs` its schedule.
 *
 * Invariants:
 *  - A window closes with the page that makes it due; a page is never split.
 *  - A window holds at most one page per shard (a shard offers its next page only once the
 *    previous one is answered), so "a page of every shard" can be counted in pages.
 */

/** When a window closes: whichever comes first. Bytes are Kinesis record data; durations in ms. */
export interface MicroBatchWindow {
  /** The window holds at least this many bytes. */
  readonly maxBytes: number
  /** This long after the window's first page joined it (0: the pages waiting now). */
  readonly maxWaitMs: number
  /** It holds a page of every shard being consumed (no shard can add another before it is handled). */
  readonly closeWhenEveryShard: boolean
  /** A page came back as full as it was asked for: its shard is behind, waiting only slows the catch-up. */
  readonly closeOnFullPage: boolean
}

/** The poller's default: hand over what is waiting at once (each window is the pages already read). */
export const IMMEDIATE_WINDOW: MicroBatchWindow = { maxBytes: Number.POSITIVE_INFINITY, maxWaitMs: 0, closeWhenEveryShard: true, closeOnFullPage: true }

/** A window being filled. */
export interface OpenWindow<P> {
  readonly pages: ReadonlyArray<P>
  readonly bytes: number
  readonly full: boolean
}

/** The empty window. */
export const emptyWindow = <P>(): OpenWindow<P> => ({ pages: [], bytes: 0, full: false })

/** `window` with `page` (of `bytes` bytes; `full`: as many records as were asked for) joined. */
export const joinWindow = <P>(window: OpenWindow<P>, page: P, bytes: number, full: boolean): OpenWindow<P> => ({
  pages: [...window.pages, page],
  bytes: window.bytes + bytes,
  full: window.full || full
})

/** Whether `window` must close now (by everything but time), with `shards` shards being consumed. */
export const windowIsDue = <P>(window: OpenWindow<P>, limits: MicroBatchWindow, shards: number): boolean =>
  window.bytes >= limits.maxBytes || (limits.closeOnFullPage && window.full) || (limits.closeWhenEveryShard && window.pages.length >= shards)
