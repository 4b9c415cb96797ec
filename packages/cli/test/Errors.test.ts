import { describe, expect, it } from "vitest"
import { CliError } from "effect/cli"
import { UsageError, describeFailure } from "../src/Errors.ts"

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

  it("leaves parse errors to effect/cli, which has printed them, with exit code 2", () => {
    expect(describeFailure(new CliError.UnrecognizedOption({ option: "--bogus", suggestions: [] }))).toEqual({
      code: 2,
      line: undefined
    })
  })
})
