/**
 * Entry point of the kinesalite child process (started by Emulators.ts): listens on
 * 127.0.0.1 at an OS-chosen port, prints the port on stdout, and exits when its parent
 * is gone (so a killed `dev` leaves no emulator behind). Arguments: an optional LevelDB
 * directory (in memory without it; "" for none) and an optional port (default: one the OS
 * picks; a fixed one lets a restarted emulator keep its endpoint).
 */
import kinesalite from "kinesalite"
import type { AddressInfo } from "node:net"
import { runAsEmulatorChild } from "./EmulatorChild.ts"

const dataDir = process.argv[2]
const port = Number(process.argv[3] ?? 0)
const server = kinesalite({
  ...(dataDir === undefined || dataDir === "" ? {} : { path: dataDir }),
  createStreamMs: 0,
  deleteStreamMs: 0,
  updateStreamMs: 0,
  shardLimit: 100
})
server.listen(port, "127.0.0.1", () => process.stdout.write(`${(server.address() as AddressInfo).port}\n`))
runAsEmulatorChild(() => new Promise<void>((resolve) => server.close(() => resolve())))
