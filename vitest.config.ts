import { defineConfig } from "vitest/config"

// One run over every workspace's tests. Local-stack tests start real PostgreSQL,
// kinesalite and s3rver processes, so files run in a few forks, not many.
export default defineConfig({
  test: {
    include: ["**/test/**/*.test.ts"],
    exclude: ["**/node_modules/**"],
    pool: "forks",
    maxWorkers: 2,
    testTimeout: 120_000,
    hookTimeout: 120_000
  }
})
