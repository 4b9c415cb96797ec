/**
 * Entry point of the s3rver child process (started by Emulators.ts): serves the S3 API on
 * 127.0.0.1 over a directory, prints its port on stdout once listening, and exits when its
 * parent is gone (so a killed `dev` leaves no emulator behind). Arguments: the directory,
 * the port (0: one the OS picks; a fixed one lets a restarted emulator keep its endpoint)
 * and the buckets to create, comma-separated.
 *
 * Objects are stored by AtomicFilesystemStore, so a GET overlapping a PUT of the same key
 * answers the whole old or the whole new object, never a partial one.
 */
import S3rver from "s3rver"
import { AtomicFilesystemStore } from "./AtomicFilesystemStore.ts"
import { runAsEmulatorChild } from "./EmulatorChild.ts"

const [directory = "", port = "0", buckets = ""] = process.argv.slice(2)
const server = new S3rver({
  address: "127.0.0.1",
  port: Number(port),
  silent: true,
  directory,
  vhostBuckets: false,
  configureBuckets: buckets.split(",").filter((name) => name !== "").map((name) => ({ name }))
})
// s3rver has no option for its store: its constructor sets both references to a
// FilesystemStore, which writes objects in place; replace them before it serves.
server.store = server.context.store = new AtomicFilesystemStore(directory)
// s3rver closes its (silent) logger when its server closes; a request still finishing then
// makes winston print "Attempt to write logs with no transports". It holds nothing: keep it open.
server.logger.close = () => server.logger
const address = await server.run()
process.stdout.write(`${address.port}\n`)
runAsEmulatorChild(() => server.close())
