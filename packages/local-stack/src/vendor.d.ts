// Minimal typings for the two emulators, which ship none. Only what local-stack calls.
declare module "kinesalite" {
  import type { Server } from "node:http"
  interface KinesaliteOptions {
    /** LevelDB directory; in memory when absent. */
    path?: string
    createStreamMs?: number
    deleteStreamMs?: number
    updateStreamMs?: number
    shardLimit?: number
  }
  function kinesalite(options?: KinesaliteOptions): Server
  export default kinesalite
}

declare module "s3rver" {
  import type { AddressInfo } from "node:net"
  interface S3rverOptions {
    address?: string
    port?: number
    silent?: boolean
    directory?: string
    resetOnClose?: boolean
    vhostBuckets?: boolean
    configureBuckets?: Array<{ name: string }>
  }
  class S3rver {
    constructor(options?: S3rverOptions)
    run(): Promise<AddressInfo>
    close(): Promise<void>
  }
  export default S3rver
}

declare module "async-exit-hook" {
  interface AsyncExitHook {
    (hook: (done?: () => void) => void): void
    unhookEvent(event: string): void
  }
  const exitHook: AsyncExitHook
  export default exitHook
}
