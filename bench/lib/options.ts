/** Command-line options of `npm run bench` (see BENCHMARKS.md for what each does). */

export interface Options {
  quick: boolean;
  reps: number;
  warmupMs: number;
  measureMs: number;
  idleCount: number;
  /** Idle: rounds of warm-up connections opened and closed again before the measured ones (steady state). */
  idleChurn: number;
  /** Scenario names to run, in order. */
  scenarios: string[];
  /** Server names to run (null: all). */
  servers: string[] | null;
  /** Client libraries the `client` scenario runs (null: those `servers` names, else all). */
  clients: string[] | null;
  json: boolean;
  cpuProf: boolean;
  /** Pin the process under test and the one driving it to different CPUs. */
  pin: boolean;
  /**
   * Where to write the chart (SVG): `--chart FILE`; null with `--no-chart`;
   * undefined: docs/benchmarks.svg after a full run (every scenario and server, not --quick), else none.
   */
  chart: string | null | undefined;
}

/** What the option parser needs to know about the scenarios and servers that exist. */
export interface Known {
  scenarios: readonly string[];
  servers: readonly string[];
  clients: readonly string[];
}

function usage(known: Known): never {
  process.stderr.write(
    [
      "usage: npm run bench -- [options]",
      "  --quick            1 repetition, short windows, 2,000 measured idle connections (under 2 minutes)",
      "  --reps N           repetitions per server (default 3; servers interleaved A B A B)",
      "  --scenario A,B     only these scenarios: " + known.scenarios.join(", "),
      "  --servers A,B      only these servers: " + known.servers.join(", ") + " (floor: node:net's own cost, idle, handshake and broadcast)",
      "  --clients A,B      only these client libraries in the client scenario: " + known.clients.join(", "),
      "  --duration S       measured window per run in seconds (default 2)",
      "  --warmup S         warm-up before each window in seconds (default 1)",
      "  --idle N           measured idle connections, on top of 3,000 warm-up ones (default 10000; handshake: per server)",
      "  --idle-churn N     first open and close 3,000 connections N times (default 0): handshake CPU in steady state",
      "  --json             print a machine-readable result on stdout (tables go to stderr)",
      "  --cpu-prof         profile the Node servers and clients (--cpu-prof) and print their top frames",
      "  --no-pin           do not pin the server to CPU 1 and the load generator to CPU 0",
      "  --chart FILE       write the chart (SVG) there (default: docs/benchmarks.svg after a full run); --no-chart: none",
      "",
    ].join("\n"),
  );
  process.exit(2);
}

export function parseOptions(argv: string[], known: Known): Options {
  const quick = argv.includes("--quick");
  const options: Options = {
    quick,
    reps: quick ? 1 : 3,
    warmupMs: quick ? 500 : 1000,
    measureMs: quick ? 1000 : 2000,
    idleCount: quick ? 2000 : 10_000,
    idleChurn: 0,
    scenarios: [...known.scenarios],
    servers: null,
    clients: null,
    json: false,
    cpuProf: false,
    pin: true,
    chart: undefined,
  };
  const names = (value: string, allowed: readonly string[], what: string): string[] => {
    const list = value.split(",").filter(Boolean);
    for (const name of list) {
      if (!allowed.includes(name)) {
        process.stderr.write(`unknown ${what} ${name}\n`);
        usage(known);
      }
    }
    return list;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) usage(known);
      return v;
    };
    const positive = (v: string): number => {
      const n = Number(v);
      if (!Number.isFinite(n) || n <= 0) usage(known);
      return n;
    };
    switch (arg) {
      case "--quick":
        break;
      case "--reps":
        options.reps = Math.min(50, Math.round(positive(value())));
        break;
      case "--scenario":
      case "--scenarios":
        options.scenarios = names(value(), known.scenarios, "scenario");
        break;
      case "--servers":
        options.servers = names(value(), known.servers, "server");
        break;
      case "--clients":
        options.clients = names(value(), known.clients, "client");
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
        if (!Number.isInteger(rounds) || rounds < 0) usage(known);
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
      case "--chart":
        options.chart = value();
        break;
      case "--no-chart":
        options.chart = null;
        break;
      case "-h":
      case "--help":
        usage(known);
      default:
        process.stderr.write(`unknown option ${arg}\n`);
        usage(known);
    }
  }
  return options;
}
