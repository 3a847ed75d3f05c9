/**
 * `handshake`: server CPU per handshake with every server alive at once.
 * Each server gets its own load generator and 3,000 warm-up connections;
 * then ten rounds of 1,000 connections (`--idle` / 10) go to each server in
 * turn (the order rotating every round), so all of them run through the
 * same stretches of machine time. CPU is read per process over the whole rounds phase, to the
 * nanosecond (schedstat), so work a server defers (concurrent GC, compiling)
 * is counted whenever it runs. `idle` measures the servers one after the
 * other, seconds apart: on a shared VM whose speed drifts, its per-handshake
 * ratio moves by ±7% from run to run, this one by about ±3%. The target is
 * read here: CPU per handshake within 1.1× the node:net floor.
 */
import type { Bench, Running, ServerDef } from "../lib/bench.js";
import type { LoadGenerator } from "../lib/loadgen.js";
import { scheduledMicros } from "../lib/proc.js";
import { mainTargets, medians, progress, ratioLines, SERVER_PAIRS, type Figures, type Row, type ScenarioResult } from "../lib/report.js";
import { fmt, fmtSig, sleep } from "../lib/stats.js";

const WARMUP = 3000;
/** The measured connections (--idle, 10,000 by default) go to each server in this many rounds. */
const ROUNDS = 10;
const CONCURRENCY = 200;
const CPU_TARGET = { cpuPerHandshake: 1.1 };

interface Contender {
  def: ServerDef;
  server: Running;
  load: LoadGenerator;
  opened: number;
}

/** One run: every server started, warmed up, then the rounds; figures by server name. */
async function runTogether(bench: Bench, defs: ServerDef[], batch: number, fileLimit: number): Promise<Map<string, Figures>> {
  const contenders: Contender[] = [];
  try {
    for (const def of defs) {
      const server = await bench.startServer(def, fileLimit, false);
      contenders.push({ def, server, load: bench.startLoad(fileLimit), opened: 0 });
    }
    const open = async (c: Contender, count: number): Promise<number> => {
      const result = await c.load.open({ port: c.server.port, path: "/idle", count, concurrency: CONCURRENCY }, 60_000);
      if (result.opened !== count) throw new Error(`${c.def.name}: opened ${result.opened}/${count}: ${result.error}`);
      return result.opened;
    };
    for (const c of contenders) {
      await c.load.ping();
      await open(c, WARMUP);
    }
    await sleep(500);
    const readings = (): Array<{ all: number; main: number } | null> => contenders.map((c) => scheduledMicros(c.server.child.pid));
    const start = readings();
    for (let round = 0; round < ROUNDS; round++) {
      for (let i = 0; i < contenders.length; i++) {
        const c = contenders[(i + round) % contenders.length]!;
        c.opened += await open(c, batch);
      }
    }
    await sleep(300); // work the last round left behind (GC helpers) is counted too
    const end = readings();
    const figures = new Map<string, Figures>();
    contenders.forEach((c, i) => {
      const a = start[i];
      const b = end[i];
      if (a == null || b == null) throw new Error("this kernel does not report per-thread CPU time (schedstat)");
      figures.set(c.def.name, {
        cpuPerHandshake: (b.all - a.all) / c.opened,
        mainCpuPerHandshake: (b.main - a.main) / c.opened,
        otherCpuPerHandshake: (b.all - a.all - (b.main - a.main)) / c.opened,
      });
    });
    return figures;
  } finally {
    for (const c of contenders) {
      await bench.stopServer(c.server);
      await c.load.kill();
    }
  }
}

export default {
  name: "handshake",
  async run(bench: Bench): Promise<ScenarioResult> {
    const warnings: string[] = [];
    const batch = Math.max(1, Math.round(bench.options.idleCount / ROUNDS));
    const perServer = WARMUP + ROUNDS * batch;
    const limits = bench.fileLimitFor(perServer);
    if (limits.count < perServer) throw new Error(`handshake needs ${perServer} open files per process: ${limits.warning}`);
    const defs = bench.servers(["floor"]).filter((d) => d.name !== "wsx-iter");
    const runs = new Map<string, Figures[]>(defs.map((d) => [d.name, []]));
    let failure: string | null = null;
    for (let rep = 1; rep <= bench.options.reps; rep++) {
      let figures: Map<string, Figures>;
      try {
        figures = await runTogether(bench, defs, batch, limits.fileLimit);
      } catch (error) {
        // The servers run together: a failure loses the repetition for all of them, not the whole benchmark.
        failure = (error as Error).message;
        progress(`handshake ${rep}/${bench.options.reps} failed: ${failure}`);
        continue;
      }
      for (const [name, f] of figures) runs.get(name)!.push(f);
      const line = [...figures].map(([name, f]) => `${name} ${fmtSig(f.cpuPerHandshake!)}`).join("  ");
      progress(`handshake ${rep}/${bench.options.reps} µs/handshake: ${line}`);
    }
    if (failure !== null) warnings.push(`a repetition failed: ${failure}`);
    const rows: Row[] = defs.map((d) => {
      const reps = runs.get(d.name)!;
      const row: Row = { name: d.name, reps, median: medians(reps) };
      if (reps.length === 0 && failure !== null) row.error = failure;
      return row;
    });
    const figures = ["cpuPerHandshake", "mainCpuPerHandshake"];
    const ratios = [
      ...ratioLines(rows, figures, [{ a: "wsx", b: "floor", targets: CPU_TARGET }]),
      ...ratioLines(rows, figures, [...SERVER_PAIRS, { a: "floor", b: "ws" }]),
    ];
    return {
      name: "handshake",
      description:
        `every server alive at once, each with its own load generator: ${fmt(WARMUP)} warm-up connections each, then ` +
        `${ROUNDS} rounds of ${fmt(batch)} idle connections (${CONCURRENCY} at a time) to each server in turn; server CPU per ` +
        `handshake over the rounds, every thread, read to the nanosecond; floor: node:net with a minimal handshake ` +
        `(target: wsx within 1.1× the floor)`,
      rows,
      ratios,
      ratioTitles: { cpuPerHandshake: "CPU/handshake", mainCpuPerHandshake: "main thread" },
      targets: mainTargets(ratios),
      columns: [
        { key: "cpuPerHandshake", title: "CPU µs/handshake", format: fmtSig },
        { key: "mainCpuPerHandshake", title: "main thread µs", format: fmtSig },
        { key: "otherCpuPerHandshake", title: "other threads µs", format: fmtSig },
      ],
      warnings,
    };
  },
};
