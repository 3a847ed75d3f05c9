/**
 * `broadcast`: subscribers held by the load generator, one publisher
 * connection, 64-byte binary messages. Two windows: 32 messages in flight
 * (the publisher tops its window up whenever the first subscriber receives
 * messages, as wsload's bcast does, so a saturated server reads many
 * publishes per turn of its event loop, as it does when many clients
 * publish), and 2 (about one publish per turn: nothing to batch, each
 * delivery is one socket write in every library). The node:net
 * floor (servers/floor.ts) fans the pre-encoded bytes of a turn out with
 * one write per subscriber and does nothing else: the bound for a server on
 * node:net (target: wsx within 1.2× of it).
 */
import type { Bench, ServerDef } from "../lib/bench.js";
import { buildTraffic, Opcode } from "../lib/frames.js";
import { measureWindow, MiB, otherLoad, percent, used } from "../lib/measure.js";
import { LOAD_BOUND, mainTargets, ratioLines, repeat, SERVER_PAIRS, type Pair, type Row, type ScenarioResult } from "../lib/report.js";
import { fmt, fmtSig } from "../lib/stats.js";

interface BroadcastResult {
  throughput: number; // deliveries/s (one message to one subscriber)
  publishes: number; // messages published per second
  cpuPerUnit: number; // server CPU µs per delivery
  serverCpu: number;
  rssMiB: number;
  loadCpu: number;
  loadCpuPerUnit: number; // load generator CPU µs per delivery
  otherCpu: number;
  writesPerK: number; // server write system calls per 1,000 deliveries
  readsPerK: number; // server read system calls per 1,000 deliveries
}

const BROADCAST = { subscribers: 1000, size: 64, windows: [32, 2] };
/** Servers that count their subscribers and drops (the `stats` command). */
const COUNTING = new Set(["wsx", "bun", "net"]);

async function runBroadcast(bench: Bench, def: ServerDef, window: number, fileLimit: number, subscribers: number): Promise<BroadcastResult> {
  const traffic = buildTraffic({ opcode: Opcode.BINARY, size: BROADCAST.size, window });
  return bench.withServerAndLoad(def, fileLimit, async (server, load) => {
    const started = await load.broadcast({ port: server.port, subscribers, traffic });
    if (started.subscribed !== subscribers) {
      throw new Error(`${def.name}: only ${started.subscribed} of ${subscribers} subscribers connected${started.error ? ` (${started.error})` : ""}`);
    }
    const { s0, s1, mark0, mark1, rss, seconds, reads, writes } = await measureWindow(server.child.pid, load, bench.options.warmupMs, bench.options.measureMs);
    const deliveries = mark1.messages - mark0.messages;
    if (deliveries <= 0) throw new Error(`${def.name}: no delivery in the measured window`);
    if (mark1.failures > 0) process.stderr.write(`  ! ${def.name}: the server sent ${mark1.failures} close frame(s)\n`);
    if (mark1.mismatches > 0) throw new Error(`${def.name}: ${mark1.mismatches} subscriber(s) received something else than the message published`);
    if (COUNTING.has(def.library)) {
      // These servers count their subscribers; a missing one would make every figure per delivery wrong.
      const stats = await server.child.request<{ subscribers: number; dropped?: number }>("stats");
      if (stats.subscribers !== subscribers) throw new Error(`${def.name}: ${stats.subscribers} of ${subscribers} connections subscribed`);
      if ((stats.dropped ?? 0) > 0) throw new Error(`${def.name}: ${stats.dropped} deliveries dropped (over maxBackpressure)`);
    }
    const serverMicros = used(s0, s1, 0);
    return {
      throughput: deliveries / seconds,
      publishes: (mark1.published - mark0.published) / seconds,
      cpuPerUnit: serverMicros / deliveries,
      serverCpu: percent(s0, s1, 0),
      rssMiB: rss / MiB,
      loadCpu: (100 * (mark1.cpuMicros - mark0.cpuMicros)) / (seconds * 1e6),
      loadCpuPerUnit: (mark1.cpuMicros - mark0.cpuMicros) / deliveries,
      otherCpu: otherLoad(s0, s1),
      // /proc/PID/io counts read(v) and write(v), not send/recv, which Bun uses: no figure for Bun.
      writesPerK: def.library === "bun" ? Number.NaN : (1000 * writes) / deliveries,
      readsPerK: def.library === "bun" ? Number.NaN : (1000 * reads) / deliveries,
    };
  });
}

/**
 * The load generator reads each subscriber's socket: against a server that
 * writes every delivery with its own syscall (ws; any server at 2 in flight)
 * it pays about one read per delivery. When the server is at its limit too,
 * the CPU per delivery still stands (each library's batching depends on how
 * many publishes share a turn, which the window sets), only the throughput
 * is a lower bound.
 */
function loadWarnings(rows: Row[]): string[] {
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

export default {
  name: "broadcast",
  async run(bench: Bench): Promise<ScenarioResult> {
    const warnings: string[] = [];
    const limits = bench.fileLimitFor(BROADCAST.subscribers);
    const subscribers = limits.count;
    if (limits.warning !== undefined) warnings.push(limits.warning);
    const rows: Row[] = [];
    const pairs: Pair[] = [];
    const [main] = BROADCAST.windows;
    for (const window of BROADCAST.windows) {
      // wsx-iter differs from wsx only in how the publisher's messages are read; ws-bufferutil
      // from ws only in unmasking them (servers never mask), so it is run once, at the main window.
      const servers = bench.servers(["floor"]).filter((d) => d.name !== "wsx-iter" && (window === main || d.name !== "ws-bufferutil"));
      const label = (name: string): string => `${String(window).padEnd(2)} ${name}`;
      rows.push(
        ...(await repeat(
          "broadcast",
          servers.map((d) => label(d.name)),
          bench.options.reps,
          (name) => runBroadcast(bench, servers.find((d) => label(d.name) === name)!, window, limits.fileLimit, subscribers),
          (r) =>
            `${fmt(r.throughput).padStart(9)} deliveries/s  server ${fmtSig(r.cpuPerUnit)} µs/delivery (${fmt(r.serverCpu)}% CPU)  ` +
            `load ${fmt(r.loadCpu)}% CPU  other ${fmt(r.otherCpu)}%`,
        )),
      );
      const targeted = window === main;
      pairs.push({ a: label("wsx"), b: label("ws"), label: `wsx/ws (${window} in flight)`, ...(targeted ? { targets: { cpuPerUnit: 0.1 } } : {}) });
      pairs.push({ a: label("wsx"), b: label("floor"), label: `wsx/floor (${window} in flight)`, ...(targeted ? { targets: { cpuPerUnit: 1.2 } } : {}) });
      for (const pair of SERVER_PAIRS) {
        if (pair.a === "wsx-iter" || (pair.a === "wsx" && pair.b === "ws")) continue;
        pairs.push({ a: label(pair.a), b: label(pair.b), label: `${pair.a}/${pair.b} (${window} in flight)` });
      }
    }
    const ratios = ratioLines(rows, ["cpuPerUnit", "throughput", "rssMiB"], pairs);
    return {
      name: "broadcast",
      description:
        `${fmt(subscribers)} subscribers, ${BROADCAST.size}-byte binary messages sent by one publisher connection and each published to every ` +
        `subscriber (wsx: server.publish; ws: the wss.clients loop; Bun: server.publish; floor: node:net writing a turn's pre-encoded frames ` +
        `to each subscriber at once), ${BROADCAST.windows.join(" or ")} messages in flight; server CPU µs per delivery (one message to one subscriber)`,
      firstColumn: "in flight · server",
      rows,
      ratios,
      ratioTitles: { cpuPerUnit: "CPU/delivery", throughput: "deliveries/s", rssMiB: "RSS" },
      targets: mainTargets(ratios),
      columns: [
        { key: "throughput", title: "deliveries/s", format: (v) => fmt(v) },
        { key: "cpuPerUnit", title: "CPU µs/delivery", format: fmtSig },
        { key: "publishes", title: "publishes/s", format: (v) => fmt(v) },
        { key: "serverCpu", title: "server CPU%", format: (v) => fmt(v) },
        { key: "rssMiB", title: "RSS MiB", format: (v) => fmt(v, 1) },
        { key: "loadCpu", title: "load CPU%", format: (v) => fmt(v) },
        { key: "loadCpuPerUnit", title: "load µs/delivery", format: fmtSig },
        { key: "writesPerK", title: "writes/1k", format: fmtSig },
        { key: "readsPerK", title: "reads/1k", format: fmtSig },
        { key: "otherCpu", title: "other CPU%", format: (v) => fmt(v) },
      ],
      warnings: [...warnings, ...loadWarnings(rows)],
    };
  },
};
