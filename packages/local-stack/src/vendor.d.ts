// Minimal typings for the two emulators, which ship none. Only what local-stack calls
// (and, for s3rver's filesystem store, what AtomicFilesystemStore.ts overrides).
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

declare module "s3rver/lib/models/object.js" {
  import type { Readable } from "node:stream"
  class S3Object {
    constructor(bucket: string, key: string, content: Readable | Buffer | null, metadata: Record<string, string | number>)
    bucket: string
    key: string
    content: Readable | Buffer | null
    /** Lower-case header names to values; includes etag, last-modified, content-length when read. */
    metadata: Record<string, string | number>
    /** Bytes answered, inclusive; set on a range request. */
    range?: { start: number; end: number }
    readonly size: number
  }
  export default S3Object
}

declare module "s3rver/lib/stores/filesystem.js" {
  import type S3Object from "s3rver/lib/models/object.js"
  type Metadata = Record<string, string | number>
  class FilesystemStore {
    constructor(rootDirectory: string)
    /** `<root>/<bucket>/<key's directories>/<key's last part>._S3rver_<resource>` */
    getResourcePath(bucket: string, key?: string, resource?: string): string
    getMetadata(bucket: string, key: string): Promise<Metadata>
    putMetadata(bucket: string, key: string, metadata: Metadata, md5?: string): Promise<void>
    getObject(bucket: string, key: string, options?: { start?: number; end?: number }): Promise<S3Object | null>
    putObject(object: S3Object): Promise<{ size: number; md5: string }>
    copyObject(srcBucket: string, srcKey: string, destBucket: string, destKey: string, replacementMetadata?: Metadata | null): Promise<Metadata>
    deleteObject(bucket: string, key: string): Promise<void>
  }
  export default FilesystemStore
}

declare module "s3rver" {
  import type { AddressInfo } from "node:net"
  import type FilesystemStore from "s3rver/lib/stores/filesystem.js"
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
    /** The store request handlers use: `ctx.app.store` and `ctx.store` (from `context`). */
    store: FilesystemStore
    readonly context: { store: FilesystemStore }
    /** Its winston logger (silent when `silent`), closed when the HTTP server closes. */
    readonly logger: { close: () => unknown }
    run(): Promise<AddressInfo>
    close(): Promise<void>
  }
  export default S3rver
}
