import { describe, expect, it } from "vitest"
import { describePgError, redactUrl } from "../src/Postgres.ts"

const target = "postgres://app:***@db.example:5432/totesys"

describe("describePgError", () => {
  it("names a wrong password and the setting to fix", () => {
    const error = describePgError({ code: "28P01", message: 'password authentication failed for user "app"' }, target, "SOURCE_URL")
    expect(error.message).toBe(
      `authentication failed for ${target} (SOURCE_URL): password authentication failed for user "app"; fix the user name or password in SOURCE_URL`
    )
    expect(error.retryable).toBe(false)
  })

  it("marks a refused connection retryable and says what to start or fix", () => {
    const cause = { code: "ECONNREFUSED", message: "connect ECONNREFUSED 127.0.0.1:5432" }
    const error = describePgError(cause, target, "SOURCE_URL")
    expect(error.retryable).toBe(true)
    expect(error.cause).toBe(cause)
    expect(error.message).toBe(`nothing is listening at ${target} (SOURCE_URL); start PostgreSQL or fix the host and port in SOURCE_URL`)
  })

  it("names a missing database", () => {
    expect(describePgError({ code: "3D000", message: 'database "x" does not exist' }, target, "WAREHOUSE_URL").message).toContain(
      "database does not exist"
    )
  })

  it("names an untrusted server certificate and where to give its CA", () => {
    const cause = { code: "SELF_SIGNED_CERT_IN_CHAIN", message: "self-signed certificate in certificate chain" }
    expect(describePgError(cause, target, "WAREHOUSE_URL").message).toBe(
      `the server certificate of ${target} (WAREHOUSE_URL) is not trusted: self-signed certificate in certificate chain; give the PEM file of the CA that signed it (WAREHOUSE_CA_FILE)`
    )
    expect(describePgError({ ...cause, code: "ERR_TLS_CERT_ALTNAME_INVALID" }, target, "SOURCE_URL").message).toMatch(/\(sslrootcert= in SOURCE_URL\)$/)
  })

  it("keeps one line and the SQLSTATE for other errors", () => {
    const error = describePgError({ code: "23505", message: "duplicate key value\nDETAIL: Key (id)=(1)" }, target, "X")
    expect(error.message).toBe("duplicate key value (SQLSTATE 23505)")
    expect(error.code).toBe("23505")
  })
})

describe("redactUrl", () => {
  it("hides the password and keeps the rest", () => {
    expect(redactUrl("postgres://app:s3cret@db:5432/totesys")).toBe("postgres://app:***@db:5432/totesys")
  })
  it("leaves a URL without password alone", () => {
    expect(redactUrl("postgres://db/totesys")).toBe("postgres://db/totesys")
  })
})
