/**
 * One line for a failed read of the environment (Effect's `ConfigError`), naming the
 * variable and the fix, for every program that reads settings (the `totes-cdc` commands,
 * the Lambda entries).
 *
 * Invariants: pure; the variable is the one Effect names (`at ["NAME"]`); nested
 * `ConfigError(SchemaError(…))` wrappers are taken off the problem's first line.
 */

/** Pure: `environment variable NAME is missing or invalid (problem); <fix>`, or `<settings> problem; <fix>` when no variable is named. */
export const describeConfigError = (message: string, fix: string): string => {
  const variable = /at \["([^"]+)"\]/.exec(message)?.[1]
  const problem = (message.split("\n")[0] ?? message)
    .replace(/^((Config|Schema)Error\()+/, "")
    .replace(/\)+$/, "")
    .trim()
  return variable === undefined ? `settings: ${problem}; ${fix}` : `environment variable ${variable} is missing or invalid (${problem}); ${fix}`
}
