/**
 * Lines of a byte stream as bytes, for readers of line-based files (recordings, pg_dump
 * seeds): split at "\n" (0x0A) and nowhere else.
 *
 * Invariants:
 *  - A line is the bytes between two "\n"s, a last one without "\n" included; an empty last
 *    piece (the file ends with "\n", or is empty) is no line. So line numbers are any
 *    editor's, and "\r", U+2028 and U+2029 (node:readline breaks lines at all three; JSON
 *    and pg_dump leave the last two unescaped in values) stay inside their line.
 *  - Bytes, not text: the caller decides what a line that is not UTF-8 is, nothing is
 *    replaced by U+FFFD or dropped on the way.
 *  - Memory: the line being read and the chunk holding its end. Pure: it only reads the
 *    iterable it is given.
 */

/** The lines of `chunks` (see the module header), in order. */
export async function* byteLines(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  let pending: Array<Uint8Array> = []
  for await (const chunk of chunks) {
    let start = 0
    for (let end = chunk.indexOf(0x0a); end >= 0; end = chunk.indexOf(0x0a, start)) {
      pending.push(chunk.subarray(start, end))
      yield pending.length === 1 ? pending[0]! : Buffer.concat(pending)
      pending = []
      start = end + 1
    }
    if (start < chunk.length) pending.push(chunk.subarray(start))
  }
  if (pending.length > 0) yield pending.length === 1 ? pending[0]! : Buffer.concat(pending)
}
