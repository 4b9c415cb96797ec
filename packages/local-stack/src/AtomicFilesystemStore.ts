/**
 * s3rver's filesystem store with S3's atomic object replacement: a GET or HEAD overlapping
 * a PUT of the same key answers the whole old object or the whole new one, each with its
 * own Content-Length, ETag and metadata, as AWS S3 does. Why s3rver 3.7.1's own store does
 * not: packages/local-stack/SPEC.md §5.
 *
 * Invariants:
 *  - Writers (all through `putObject`) write content and side files under staging names,
 *    wait until written, then rename the three into place in one synchronous block.
 *  - Readers open the object, fstat that descriptor and read both side files in one
 *    synchronous block, then stream from that descriptor.
 *  - A delete unlinks the object file, then both side files, in one synchronous block.
 *  - Holds while one s3rver in one process owns the directory; a DELETE racing a PUT of
 *    the same key is not serialised (it still leaves a consistent pair).
 */
import { createHash, randomUUID } from "node:crypto"
import { closeSync, createReadStream, createWriteStream, fstatSync, openSync, readFileSync, renameSync, unlinkSync } from "node:fs"
import { mkdir, rm } from "node:fs/promises"
import { dirname } from "node:path"
import { Readable, Transform } from "node:stream"
import { pipeline } from "node:stream/promises"
import S3Object from "s3rver/lib/models/object.js"
import FilesystemStore from "s3rver/lib/stores/filesystem.js"

/** The store's resource names (suffixes after `._S3rver_`) of one object's three files. */
const CONTENT = "object"
const MD5 = "object.md5"
const METADATA = "metadata.json"
/** Resource name of staged content: must not be CONTENT, or listings would show the staging key. */
const STAGED_CONTENT = "staged"

const isMissing = (error: unknown) => (error as { code?: unknown } | null)?.code === "ENOENT"

/** Text of file `path`, or `undefined` when there is none. */
const readIfPresent = (path: string): string | undefined => {
  try {
    return readFileSync(path, "utf8")
  } catch (error) {
    if (isMissing(error)) return undefined
    throw error
  }
}

/** Hex MD5 of the whole file open as `fd`, read by position (the descriptor's offset is untouched). */
const md5OfDescriptor = async (fd: number): Promise<string> => {
  const hash = createHash("md5")
  for await (const chunk of createReadStream("", { fd, start: 0, autoClose: false })) hash.update(chunk as Buffer)
  return hash.digest("hex")
}

/** One object's content (an open descriptor, owned by the caller) with the side files of the same write. */
interface Snapshot {
  readonly fd: number
  readonly size: number
  readonly mtime: Date
  readonly stored: Record<string, string> | undefined
  readonly md5: string | undefined
}

/** s3rver's FilesystemStore with atomic replacement (see the header); same directory layout. */
export class AtomicFilesystemStore extends FilesystemStore {
  /** The consistent view of `bucket/key`, taken synchronously; throws ENOENT when there is no such object. */
  private snapshot(bucket: string, key: string): Snapshot {
    const fd = openSync(this.getResourcePath(bucket, key, CONTENT), "r")
    try {
      const stat = fstatSync(fd)
      const stored = readIfPresent(this.getResourcePath(bucket, key, METADATA))
      const md5 = readIfPresent(this.getResourcePath(bucket, key, MD5))
      return { fd, size: stat.size, mtime: stat.mtime, stored: stored === undefined ? undefined : (JSON.parse(stored) as Record<string, string>), md5 }
    } catch (error) {
      closeSync(fd)
      throw error
    }
  }

  /** The metadata s3rver answers for a snapshot (as the base getMetadata, from one write). */
  private async metadataOf(snapshot: Snapshot): Promise<Record<string, string | number>> {
    const md5 = snapshot.md5 ?? (await md5OfDescriptor(snapshot.fd))
    return { ...snapshot.stored, etag: JSON.stringify(md5), "last-modified": snapshot.mtime.toUTCString(), "content-length": snapshot.size }
  }

  override async getMetadata(bucket: string, key: string): Promise<Record<string, string | number>> {
    const snapshot = this.snapshot(bucket, key)
    try {
      return await this.metadataOf(snapshot)
    } finally {
      closeSync(snapshot.fd)
    }
  }

  /** As the base getObject (same range rules), but body, size and metadata come from one snapshot. */
  override async getObject(bucket: string, key: string, options?: { start?: number; end?: number }): Promise<S3Object | null> {
    let snapshot: Snapshot
    try {
      snapshot = this.snapshot(bucket, key)
    } catch (error) {
      if (isMissing(error)) return null
      throw error
    }
    let streaming = false
    try {
      const object = new S3Object(bucket, key, null, await this.metadataOf(snapshot))
      const lastByte = Math.max(0, snapshot.size - 1)
      // `||` as in s3rver: a missing or NaN start is 0, a missing or 0 end is the last byte.
      const range = { start: options?.start || 0, end: Math.min(options?.end || Infinity, lastByte) }
      if (options !== undefined && (options.start !== undefined || Boolean(options.end))) object.range = range
      if (range.start >= 0 && range.end >= range.start) {
        object.content = createReadStream("", { fd: snapshot.fd, start: range.start, end: range.end })
        streaming = true
      }
      return object
    } finally {
      // The stream closes the descriptor when it ends or is destroyed (HEAD).
      if (!streaming) closeSync(snapshot.fd)
    }
  }

  override async putObject(object: S3Object): Promise<{ size: number; md5: string }> {
    const { bucket, key } = object
    const stagingKey = `${key}.${randomUUID()}.staging`
    const stagedContent = this.getResourcePath(bucket, stagingKey, STAGED_CONTENT)
    const renames: ReadonlyArray<readonly [from: string, to: string]> = [
      [stagedContent, this.getResourcePath(bucket, key, CONTENT)],
      [this.getResourcePath(bucket, stagingKey, MD5), this.getResourcePath(bucket, key, MD5)],
      [this.getResourcePath(bucket, stagingKey, METADATA), this.getResourcePath(bucket, key, METADATA)]
    ]
    await mkdir(dirname(stagedContent), { recursive: true })
    try {
      const hash = createHash("md5")
      let size = 0
      const content = object.content ?? Buffer.alloc(0)
      await pipeline(
        Buffer.isBuffer(content) ? Readable.from([content]) : content,
        new Transform({
          transform(chunk: Buffer, _encoding, done) {
            hash.update(chunk)
            size += chunk.length
            done(null, chunk)
          }
        }),
        createWriteStream(stagedContent)
      )
      const md5 = hash.digest("hex")
      await this.putMetadata(bucket, stagingKey, object.metadata, md5)
      // The commit: one synchronous block, so no snapshot sees some files old, some new.
      for (const [from, to] of renames) renameSync(from, to)
      return { size, md5 }
    } finally {
      // Nothing left after a commit; after a failure (e.g. the client went away), the staged files.
      await Promise.all(renames.map(([from]) => rm(from, { force: true })))
    }
  }

  /** A snapshot of the source put at the destination: the copy is atomic as any PUT. */
  override async copyObject(
    srcBucket: string,
    srcKey: string,
    destBucket: string,
    destKey: string,
    replacementMetadata?: Record<string, string | number> | null
  ): Promise<Record<string, string | number>> {
    const source = await this.getObject(srcBucket, srcKey)
    if (source === null) throw Object.assign(new Error(`ENOENT: no object ${srcKey} in bucket ${srcBucket}`), { code: "ENOENT" })
    await this.putObject(new S3Object(destBucket, destKey, source.content, replacementMetadata ?? source.metadata))
    return this.getMetadata(destBucket, destKey)
  }

  override async deleteObject(bucket: string, key: string): Promise<void> {
    for (const resource of [CONTENT, MD5, METADATA]) {
      try {
        unlinkSync(this.getResourcePath(bucket, key, resource))
      } catch (error) {
        if (!isMissing(error)) throw error
      }
    }
    // Finds the files gone; removes the key's directories left empty.
    await super.deleteObject(bucket, key)
  }
}
