/**
 * How a node-postgres / socket error of logical replication becomes a `ReplicationError`:
 * one line, the code, the error itself as `cause`, and `retryable` true only where
 * starting again unchanged can succeed (connection lost or refused, server restarting,
 * slot held by another connection).
 */
import { describe, expect, it } from "vitest"
import { describeReplicationError } from "../src/Replication.ts"

const pgError = (code: string, message: string) => Object.assign(new Error(message), { code })

describe("describeReplicationError", () => {
  it("keeps the driver error as the cause, its code, and its first line in the message", () => {
    const cause = pgError("42704", 'replication slot "totes_cdc" does not exist\nHINT: create it')
    const error = describeReplicationError(cause, "cannot stream from replication slot totes_cdc")
    expect(error.message).toBe('cannot stream from replication slot totes_cdc: replication slot "totes_cdc" does not exist')
    expect(error.code).toBe("42704")
    expect(error.cause).toBe(cause)
  })

  it.each([
    ["ECONNREFUSED", "connect ECONNREFUSED 127.0.0.1:5432"],
    ["ECONNRESET", "read ECONNRESET"],
    ["08006", "connection failure"],
    ["57P01", "terminating connection due to administrator command"],
    ["53300", "number of requested standby connections exceeds max_wal_senders (currently 10)"],
    ["55006", 'replication slot "totes_cdc" is active for PID 4242']
  ])("marks %s (%s) retryable: the connection or the server, not the request", (code, message) => {
    expect(describeReplicationError(pgError(code, message), "replication failed").retryable).toBe(true)
  })

  it("marks a connection ended without a code retryable", () => {
    expect(describeReplicationError(new Error("Connection terminated unexpectedly"), "replication failed").retryable).toBe(true)
  })

  it.each([
    ["28P01", 'password authentication failed for user "reader"'],
    ["3D000", 'database "totesys" does not exist'],
    ["42704", 'replication slot "totes_cdc" does not exist'],
    ["42704", 'publication "totes_cdc" does not exist'],
    ["55000", 'can no longer get changes from replication slot "totes_cdc"'],
    ["42501", "permission denied to start WAL sender"],
    ["42710", 'replication slot "totes_cdc" already exists']
  ])("marks %s (%s) not retryable: starting again unchanged cannot help", (code, message) => {
    expect(describeReplicationError(pgError(code, message), "replication failed").retryable).toBe(false)
  })

  it("marks an unknown error without a code not retryable", () => {
    expect(describeReplicationError("boom", "replication failed")).toMatchObject({ message: "replication failed: boom", retryable: false })
  })
})
