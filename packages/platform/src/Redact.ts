/**
 * Keeping passwords out of what the project prints: connection URLs shown in messages, and
 * any text (a driver's or an SDK's error message, a log line) that may carry one.
 *
 * Invariants:
 *  - Pure, total, never throws: any string in, a string out.
 *  - What is hidden becomes `***`; everything else is left as it was, byte for byte (no
 *    re-encoding of the rest of a URL), so the output still says which host, port, user,
 *    database and options were meant.
 *  - Hidden wherever it appears: the password of `scheme://user:password@host` (parseable
 *    or not, percent-encoded or raw, the userinfo ending at its last `@`), `password=` /
 *    `sslpassword=` in a query string or a keyword/value conninfo (`host=… password=…`,
 *    quoted or bare), and `"password": "…"` in JSON (RDS's secret format).
 *  - Idempotent: redacting redacted text changes nothing.
 */

/** `scheme://user:` then the password up to the last `@` before white space. */
const URL_USERINFO = /([a-z][a-z0-9+.-]*:\/\/[^\s:/@?#]*:)[^\s]*@/gi

/** `password=…` / `sslpassword=…` (query string or conninfo): a quoted value, or up to white space or `&`. */
const KEYWORD_VALUE = /\b((?:ssl)?password)(\s*=\s*)(?:'(?:[^'\\]|\\.)*'?|[^\s&]+)/gi

/** `"password": "…"` in JSON text. */
const JSON_FIELD = /("(?:ssl)?password"\s*:\s*)"(?:[^"\\]|\\.)*"?/gi

/**
 * Pure: `text` with every password it holds replaced by `***` — in URLs, keyword/value
 * connection strings, query strings and JSON (see the module invariants). For text from
 * elsewhere (a driver's error, an exception) before it is printed or logged.
 */
export const redactSecrets = (text: string): string =>
  text
    .replace(URL_USERINFO, "$1***@")
    .replace(KEYWORD_VALUE, "$1$2***")
    .replace(JSON_FIELD, '$1"***"')

/**
 * Pure: a connection URL for messages, its password hidden:
 * `postgres://user:secret@host/db` → `postgres://user:***@host/db`,
 * `postgres://user@host/db?password=secret` → `postgres://user@host/db?password=***`.
 * Input that is no URL (a typo, a keyword/value conninfo) never comes back with its
 * password either: its userinfo is hidden up to its last `@`, the rest as `redactSecrets`.
 */
export const redactUrl = (url: string): string => {
  if (URL.canParse(url)) {
    const parsed = new URL(url)
    if (parsed.password === "") return redactSecrets(url)
    parsed.password = "***"
    return redactSecrets(parsed.toString())
  }
  // Not a URL: the whole value is one setting, so its userinfo runs from `://` to the last
  // `@` even where the password holds white space (which `redactSecrets` stops at).
  const start = url.indexOf("://") + 3
  const at = url.lastIndexOf("@")
  const colon = start >= 3 && at > start ? url.slice(start, at).indexOf(":") : -1
  return redactSecrets(colon === -1 ? url : `${url.slice(0, start + colon + 1)}***${url.slice(at)}`)
}
