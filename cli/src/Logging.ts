/**
 * How `totes-cdc` logs: on a terminal one short line per entry (`[HH:MM:SS] message`,
 * level shown when not INFO); otherwise one JSON object per line, for CloudWatch and
 * other collectors (with the entry's annotations: component, table, LSN, batch).
 */
import { Logger } from "effect"

const text = (message: unknown): string =>
  (Array.isArray(message) ? message : [message]).map((part) => (typeof part === "string" ? part : JSON.stringify(part))).join(" ")

/** One line per entry on stdout (stderr for warnings and errors). */
export const terminalLogger = Logger.make(({ message, logLevel, date }) => {
  const level = logLevel === "Info" ? "" : `${logLevel.toUpperCase()} `
  const line = `[${date.toISOString().slice(11, 19)}] ${level}${text(message)}\n`
  if (logLevel === "Warn" || logLevel === "Error" || logLevel === "Fatal") process.stderr.write(line)
  else process.stdout.write(line)
})

/** The logger layer for this process: terminal lines on a TTY, JSON lines otherwise. */
export const loggingLayer = Logger.layer([process.stdout.isTTY ? terminalLogger : Logger.consoleJson])
