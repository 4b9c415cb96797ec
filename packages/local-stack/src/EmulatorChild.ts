/**
 * What both emulator child processes (KinesaliteServer.ts, S3rverServer.ts) do once they
 * listen: exit when the process that started them is gone (checked every second, so a
 * killed `dev` leaves no emulator behind), and close their server, then exit, on SIGTERM.
 */
export const runAsEmulatorChild = (close: () => Promise<unknown>): void => {
  const parent = process.ppid
  setInterval(() => {
    try {
      process.kill(parent, 0)
    } catch {
      process.exit(0)
    }
  }, 1_000).unref()
  process.on("SIGTERM", () => void close().finally(() => process.exit(0)))
}
