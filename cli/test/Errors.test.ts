import { describe, expect, it } from "vitest"
import { CliError } from "effect/cli"
import { UsageError, describeConfigError, describeFailure } from "../src/Errors.ts"

describe("describeFailure", () => {
  it("gives exit code 2 and the message for bad input", () => {
    expect(describeFailure(new UsageError({ message: "--seed: no such file" }))).toEqual({
      code: 2,
      line: "totes-cdc: --seed: no such file"
    })
  })

  it("gives exit code 1 for failures at run time", () => {
    expect(describeFailure(new Error("connection lost"))).toEqual({ code: 1, line: "totes-cdc: connection lost" })
  })

  it("never prints a password an error's text carries", () => {
    const error = new Error("cannot open postgres://app:Pw-9f3kXq!s3cret@db:5432/totesys or host=db password=Pw-9f3kXq!s3cret")
    expect(describeFailure(error).line).toBe("totes-cdc: cannot open postgres://app:***@db:5432/totesys or host=db password=***")
  })

  it("leaves parse errors to effect/cli, which has printed them, with exit code 2", () => {
    expect(describeFailure(new CliError.UnrecognizedOption({ option: "--bogus", suggestions: [] }))).toEqual({
      code: 2,
      line: undefined
    })
  })
})

describe("describeConfigError", () => {
  it("names the missing environment variable and the fix", () => {
    expect(describeConfigError('SchemaError(Expected string\n  at ["SOURCE_URL"])')).toBe(
      "environment variable SOURCE_URL is missing or invalid (Expected string); set it as the README's configuration table says"
    )
  })
})
