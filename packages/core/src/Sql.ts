/**
 * The one place SQL text gets names and values it did not write itself. Every identifier
 * interpolated into SQL anywhere in the project goes through `quoteIdent`; values go as
 * `$n` parameters, except where PostgreSQL takes none (the replication protocol's commands,
 * `SET TRANSACTION SNAPSHOT`) or the statement is shown to a person to run (preflight's
 * fixes), where `quoteLiteral` makes the literal. test/security/SqlText.test.ts holds the
 * whole code base to this (and lists the few places `quoteLiteral` may be used).
 *
 * Invariants:
 *  - `quoteIdent(name)` is always a double-quoted identifier that PostgreSQL reads back as
 *    exactly `name` (case kept, `"` doubled), whatever `name` holds: it can never end the
 *    identifier early, so no name can inject SQL.
 *  - `quoteLiteral(text)` is always a standard-conforming string literal (`'…'`, `'`
 *    doubled, no backslash escapes: `standard_conforming_strings` is on since PostgreSQL 9.1)
 *    that PostgreSQL reads back as exactly `text`. A NUL character, which no PostgreSQL text
 *    may hold, is refused with a thrown `RangeError` (a programming error, never data that
 *    reached here unchecked).
 */

/**
 * Pure: `name` as a quoted SQL identifier, e.g. `transaction` → `"transaction"`,
 * `Totes "CDC"` → `"Totes ""CDC"""`. Quote every identifier, even constant ones: the same
 * text works for names that are reserved words (`transaction`), mixed case or odd.
 */
export const quoteIdent = (name: string): string => `"${name.replaceAll("\"", "\"\"")}"`

/**
 * Pure: `text` as a SQL string literal, e.g. `it's` → `'it''s'`. Only where PostgreSQL takes
 * no `$n` parameter (see the module comment); anywhere else pass the value as a parameter.
 * Throws `RangeError` if `text` holds a NUL character.
 */
export const quoteLiteral = (text: string): string => {
  if (text.includes("\u0000")) throw new RangeError("a SQL literal cannot hold a NUL character")
  return `'${text.replaceAll("'", "''")}'`
}
