/**
 * `npm run bench`: wsx against `ws` (and Bun's server when it is there),
 * each server in its own process, driven by one load-generator process,
 * measured from /proc. See BENCHMARKS.md for how to read the output.
 *
 *   npm run bench                          # everything, ~7 minutes
 *   npm run bench -- --quick               # one repetition, short windows, ~2 minutes
 *   npm run bench -- --scenario small-binary,idle --reps 5
 *   npm run bench -- --scenario idle --idle-churn 4   # handshake CPU in steady state
 *   npm run bench -- --servers wsx,ws --json
 *   npm run bench -- --scenario small-binary --servers wsx --cpu-prof
 */
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { MEMORY_CONNECTIONS, MEMORY_MESSAGE, measureCompressionMemory, type MemoryServer } from "./compression-memory.js";
import { Child, atExit, installCleanup } from "./lib/child.js";
import { topFrames } from "./lib/profile.js";
import { clockTicks, cpuMicros, cpuModel, hardFileLimit, machineBusyMicros, mainThreadMicros, rssBytes } from "./lib/proc.js";
import { fmt, fmtSig, median, ratio, sleep, table } from "./lib/stats.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const MiB = 1024 * 1024;

/**
 * Where the processes under test load their code from: a private copy of
 * dist/src and dist/bench taken when the run starts, so that a rebuild of
 * dist/ during the run (src/ is being worked on) cannot mix two versions
 * of wsx in one result, or break a server half-way.
 */
let here = dirname(fileURLToPath(import.meta.url));

function snapshotBuild(): void {
  const dir = mkdtempSync(join(tmpdir(), "wsx-bench-"));
  atExit(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(join(root, "dist", "src"), join(dir, "src"), { recursive: true });
  cpSync(join(root, "dist", "bench"), join(dir, "bench"), { recursive: true });
  symlinkSync(join(root, "node_modules"), join(dir, "node_modules"), "dir");
  writeFileSync(join(dir, "package.json"), `{ "type": "module" }\n`);
  here = join(dir, "bench");
}

// ---------------------------------------------------------------- options

interface Options {
  quick: boolean;
  reps: number;
  warmupMs: number;
  measureMs: number;
  idleCount: number;
  /** Idle: rounds of warm-up connections opened and closed again before the measured ones (steady state). */
  idleChurn: number;
  scenarios: string[];
  servers: string[] | null;
  json: boolean;
  cpuProf: boolean;
  /** Pin the process under test and the one driving it to different CPUs. */
  pin: boolean;
}

const SCENARIOS = [
  "small-binary",
  "small-text",
  "large",
  "idle",
  "client",
  "broadcast",
  "slow-consumers",
  "compressed",
  "compression-memory",
  "zlib-cost",
] as const;

function usage(): never {
  process.stderr.write(
    [
      "usage: npm run bench -- [options]",
      "  --quick            1 repetition, short windows, 2,000 measured idle connections (under 2 minutes)",
      "  --reps N           repetitions per server (default 3; servers interleaved A B A B)",
      "  --scenario A,B     only these scenarios: " + SCENARIOS.join(", "),
      "  --servers A,B      only these servers: wsx, wsx-iter, ws, ws-bufferutil, bun, floor (idle only: node:net's own cost)",
      "  --duration S       measured window per run in seconds (default 2)",
      "  --warmup S         warm-up before each window in seconds (default 1)",
      "  --idle N           measured idle connections, on top of 3,000 warm-up ones (default 10000)",
      "  --idle-churn N     first open and close 3,000 connections N times (default 0): handshake CPU in steady state",
      "  --json             print a machine-readable result on stdout (tables go to stderr)",
      "  --cpu-prof         profile the Node servers and clients (--cpu-prof) and print their top frames",
      "  --no-pin           do not pin the server to CPU 1 and the load generator to CPU 0",
      "",
    ].join("\n"),
  );
  process.exit(2);
}

function parseOptions(argv: string[]): Options {
  const quick = argv.includes("--quick");
  const options: Options = {
    quick,
    reps: quick ? 1 : 3,
    warmupMs: quick ? 500 : 1000,
    measureMs: quick ? 1000 : 2000,
    idleCount: quick ? 2000 : 10_000,
    idleChurn: 0,
    scenarios: [...SCENARIOS],
    servers: null,
    json: false,
    cpuProf: false,
    pin: true,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) usage();
      return v;
    };
    const positive = (v: string): number => {
      const n = Number(v);
      if (!Number.isFinite(n) || n <= 0) usage();
      return n;
    };
    switch (arg) {
      case "--quick":
        break;
      case "--reps":
        options.reps = Math.min(50, Math.round(positive(value())));
        break;
      case "--scenario":
      case "--scenarios": {
        const names = value().split(",").filter(Boolean);
        for (const name of names) {
          if (!(SCENARIOS as readonly string[]).includes(name)) {
            process.stderr.write(`unknown scenario ${name}\n`);
            usage();
          }
        }
        options.scenarios = names;
        break;
      }
      case "--servers":
        options.servers = value().split(",").filter(Boolean);
        break;
      case "--duration":
        options.measureMs = Math.min(60_000, positive(value()) * 1000);
        break;
      case "--warmup":
        options.warmupMs = Math.min(60_000, positive(value()) * 1000);
        break;
      case "--idle":
        options.idleCount = Math.min(100_000, Math.round(positive(value())));
        break;
      case "--idle-churn": {
        const rounds = Number(value());
        if (!Number.isInteger(rounds) || rounds < 0) usage();
        options.idleChurn = Math.min(20, rounds);
        break;
      }
      case "--json":
        options.json = true;
        break;
      case "--cpu-prof":
        options.cpuProf = true;
        break;
      case "--no-pin":
        options.pin = false;
        break;
      case "-h":
      case "--help":
        usage();
      default:
        process.stderr.write(`unknown option ${arg}\n`);
        usage();
    }
  }
  return options;
}

// ---------------------------------------------------------------- servers

interface ServerDef {
  name: string;
  library: "wsx" | "ws" | "bun" | "net";
  /** A reference point rather than a contender: it takes part in this scenario only. */
  only?: string;
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  node: boolean;
}

const BUN = join(root, "node_modules", ".bin", "bun");

function bunVersion(): string | null {
  if (!existsSync(BUN)) return null;
  try {
    return execFileSync(BUN, ["--version"], { encoding: "utf8", timeout: 10_000 }).trim();
  } catch {
    return null;
  }
}

function envWith(changes: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const [key, value] of Object.entries(changes)) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  return env;
}

function serverDefs(bun: string | null): ServerDef[] {
  const node = process.execPath;
  const script = (name: string): string => join(here, "servers", name);
  const defs: ServerDef[] = [
    { name: "wsx", library: "wsx", command: node, args: [script("wsx.js"), "listener"], env: process.env, node: true },
    { name: "wsx-iter", library: "wsx", command: node, args: [script("wsx.js"), "iter"], env: process.env, node: true },
    { name: "ws", library: "ws", command: node, args: [script("ws.js")], env: envWith({ WS_NO_BUFFER_UTIL: "1" }), node: true },
    {
      name: "ws-bufferutil",
      library: "ws",
      command: node,
      args: [script("ws.js")],
      env: envWith({ WS_NO_BUFFER_UTIL: undefined }),
      node: true,
    },
  ];
  // What node:net itself costs per idle connection and handshake (see servers/floor.ts).
  defs.push({ name: "floor", library: "net", only: "idle", command: node, args: [script("floor.js")], env: process.env, node: true });
  if (bun !== null) defs.push({ name: "bun", library: "bun", command: BUN, args: [script("bun.js")], env: process.env, node: false });
  return defs;
}

interface Running {
  child: Child;
  port: number;
  profileDir: string | null;
}

/** Profile directories of the current scenario, by server name (--cpu-prof). */
const profileDirs = new Map<string, string[]>();

/** Top frames per server from the profiles collected so far; the files are removed. */
function collectProfiles(): Record<string, Array<{ name: string; selfMs: number; percent: number }>> {
  const out: Record<string, Array<{ name: string; selfMs: number; percent: number }>> = {};
  for (const [server, dirs] of profileDirs) {
    out[server] = topFrames(dirs);
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  }
  profileDirs.clear();
  return out;
}

async function startServer(def: ServerDef, options: Options, fileLimit?: number): Promise<Running> {
  let profileDir: string | null = null;
  const flags: string[] = [];
  if (def.node) {
    flags.push("--expose-gc");
    if (options.cpuProf) {
      profileDir = mkdtempSync(join(tmpdir(), `wsx-bench-prof-${def.name}-`));
      profileDirs.set(def.name, [...(profileDirs.get(def.name) ?? []), profileDir]);
      flags.push("--cpu-prof", `--cpu-prof-dir=${profileDir}`);
    }
  }
  const child = new Child({
    name: def.name,
    command: def.command,
    args: [...flags, ...def.args],
    env: def.env,
    ...pinServer(),
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
async function stopServer(server: Running): Promise<void> {
  if (server.profileDir !== null) await server.child.stop(10_000);
  else await server.child.kill();
}

/** CPUs to pin to (server, driver), or nothing when pinning is off or impossible. */
let pins: { server: number; driver: number } | null = null;

function setUpPinning(options: Options): void {
  if (!options.pin) return;
  try {
    execFileSync("taskset", ["-c", "0", "true"]);
    const cores = Number(execFileSync("nproc", { encoding: "utf8" }).trim());
    if (cores >= 2) pins = { server: 1, driver: 0 };
  } catch {
    progress("taskset not available: processes are not pinned to CPUs");
  }
}

function pinServer(): { cpu?: number } {
  return pins === null ? {} : { cpu: pins.server };
}

function pinDriver(): { cpu?: number } {
  return pins === null ? {} : { cpu: pins.driver };
}

function startLoad(fileLimit?: number): Child {
  return new Child({
    name: "load",
    command: process.execPath,
    args: [join(here, "load.js")],
    ...pinDriver(),
    ...(fileLimit === undefined ? {} : { fileLimit }),
  });
}

// ---------------------------------------------------------------- measurements

/** CPU readings at one instant: the processes under test, this runner, the whole machine. */
interface Sample {
  wall: number;
  machine: number;
  own: number;
  pids: number[];
}

function sample(pids: number[]): Sample {
  const own = process.cpuUsage();
  return { wall: performance.now(), machine: machineBusyMicros(), own: own.user + own.system, pids: pids.map(cpuMicros) };
}

/** CPU µs used by process `index` of the sample between a and b. */
function used(a: Sample, b: Sample, index: number): number {
  return b.pids[index]! - a.pids[index]!;
}

/** % of one core used by other processes on the machine (not ours, not this runner) between a and b. */
function otherLoad(a: Sample, b: Sample): number {
  let ours = b.own - a.own;
  for (let i = 0; i < a.pids.length; i++) ours += used(a, b, i);
  const other = b.machine - a.machine - ours;
  return Math.max(0, (100 * other) / ((b.wall - a.wall) * 1000));
}

interface Mark {
  messages: number;
  failures: number;
  mismatches: number;
  open: number;
  cpuMicros: number;
  time: number;
}

interface EchoResult {
  throughput: number; // messages/s, or MiB/s for `large`
  wireBytes: number; // bytes per message sent by the load generator (frame included)
  cpuPerUnit: number; // server CPU µs per message, or per MiB
  serverCpu: number; // % of one core
  rssMiB: number;
  loadCpu: number; // % of one core
  loadCpuPerUnit: number;
  otherCpu: number; // % of one core used by processes outside the benchmark
}

interface EchoScenario {
  connections: number;
  window: number;
  size: number;
  text: boolean;
  /** Figures per MiB instead of per message. */
  perMiB: boolean;
  /** Offer permessage-deflate and send every message compressed (`compressed`). */
  deflate?: boolean;
  /** JSON-like text, a different message in each slot of the window (`compressed`). */
  json?: boolean;
}

const ECHO: Record<string, EchoScenario> = {
  "small-binary": { connections: 100, window: 64, size: 32, text: false, perMiB: false },
  "small-text": { connections: 100, window: 64, size: 32, text: true, perMiB: false },
  large: { connections: 4, window: 2, size: MiB, text: false, perMiB: true },
};

async function runEcho(def: ServerDef, scenario: EchoScenario, options: Options): Promise<EchoResult> {
  const server = await startServer(def, options);
  const load = startLoad();
  try {
    const started = await load.request<{ connected: number; failed: number; wireBytes: number; error?: string }>(
      "echo",
      {
        port: server.port,
        path: "/echo",
        connections: scenario.connections,
        window: scenario.window,
        size: scenario.size,
        text: scenario.text,
        deflate: scenario.deflate === true,
        json: scenario.json === true,
      },
      30_000,
    );
    if (started.connected !== scenario.connections) {
      throw new Error(
        `${def.name}: only ${started.connected} of ${scenario.connections} connections opened${started.error ? ` (${started.error})` : ""}`,
      );
    }
    await sleep(options.warmupMs);
    const pids = [server.child.pid, load.pid];
    const s0 = sample(pids);
    const mark0 = await load.request<Mark>("mark");
    await sleep(options.measureMs);
    const s1 = sample(pids);
    const mark1 = await load.request<Mark>("mark");
    const rss = rssBytes(server.child.pid);
    const messages = mark1.messages - mark0.messages;
    const seconds = (mark1.time - mark0.time) / 1000;
    if (messages <= 0) throw new Error(`${def.name}: no echo in the measured window`);
    if (mark1.failures > 0) process.stderr.write(`  ! ${def.name}: the server sent ${mark1.failures} close frame(s)\n`);
    if (mark1.mismatches > 0) throw new Error(`${def.name}: ${mark1.mismatches} echo(es) differ from the message sent`);
    const units = scenario.perMiB ? (messages * scenario.size) / MiB : messages;
    const serverMicros = used(s0, s1, 0);
    return {
      throughput: units / seconds,
      wireBytes: started.wireBytes,
      cpuPerUnit: serverMicros / units,
      serverCpu: (100 * serverMicros) / ((s1.wall - s0.wall) * 1000),
      rssMiB: rss / MiB,
      loadCpu: (100 * (mark1.cpuMicros - mark0.cpuMicros)) / (seconds * 1e6),
      loadCpuPerUnit: (mark1.cpuMicros - mark0.cpuMicros) / units,
      otherCpu: otherLoad(s0, s1),
    };
  } finally {
    await stopServer(server);
    await load.kill();
  }
}

interface IdleResult {
  connections: number; // open at the end: warm-up + measured
  rssPerConnection: number; // bytes above the empty process, per open connection, V8's young generation left out
  rssPerExtraConnection: number; // the same, added by each measured connection (on top of the warm-up ones)
  rawRssPerConnection: number; // bytes above the empty process per open connection, young generation included
  cpuPerHandshake: number; // µs
  mainCpuPerHandshake: number; // µs of it on the main thread; NaN where the kernel does not say
  otherCpuPerHandshake: number; // µs of it on other threads (for Node, mostly GC helpers)
  handshakesPerSecond: number;
  emptyRssMiB: number;
  rssMiB: number;
  loadCpu: number;
  otherCpu: number;
}

const IDLE_CONCURRENCY = 200;
/**
 * Connections opened and closed before the measured ones, so the handshake
 * path runs optimised (fewer and the CPU per handshake still falls with the
 * number of connections measured).
 */
const IDLE_WARMUP = 3000;

interface Settled {
  /** RSS after a full GC. */
  rss: number;
  /** The same without V8's young generation (RSS when the runtime does not say). */
  held: number;
}

/**
 * RSS after a full GC, with and without V8's young generation. A burst of
 * handshakes makes every Node server grow its young generation to the
 * maximum (32 MiB, ~2.3 KB per connection here) and V8 gives it back only
 * after seconds of quiet: that is allocation-rate sizing, not memory held by
 * the connections, so the per-connection figures leave it out.
 */
async function settle(server: Running): Promise<Settled> {
  await sleep(300);
  await server.child.request("gc", {}, 10_000);
  await sleep(200);
  const rss = rssBytes(server.child.pid);
  const spaces = await server.child.request<Record<string, number> | null>("heap", {}, 10_000);
  return { rss, held: rss - (spaces?.["new_space"] ?? 0) };
}

async function runIdle(def: ServerDef, count: number, fileLimit: number, options: Options): Promise<IdleResult> {
  const server = await startServer(def, options, fileLimit);
  const load = startLoad(fileLimit);
  try {
    await load.request("ping", {}, 10_000);
    const open = (connections: number, ms: number) =>
      load.request<{ opened: number; failed: number; ms: number; error?: string }>(
        "open",
        { port: server.port, path: "/idle", count: connections, concurrency: IDLE_CONCURRENCY },
        ms,
      );
    /** Open IDLE_WARMUP connections, every one of them or fail. */
    const openWarmup = async (what: string): Promise<void> => {
      const opened = await open(IDLE_WARMUP, 60_000);
      if (opened.opened !== IDLE_WARMUP) throw new Error(`${def.name}: ${what} opened ${opened.opened}/${IDLE_WARMUP}: ${opened.error}`);
    };
    // Churn: the handshake and close paths run until the JIT has settled (a long-running server's
    // state); the server sees each round's closes before the next, and the empty reading's GC collects them.
    for (let round = 0; round < options.idleChurn; round++) {
      await openWarmup("churn");
      await load.request("close", {}, 10_000);
      await sleep(300);
    }
    const empty = await settle(server);
    // Warm-up connections run the handshake path until it is optimised, and stay open:
    // the measured connections come on top of them, so none reuses memory a closed one freed.
    await openWarmup("warm-up");
    const warmed = await settle(server);
    const pids = [server.child.pid, load.pid];
    const main0 = mainThreadMicros(server.child.pid);
    const s0 = sample(pids);
    const result = await open(count, 120_000);
    const s1 = sample(pids);
    const main1 = mainThreadMicros(server.child.pid);
    if (result.opened === 0) throw new Error(`${def.name}: no idle connection opened: ${result.error}`);
    if (result.failed > 0) process.stderr.write(`  ! ${def.name}: ${result.failed} connections failed (${result.error})\n`);
    const full = await settle(server);
    const marked = await load.request<Mark>("mark");
    const cpuPerHandshake = used(s0, s1, 0) / result.opened;
    // After churn the "empty" process holds what the closed connections freed: memory per connection is not readable.
    const perConnection = (bytes: number, connections: number): number => (options.idleChurn === 0 ? bytes / connections : Number.NaN);
    const mainCpuPerHandshake = main0 === null || main1 === null ? NaN : (main1 - main0) / result.opened;
    return {
      connections: marked.open,
      rssPerConnection: perConnection(full.held - empty.held, marked.open),
      rssPerExtraConnection: perConnection(full.held - warmed.held, result.opened),
      rawRssPerConnection: perConnection(full.rss - empty.rss, marked.open),
      cpuPerHandshake,
      mainCpuPerHandshake,
      // The two readings differ in precision (clock ticks, nanoseconds): never below zero.
      otherCpuPerHandshake: Math.max(0, cpuPerHandshake - mainCpuPerHandshake),
      handshakesPerSecond: result.opened / (result.ms / 1000),
      emptyRssMiB: empty.rss / MiB,
      rssMiB: full.rss / MiB,
      loadCpu: (100 * used(s0, s1, 1)) / ((s1.wall - s0.wall) * 1000),
      otherCpu: otherLoad(s0, s1),
    };
  } finally {
    // Server first: it closes first, so TIME_WAIT is not left on the load generator's ports.
    await stopServer(server);
    await load.kill();
  }
}

interface ClientResult {
  throughput: number;
  cpuPerUnit: number; // client CPU µs per message
  clientCpu: number;
  serverCpu: number;
  rssMiB: number;
  otherCpu: number;
}

const CLIENT = { connections: 10, window: 64, size: 32 };

/** Client libraries of the `client` scenario: wsx's API, wsx/web (the WHATWG WebSocket on wsx), ws, Node's WebSocket (undici). */
type ClientLibrary = "wsx" | "wsx-web" | "ws" | "undici";

async function runClient(library: ClientLibrary, server: Running, options: Options): Promise<ClientResult> {
  const name = `${library}-client`;
  const flags: string[] = [];
  let profileDir: string | null = null;
  if (options.cpuProf) {
    profileDir = mkdtempSync(join(tmpdir(), `wsx-bench-prof-${name}-`));
    profileDirs.set(name, [...(profileDirs.get(name) ?? []), profileDir]);
    flags.push("--cpu-prof", `--cpu-prof-dir=${profileDir}`);
  }
  const client = new Child({
    name,
    command: process.execPath,
    args: [...flags, join(here, "clients", `${library}.js`)],
    env: library === "ws" ? envWith({ WS_NO_BUFFER_UTIL: "1" }) : process.env,
    ...pinDriver(),
  });
  try {
    await client.request("run", { url: `ws://127.0.0.1:${server.port}/echo`, ...CLIENT }, 30_000);
    await sleep(options.warmupMs);
    const pids = [client.pid, server.child.pid];
    const s0 = sample(pids);
    const mark0 = await client.request<{ messages: number; time: number }>("mark");
    await sleep(options.measureMs);
    const s1 = sample(pids);
    const mark1 = await client.request<{ messages: number; time: number }>("mark");
    const rss = rssBytes(client.pid);
    const messages = mark1.messages - mark0.messages;
    if (messages <= 0) throw new Error(`${library} client: no echo in the measured window`);
    const wallMicros = (s1.wall - s0.wall) * 1000;
    return {
      throughput: messages / ((mark1.time - mark0.time) / 1000),
      cpuPerUnit: used(s0, s1, 0) / messages,
      clientCpu: (100 * used(s0, s1, 0)) / wallMicros,
      serverCpu: (100 * used(s0, s1, 1)) / wallMicros,
      rssMiB: rss / MiB,
      otherCpu: otherLoad(s0, s1),
    };
  } finally {
    if (profileDir !== null) await client.stop(10_000);
    else await client.kill();
  }
}

interface BroadcastResult {
  throughput: number; // deliveries/s (one message to one subscriber)
  publishes: number; // messages published per second
  cpuPerUnit: number; // server CPU µs per delivery
  serverCpu: number;
  rssMiB: number;
  loadCpu: number;
  loadCpuPerUnit: number; // load generator CPU µs per delivery
  otherCpu: number;
}

/**
 * `broadcast`: subscribers held by the load generator, one publisher
 * connection, 64-byte binary messages. Two windows: 32 messages in flight
 * (refilled 16 at a time, so a server reads about 16 publishes per turn of
 * its event loop, as a saturated server does when many clients publish),
 * and 2 (about one publish per turn: nothing to batch, each delivery is
 * one socket write in every library).
 */
const BROADCAST = { subscribers: 1000, size: 64, windows: [32, 2] };

async function runBroadcast(def: ServerDef, window: number, fileLimit: number, subscribers: number, options: Options): Promise<BroadcastResult> {
  const server = await startServer(def, options, fileLimit);
  const load = startLoad(fileLimit);
  try {
    const started = await load.request<{ subscribed: number; failed: number; error?: string }>(
      "broadcast",
      { port: server.port, subscribers, size: BROADCAST.size, window },
      60_000,
    );
    if (started.subscribed !== subscribers) {
      throw new Error(`${def.name}: only ${started.subscribed} of ${subscribers} subscribers connected${started.error ? ` (${started.error})` : ""}`);
    }
    await sleep(options.warmupMs);
    const pids = [server.child.pid, load.pid];
    const s0 = sample(pids);
    const mark0 = await load.request<Mark & { published: number }>("mark");
    await sleep(options.measureMs);
    const s1 = sample(pids);
    const mark1 = await load.request<Mark & { published: number }>("mark");
    const rss = rssBytes(server.child.pid);
    const deliveries = mark1.messages - mark0.messages;
    const seconds = (mark1.time - mark0.time) / 1000;
    if (deliveries <= 0) throw new Error(`${def.name}: no delivery in the measured window`);
    if (mark1.failures > 0) process.stderr.write(`  ! ${def.name}: the server sent ${mark1.failures} close frame(s)\n`);
    if (mark1.mismatches > 0) throw new Error(`${def.name}: ${mark1.mismatches} subscriber(s) received something else than the message published`);
    if (def.library === "wsx" || def.library === "bun") {
      // wsx and Bun count their subscribers; a missing one would make every figure per delivery wrong.
      const stats = await server.child.request<{ subscribers: number; dropped?: number }>("stats");
      if (stats.subscribers !== subscribers) throw new Error(`${def.name}: ${stats.subscribers} of ${subscribers} connections subscribed`);
      if ((stats.dropped ?? 0) > 0) throw new Error(`${def.name}: ${stats.dropped} deliveries dropped (over maxBackpressure)`);
    }
    const serverMicros = used(s0, s1, 0);
    return {
      throughput: deliveries / seconds,
      publishes: (mark1.published - mark0.published) / seconds,
      cpuPerUnit: serverMicros / deliveries,
      serverCpu: (100 * serverMicros) / ((s1.wall - s0.wall) * 1000),
      rssMiB: rss / MiB,
      loadCpu: (100 * (mark1.cpuMicros - mark0.cpuMicros)) / (seconds * 1e6),
      loadCpuPerUnit: (mark1.cpuMicros - mark0.cpuMicros) / deliveries,
      otherCpu: otherLoad(s0, s1),
    };
  } finally {
    await stopServer(server);
    await load.kill();
  }
}

/**
 * `slow-consumers`: subscribers that never read while the server publishes
 * 1 KiB messages at a fixed rate for a bounded time (lib/flood.ts), with a
 * cap on the bytes any server may accept (ws buffers without bound).
 *
 * The subscribers connect over a Unix socket. Over loopback TCP (MSS about
 * 64 KiB) Linux gives each socket a send buffer of about 3.9 MB from the
 * start (`ss -tm`: tb3939840), so 1,000 connections that never read could
 * hold ~4 GB of kernel memory — past the machine's TCP memory limit
 * (`net.ipv4.tcp_mem`), which would slow down every other TCP user —
 * before the server's own buffering even begins. A Unix stream socket
 * holds at most `net.core.wmem_default` (~208 KiB) per connection, so what
 * the server process does with the excess shows within a second.
 */
const SLOW = {
  subscribers: 1000,
  size: 1024,
  perSecond: 500,
  floodMs: 4000,
  /** Sampling goes on this long after the flood stopped (wsx's "close" policy destroys sockets after closeTimeout, 5 s). */
  tailMs: 2500,
  sampleMs: 500,
  capBytes: 1536 * MiB,
};

interface SlowPoint {
  seconds: number;
  rssMiB: number;
  bufferedMiB: number;
  dropped: number;
  connections: number;
  acceptedMiB: number;
}

interface SlowResult {
  emptyMiB: number;
  baseMiB: number; // subscribers connected, before the flood
  peakMiB: number;
  endMiB: number;
  endCollectedMiB: number; // at the end, after a full GC
  peakBufferedMiB: number;
  /** Buffers alive in the process (`arrayBuffers`): highest sample, and at the end after a full GC. */
  peakArrayBuffersMiB: number;
  endArrayBuffersMiB: number;
  acceptedMiB: number;
  dropped: number;
  openAtEnd: number;
  capped: number; // 1 when the safety cap stopped the flood
  stoppedAtS: number;
  serverCpu: number; // % of one core during the flood and tail
  otherCpu: number;
}

interface SlowServer {
  name: string;
  def: ServerDef;
}

interface Backlog {
  connections: number;
  buffered: number;
  dropped: number;
  closed: number;
  flood: { running: boolean; publishes: number; acceptedBytes: number; capped: boolean; stoppedAtMs: number } | null;
  /** Bytes of Buffers/ArrayBuffers alive in the process (`process.memoryUsage().arrayBuffers`). */
  arrayBuffers: number;
}

async function runSlowConsumers(
  variant: SlowServer,
  fileLimit: number,
  subscribers: number,
  options: Options,
  curve: SlowPoint[],
): Promise<SlowResult> {
  // Over a Unix socket: see SLOW. The socket file lives in its own directory, removed after the run.
  const socketDir = mkdtempSync(join(tmpdir(), "wsx-bench-sock-"));
  const socketPath = join(socketDir, "server.sock");
  const def = { ...variant.def, args: [...variant.def.args, "--unix", socketPath] };
  let server: Running | null = null;
  let load: Child | null = null;
  try {
    server = await startServer(def, options, fileLimit);
    load = startLoad(fileLimit);
    await load.request("ping", {}, 10_000);
    const empty = (await settle(server)).rss;
    const opened = await load.request<{ opened: number; error?: string }>(
      "open",
      { port: server.port, socketPath, path: "/sub", count: subscribers, concurrency: 100, pause: true },
      60_000,
    );
    if (opened.opened !== subscribers) throw new Error(`${variant.name}: opened ${opened.opened}/${subscribers}: ${opened.error}`);
    const base = (await settle(server)).rss;
    const pids = [server.child.pid, load.pid];
    const s0 = sample(pids);
    await server.child.request("flood", { size: SLOW.size, perSecond: SLOW.perSecond, ms: SLOW.floodMs, capBytes: SLOW.capBytes });
    const began = performance.now();
    let peak = base;
    let peakBuffered = 0;
    let peakArrayBuffers = 0;
    let last: Backlog | null = null;
    for (let k = 1; k * SLOW.sampleMs <= SLOW.floodMs + SLOW.tailMs; k++) {
      await sleep(Math.max(0, began + k * SLOW.sampleMs - performance.now()));
      const rss = rssBytes(server.child.pid);
      last = await server.child.request<Backlog>("backlog", {}, 30_000);
      peak = Math.max(peak, rss);
      peakBuffered = Math.max(peakBuffered, last.buffered);
      peakArrayBuffers = Math.max(peakArrayBuffers, last.arrayBuffers);
      curve.push({
        seconds: (k * SLOW.sampleMs) / 1000,
        rssMiB: rss / MiB,
        bufferedMiB: last.buffered / MiB,
        dropped: last.dropped,
        connections: last.connections,
        acceptedMiB: (last.flood?.acceptedBytes ?? 0) / MiB,
      });
    }
    const s1 = sample(pids);
    const end = rssBytes(server.child.pid);
    // What is left once garbage is collected: memory the server still holds for the slow consumers.
    const endCollected = (await settle(server)).rss;
    const collected = await server.child.request<Backlog>("backlog", {}, 30_000);
    const flood = last?.flood ?? null;
    if (flood === null || flood.publishes === 0) throw new Error(`${variant.name}: nothing was published`);
    return {
      emptyMiB: empty / MiB,
      baseMiB: base / MiB,
      peakMiB: peak / MiB,
      endMiB: end / MiB,
      endCollectedMiB: endCollected / MiB,
      peakBufferedMiB: peakBuffered / MiB,
      peakArrayBuffersMiB: peakArrayBuffers / MiB,
      endArrayBuffersMiB: collected.arrayBuffers / MiB,
      acceptedMiB: flood.acceptedBytes / MiB,
      dropped: last!.dropped,
      openAtEnd: last!.connections,
      capped: flood.capped ? 1 : 0,
      stoppedAtS: flood.running ? Number.NaN : flood.stoppedAtMs / 1000,
      serverCpu: (100 * used(s0, s1, 0)) / ((s1.wall - s0.wall) * 1000),
      otherCpu: otherLoad(s0, s1),
    };
  } finally {
    if (server !== null) await stopServer(server);
    await load?.kill();
    rmSync(socketDir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- reporting

type Figures = Record<string, number>;

interface Row {
  name: string;
  reps: Figures[];
  median: Figures;
  error?: string;
}

interface RatioLine {
  pair: string;
  figures: Record<string, number>;
  /** The issue's targets (wsx/ws only): ratio must be at most this. */
  targets?: Record<string, number>;
}

interface ScenarioResult {
  name: string;
  description: string;
  rows: Row[];
  ratios: RatioLine[];
  ratioTitles: Record<string, string>;
  targets: Record<string, number>;
  columns: Column[];
  /** Title of the first column (default "server"). */
  firstColumn?: string;
  warnings: string[];
  /** Lines printed after the table (e.g. a curve over time). */
  extra?: string[];
  todo?: string;
  profiles?: Record<string, Array<{ name: string; selfMs: number; percent: number }>>;
}

function medians(reps: Figures[]): Figures {
  const keys = new Set(reps.flatMap((r) => Object.keys(r)));
  const out: Figures = {};
  for (const key of keys) out[key] = median(reps.map((r) => r[key] ?? Number.NaN));
  return out;
}

/** Ratios of each wsx variant to each ws variant, for the given figures. */
const SERVER_PAIRS: Array<[string, string]> = [
  ["wsx", "ws"],
  ["wsx-iter", "ws"],
  ["wsx", "ws-bufferutil"],
  ["wsx", "bun"],
];

/**
 * Ratios a/b of the given figures for each pair present (wsx variants over
 * ws variants unless other pairs are given). The first pair carries the issue's targets.
 */
function ratioLines(rows: Row[], figures: string[], targets: Record<string, number>, pairs = SERVER_PAIRS): RatioLine[] {
  const byName = new Map(rows.filter((r) => r.error === undefined).map((r) => [r.name, r.median]));
  const lines: RatioLine[] = [];
  for (const [a, b] of pairs) {
    const x = byName.get(a);
    const y = byName.get(b);
    if (x === undefined || y === undefined) continue;
    const values: Record<string, number> = {};
    for (const figure of figures) values[figure] = ratio(x[figure] ?? Number.NaN, y[figure] ?? Number.NaN);
    const line: RatioLine = { pair: `${a}/${b}`, figures: values };
    if (a === pairs[0]![0] && b === pairs[0]![1] && Object.keys(targets).length > 0) line.targets = targets;
    lines.push(line);
  }
  return lines;
}

/** The gist of an error: its first meaningful lines. */
function firstLines(text: string): string {
  const lines = text.split("\n").map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("at ") && l !== "^^^^^");
  return lines.slice(0, 3).join(" | ");
}

/** "other CPU%" (processes outside the benchmark) from which a scenario's figures are flagged as noisy. */
const BUSY_WARNING = 15;

interface Column {
  key: string;
  title: string;
  format: (v: number) => string;
}

function render(result: ScenarioResult): string {
  const { columns, ratioTitles, targets } = result;
  const out: string[] = [`## ${result.name}: ${result.description}`];
  if (result.todo !== undefined) {
    out.push(`TODO: ${result.todo}`);
    return out.join("\n");
  }
  const rows = result.rows.map((row) =>
    row.error !== undefined
      ? [row.name, "failed", ...columns.slice(1).map(() => "")]
      : [row.name, ...columns.map((c) => c.format(row.median[c.key] ?? Number.NaN))],
  );
  out.push(table([result.firstColumn ?? "server", ...columns.map((c) => c.title)], rows));
  if (result.extra !== undefined) out.push(...result.extra);
  for (const row of result.rows) {
    if (row.error !== undefined) out.push(`! ${row.name} failed: ${firstLines(row.error)}`);
  }
  const pairWidth = Math.max(0, ...result.ratios.map((l) => l.pair.length));
  for (const line of result.ratios) {
    const parts = Object.entries(line.figures).map(([figure, value]) => {
      const target = targets[figure];
      const bracket = line.targets !== undefined && target !== undefined ? ` [target ≤${target}]` : "";
      return `${ratioTitles[figure] ?? figure} = ${fmt(value, 2)}${bracket}`;
    });
    out.push(`${line.pair.padEnd(pairWidth)} ${parts.join("   ")}`);
  }
  const busiest = Math.max(0, ...result.rows.map((r) => r.median["otherCpu"] ?? 0).filter(Number.isFinite));
  if (busiest >= BUSY_WARNING) {
    out.push(`! other processes used up to ${fmt(busiest)}% of a core during the windows: the machine was not quiet, figures are noisy`);
  }
  for (const warning of result.warnings) out.push(`! ${warning}`);
  if (result.profiles !== undefined) {
    for (const [server, frames] of Object.entries(result.profiles)) {
      out.push(`top self-time frames, ${server} (--cpu-prof):`);
      for (const frame of frames) out.push(`  ${fmt(frame.percent, 1).padStart(5)}%  ${frame.name}`);
    }
  }
  return out.join("\n");
}

// ---------------------------------------------------------------- main

/**
 * Run `run` for every name, `reps` times, interleaved (A B A B ...), and
 * take the median of each figure. A name that fails is not tried again.
 */
async function repeat<T extends object>(
  label: string,
  names: string[],
  reps: number,
  run: (name: string) => Promise<T>,
  describe: (result: T) => string,
): Promise<Row[]> {
  const runs = new Map<string, Figures[]>(names.map((n) => [n, []]));
  const errors = new Map<string, string>();
  for (let rep = 1; rep <= reps; rep++) {
    for (const name of names) {
      if (errors.has(name)) continue;
      try {
        const result = await run(name);
        runs.get(name)!.push({ ...(result as Figures) });
        progress(`${label} ${rep}/${reps} ${name.padEnd(13)} ${describe(result)}`);
      } catch (error) {
        errors.set(name, (error as Error).message);
        progress(`${label} ${name} failed: ${firstLines((error as Error).message)}`);
      }
    }
  }
  return names.map((name) => {
    const figures = runs.get(name)!;
    const row: Row = { name, reps: figures, median: medians(figures) };
    const error = errors.get(name);
    if (error !== undefined && figures.length === 0) row.error = error;
    return row;
  });
}

function progress(text: string): void {
  process.stderr.write(`${text}\n`);
}

/** Warn when the load generator (or the process setting the pace) ran out of CPU. */
function saturationWarnings(rows: Row[], figure: string, what: string): string[] {
  return rows
    .filter((row) => (row.median[figure] ?? 0) >= 90)
    .map((row) => `${row.name}: ${what} used ${fmt(row.median[figure]!)}% of a core`);
}

const LOAD_BOUND = "the load generator was the bottleneck: throughput is a lower bound, and CPU per unit was measured on smaller batches";

async function echoScenario(name: string, defs: ServerDef[], options: Options): Promise<ScenarioResult> {
  const scenario = ECHO[name]!;
  const perMiB = scenario.perMiB;
  const unit = perMiB ? "MiB" : "msg";
  // The async iterator's cost shows in small-binary; elsewhere wsx-iter would only repeat wsx.
  const servers = name === "small-binary" ? defs : defs.filter((d) => d.name !== "wsx-iter");
  const rows = await repeat(
    name,
    servers.map((d) => d.name),
    options.reps,
    (server) => runEcho(servers.find((d) => d.name === server)!, scenario, options),
    (r) =>
      `${fmt(r.throughput).padStart(9)} ${perMiB ? "MiB/s" : "msg/s"}  server ${fmtSig(r.cpuPerUnit)} µs/${unit} (${fmt(r.serverCpu)}% CPU)  ` +
      `load ${fmt(r.loadCpu)}% CPU  other ${fmt(r.otherCpu)}%`,
  );
  const targets: Record<string, number> = { cpuPerUnit: perMiB ? 0.35 : 0.1 };
  return {
    name,
    description: perMiB
      ? `${scenario.connections} connections × ${scenario.window} in flight, 1 MiB binary echo; server CPU µs per MiB echoed`
      : `${scenario.connections} connections × ${scenario.window} in flight, ${scenario.size}-byte ${scenario.text ? "text" : "binary"} echo; server CPU µs per message`,
    rows,
    ratios: ratioLines(rows, ["cpuPerUnit", "throughput", "rssMiB"], targets),
    ratioTitles: { cpuPerUnit: `CPU/${unit}`, throughput: perMiB ? "MiB/s" : "msgs/s", rssMiB: "RSS" },
    targets,
    columns: [
      { key: "throughput", title: perMiB ? "MiB/s" : "msgs/s", format: (v) => fmt(v) },
      { key: "cpuPerUnit", title: `CPU µs/${unit}`, format: fmtSig },
      { key: "serverCpu", title: "server CPU%", format: (v) => fmt(v) },
      { key: "rssMiB", title: "RSS MiB", format: (v) => fmt(v, 1) },
      { key: "loadCpu", title: "load CPU%", format: (v) => fmt(v) },
      { key: "loadCpuPerUnit", title: `load µs/${unit}`, format: fmtSig },
      { key: "otherCpu", title: "other CPU%", format: (v) => fmt(v) },
    ],
    warnings: saturationWarnings(rows, "loadCpu", "the load generator").map((w) => `${w}: ${LOAD_BOUND}`),
  };
}

async function idleScenario(defs: ServerDef[], options: Options): Promise<ScenarioResult> {
  const warnings: string[] = [];
  const hard = hardFileLimit();
  let count = options.idleCount;
  const needed = count + IDLE_WARMUP + 256;
  if (hard < needed) {
    count = Math.max(100, hard - IDLE_WARMUP - 256);
    warnings.push(`the open-file hard limit is ${hard}: idle scaled down to ${count} connections`);
    progress(`! ${warnings[warnings.length - 1]}`);
  }
  const fileLimit = Math.min(hard, Math.max(needed, 1024));
  // wsx-iter differs from wsx only once messages flow.
  const servers = defs.filter((d) => d.name !== "wsx-iter");
  const rows = await repeat(
    "idle",
    servers.map((d) => d.name),
    options.reps,
    (server) => runIdle(servers.find((d) => d.name === server)!, count, fileLimit, options),
    (r) =>
      `${fmt(r.connections)} conns  ${fmt(r.rssPerConnection)} B/conn (marginal ${fmt(r.rssPerExtraConnection)}, with young gen. ${fmt(r.rawRssPerConnection)})  ` +
      `${fmtSig(r.cpuPerHandshake)} µs/handshake (main thread ${fmtSig(r.mainCpuPerHandshake)})  ` +
      `${fmt(r.handshakesPerSecond)} handshakes/s  load ${fmt(r.loadCpu)}% CPU  other ${fmt(r.otherCpu)}%`,
  );
  warnings.push(
    ...saturationWarnings(rows, "loadCpu", "the load generator").map((w) => `${w} opening connections: handshakes/s is a lower bound`),
  );
  const targets = { rssPerConnection: 0.8, cpuPerHandshake: 0.6 };
  return {
    name: "idle",
    description:
      (options.idleChurn > 0
        ? `after ${options.idleChurn} round(s) of ${fmt(IDLE_WARMUP)} connections opened and closed (steady state; memory per connection not read then), `
        : "") +
      `${fmt(IDLE_WARMUP)} + ${fmt(count)} idle connections opened ${IDLE_CONCURRENCY} at a time; RSS per connection above the empty process ` +
      `after a full GC, V8's young generation left out (marginal: the ${fmt(count)} over the first ${fmt(IDLE_WARMUP)}; "with young gen.": ` +
      `RSS as it is right after the burst), server CPU per handshake of the ${fmt(count)} (and the part on the main thread; the rest is other threads, for Node mostly GC); floor: node:net with a minimal handshake, for reference`,
    rows,
    ratios: ratioLines(
      rows,
      ["rssPerConnection", "rssPerExtraConnection", "rawRssPerConnection", "cpuPerHandshake", "mainCpuPerHandshake", "handshakesPerSecond"],
      targets,
      // floor/ws: what node:net alone costs against ws, the bound any node:net server is read against.
      [...SERVER_PAIRS, ["floor", "ws"]],
    ),
    ratioTitles: {
      rssPerConnection: "RSS/conn",
      rssPerExtraConnection: "marginal",
      rawRssPerConnection: "with young gen.",
      cpuPerHandshake: "CPU/handshake",
      mainCpuPerHandshake: "main thread",
      handshakesPerSecond: "handshakes/s",
    },
    targets,
    columns: [
      { key: "connections", title: "conns", format: (v) => fmt(v) },
      { key: "rssPerConnection", title: "RSS B/conn", format: (v) => fmt(v) },
      { key: "rssPerExtraConnection", title: "marginal B/conn", format: (v) => fmt(v) },
      { key: "rawRssPerConnection", title: "with young gen. B/conn", format: (v) => fmt(v) },
      { key: "cpuPerHandshake", title: "CPU µs/handshake", format: fmtSig },
      { key: "mainCpuPerHandshake", title: "main thread µs", format: fmtSig },
      { key: "otherCpuPerHandshake", title: "other threads µs", format: fmtSig },
      { key: "handshakesPerSecond", title: "handshakes/s", format: (v) => fmt(v) },
      { key: "emptyRssMiB", title: "empty RSS MiB", format: (v) => fmt(v, 1) },
      { key: "rssMiB", title: "RSS MiB", format: (v) => fmt(v, 1) },
      { key: "loadCpu", title: "load CPU%", format: (v) => fmt(v) },
      { key: "otherCpu", title: "other CPU%", format: (v) => fmt(v) },
    ],
    warnings,
  };
}

async function clientScenario(bun: string | null, options: Options): Promise<ScenarioResult> {
  const libraries = ["wsx", "wsx-web", "ws", "undici"].filter((l) => options.servers === null || options.servers.includes(l));
  // Both clients run against the same server process, for three servers. wsx and Bun batch
  // their writes, so a client reads many messages at a time and what the client library
  // itself costs shows. ws writes every message with its own syscall, so against it any
  // client reads one message per syscall and both libraries cost about the same.
  const targets = serverDefs(bun).filter((d) => d.name === "wsx" || d.name === "ws" || d.name === "bun");
  const rows: Row[] = [];
  for (const serverDef of targets) {
    // One server process for every client run against it: the clients are what differs.
    const server = await startServer(serverDef, { ...options, cpuProf: false });
    try {
      const names = libraries.map((l) => `${l} → ${serverDef.name}`);
      rows.push(
        ...(await repeat(
          "client",
          names,
          options.reps,
          (name) => runClient(name.split(" ")[0] as ClientLibrary, server, options),
          (r) =>
            `${fmt(r.throughput).padStart(9)} msg/s  client ${fmtSig(r.cpuPerUnit)} µs/msg (${fmt(r.clientCpu)}% CPU)  ` +
            `server ${fmt(r.serverCpu)}% CPU  other ${fmt(r.otherCpu)}%`,
        )),
      );
    } finally {
      await stopServer(server);
    }
  }
  const goals = { cpuPerUnit: 0.3 };
  return {
    name: "client",
    description:
      `client libraries (wsx, wsx/web, ws, Node's WebSocket = undici) against one server process (wsx, ws, then bun): ` +
      `${CLIENT.connections} connections × ${CLIENT.window} in flight, ` +
      `${CLIENT.size}-byte binary; client CPU µs per message`,
    firstColumn: "client → server",
    rows,
    ratios: ratioLines(rows, ["cpuPerUnit", "throughput", "rssMiB"], goals, [
      ["wsx → wsx", "ws → wsx"],
      ["wsx → ws", "ws → ws"],
      ["wsx → bun", "ws → bun"],
      // What the browser API costs over wsx's own, and against the other standard WebSocket.
      ["wsx-web → wsx", "wsx → wsx"],
      ["wsx-web → wsx", "undici → wsx"],
      ["wsx-web → bun", "undici → bun"],
    ]),
    ratioTitles: { cpuPerUnit: "CPU/msg", throughput: "msgs/s", rssMiB: "RSS" },
    targets: goals,
    columns: [
      { key: "throughput", title: "msgs/s", format: (v) => fmt(v) },
      { key: "cpuPerUnit", title: "client CPU µs/msg", format: fmtSig },
      { key: "clientCpu", title: "client CPU%", format: (v) => fmt(v) },
      { key: "serverCpu", title: "server CPU%", format: (v) => fmt(v) },
      { key: "rssMiB", title: "client RSS MiB", format: (v) => fmt(v, 1) },
      { key: "otherCpu", title: "other CPU%", format: (v) => fmt(v) },
    ],
    warnings: saturationWarnings(rows, "serverCpu", "the server").map(
      (w) => `${w}: it set the pace (clients against the same server are still compared on the same traffic)`,
    ),
  };
}

// ---------------------------------------------------------------- compression

/** One server configuration of the `compressed` scenario. */
interface CompressedServer {
  /** Row name. */
  name: string;
  /** Which base server it is started from (its `--servers` name). */
  base: "wsx" | "ws";
  /** `--deflate` argument: wsx's `compression`, ws's `perMessageDeflate`. */
  deflate: unknown;
}

/** One message size of the `compressed` scenario, with the servers compared on it. */
interface CompressedCase {
  label: string;
  scenario: EchoScenario;
  servers: CompressedServer[];
  /** Ratio lines: [row a, row b, label]. */
  pairs: Array<[string, string, string]>;
}

const COMPRESSED: CompressedCase[] = [
  {
    label: "64 B",
    // wsx's threshold (1024) applies whatever the context mode, so with its defaults the 64-byte
    // echo goes back uncompressed; ws applies its threshold only with server_no_context_takeover,
    // so with its defaults it compresses every echo. "threshold 0" makes wsx do the same work as ws.
    scenario: { connections: 50, window: 32, size: 64, text: true, perMiB: false, deflate: true, json: true },
    servers: [
      { name: "64 B   wsx", base: "wsx", deflate: true },
      { name: "64 B   wsx threshold 0", base: "wsx", deflate: { threshold: 0 } },
      { name: "64 B   ws", base: "ws", deflate: true },
    ],
    pairs: [
      ["64 B   wsx", "64 B   ws", "64 B   wsx/ws"],
      ["64 B   wsx threshold 0", "64 B   ws", "64 B   wsx threshold 0/ws"],
    ],
  },
  {
    label: "64 KiB",
    // ws compresses at zlib's default level (6), wsx at level 1: "ws level 1" shows how much of the gap that is.
    scenario: { connections: 8, window: 4, size: 64 * 1024, text: true, perMiB: false, deflate: true, json: true },
    servers: [
      { name: "64 KiB wsx", base: "wsx", deflate: true },
      { name: "64 KiB ws", base: "ws", deflate: true },
      { name: "64 KiB ws level 1", base: "ws", deflate: { zlibDeflateOptions: { level: 1 } } },
    ],
    pairs: [
      ["64 KiB wsx", "64 KiB ws", "64 KiB wsx/ws"],
      ["64 KiB wsx", "64 KiB ws level 1", "64 KiB wsx/ws level 1"],
    ],
  },
];

/** A base server definition started with `--deflate <json>`. */
function withDeflate(base: ServerDef, name: string, deflate: unknown): ServerDef {
  return { ...base, name, args: [...base.args, "--deflate", JSON.stringify(deflate)] };
}

async function compressedScenario(defs: ServerDef[], options: Options): Promise<ScenarioResult> {
  const rows: Row[] = [];
  const pairs: Array<[string, string, string]> = [];
  const wire: string[] = [];
  for (const c of COMPRESSED) {
    const servers = c.servers
      .map((s) => {
        const base = defs.find((d) => d.name === s.base);
        return base === undefined ? null : withDeflate(base, s.name, s.deflate);
      })
      .filter((d): d is ServerDef => d !== null);
    if (servers.length === 0) continue;
    let wireBytes = Number.NaN;
    rows.push(
      ...(await repeat(
        "compressed",
        servers.map((d) => d.name),
        options.reps,
        async (name) => {
          const result = await runEcho(servers.find((d) => d.name === name)!, c.scenario, options);
          wireBytes = result.wireBytes;
          return result;
        },
        (r) =>
          `${fmt(r.throughput).padStart(9)} msg/s  server ${fmtSig(r.cpuPerUnit)} µs/msg (${fmt(r.serverCpu)}% CPU)  ` +
          `load ${fmt(r.loadCpu)}% CPU  other ${fmt(r.otherCpu)}%`,
      )),
    );
    pairs.push(...c.pairs);
    wire.push(`${c.label} → ${fmt(wireBytes)} B on the wire`);
  }
  const compressedCases = COMPRESSED.map((c) => `${c.scenario.connections} × ${c.scenario.window} in flight for ${c.label}`).join(", ");
  return {
    name: "compressed",
    description:
      `permessage-deflate echo of JSON-like text, client messages pre-compressed (client_no_context_takeover, ${wire.join(", ")} per frame); ` +
      `${compressedCases}; server CPU µs per message`,
    firstColumn: "message · server",
    rows,
    ratios: ratioLines(
      rows,
      ["cpuPerUnit", "throughput", "rssMiB"],
      {},
      pairs.map(([a, b]) => [a, b]),
    ).map((line) => ({ ...line, pair: pairs.find(([a, b]) => `${a}/${b}` === line.pair)?.[2] ?? line.pair })),
    ratioTitles: { cpuPerUnit: "CPU/msg", throughput: "msgs/s", rssMiB: "RSS" },
    targets: {},
    columns: [
      { key: "throughput", title: "msgs/s", format: (v) => fmt(v) },
      { key: "cpuPerUnit", title: "CPU µs/msg", format: fmtSig },
      { key: "serverCpu", title: "server CPU%", format: (v) => fmt(v) },
      { key: "rssMiB", title: "RSS MiB", format: (v) => fmt(v, 1) },
      { key: "loadCpu", title: "load CPU%", format: (v) => fmt(v) },
      { key: "loadCpuPerUnit", title: "load µs/msg", format: fmtSig },
      { key: "otherCpu", title: "other CPU%", format: (v) => fmt(v) },
    ],
    warnings: [
      ...saturationWarnings(rows, "loadCpu", "the load generator").map((w) => `${w}: ${LOAD_BOUND}`),
      ...rows
        .filter((row) => row.error === undefined && (row.median["serverCpu"] ?? 100) < 90)
        .map(
          (row) =>
            `${row.name}: the server used only ${fmt(row.median["serverCpu"]!)}% of its core: it waited (latency-bound), ` +
            `so msgs/s understates what it could do and CPU/msg was measured on smaller batches`,
        ),
    ],
  };
}

async function compressionMemoryScenario(defs: ServerDef[], options: Options): Promise<ScenarioResult> {
  const warnings: string[] = [];
  const hard = hardFileLimit();
  const fileLimit = Math.min(hard, Math.max(MEMORY_CONNECTIONS + 256, 1024));
  const count = Math.min(MEMORY_CONNECTIONS, fileLimit - 256);
  if (count < MEMORY_CONNECTIONS) warnings.push(`the open-file hard limit is ${hard}: ${count} connections instead of ${MEMORY_CONNECTIONS}`);
  const variants: MemoryServer[] = [];
  // `deflate`: the --deflate argument (wsx's compression, ws's perMessageDeflate), null for none.
  for (const [base, deflate, name] of [
    ["wsx", true, "wsx"],
    ["ws", true, "ws"],
    ["wsx", { serverNoContextTakeover: true }, "wsx serverNoContextTakeover"],
    ["wsx", { serverMaxWindowBits: 10 }, "wsx serverMaxWindowBits 10"],
    ["wsx", null, "wsx, no compression"],
    ["ws", null, "ws, no compression"],
  ] as const) {
    const def = defs.find((d) => d.name === base);
    if (def === undefined) continue;
    variants.push({
      name,
      command: def.command,
      args: deflate === null ? def.args : [...def.args, "--deflate", JSON.stringify(deflate)],
      env: def.env,
      compression: deflate !== null,
    });
  }
  const setup = {
    loadScript: join(here, "load.js"),
    fileLimit,
    connections: count,
    ...(pins === null ? {} : { serverCpu: pins.server, driverCpu: pins.driver }),
  };
  const rows = await repeat(
    "compression-memory",
    variants.map((v) => v.name),
    options.reps,
    (name) => measureCompressionMemory(variants.find((v) => v.name === name)!, setup),
    (r) =>
      `idle ${fmt(r.idleBytes)} B/conn (${fmt(r.idleContexts)} zlib)  echoed ${fmt(r.echoedBytes)} B/conn (${fmt(r.echoedContexts)} zlib)  ` +
      `idle again ${fmt(r.idleAgainBytes)} B/conn (${fmt(r.idleAgainContexts)} zlib)`,
  );
  for (const row of rows) {
    const compressed = row.median["compressed"];
    if (row.error === undefined && variants.find((v) => v.name === row.name)?.compression === false && compressed !== 0) {
      warnings.push(`${row.name}: permessage-deflate was agreed on ${fmt(compressed ?? Number.NaN)} connections`);
    }
  }
  return {
    name: "compression-memory",
    description:
      `${fmt(count)} connections offering permessage-deflate (client_no_context_takeover); server RSS above the empty process per connection ` +
      `and zlib contexts held: (a) idle after the handshake, after GC; (b) right after each echoed one ${MEMORY_MESSAGE / 1024} KiB JSON-like ` +
      `text message, no GC; (c) 5 s later, after GC; (d) zlib contexts left once every connection closed`,
    rows,
    ratios: ratioLines(rows, ["idleBytes", "echoedBytes", "idleAgainBytes"], {}, [
      ["wsx", "ws"],
      ["wsx, no compression", "ws, no compression"],
    ]),
    ratioTitles: { idleBytes: "(a) idle", echoedBytes: "(b) echoed", idleAgainBytes: "(c) idle again" },
    targets: {},
    columns: [
      { key: "compressed", title: "deflate conns", format: (v) => fmt(v) },
      { key: "emptyMiB", title: "empty RSS MiB", format: (v) => fmt(v, 1) },
      { key: "idleBytes", title: "(a) B/conn", format: (v) => fmt(v) },
      { key: "idleContexts", title: "(a) zlib", format: (v) => fmt(v) },
      { key: "echoedBytes", title: "(b) B/conn", format: (v) => fmt(v) },
      { key: "echoedContexts", title: "(b) zlib", format: (v) => fmt(v) },
      { key: "idleAgainBytes", title: "(c) B/conn", format: (v) => fmt(v) },
      { key: "idleAgainContexts", title: "(c) zlib", format: (v) => fmt(v) },
      { key: "rssMiB", title: "(c) RSS MiB", format: (v) => fmt(v, 1) },
      { key: "closedContexts", title: "(d) zlib", format: (v) => fmt(v) },
      { key: "echoMs", title: "echo ms", format: (v) => fmt(v) },
    ],
    firstColumn: "server",
    warnings,
  };
}

const COST_SIZES = [64 * 1024, MiB, 16 * MiB];
const BOMB = { size: 256 * MiB, limit: 16 * MiB };

async function zlibCostScenario(options: Options): Promise<ScenarioResult> {
  const runs = new Map<string, Figures[]>();
  let error: string | undefined;
  // One fresh process per repetition, pinned where the servers run.
  for (let rep = 1; rep <= options.reps && error === undefined; rep++) {
    const child = new Child({ name: "zlib-cost", command: process.execPath, args: [join(here, "zlib-cost.js")], ...pinServer() });
    try {
      await child.readLine(15_000);
      const entries = await child.request<Array<Figures & { name: string }>>(
        "run",
        { sizes: COST_SIZES, bombSize: BOMB.size, bombLimit: BOMB.limit },
        120_000,
      );
      for (const { name, ...figures } of entries) runs.set(name, [...(runs.get(name) ?? []), figures]);
      progress(
        `zlib-cost ${rep}/${options.reps} ` +
          entries.map((e) => `${e.name} ${fmt(e["usPerMiB"] ?? Number.NaN)} µs/MiB`).join(", "),
      );
    } catch (problem) {
      error = (problem as Error).message;
      progress(`zlib-cost failed: ${firstLines(error)}`);
    } finally {
      await child.kill();
    }
  }
  const rows: Row[] = [...runs].map(([name, reps]) => ({ name, reps, median: medians(reps) }));
  if (rows.length === 0) rows.push({ name: "zlib-cost", reps: [], median: {}, error: error ?? "no result" });
  return {
    name: "zlib-cost",
    description:
      "wsx's permessage-deflate codec (server side, no context takeover) on JSON-like text, in one process pinned like the servers: " +
      "inflate of what a client compressed at zlib level 6, deflate at wsx's level 1; µs per MiB of uncompressed data " +
      "and per call (the event loop is blocked that long), next to node:zlib's one-shot sync calls on the same bytes",
    firstColumn: "operation",
    rows,
    ratios: [],
    ratioTitles: {},
    targets: {},
    columns: [
      { key: "usPerMiB", title: "wsx µs/MiB", format: (v) => fmt(v) },
      { key: "zlibUsPerMiB", title: "node:zlib µs/MiB", format: (v) => fmt(v) },
      { key: "meanMs", title: "ms/call", format: (v) => fmt(v, 3) },
      { key: "maxMs", title: "longest ms", format: (v) => fmt(v, 2) },
      { key: "compressedPct", title: "compressed %", format: (v) => fmt(v, 1) },
      { key: "calls", title: "calls", format: (v) => fmt(v) },
    ],
    warnings: [
      `bomb: ${BOMB.size / MiB} MiB of zeros (compressed to a few hundred KiB) decoded with maxMessageSize = ${BOMB.limit / MiB} MiB: ` +
        `every decode is refused with MESSAGE_TOO_BIG (1009); µs/MiB counts the ${BOMB.limit / MiB} MiB inflated before giving up`,
    ],
  };
}

async function broadcastScenario(defs: ServerDef[], options: Options): Promise<ScenarioResult> {
  const warnings: string[] = [];
  const hard = hardFileLimit();
  const fileLimit = Math.min(hard, Math.max(BROADCAST.subscribers + 256, 1024));
  const subscribers = Math.min(BROADCAST.subscribers, fileLimit - 256);
  if (subscribers < BROADCAST.subscribers) warnings.push(`the open-file hard limit is ${hard}: ${subscribers} subscribers instead of ${BROADCAST.subscribers}`);
  const rows: Row[] = [];
  const pairs: Array<[string, string, string]> = [];
  for (const window of BROADCAST.windows) {
    // wsx-iter differs from wsx only in how the publisher's messages are read; ws-bufferutil
    // from ws only in unmasking them (servers never mask), so it is run once, at the main window.
    const servers = defs.filter((d) => d.name !== "wsx-iter" && (window === BROADCAST.windows[0] || d.name !== "ws-bufferutil"));
    const label = (name: string): string => `${String(window).padEnd(2)} ${name}`;
    rows.push(
      ...(await repeat(
        "broadcast",
        servers.map((d) => label(d.name)),
        options.reps,
        (name) => runBroadcast(servers.find((d) => label(d.name) === name)!, window, fileLimit, subscribers, options),
        (r) =>
          `${fmt(r.throughput).padStart(9)} deliveries/s  server ${fmtSig(r.cpuPerUnit)} µs/delivery (${fmt(r.serverCpu)}% CPU)  ` +
          `load ${fmt(r.loadCpu)}% CPU  other ${fmt(r.otherCpu)}%`,
      )),
    );
    for (const [a, b] of SERVER_PAIRS) if (a !== "wsx-iter") pairs.push([label(a), label(b), `${a}/${b} (${window} in flight)`]);
  }
  const targets = { cpuPerUnit: 0.1 };
  return {
    name: "broadcast",
    description:
      `${fmt(subscribers)} subscribers, ${BROADCAST.size}-byte binary messages sent by one publisher connection and each published to every ` +
      `subscriber (wsx: server.publish; ws: the wss.clients loop; Bun: server.publish), ${BROADCAST.windows.join(" or ")} messages in flight; ` +
      `server CPU µs per delivery (one message to one subscriber)`,
    firstColumn: "in flight · server",
    rows,
    ratios: ratioLines(
      rows,
      ["cpuPerUnit", "throughput", "rssMiB"],
      targets,
      pairs.map(([a, b]) => [a, b]),
    ).map((line) => ({ ...line, pair: pairs.find(([a, b]) => `${a}/${b}` === line.pair)?.[2] ?? line.pair })),
    ratioTitles: { cpuPerUnit: "CPU/delivery", throughput: "deliveries/s", rssMiB: "RSS" },
    targets,
    columns: [
      { key: "throughput", title: "deliveries/s", format: (v) => fmt(v) },
      { key: "cpuPerUnit", title: "CPU µs/delivery", format: fmtSig },
      { key: "publishes", title: "publishes/s", format: (v) => fmt(v) },
      { key: "serverCpu", title: "server CPU%", format: (v) => fmt(v) },
      { key: "rssMiB", title: "RSS MiB", format: (v) => fmt(v, 1) },
      { key: "loadCpu", title: "load CPU%", format: (v) => fmt(v) },
      { key: "loadCpuPerUnit", title: "load µs/delivery", format: fmtSig },
      { key: "otherCpu", title: "other CPU%", format: (v) => fmt(v) },
    ],
    warnings: [...warnings, ...broadcastLoadWarnings(rows)],
  };
}

/**
 * The load generator reads each subscriber's socket: against a server that
 * writes every delivery with its own syscall (ws; any server at 2 in flight)
 * it pays about one read per delivery, as much CPU as the server. When the
 * server is at its limit too, the CPU per delivery still stands (each
 * library's batching depends on how many publishes share a turn, which the
 * window sets), only the throughput is a lower bound.
 */
function broadcastLoadWarnings(rows: Row[]): string[] {
  return rows
    .filter((row) => row.error === undefined && (row.median["loadCpu"] ?? 0) >= 90)
    .map((row) => {
      const load = fmt(row.median["loadCpu"]!);
      const server = row.median["serverCpu"] ?? 0;
      return server >= 90
        ? `${row.name}: the load generator used ${load}% of a core and the server ${fmt(server)}%: both at their limit, deliveries/s is a lower bound`
        : `${row.name}: the load generator used ${load}% of a core and the server only ${fmt(server)}%: ${LOAD_BOUND}`;
    });
}

async function slowConsumersScenario(defs: ServerDef[], options: Options): Promise<ScenarioResult> {
  const warnings: string[] = [];
  const hard = hardFileLimit();
  const fileLimit = Math.min(hard, Math.max(SLOW.subscribers + 256, 1024));
  const subscribers = Math.min(SLOW.subscribers, fileLimit - 256);
  if (subscribers < SLOW.subscribers) warnings.push(`the open-file hard limit is ${hard}: ${subscribers} subscribers instead of ${SLOW.subscribers}`);
  const variants: SlowServer[] = [];
  const wsx = defs.find((d) => d.name === "wsx");
  if (wsx !== undefined) {
    const limited = (policy: string): ServerDef => ({
      ...wsx,
      name: `wsx 64 KiB ${policy}`,
      args: [...wsx.args, "--max-backpressure", String(64 * 1024), "--backpressure", policy],
    });
    variants.push({ name: "wsx 64 KiB drop", def: limited("drop") }, { name: "wsx 64 KiB close", def: limited("close") });
    variants.push({ name: "wsx defaults", def: { ...wsx, name: "wsx defaults" } });
  }
  const ws = defs.find((d) => d.name === "ws");
  if (ws !== undefined) variants.push({ name: "ws", def: ws });
  const curves = new Map<string, SlowPoint[]>();
  // One run per server: a bound shown over time, not a ratio to take a median of.
  const rows = await repeat(
    "slow-consumers",
    variants.map((v) => v.name),
    1,
    (name) => {
      const curve: SlowPoint[] = [];
      curves.set(name, curve);
      return runSlowConsumers(variants.find((v) => v.name === name)!, fileLimit, subscribers, options, curve);
    },
    (r) =>
      `peak RSS ${fmt(r.peakMiB)} MiB  peak buffered ${fmt(r.peakBufferedMiB)} MiB  accepted ${fmt(r.acceptedMiB)} MiB  ` +
      `dropped ${fmt(r.dropped)}  open at the end ${fmt(r.openAtEnd)}`,
  );
  for (const row of rows) {
    if (row.error === undefined && row.median["capped"] === 1) {
      warnings.push(`${row.name}: stopped by the safety cap (${fmt(SLOW.capBytes / MiB)} MiB accepted) after ${fmt(row.median["stoppedAtS"]!, 1)} s`);
    }
  }
  return {
    name: "slow-consumers",
    description:
      `${fmt(subscribers)} subscribers that stop reading right after the handshake; the server publishes ${SLOW.size / 1024} KiB binary messages ` +
      `to all of them, ${SLOW.perSecond} per second for ${SLOW.floodMs / 1000} s (at most ${fmt(SLOW.capBytes / MiB)} MiB accepted), ` +
      `sampled every ${SLOW.sampleMs / 1000} s until ${(SLOW.floodMs + SLOW.tailMs) / 1000} s; one run per server`,
    rows,
    ratios: [],
    ratioTitles: {},
    targets: {},
    columns: [
      { key: "baseMiB", title: "RSS before MiB", format: (v) => fmt(v, 1) },
      { key: "peakMiB", title: "peak RSS MiB", format: (v) => fmt(v, 1) },
      { key: "endMiB", title: "end RSS MiB", format: (v) => fmt(v, 1) },
      { key: "endCollectedMiB", title: "after GC MiB", format: (v) => fmt(v, 1) },
      { key: "peakBufferedMiB", title: "peak buffered MiB", format: (v) => fmt(v, 1) },
      { key: "peakArrayBuffersMiB", title: "peak Buffers MiB", format: (v) => fmt(v, 1) },
      { key: "endArrayBuffersMiB", title: "Buffers after GC MiB", format: (v) => fmt(v, 1) },
      { key: "acceptedMiB", title: "accepted MiB", format: (v) => fmt(v) },
      { key: "dropped", title: "dropped", format: (v) => fmt(v) },
      { key: "openAtEnd", title: "open at end", format: (v) => fmt(v) },
      { key: "serverCpu", title: "server CPU%", format: (v) => fmt(v) },
      { key: "otherCpu", title: "other CPU%", format: (v) => fmt(v) },
    ],
    warnings,
    extra: slowCurve(variants.map((v) => v.name), curves),
  };
}

/** The curve of `slow-consumers`: one line per sample, one column per server (RSS MiB / buffered MiB / dropped / open). */
function slowCurve(names: string[], curves: Map<string, SlowPoint[]>): string[] {
  const present = names.filter((n) => (curves.get(n)?.length ?? 0) > 0);
  if (present.length === 0) return [];
  const times = curves.get(present[0]!)!.map((p) => p.seconds);
  const rows = times.map((t, i) => [
    fmt(t, 1),
    ...present.map((name) => {
      const p = curves.get(name)![i];
      return p === undefined
        ? ""
        : `${fmt(p.rssMiB)} / ${fmt(p.bufferedMiB, 1)} / ${fmt(p.dropped)} / ${fmt(p.connections)}`;
    }),
  ]);
  return ["", "over time: RSS MiB / buffered MiB (sum of bufferedAmount) / dropped / connections open", table(["s", ...present], rows)];
}

async function main(): Promise<void> {
  installCleanup();
  const options = parseOptions(process.argv.slice(2));
  snapshotBuild();
  setUpPinning(options);
  const print = (text: string): void => {
    (options.json ? process.stderr : process.stdout).write(`${text}\n`);
  };

  const bun = bunVersion();
  let defs = serverDefs(bun);
  if (options.servers !== null) {
    const wanted = options.servers;
    for (const name of wanted) {
      if (!["wsx", "wsx-iter", "ws", "ws-bufferutil", "bun", "floor"].includes(name)) {
        process.stderr.write(`unknown server ${name}\n`);
        usage();
      }
    }
    defs = defs.filter((d) => wanted.includes(d.name));
  }
  const wsVersion = (JSON.parse(readFileSync(join(root, "node_modules", "ws", "package.json"), "utf8")) as { version: string }).version;
  let commit = "unknown";
  try {
    commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: root, encoding: "utf8" }).trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "--", "src"], { cwd: root, encoding: "utf8" }).trim();
    if (dirty !== "") commit += " + uncommitted src/ changes";
  } catch {
    // not a git checkout
  }
  const meta = {
    date: new Date().toISOString(),
    node: process.version,
    cpu: cpuModel(),
    cores: Number(execFileSync("nproc", { encoding: "utf8" }).trim()),
    clockTicks: clockTicks(),
    ws: wsVersion,
    bun,
    wsxCommit: commit,
    reps: options.reps,
    warmupMs: options.warmupMs,
    measureMs: options.measureMs,
    quick: options.quick,
    idleChurn: options.idleChurn,
    pinned: pins,
  };
  print(`# wsx benchmark`);
  print(
    `date ${meta.date}  node ${meta.node}  ws ${meta.ws}  bun ${bun ?? "not available"}\n` +
      `cpu ${meta.cpu} (${meta.cores} cores)  wsx ${commit}\n` +
      `${options.reps} rep(s), servers interleaved; warm-up ${options.warmupMs / 1000} s, window ${options.measureMs / 1000} s; medians; ` +
      (pins === null ? "not pinned" : `server on CPU ${pins.server}, load generator/client on CPU ${pins.driver}`),
  );
  if (options.cpuProf) print(`(--cpu-prof: Node servers and clients run under the profiler, figures are perturbed)`);
  if (bun === null) progress(`bun not found at ${BUN}: its server is skipped`);

  const results: ScenarioResult[] = [];
  const began = performance.now();
  const allDefs = defs;
  for (const name of options.scenarios) {
    let result: ScenarioResult;
    defs = allDefs.filter((d) => d.only === undefined || d.only === name);
    if (name in ECHO) result = await echoScenario(name, defs, options);
    else if (name === "idle") result = await idleScenario(defs, options);
    else if (name === "client") result = await clientScenario(bun, options);
    else if (name === "compressed") result = await compressedScenario(defs, options);
    else if (name === "compression-memory") result = await compressionMemoryScenario(defs, options);
    else if (name === "zlib-cost") result = await zlibCostScenario(options);
    else if (name === "broadcast") result = await broadcastScenario(defs, options);
    else result = await slowConsumersScenario(defs, options);
    if (options.cpuProf && result.todo === undefined) result.profiles = collectProfiles();
    print("");
    print(render(result));
    results.push(result);
  }
  print("");
  print(`total ${fmt((performance.now() - began) / 1000, 0)} s`);
  if (options.json) {
    const strip = results.map(({ columns, ratioTitles: _titles, firstColumn: _first, ...rest }) => ({
      ...rest,
      columns: columns.map(({ key, title }) => ({ key, title })),
    }));
    process.stdout.write(`${JSON.stringify({ meta, scenarios: strip }, null, 2)}\n`);
  }
}

await main();
