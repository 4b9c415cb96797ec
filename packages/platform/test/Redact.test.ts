/**
 * Redaction of passwords (Redact.ts) in every form a connection setting or an error text
 * carries one. Each case holds the same distinctive password, raw or percent-encoded, and
 * checks it is gone while the rest of the text still says what was meant.
 */
import { describe, expect, it } from "vitest"
import { redactSecrets, redactUrl } from "../src/Redact.ts"

const PASSWORD = "Pw-9f3kXq!s3cret"
const ENCODED = encodeURIComponent(PASSWORD)

/** No trace of the password: raw, percent-encoded, or its distinctive middle. */
const expectNoPassword = (text: string) => {
  expect(text).not.toContain(PASSWORD)
  expect(text).not.toContain(ENCODED)
  expect(text).not.toContain("9f3kXq")
}

describe("redactUrl", () => {
  it("hides the password and keeps the rest", () => {
    expect(redactUrl("postgres://app:s3cret@db:5432/totesys")).toBe("postgres://app:***@db:5432/totesys")
  })

  it("leaves a URL without password alone, query and all", () => {
    expect(redactUrl("postgres://db/totesys")).toBe("postgres://db/totesys")
    expect(redactUrl("postgres://app@db/totesys?sslmode=verify-full&sslrootcert=/etc/ssl/ca.pem")).toBe(
      "postgres://app@db/totesys?sslmode=verify-full&sslrootcert=/etc/ssl/ca.pem"
    )
  })

  it("hides a raw or a percent-encoded password", () => {
    expect(redactUrl(`postgres://app:${PASSWORD}@db:5432/totesys`)).toBe("postgres://app:***@db:5432/totesys")
    expect(redactUrl(`postgresql://app:${ENCODED}@db:5432/totesys?sslmode=verify-full`)).toBe("postgresql://app:***@db:5432/totesys?sslmode=verify-full")
  })

  it("hides a password given as a query parameter, keeping the other parameters as written", () => {
    const redacted = redactUrl(`postgres://app@db/totesys?sslmode=verify-full&password=${ENCODED}&sslrootcert=/ca.pem`)
    expect(redacted).toBe("postgres://app@db/totesys?sslmode=verify-full&password=***&sslrootcert=/ca.pem")
    expect(redactUrl(`postgres://app@db/totesys?sslpassword=${PASSWORD}`)).toBe("postgres://app@db/totesys?sslpassword=***")
  })

  it("hides the password of a URL that does not parse (a bad port, a bracket, a space, an @ or # in the password)", () => {
    for (const url of [
      `postgres://app:${PASSWORD}@db:notaport/totesys`,
      `postgres://app:${PASSWORD}@[db/totesys`,
      `postgres://app:${PASSWORD} x@db:notaport/totesys`,
      `postgres://app:${PASSWORD}@x@db:notaport/totesys`,
      `postgres://app:${PASSWORD}#x@db/totesys`,
      `postgres://app:${PASSWORD}/x@db/totesys`
    ]) {
      const redacted = redactUrl(url)
      expectNoPassword(redacted)
      expect(redacted).toMatch(/^postgres:\/\/app:\*\*\*@/)
    }
  })

  it("hides the password of a keyword/value conninfo, quoted or not", () => {
    expect(redactUrl(`host=db port=5432 user=app password=${PASSWORD} dbname=totesys`)).toBe("host=db port=5432 user=app password=*** dbname=totesys")
    expect(redactUrl(`host=db password='${PASSWORD} with space' dbname=totesys`)).toBe("host=db password=*** dbname=totesys")
    expect(redactUrl(`host=db PASSWORD = ${PASSWORD}`)).toBe("host=db PASSWORD = ***")
  })
})

describe("redactSecrets", () => {
  it("hides URLs' passwords inside a driver's or an SDK's error message", () => {
    const text = `connect failed for postgres://app:${PASSWORD}@db:5432/totesys (retrying); also postgres://loader:${ENCODED}@wh/warehouse: boom`
    expect(redactSecrets(text)).toBe("connect failed for postgres://app:***@db:5432/totesys (retrying); also postgres://loader:***@wh/warehouse: boom")
  })

  it("hides conninfo, query-string and JSON passwords inside text", () => {
    expectNoPassword(redactSecrets(`invalid connection option: host=db password=${PASSWORD}`))
    expectNoPassword(redactSecrets(`GET /?user=app&password=${ENCODED}&x=1 failed`))
    expect(redactSecrets(`secret {"username":"app","password":"${PASSWORD}","host":"db"}`)).toBe('secret {"username":"app","password":"***","host":"db"}')
  })

  it("leaves text without passwords as it is, and is idempotent", () => {
    const plain = "authentication failed for postgres://app:***@db:5432/totesys (SOURCE_URL): fix the user name or password in SOURCE_URL"
    expect(redactSecrets(plain)).toBe(plain)
    expect(redactSecrets("nothing is listening at postgres://db:5432/totesys")).toBe("nothing is listening at postgres://db:5432/totesys")
    const once = redactSecrets(`postgres://app:${PASSWORD}@db/x password=${PASSWORD}`)
    expect(redactSecrets(once)).toBe(once)
  })
})
