/**
 * The CA settings' one reading (PostgresTls.ts): a CA file is read once, and one that is
 * missing or holds no certificate fails before any connection, in one line naming the
 * setting, the file and the fix.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { loadPgTls, pgSslOptions, PgTlsError, readCaFile } from "../src/PostgresTls.ts"

const PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"

const withFile = (content: string) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const dir = mkdtempSync(join(tmpdir(), "totes-cdc-tls-unit-"))
      const file = join(dir, "ca.pem")
      writeFileSync(file, content)
      return { dir, file }
    }),
    ({ dir }) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  )

describe("readCaFile", () => {
  it.effect("answers the PEM and the setting it came from", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { file } = yield* withFile(PEM)
        expect(yield* readCaFile(file, "SOURCE_CA_FILE", "the source's")).toEqual({ ca: PEM, setting: "SOURCE_CA_FILE" })
      })
    )
  )

  it.effect("fails in one line naming the setting, the file and the fix when the file cannot be read", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(readCaFile("/no/such/ca.pem", "SOURCE_CA_FILE", "the source's"))
      expect(error).toBeInstanceOf(PgTlsError)
      expect(error.message).toBe(
        "SOURCE_CA_FILE /no/such/ca.pem: cannot be read (ENOENT: no such file or directory, open '/no/such/ca.pem'); give the PEM file of the CA that signed the source's certificate"
      )
    })
  )

  it.effect("fails when the file holds no PEM certificate", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { file } = yield* withFile("not a certificate\n")
        const error = yield* Effect.flip(readCaFile(file, "WAREHOUSE_CA_FILE", "the warehouse's"))
        expect(error.message).toBe(
          `WAREHOUSE_CA_FILE ${file}: holds no PEM certificate ("-----BEGIN CERTIFICATE-----"); give the PEM file of the CA that signed the warehouse's certificate`
        )
      })
    )
  )
})

describe("loadPgTls and pgSslOptions", () => {
  it.effect("no file, or an empty setting: no TLS options (the URL decides)", () =>
    Effect.gen(function* () {
      expect(yield* loadPgTls(undefined, "SOURCE_CA_FILE", "the source's")).toBeUndefined()
      expect(yield* loadPgTls("", "SOURCE_CA_FILE", "the source's")).toBeUndefined()
      expect(pgSslOptions(undefined)).toEqual({})
    })
  )

  it("a CA: the chain to it and the host name are both checked", () => {
    expect(pgSslOptions({ ca: PEM, setting: "SOURCE_CA_FILE" })).toEqual({ ssl: { ca: PEM, rejectUnauthorized: true } })
  })
})
