/**
 * What every scenario is given: the options, the servers selected, and the
 * means to start them (pinned, profiled) and to start load generators. A
 * scenario module (bench/scenarios/) is a {@link Scenario}: a name and a
 * `run(bench)` that returns a {@link ScenarioResult}.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Child } from "./child.js";
import { LoadGenerator } from "./loadgen.js";
import type { Options } from "./options.js";
import { hardFileLimit } from "./proc.js";
import { topFrames } from "./profile.js";
import { progress, type ScenarioResult } from "./report.js";

export interface Scenario {
  name: string;
  run(bench: Bench): Promise<ScenarioResult>;
}

export interface ServerDef {
  name: string;
  library: "wsx" | "wsx/ws" | "ws" | "bun" | "net";
  /** A reference point rather than a contender: it runs only in the scenarios that ask for it. */
  reference?: boolean;
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  node: boolean;
}

/** One server under test: a script of bench/servers/ (it prints its port, then speaks lib/control.ts). */
interface ServerEntry {
  name: string;
  library: ServerDef["library"];
  script: string;
  args?: string[];
  /** Environment changes (undefined: remove the variable). */
  env?: Record<string, string | undefined>;
  reference?: boolean;
  /** Run by Bun instead of Node (skipped when Bun is not installed). */
  bun?: boolean;
}

/**
 * The servers, in the order of the tables' rows: adding one is its script
 * in bench/servers/ and a line here (and a pair in report.ts's SERVER_PAIRS
 * for a ratio line).
 */
const SERVERS: ServerEntry[] = [
  { name: "wsx", library: "wsx", script: "wsx.js", args: ["listener"] },
  { name: "wsx-iter", library: "wsx", script: "wsx.js", args: ["iter"] },
  // ws's own server program on wsx/ws: what code written for ws gets by changing its import.
  { name: "wsx-ws", library: "wsx/ws", script: "ws.js", args: ["--wsx"] },
  { name: "ws", library: "ws", script: "ws.js", env: { WS_NO_BUFFER_UTIL: "1" } },
  { name: "ws-bufferutil", library: "ws", script: "ws.js", env: { WS_NO_BUFFER_UTIL: undefined } },
  // What node:net itself costs (see servers/floor.ts): idle, handshake and broadcast ask for it.
  { name: "floor", library: "net", script: "floor.js", reference: true },
  { name: "bun", library: "bun", script: "bun.js", bun: true },
];

/** Every server name `--servers` accepts. */
export const SERVER_NAMES: readonly string[] = SERVERS.map((s) => s.name);

/**
 * The client libraries of the `client` scenario (bench/clients/NAME.ts):
 * wsx's API, wsx/web (the WHATWG WebSocket on wsx), ws, Node's WebSocket (undici).
 */
export const CLIENT_NAMES = ["wsx", "wsx-web", "ws", "undici"] as const;

export interface Running {
  child: Child;
  port: number;
  profileDir: string | null;
}

export function envWith(changes: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const [key, value] of Object.entries(changes)) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  return env;
}

/** Bun's version, or null when node_modules/.bin/bun is missing or does not run. */
export function bunVersion(bun: string): string | null {
  if (!existsSync(bun)) return null;
  try {
    return execFileSync(bun, ["--version"], { encoding: "utf8", timeout: 10_000 }).trim();
  } catch {
    return null;
  }
}

export class Bench {
  /** CPUs to pin to (server, driver), or null when pinning is off or impossible. */
  readonly pins: { server: number; driver: number } | null;
  /** Profile directories of the current scenario, by process name (--cpu-prof). */
  private readonly profileDirs = new Map<string, string[]>();
  /** Every server there is, and those selected with --servers. */
  private readonly all: ServerDef[];
  private readonly defs: ServerDef[];

  constructor(
    readonly options: Options,
    /** The compiled bench directory the processes run from (a private copy of dist/bench). */
    readonly here: string,
    /** The load generator's program. */
    private readonly loadBinary: string,
    /** Bun's executable and version (null: not available). */
    readonly bun: { path: string; version: string } | null,
  ) {
    this.pins = Bench.pinning(options);
    this.all = this.allServers();
    const wanted = options.servers;
    this.defs = wanted === null ? this.all : this.all.filter((d) => wanted.includes(d.name));
  }

  private static pinning(options: Options): { server: number; driver: number } | null {
    if (!options.pin) return null;
    try {
      execFileSync("taskset", ["-c", "0", "true"]);
      const cores = Number(execFileSync("nproc", { encoding: "utf8" }).trim());
      if (cores >= 2) return { server: 1, driver: 0 };
    } catch {
      progress("taskset not available: processes are not pinned to CPUs");
    }
    return null;
  }

  private allServers(): ServerDef[] {
    const defs: ServerDef[] = [];
    for (const entry of SERVERS) {
      if (entry.bun === true && this.bun === null) continue;
      defs.push({
        name: entry.name,
        library: entry.library,
        ...(entry.reference === true ? { reference: true } : {}),
        command: entry.bun === true ? this.bun!.path : process.execPath,
        args: [join(this.here, "servers", entry.script), ...(entry.args ?? [])],
        env: entry.env === undefined ? process.env : envWith(entry.env),
        node: entry.bun !== true,
      });
    }
    return defs;
  }

  /** The servers selected (--servers) that compete, plus the named reference servers. */
  servers(references: string[] = []): ServerDef[] {
    return this.defs.filter((d) => d.reference !== true || references.includes(d.name));
  }

  /** A selected server by name (reference or not), if selected. */
  server(name: string): ServerDef | undefined {
    return this.defs.find((d) => d.name === name);
  }

  /** A server by name whether --servers selected it or not (the client scenario's clients need fixed servers). */
  anyServer(name: string): ServerDef | undefined {
    return this.all.find((d) => d.name === name);
  }

  pinServer(): { cpu?: number } {
    return this.pins === null ? {} : { cpu: this.pins.server };
  }

  pinDriver(): { cpu?: number } {
    return this.pins === null ? {} : { cpu: this.pins.driver };
  }

  /** Node flags for a process to profile under `name` (--cpu-prof), or none. */
  profileFlags(name: string): { flags: string[]; dir: string | null } {
    if (!this.options.cpuProf) return { flags: [], dir: null };
    const dir = mkdtempSync(join(tmpdir(), `wsx-bench-prof-${name.replace(/[^\w-]/g, "_")}-`));
    this.profileDirs.set(name, [...(this.profileDirs.get(name) ?? []), dir]);
    return { flags: ["--cpu-prof", `--cpu-prof-dir=${dir}`], dir };
  }

  /** Top frames per process from the profiles collected so far; the files are removed. */
  collectProfiles(): Record<string, Array<{ name: string; selfMs: number; percent: number }>> {
    const out: Record<string, Array<{ name: string; selfMs: number; percent: number }>> = {};
    for (const [name, dirs] of this.profileDirs) {
      out[name] = topFrames(dirs);
      for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    }
    this.profileDirs.clear();
    return out;
  }

  /** Start a server (pinned, profiled when asked) and read the port it prints. */
  async startServer(def: ServerDef, fileLimit?: number, profile = true): Promise<Running> {
    const flags: string[] = [];
    let profileDir: string | null = null;
    if (def.node) {
      flags.push("--expose-gc");
      if (profile) {
        const prof = this.profileFlags(def.name);
        flags.push(...prof.flags);
        profileDir = prof.dir;
      }
    }
    const child = new Child({
      name: def.name,
      command: def.command,
      args: [...flags, ...def.args],
      env: def.env,
      ...this.pinServer(),
      ...(fileLimit === undefined ? {} : { fileLimit }),
    });
    try {
      const line = await child.readLine(15_000);
      const port = Number(line);
      if (!Number.isInteger(port) || port <= 0) throw new Error(`${def.name}: expected a port, got ${line}`);
      return { child, port, profileDir };
    } catch (error) {
      await child.kill();
      throw error;
    }
  }

  /** Stop a server: a clean exit when profiling (the profile is written at exit), else SIGKILL. */
  async stopServer(server: Running): Promise<void> {
    if (server.profileDir !== null) await server.child.stop(10_000);
    else await server.child.kill();
  }

  /**
   * The open-file limit for a scenario that needs `count` connections, and
   * the count it can have under the hard limit (with a warning when scaled down).
   */
  fileLimitFor(count: number, spare = 256): { fileLimit: number; count: number; warning?: string } {
    const hard = hardFileLimit();
    const fileLimit = Math.min(hard, Math.max(count + spare, 1024));
    const fits = Math.min(count, fileLimit - spare);
    if (fits >= count) return { fileLimit, count };
    return { fileLimit, count: fits, warning: `the open-file hard limit is ${hard}: ${fits} connections instead of ${count}` };
  }

  /** Start a load generator, pinned where the drivers run. */
  startLoad(fileLimit?: number): LoadGenerator {
    return new LoadGenerator(this.loadBinary, { ...this.pinDriver(), ...(fileLimit === undefined ? {} : { fileLimit }) });
  }

  /** A server and a load generator for one run; both are stopped (server first) when `body` ends. */
  async withServerAndLoad<T>(def: ServerDef, fileLimit: number | undefined, body: (server: Running, load: LoadGenerator) => Promise<T>): Promise<T> {
    const server = await this.startServer(def, fileLimit);
    const load = this.startLoad(fileLimit);
    try {
      return await body(server, load);
    } finally {
      // Server first: it closes first, so TIME_WAIT is not left on the load generator's ports.
      await this.stopServer(server);
      await load.kill();
    }
  }
}
