import { describe, expect, it } from "vitest"
import { describePgError } from "../src/Postgres.ts"

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
  })

  it("names the CA setting the pool was given, or the URL's sslrootcert= for a setting that is no *_URL", () => {
    const cause = { code: "UNABLE_TO_VERIFY_LEAF_SIGNATURE", message: "unable to verify the first certificate" }
    expect(describePgError(cause, target, "SOURCE_URL").message).toMatch(/\(SOURCE_CA_FILE\)$/)
    expect(describePgError(cause, target, "SOURCE_URL", "SOURCE_CA_FILE").message).toBe(
      `the server certificate of ${target} (SOURCE_URL) is not trusted: unable to verify the first certificate; give the PEM file of the CA that signed it (SOURCE_CA_FILE)`
    )
    expect(describePgError(cause, target, "the local source").message).toMatch(/\(sslrootcert= in the local source\)$/)
  })

  it("names a certificate for another host and the host to fix, not the CA", () => {
    const cause = { code: "ERR_TLS_CERT_ALTNAME_INVALID", message: "Hostname/IP does not match certificate's altnames: IP: 127.0.0.1 is not in the cert's list: " }
    expect(describePgError(cause, target, "SOURCE_URL", "SOURCE_CA_FILE").message).toBe(
      `the server certificate of ${target} (SOURCE_URL) is for another host name: Hostname/IP does not match certificate's altnames: IP: 127.0.0.1 is not in the cert's list: ; connect by a host name the certificate holds (the host in SOURCE_URL)`
    )
  })

  it("names a server without TLS and what asked for it", () => {
    const cause = new Error("The server does not support SSL connections")
    expect(describePgError(cause, target, "SOURCE_URL", "SOURCE_CA_FILE").message).toBe(
      `${target} (SOURCE_URL) does not accept TLS connections: turn ssl on in the server, or do not ask for TLS (SOURCE_CA_FILE)`
    )
  })

  it("hides a password the driver's text carries", () => {
    const cause = { message: "invalid connection string host=db password=Pw-9f3kXq!s3cret or postgres://app:Pw-9f3kXq!s3cret@db/x" }
    expect(describePgError(cause, target, "SOURCE_URL").message).toBe("invalid connection string host=db password=*** or postgres://app:***@db/x")
  })

  it("keeps one line and the SQLSTATE for other errors", () => {
    const error = describePgError({ code: "23505", message: "duplicate key value\nDETAIL: Key (id)=(1)" }, target, "X")
    expect(error.message).toBe("duplicate key value (SQLSTATE 23505)")
    expect(error.code).toBe("23505")
  })
})
