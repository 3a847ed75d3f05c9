/**
 * `idle`: 3,000 warm-up + 10,000 idle connections opened 200 at a time;
 * RSS per connection above the empty process and server CPU per handshake,
 * read against the node:net floor (servers/floor.ts): the target here is
 * memory per connection within 0.5 KiB of the floor. The CPU target (within
 * 1.1× the floor) is read in `handshake`, which runs the servers side by
 * side: measured one after the other, as here, the ratio drifts with the
 * machine's speed.
 */
import type { Bench, Running, ServerDef } from "../lib/bench.js";
import type { LoadGenerator } from "../lib/loadgen.js";
import { MiB, otherLoad, percent, sample, settle, used } from "../lib/measure.js";
import { mainThreadMicros } from "../lib/proc.js";
import { differenceLines, mainTargets, progress, ratioLines, repeat, saturationWarnings, SERVER_PAIRS, type ScenarioResult } from "../lib/report.js";
import { fmt, fmtSig, sleep } from "../lib/stats.js";

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

const CONCURRENCY = 200;
/**
 * Connections opened and closed before the measured ones, so the handshake
 * path runs optimised (fewer and the CPU per handshake still falls with the
 * number of connections measured).
 */
const WARMUP = 3000;
/** Target against the floor: memory per connection ≤ floor + 512 B (difference). */
const MEMORY_TARGET = { rssPerConnection: 512 };

async function runIdle(bench: Bench, def: ServerDef, count: number, fileLimit: number): Promise<IdleResult> {
  const churn = bench.options.idleChurn;
  return bench.withServerAndLoad(def, fileLimit, async (server: Running, load: LoadGenerator) => {
    await load.ping();
    const open = (connections: number, ms: number) =>
      load.open({ port: server.port, path: "/idle", count: connections, concurrency: CONCURRENCY }, ms);
    /** Open WARMUP connections, every one of them or fail. */
    const openWarmup = async (what: string): Promise<void> => {
      const opened = await open(WARMUP, 60_000);
      if (opened.opened !== WARMUP) throw new Error(`${def.name}: ${what} opened ${opened.opened}/${WARMUP}: ${opened.error}`);
    };
    // Churn: the handshake and close paths run until the JIT has settled (a long-running server's
    // state); the server sees each round's closes before the next, and the empty reading's GC collects them.
    for (let round = 0; round < churn; round++) {
      await openWarmup("churn");
      await load.close();
      await sleep(300);
    }
    const empty = await settle(server.child);
    // Warm-up connections run the handshake path until it is optimised, and stay open:
    // the measured connections come on top of them, so none reuses memory a closed one freed.
    await openWarmup("warm-up");
    const warmed = await settle(server.child);
    const pids = [server.child.pid, load.pid];
    const main0 = mainThreadMicros(server.child.pid);
    const s0 = sample(pids);
    const result = await open(count, 120_000);
    const s1 = sample(pids);
    const main1 = mainThreadMicros(server.child.pid);
    if (result.opened === 0) throw new Error(`${def.name}: no idle connection opened: ${result.error}`);
    if (result.failed > 0) process.stderr.write(`  ! ${def.name}: ${result.failed} connections failed (${result.error})\n`);
    const full = await settle(server.child);
    const marked = await load.mark();
    const cpuPerHandshake = used(s0, s1, 0) / result.opened;
    // After churn the "empty" process holds what the closed connections freed: memory per connection is not readable.
    const perConnection = (bytes: number, connections: number): number => (churn === 0 ? bytes / connections : Number.NaN);
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
      loadCpu: percent(s0, s1, 1),
      otherCpu: otherLoad(s0, s1),
    };
  });
}

export default {
  name: "idle",
  async run(bench: Bench): Promise<ScenarioResult> {
    const warnings: string[] = [];
    const limits = bench.fileLimitFor(bench.options.idleCount + WARMUP);
    const count = limits.count - WARMUP;
    if (limits.warning !== undefined) {
      warnings.push(limits.warning);
      progress(`! ${limits.warning}`);
    }
    // wsx-iter differs from wsx only once messages flow.
    const servers = bench.servers(["floor"]).filter((d) => d.name !== "wsx-iter");
    const rows = await repeat(
      "idle",
      servers.map((d) => d.name),
      bench.options.reps,
      (server) => runIdle(bench, servers.find((d) => d.name === server)!, count, limits.fileLimit),
      (r) =>
        `${fmt(r.connections)} conns  ${fmt(r.rssPerConnection)} B/conn (marginal ${fmt(r.rssPerExtraConnection)}, with young gen. ${fmt(r.rawRssPerConnection)})  ` +
        `${fmtSig(r.cpuPerHandshake)} µs/handshake (main thread ${fmtSig(r.mainCpuPerHandshake)})  ` +
        `${fmt(r.handshakesPerSecond)} handshakes/s  load ${fmt(r.loadCpu)}% CPU  other ${fmt(r.otherCpu)}%`,
    );
    warnings.push(...saturationWarnings(rows, "loadCpu", "the load generator").map((w) => `${w} opening connections: handshakes/s is a lower bound`));
    const figures = ["rssPerConnection", "rssPerExtraConnection", "rawRssPerConnection", "cpuPerHandshake", "mainCpuPerHandshake", "handshakesPerSecond"];
    const ratios = [
      // wsx against the floor first: the targets. floor/ws: what node:net alone costs against ws.
      ...ratioLines(rows, figures, [{ a: "wsx", b: "floor" }]),
      ...differenceLines(rows, ["rssPerConnection", "rssPerExtraConnection", "rawRssPerConnection"], [{ a: "wsx", b: "floor", targets: MEMORY_TARGET }], "B"),
      ...ratioLines(rows, figures, [...SERVER_PAIRS, { a: "floor", b: "ws" }]),
    ];
    const churn = bench.options.idleChurn;
    return {
      name: "idle",
      description:
        (churn > 0 ? `after ${churn} round(s) of ${fmt(WARMUP)} connections opened and closed (steady state; memory per connection not read then), ` : "") +
        `${fmt(WARMUP)} + ${fmt(count)} idle connections opened ${CONCURRENCY} at a time; RSS per connection above the empty process ` +
        `after a full GC, V8's young generation left out (marginal: the ${fmt(count)} over the first ${fmt(WARMUP)}; "with young gen.": ` +
        `RSS as it is right after the burst), server CPU per handshake of the ${fmt(count)} (and the part on the main thread; the rest is other threads, ` +
        `for Node mostly GC); floor: node:net with a minimal handshake, the reference (target: memory within 512 B of it; the CPU target is read in handshake)`,
      rows,
      ratios,
      ratioTitles: {
        rssPerConnection: "RSS/conn",
        rssPerExtraConnection: "marginal",
        rawRssPerConnection: "with young gen.",
        cpuPerHandshake: "CPU/handshake",
        mainCpuPerHandshake: "main thread",
        handshakesPerSecond: "handshakes/s",
      },
      targets: mainTargets(ratios),
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
  },
};
