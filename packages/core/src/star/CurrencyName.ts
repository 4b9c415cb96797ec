/**
 * `dim_currency.currency_name`, which totesys does not have (totesys/transform_rules.md §5).
 *
 * Invariant (§5 recommendation): a static ISO-4217 map, no network call at transform
 * time; an unknown code names itself. Only the codes totesys uses (GBP, USD, EUR) plus
 * a few common ones are listed; the wording follows ISO 4217's list ("Pound Sterling",
 * "US Dollar", "Euro").
 */

const ISO_4217_NAMES: Readonly<Record<string, string>> = {
  GBP: "Pound Sterling",
  USD: "US Dollar",
  EUR: "Euro",
  CHF: "Swiss Franc",
  JPY: "Yen",
  CAD: "Canadian Dollar",
  AUD: "Australian Dollar",
  CNY: "Yuan Renminbi",
  SEK: "Swedish Krona",
  NOK: "Norwegian Krone",
  DKK: "Danish Krone"
}

/** The ISO-4217 name of `code` ("GBP" → "Pound Sterling"), or the code itself when unknown (§5). */
export const currencyName = (code: string): string => ISO_4217_NAMES[code.trim().toUpperCase()] ?? code
