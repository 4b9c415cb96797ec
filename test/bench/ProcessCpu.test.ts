import { describe, expect, it } from "@effect/vitest"
import { cpuDelta, groupOf, kBField } from "./ProcessCpu.ts"
import { parseStat } from "./Profiling.ts"

describe("ProcessCpu", () => {
  it("groups dev's process tree by command line", () => {
    expect(groupOf(10, 10, "node\0totes-cdc.js\0dev")).toBe("dev")
    expect(groupOf(11, 10, "/usr/bin/node\0/work/packages/local-stack/src/KinesaliteServer.ts\0")).toBe("kinesalite")
    expect(groupOf(12, 10, "/usr/bin/node\0/work/packages/local-stack/src/S3rverServer.ts\0/tmp/s3\0" + "0\0a,b\0")).toBe("s3rver")
    expect(groupOf(12, 10, "postgres: walsender postgres totesys 127.0.0.1(34000) START_REPLICATION")).toBe("walsender")
    expect(groupOf(13, 10, "postgres: postgres totesys 127.0.0.1(52084) idle")).toBe("source backends")
    expect(groupOf(14, 10, "postgres: postgres warehouse 127.0.0.1(48698) COPY")).toBe("warehouse backends")
    expect(groupOf(15, 10, "postgres: checkpointer ")).toBe("postgres other")
    expect(groupOf(16, 10, "/x/native/bin/postgres\0-D\0/tmp/pg")).toBe("postgres other")
    expect(groupOf(17, 10, "node\0Watchdog.ts")).toBe("other")
  })

  it("reads utime + stime and the parent from /proc/<pid>/stat, whatever the command name holds", () => {
    // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime …
    expect(parseStat("4242 (node (a) b) S 4000 4242 4242 0 -1 4194560 100 0 0 0 250 31 0 0 20 0")).toEqual({ ppid: 4000, ticks: 281 })
  })

  it("counts CPU seconds per group from the first snapshot to each process's newest reading; a new process from zero", () => {
    const before = new Map([[1, { group: "dev" as const, ticks: 100 }]])
    const middle = new Map([
      [1, { group: "dev" as const, ticks: 200 }],
      [3, { group: "source backends" as const, ticks: 90 }]
    ])
    const after = new Map([
      [1, { group: "dev" as const, ticks: 350 }],
      [2, { group: "walsender" as const, ticks: 40 }]
    ])
    const delta = cpuDelta(before, middle, after)
    expect(delta.dev).toBe(2.5)
    expect(delta.walsender).toBe(0.4)
    // exited before the last snapshot: counted as last seen
    expect(delta["source backends"]).toBe(0.9)
    expect(delta.kinesalite).toBe(0)
  })

  it("reads a kB field of /proc/<pid>/status or smaps_rollup, and none from a process without it", () => {
    const status = "Name:\tnode\nVmPeak:\t 1200 kB\nVmRSS:\t  523412 kB\nRssAnon:\t 400000 kB\n"
    expect(kBField(status, "VmRSS")).toBe(523_412)
    expect(kBField("Rss:   1620 kB\nPss:    306 kB\nPss_Dirty:  116 kB\n", "Pss")).toBe(306)
    expect(kBField("Name:\tkthreadd\nState:\tS\n", "VmRSS")).toBeNull()
  })
})
