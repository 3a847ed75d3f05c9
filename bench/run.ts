/**
 * `npm run bench`: wsx against `ws` (and Bun's server when it is there),
 * each server in its own process, driven by a load generator written in C
 * (loadgen.c), measured from /proc. The scenarios are the modules of
 * scenarios/ (listed in scenarios/index.ts); this file parses the options,
 * prepares the run and prints what each scenario returns. See BENCHMARKS.md.
 *
 *   npm run bench                          # everything, ~7 minutes
 *   npm run bench -- --quick               # one repetition, short windows, ~2 minutes
 *   npm run bench -- --scenario small-binary,idle --reps 5
 *   npm run bench -- --scenario idle --idle-churn 4   # handshake CPU in steady state
 *   npm run bench -- --scenario handshake --servers wsx,floor   # the servers side by side
 *   npm run bench -- --servers wsx,ws --json
 *   npm run bench -- --scenario small-binary --servers wsx --cpu-prof
 */
import { execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { Bench, bunVersion, CLIENT_NAMES, SERVER_NAMES } from "./lib/bench.js";
import { atExit, installCleanup } from "./lib/child.js";
import { buildLoadGenerator } from "./lib/loadgen.js";
import { parseOptions } from "./lib/options.js";
import { clockTicks, cpuModel } from "./lib/proc.js";
import { chartFile, chartGroups, renderChart } from "./lib/chart.js";
import { progress, render, type ScenarioResult } from "./lib/report.js";
import { fmt } from "./lib/stats.js";
import { loadScenarios, SCENARIO_NAMES } from "./scenarios/index.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/**
 * A private copy of dist/src and dist/bench taken when the run starts, which
 * every process under test loads its code from, so that a rebuild of dist/
 * during the run (src/ is being worked on) cannot mix two versions of wsx
 * in one result, or break a server half-way. The load generator is built
 * into it too. Returns the copy's bench directory.
 */
function snapshotBuild(): string {
  const dir = mkdtempSync(join(tmpdir(), "wsx-bench-"));
  atExit(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(join(root, "dist", "src"), join(dir, "src"), { recursive: true });
  cpSync(join(root, "dist", "bench"), join(dir, "bench"), { recursive: true });
  symlinkSync(join(root, "node_modules"), join(dir, "node_modules"), "dir");
  writeFileSync(join(dir, "package.json"), `{ "type": "module" }\n`);
  return join(dir, "bench");
}

/** The commit measured, and whether src/ had uncommitted changes. */
function commitName(): string {
  try {
    let commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: root, encoding: "utf8" }).trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "--", "src"], { cwd: root, encoding: "utf8" }).trim();
    if (dirty !== "") commit += " + uncommitted src/ changes";
    return commit;
  } catch {
    return "unknown"; // not a git checkout
  }
}

async function main(): Promise<void> {
  installCleanup();
  const options = parseOptions(process.argv.slice(2), { scenarios: SCENARIO_NAMES, servers: SERVER_NAMES, clients: CLIENT_NAMES });
  const scenarios = await loadScenarios(options.scenarios);
  const here = snapshotBuild();
  let loadBinary: string;
  try {
    loadBinary = buildLoadGenerator(join(root, "bench", "loadgen.c"), here);
  } catch (error) {
    process.stderr.write(`bench: ${(error as Error).message}\n`);
    process.exit(1);
  }
  const bunPath = join(root, "node_modules", ".bin", "bun");
  const bunFound = bunVersion(bunPath);
  const bench = new Bench(options, here, loadBinary, bunFound === null ? null : { path: bunPath, version: bunFound });
  const print = (text: string): void => {
    (options.json ? process.stderr : process.stdout).write(`${text}\n`);
  };

  const wsVersion = (JSON.parse(readFileSync(join(root, "node_modules", "ws", "package.json"), "utf8")) as { version: string }).version;
  const commit = commitName();
  const pins = bench.pins;
  const meta = {
    date: new Date().toISOString(),
    node: process.version,
    cpu: cpuModel(),
    cores: Number(execFileSync("nproc", { encoding: "utf8" }).trim()),
    clockTicks: clockTicks(),
    ws: wsVersion,
    bun: bunFound,
    wsxCommit: commit,
    reps: options.reps,
    warmupMs: options.warmupMs,
    measureMs: options.measureMs,
    quick: options.quick,
    idleChurn: options.idleChurn,
    pinned: pins,
    loadavg: readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" "),
  };
  print(`# wsx benchmark`);
  print(
    `date ${meta.date}  node ${meta.node}  ws ${meta.ws}  bun ${bunFound ?? "not available"}\n` +
      `cpu ${meta.cpu} (${meta.cores} cores)  wsx ${commit}  load average ${meta.loadavg}\n` +
      `${options.reps} rep(s), servers interleaved; warm-up ${options.warmupMs / 1000} s, window ${options.measureMs / 1000} s; medians; ` +
      (pins === null ? "not pinned" : `server on CPU ${pins.server}, load generator/client on CPU ${pins.driver}`),
  );
  if (options.cpuProf) print(`(--cpu-prof: Node servers and clients run under the profiler, figures are perturbed)`);
  if (bunFound === null) progress(`bun not found at ${bunPath}: its server is skipped`);

  const results: ScenarioResult[] = [];
  const began = performance.now();
  for (const scenario of scenarios) {
    const result = await scenario.run(bench);
    if (options.cpuProf) result.profiles = bench.collectProfiles();
    print("");
    print(render(result));
    results.push(result);
  }
  print("");
  print(`total ${fmt((performance.now() - began) / 1000, 0)} s`);
  const chartPath = chartFile(options, SCENARIO_NAMES.length, root);
  if (chartPath !== null) {
    const caption = `npm run bench, ${meta.date.slice(0, 10)}, wsx ${commit}, node ${meta.node}, ws ${meta.ws}, bun ${bunFound ?? "-"}; ${options.reps} rep(s), medians`;
    writeFileSync(chartPath, renderChart(chartGroups(results), caption));
    print(`chart written to ${chartPath}`);
  }
  if (options.json) {
    const strip = results.map(({ columns, ratioTitles: _titles, firstColumn: _first, ...rest }) => ({
      ...rest,
      columns: columns.map(({ key, title }) => ({ key, title })),
    }));
    process.stdout.write(`${JSON.stringify({ meta, scenarios: strip }, null, 2)}\n`);
  }
}

await main();
