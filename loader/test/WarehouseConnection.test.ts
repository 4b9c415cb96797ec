/**
 * The warehouse password from a Secrets Manager secret, read through `SecretsManager`
 * (`SecretsManager.layerTest` here). Oracle: the password the pool actually sends, caught
 * by a stand-in PostgreSQL server that asks for it in clear text (AuthenticationCleartext-
 * Password) and then refuses the login — no database needed.
 */
import { describe, expect, it } from "@effect/vitest"
import { SecretsManager } from "@totes-cdc/platform"
import { Effect } from "effect"
import { createServer, type Socket } from "node:net"
import { connectWarehouse, passwordOfSecret, urlWithPassword, type WarehouseSettings, WarehouseConnectionError } from "../src/WarehouseConnection.ts"

const ARN = "arn:aws:secretsmanager:eu-west-2:123456789012:secret:warehouse-AbCdEf"

/** PostgreSQL's AuthenticationCleartextPassword: 'R', length 8, code 3. */
const ASK_PASSWORD = Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 3])

/** An ErrorResponse refusing the login (28P01), so the client gives up at once. */
const refuseLogin = () => {
  const fields = Buffer.from("SFATAL\0C28P01\0Mpassword authentication failed\0\0")
  const header = Buffer.alloc(5)
  header.write("E", 0)
  header.writeInt32BE(fields.length + 4, 1)
  return Buffer.concat([header, fields])
}

/**
 * A stand-in PostgreSQL server on 127.0.0.1 (closed with the scope): answers every startup
 * message with a clear-text password request, records the password, refuses the login.
 */
const passwordCatcher = Effect.acquireRelease(
  Effect.promise(
    () =>
      new Promise<{ port: number; passwords: Array<string>; connections: () => number; close: () => Promise<void> }>((resolve) => {
        const passwords: Array<string> = []
        const sockets = new Set<Socket>()
        let connections = 0
        const server = createServer((socket) => {
          connections += 1
          sockets.add(socket)
          socket.on("close", () => sockets.delete(socket))
          socket.on("error", () => undefined)
          let buffered = Buffer.alloc(0)
          let started = false
          socket.on("data", (chunk: Buffer) => {
            buffered = Buffer.concat([buffered, chunk])
            if (!started && buffered.length >= 4 && buffered.length >= buffered.readInt32BE(0)) {
              buffered = buffered.subarray(buffered.readInt32BE(0))
              started = true
              socket.write(ASK_PASSWORD)
            }
            // PasswordMessage: 'p', length, the password, NUL.
            if (started && buffered.length >= 5 && buffered[0] === 0x70 && buffered.length >= 1 + buffered.readInt32BE(1)) {
              passwords.push(buffered.subarray(5, buffered.readInt32BE(1)).toString("utf8"))
              socket.end(refuseLogin())
            }
          })
        })
        server.listen(0, "127.0.0.1", () => {
          const address = server.address()
          resolve({
            port: typeof address === "object" && address !== null ? address.port : 0,
            passwords,
            connections: () => connections,
            close: () =>
              new Promise<void>((done) => {
                for (const socket of sockets) socket.destroy()
                server.close(() => done())
              })
          })
        })
      })
  ),
  (catcher) => Effect.promise(() => catcher.close())
)

const settings = (port: number, passwordSecretArn: string | undefined, user = "loader"): WarehouseSettings => ({
  url: `postgres://${user}@127.0.0.1:${port}/warehouse`,
  schema: "public",
  caFile: undefined,
  passwordSecretArn,
  region: "eu-west-2"
})

/** The password the pool of `warehouse` sends when it opens (its first connection, which the stand-in refuses). */
const sentPassword = (warehouse: (port: number) => WarehouseSettings, secrets: Record<string, string>) =>
  Effect.gen(function* () {
    const catcher = yield* passwordCatcher
    const refused = yield* Effect.flip(connectWarehouse(warehouse(catcher.port), { max: 1 }))
    expect(refused.message).toContain("password authentication failed")
    expect(catcher.passwords).toHaveLength(1)
    return catcher.passwords[0]
  }).pipe(Effect.provide(SecretsManager.layerTest(secrets)))

describe("connectWarehouse with WAREHOUSE_PASSWORD_SECRET_ARN", () => {
  it.live("logs in with a secret that is the password itself", () =>
    Effect.gen(function* () {
      expect(yield* sentPassword((port) => settings(port, ARN), { [ARN]: "plain s3cret" })).toBe("plain s3cret")
    })
  )

  it.live('logs in with the "password" field of a JSON secret (the RDS-managed format)', () =>
    Effect.gen(function* () {
      const secret = JSON.stringify({ username: "loader", password: "from-json", engine: "postgres", host: "db", port: 5432 })
      expect(yield* sentPassword((port) => settings(port, ARN), { [ARN]: secret })).toBe("from-json")
    })
  )

  it.live("sends a password with characters a URL must escape as it is", () =>
    Effect.gen(function* () {
      const password = "p@ss:w/rd%20#? é+&="
      expect(yield* sentPassword((port) => settings(port, ARN), { [ARN]: password })).toBe(password)
    })
  )

  it.live("prefers a password in the URL to the secret", () =>
    Effect.gen(function* () {
      expect(yield* sentPassword((port) => settings(port, ARN, "loader:from-url"), { [ARN]: "from-secret" })).toBe("from-url")
    })
  )

  it.live("fails with one line naming the setting and the fix when the secret cannot be read, before connecting", () =>
    Effect.gen(function* () {
      const catcher = yield* passwordCatcher
      const error = yield* Effect.flip(connectWarehouse(settings(catcher.port, ARN))).pipe(Effect.provide(SecretsManager.layerTest({})))
      expect(error).toBeInstanceOf(WarehouseConnectionError)
      expect(error.message).toBe(
        `WAREHOUSE_PASSWORD_SECRET_ARN ${ARN}: cannot read the secret (Secrets Manager can't find the specified secret.); check the ARN, the region (AWS_REGION) and secretsmanager:GetSecretValue permission`
      )
      expect(error.message).not.toContain("\n")
      expect(error.cause).toMatchObject({ _tag: "SecretsManagerError", retryable: false })
      expect(catcher.connections()).toBe(0)
    })
  )

  it.live("fails with one line when the secret holds no password", () =>
    Effect.gen(function* () {
      const catcher = yield* passwordCatcher
      const error = yield* Effect.flip(connectWarehouse(settings(catcher.port, ARN))).pipe(Effect.provide(SecretsManager.layerTest({ [ARN]: '{"username":"loader"}' })))
      expect(error.message).toBe(`WAREHOUSE_PASSWORD_SECRET_ARN ${ARN}: the secret holds no password; store the password itself or JSON with a "password" field`)
    })
  )
})

describe("urlWithPassword", () => {
  it("puts the password, percent-encoded, into a URL without one, keeping the rest; leaves a URL with a password or no URL alone", () => {
    expect(urlWithPassword("postgres://loader@db:5432/warehouse?sslmode=verify-full", "a b@c")).toBe("postgres://loader:a%20b%40c@db:5432/warehouse?sslmode=verify-full")
    expect(urlWithPassword("postgres://loader:mine@db/warehouse", "other")).toBe("postgres://loader:mine@db/warehouse")
    expect(urlWithPassword("not a url", "p")).toBe("not a url")
  })
})

describe("passwordOfSecret", () => {
  it("reads a plain secret or the password field of JSON; nothing from empty, unparsable or password-less JSON", () => {
    expect(passwordOfSecret("hunter2")).toBe("hunter2")
    expect(passwordOfSecret(' {"password": "p w"} ')).toBe("p w")
    expect(passwordOfSecret("   ")).toBeUndefined()
    expect(passwordOfSecret("{not json")).toBeUndefined()
    expect(passwordOfSecret('{"password": 5}')).toBeUndefined()
  })
})
