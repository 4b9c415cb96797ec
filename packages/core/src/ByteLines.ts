/**
 * Lines of a byte stream or of one object as bytes, for readers of line-based files
 * (recordings, pg_dump seeds, archive objects): split at "\n" (0x0A) and nowhere else.
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

/**
 * Pure: the lines of an NDJSON archive object, without their `\n`. The newline after the
 * last line ends it (no empty line after it); an object not ending in `\n` still yields
 * its last line. Views into `body`, not copies.
 */
export const archiveLines = (body: Uint8Array): ReadonlyArray<Uint8Array> => {
  const lines: Array<Uint8Array> = []
  let start = 0
  for (let at = body.indexOf(0x0a); at >= 0; at = body.indexOf(0x0a, start)) {
    lines.push(body.subarray(start, at))
    start = at + 1
  }
  if (start < body.byteLength) lines.push(body.subarray(start))
  return lines
}
