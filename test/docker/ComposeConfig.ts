/**
 * docker/compose.yaml as a maintained validator reads it: Debian's `docker-compose` (1.29,
 * the Python Compose, which validates against the compose-spec JSON schema and knows
 * `profiles` and `service_completed_successfully`) checks and normalizes it with `config`;
 * its output (YAML) is parsed by the same Python's PyYAML, a dependency of that package, so
 * no YAML parser of our own is trusted.
 *
 * Invariants: synchronous, no Docker daemon needed (`config` never contacts one); a missing
 * validator is an Error naming the fix (CI's .ci/run installs it), never a skipped check.
 */
import { spawnSync } from "node:child_process"
import { existsSync, readFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

/** The repository root and the compose file under test. */
export const REPOSITORY_ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..")
export const COMPOSE_FILE = join(REPOSITORY_ROOT, "docker", "compose.yaml")

/** What the tests read of a normalized service. */
export interface ComposeService {
  readonly image?: string
  readonly build?: { readonly context: string; readonly dockerfile: string }
  readonly command?: ReadonlyArray<string>
  readonly profiles?: ReadonlyArray<string>
  readonly environment?: Readonly<Record<string, string>>
  readonly depends_on?: Readonly<Record<string, { readonly condition: string }>>
  readonly healthcheck?: { readonly test: ReadonlyArray<string>; readonly interval?: string; readonly start_period?: string }
  readonly restart?: string
  readonly volumes?: ReadonlyArray<string>
  readonly tmpfs?: ReadonlyArray<string>
  readonly init?: boolean
}

export interface ComposeModel {
  readonly services: Readonly<Record<string, ComposeService>>
}

const FIX = "install Debian's docker-compose (apt-get install -y docker-compose; .ci/run does)"

/** Whether `path` is the Python docker-compose (its first line runs a Python), not Compose v2's Go binary of the same name. */
const isPythonCompose = (path: string): boolean => {
  if (!existsSync(path)) return false
  const head = readFileSync(path).subarray(0, 200).toString("latin1")
  return head.startsWith("#!") && /python/.test(head.split("\n")[0] ?? "")
}

/**
 * Debian's (Python) `docker-compose`: /usr/bin/docker-compose (where apt puts it, also when
 * a Compose v2 binary of the same name comes first on the PATH, as on GitHub's runners),
 * else the one on the PATH; an Error saying how to get it otherwise.
 */
export const dockerComposeBin = (): string => {
  const onPath = spawnSync("sh", ["-c", "command -v docker-compose"], { encoding: "utf8" }).stdout.trim()
  const found = ["/usr/bin/docker-compose", onPath].find((path) => path !== "" && isPythonCompose(path))
  if (found === undefined) throw new Error(`Debian's docker-compose (1.29, Python) is not installed${onPath === "" ? "" : ` (${onPath} is another Compose)`}: ${FIX}`)
  return found
}

/** The Python that runs docker-compose (its `#!` line): it has PyYAML, a dependency of the package. */
const composePython = (bin: string): string => {
  const shebang = readFileSync(bin, "utf8").split("\n")[0] ?? ""
  const python = shebang.startsWith("#!") ? shebang.slice(2).trim().split(/\s+/)[0] : undefined
  if (python === undefined || !existsSync(python)) throw new Error(`${bin} is not the Python docker-compose (no interpreter on its #! line): ${FIX}`)
  return python
}

/**
 * Runs `docker-compose -f <file> config` (environment: `env`, nothing else of this process's
 * but PATH) and answers its exit code, stdout and stderr.
 */
export const composeConfigRaw = (file: string = COMPOSE_FILE, env: Readonly<Record<string, string>> = {}) => {
  const result = spawnSync(dockerComposeBin(), ["-f", file, "config"], { encoding: "utf8", env: { PATH: process.env["PATH"] ?? "", ...env } })
  return { code: result.status, stdout: result.stdout, stderr: result.stderr }
}

/** docker/compose.yaml (or `file`) validated and normalized by `docker-compose config`, as data. Throws with the validator's words when it is invalid. */
export const composeModel = (file: string = COMPOSE_FILE, env: Readonly<Record<string, string>> = {}): ComposeModel => {
  const config = composeConfigRaw(file, env)
  if (config.code !== 0) throw new Error(`docker-compose config refused ${file}: ${config.stderr.trim()}`)
  const parsed = spawnSync(composePython(dockerComposeBin()), ["-c", "import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)"], {
    input: config.stdout,
    encoding: "utf8"
  })
  if (parsed.status !== 0) throw new Error(`PyYAML could not read docker-compose's output: ${parsed.stderr.trim()}`)
  return JSON.parse(parsed.stdout) as ComposeModel
}

/**
 * Pure: the services `docker compose up` starts with `profiles` active, as the Compose
 * specification says: a service without `profiles` always; one with, when a profile of its
 * is active. (Services named on the command line would be added; the commands documented name none.)
 */
export const enabledServices = (model: ComposeModel, profiles: ReadonlyArray<string>): ReadonlyArray<string> =>
  Object.entries(model.services)
    .filter(([, service]) => service.profiles === undefined || service.profiles.some((p) => profiles.includes(p)))
    .map(([name]) => name)
    .sort()
