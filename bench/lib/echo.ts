/**
 * Pipelined echo traffic against one server (small-binary, small-text,
 * large, compressed): the load generator keeps `window` messages in flight
 * on each connection, and the runner reads the server's CPU and page faults
 * from /proc around a measured window.
 */
import type { Bench, Scenario, ServerDef } from "./bench.js";
import { buildTraffic, Opcode, type TrafficSpec } from "./frames.js";
import { measureWindow, MiB, otherLoad, percent, settle, used } from "./measure.js";
import { LOAD_BOUND, ratioLines, repeat, saturationWarnings, SERVER_PAIRS, withTargets, type Column, type Pair, type ScenarioResult } from "./report.js";
import { fmt, fmtSig } from "./stats.js";

export interface EchoLoad {
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

export interface EchoResult {
  throughput: number; // messages/s, or MiB/s per MiB
  wireBytes: number; // bytes per message sent by the load generator (frame included)
  cpuPerUnit: number; // server CPU µs per message, or per MiB
  /** Share of the server's CPU spent in the kernel (stime / (utime + stime)). */
  kernelShare: number;
  /** Minor page faults of the server per message (/proc/<pid>/stat minflt). */
  faultsPerMessage: number;
  /** Server read and write system calls per message (/proc/<pid>/io; NaN for Bun, whose send/recv it does not count). */
  readsPerMessage: number;
  writesPerMessage: number;
  serverCpu: number; // % of one core
  rssMiB: number;
  /**
   * Large messages only: RSS once the connections are closed, after a full GC
   * (what a burst of large messages leaves the process holding); NaN otherwise.
   */
  rssAfterMiB: number;
  loadCpu: number; // % of one core
  loadCpuPerUnit: number;
  otherCpu: number; // % of one core used by processes outside the benchmark
}

/** One measured echo run against a fresh server process. */
export function runEcho(bench: Bench, def: ServerDef, load: EchoLoad): Promise<EchoResult> {
  const spec: TrafficSpec = {
    opcode: load.text ? Opcode.TEXT : Opcode.BINARY,
    size: load.size,
    window: load.window,
    json: load.json === true,
    deflate: load.deflate === true,
  };
  const traffic = buildTraffic(spec);
  return bench.withServerAndLoad(def, undefined, async (server, generator) => {
    const started = await generator.echo({ port: server.port, path: "/echo", connections: load.connections, traffic });
    if (started.connected !== load.connections) {
      throw new Error(`${def.name}: only ${started.connected} of ${load.connections} connections opened${started.error ? ` (${started.error})` : ""}`);
    }
    const { s0, s1, mark0, mark1, faults, systemMicros, reads, writes, rss, seconds } = await measureWindow(
      server.child.pid,
      generator,
      bench.options.warmupMs,
      bench.options.measureMs,
    );
    const messages = mark1.messages - mark0.messages;
    if (messages <= 0) throw new Error(`${def.name}: no echo in the measured window`);
    if (mark1.failures > 0) process.stderr.write(`  ! ${def.name}: the server sent ${mark1.failures} close frame(s)\n`);
    const mismatches = mark1.mismatches + (mark1.kept > 0 ? await generator.checkFirsts(traffic.expected) : 0);
    if (mismatches > 0) throw new Error(`${def.name}: ${mismatches} echo(es) differ from the message sent`);
    const units = load.perMiB ? (messages * load.size) / MiB : messages;
    const serverMicros = used(s0, s1, 0);
    let rssAfter = Number.NaN;
    if (load.perMiB) {
      await generator.close();
      rssAfter = (await settle(server.child)).rss;
    }
    return {
      throughput: units / seconds,
      wireBytes: started.wireBytes,
      cpuPerUnit: serverMicros / units,
      kernelShare: serverMicros > 0 ? systemMicros / serverMicros : 0,
      faultsPerMessage: faults / messages,
      readsPerMessage: def.library === "bun" ? Number.NaN : reads / messages,
      writesPerMessage: def.library === "bun" ? Number.NaN : writes / messages,
      serverCpu: percent(s0, s1, 0),
      rssMiB: rss / MiB,
      rssAfterMiB: rssAfter / MiB,
      loadCpu: (100 * (mark1.cpuMicros - mark0.cpuMicros)) / (seconds * 1e6),
      loadCpuPerUnit: (mark1.cpuMicros - mark0.cpuMicros) / units,
      otherCpu: otherLoad(s0, s1),
    };
  });
}

/** One progress line of an echo run. */
export function describeEcho(r: EchoResult, perMiB: boolean): string {
  return (
    `${fmt(r.throughput).padStart(9)} ${perMiB ? "MiB/s" : "msg/s"}  server ${fmtSig(r.cpuPerUnit)} µs/${perMiB ? "MiB" : "msg"} ` +
    `(${fmt(r.serverCpu)}% CPU, kernel ${fmt(100 * r.kernelShare)}%, ${fmtSig(r.faultsPerMessage)} faults/msg)  load ${fmt(r.loadCpu)}% CPU  other ${fmt(r.otherCpu)}%`
  );
}

/** The columns of an echo table (per message or per MiB). */
export function echoColumns(unit: "msg" | "MiB"): Column[] {
  const after: Column[] = unit === "MiB" ? [{ key: "rssAfterMiB", title: "RSS after MiB", format: (v) => fmt(v, 1) }] : [];
  return [
    { key: "throughput", title: unit === "MiB" ? "MiB/s" : "msgs/s", format: (v) => fmt(v) },
    { key: "cpuPerUnit", title: `CPU µs/${unit}`, format: fmtSig },
    { key: "serverCpu", title: "server CPU%", format: (v) => fmt(v) },
    { key: "kernelShare", title: "kernel %", format: (v) => fmt(100 * v) },
    { key: "faultsPerMessage", title: "faults/msg", format: fmtSig },
    { key: "readsPerMessage", title: "reads/msg", format: fmtSig },
    { key: "writesPerMessage", title: "writes/msg", format: fmtSig },
    { key: "rssMiB", title: "RSS MiB", format: (v) => fmt(v, 1) },
    ...after,
    { key: "loadCpu", title: "load CPU%", format: (v) => fmt(v) },
    { key: "loadCpuPerUnit", title: `load µs/${unit}`, format: fmtSig },
    { key: "otherCpu", title: "other CPU%", format: (v) => fmt(v) },
  ];
}

/**
 * A plain echo scenario (small-binary, small-text, large): every selected
 * server, interleaved repetitions, ratio lines with `targets` on the pairs given.
 */
export function echoScenario(name: string, load: EchoLoad, targets: Array<{ a: string; b: string; targets: Record<string, number> }>, options: { iter?: boolean } = {}): Scenario {
  return {
    name,
    async run(bench: Bench): Promise<ScenarioResult> {
      const unit = load.perMiB ? "MiB" : "msg";
      // The async iterator's cost shows where messages are many; elsewhere wsx-iter would only repeat wsx.
      const servers = bench.servers().filter((d) => options.iter === true || d.name !== "wsx-iter");
      const rows = await repeat(
        name,
        servers.map((d) => d.name),
        bench.options.reps,
        (server) => runEcho(bench, servers.find((d) => d.name === server)!, load),
        (r) => describeEcho(r, load.perMiB),
      );
      let pairs: Pair[] = SERVER_PAIRS;
      for (const t of targets) pairs = withTargets(pairs, t.a, t.b, t.targets);
      const ratios = ratioLines(rows, ["cpuPerUnit", "throughput", "rssMiB", ...(load.perMiB ? ["rssAfterMiB"] : [])], pairs);
      return {
        name,
        description: load.perMiB
          ? `${load.connections} connections × ${load.window} in flight, ${fmt(load.size / MiB)} MiB binary echo; server CPU µs per MiB echoed`
          : `${load.connections} connections × ${load.window} in flight, ${load.size}-byte ${load.text ? "text" : "binary"} echo; server CPU µs per message`,
        rows,
        ratios,
        ratioTitles: { cpuPerUnit: `CPU/${unit}`, throughput: load.perMiB ? "MiB/s" : "msgs/s", rssMiB: "RSS", rssAfterMiB: "RSS after" },
        targets: targets[0]?.targets ?? {},
        columns: echoColumns(unit),
        warnings: saturationWarnings(rows, "loadCpu", "the load generator").map((w) => `${w}: ${LOAD_BOUND}`),
      };
    },
  };
}
