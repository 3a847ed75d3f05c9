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
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import type { Bench, Running, ServerDef } from "../lib/bench.js";
import type { LoadGenerator } from "../lib/loadgen.js";
import { MiB, otherLoad, percent, sample, settle } from "../lib/measure.js";
import { rssBytes } from "../lib/proc.js";
import { repeat, type ScenarioResult } from "../lib/report.js";
import { fmt, sleep, table } from "../lib/stats.js";

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

async function runSlowConsumers(bench: Bench, variant: SlowServer, fileLimit: number, subscribers: number, curve: SlowPoint[]): Promise<SlowResult> {
  // Over a Unix socket: see SLOW. The socket file lives in its own directory, removed after the run.
  const socketDir = mkdtempSync(join(tmpdir(), "wsx-bench-sock-"));
  const socketPath = join(socketDir, "server.sock");
  const def = { ...variant.def, args: [...variant.def.args, "--unix", socketPath] };
  let server: Running | null = null;
  let load: LoadGenerator | null = null;
  try {
    server = await bench.startServer(def, fileLimit);
    load = bench.startLoad(fileLimit);
    await load.ping();
    const empty = (await settle(server.child)).rss;
    const opened = await load.open({ port: server.port, socketPath, path: "/sub", count: subscribers, concurrency: 100, pause: true }, 60_000);
    if (opened.opened !== subscribers) throw new Error(`${variant.name}: opened ${opened.opened}/${subscribers}: ${opened.error}`);
    const base = (await settle(server.child)).rss;
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
    const endCollected = (await settle(server.child)).rss;
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
      serverCpu: percent(s0, s1, 0),
      otherCpu: otherLoad(s0, s1),
    };
  } finally {
    if (server !== null) await bench.stopServer(server);
    await load?.kill();
    rmSync(socketDir, { recursive: true, force: true });
  }
}


export default {
  name: "slow-consumers",
  async run(bench: Bench): Promise<ScenarioResult> {
    const warnings: string[] = [];
    const { fileLimit, count: subscribers, warning } = bench.fileLimitFor(SLOW.subscribers);
    if (warning !== undefined) warnings.push(warning);
    const variants: SlowServer[] = [];
    const wsx = bench.server("wsx");
    if (wsx !== undefined) {
      const limited = (policy: string): ServerDef => ({
        ...wsx,
        name: `wsx 64 KiB ${policy}`,
        args: [...wsx.args, "--max-backpressure", String(64 * 1024), "--backpressure", policy],
      });
      variants.push({ name: "wsx 64 KiB drop", def: limited("drop") }, { name: "wsx 64 KiB close", def: limited("close") });
      variants.push({ name: "wsx defaults", def: { ...wsx, name: "wsx defaults" } });
    }
    const ws = bench.server("ws");
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
        return runSlowConsumers(bench, variants.find((v) => v.name === name)!, fileLimit, subscribers, curve);
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
  },
};

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

