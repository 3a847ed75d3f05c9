/**
 * `zlib-cost`: wsx's permessage-deflate codec timed alone, in one process
 * (bench/processes/zlib-cost.ts) pinned where the servers run: inflate and
 * deflate of 64 KiB, 1 MiB and 16 MiB of JSON-like text, and a bomb.
 */
import { join } from "node:path";
import type { Bench } from "../lib/bench.js";
import { Child } from "../lib/child.js";
import { MiB } from "../lib/measure.js";
import { firstLines, medians, progress, type Figures, type Row, type ScenarioResult } from "../lib/report.js";
import { fmt } from "../lib/stats.js";

const COST_SIZES = [64 * 1024, MiB, 16 * MiB];
const BOMB = { size: 256 * MiB, limit: 16 * MiB };

export default {
  name: "zlib-cost",
  async run(bench: Bench): Promise<ScenarioResult> {
    const runs = new Map<string, Figures[]>();
    let error: string | undefined;
    // One fresh process per repetition, pinned where the servers run.
    for (let rep = 1; rep <= bench.options.reps && error === undefined; rep++) {
      const child = new Child({ name: "zlib-cost", command: process.execPath, args: [join(bench.here, "processes", "zlib-cost.js")], ...bench.pinServer() });
      try {
        await child.readLine(15_000);
        const entries = await child.request<Array<Figures & { name: string }>>(
          "run",
          { sizes: COST_SIZES, bombSize: BOMB.size, bombLimit: BOMB.limit },
          120_000,
        );
        for (const { name, ...figures } of entries) runs.set(name, [...(runs.get(name) ?? []), figures]);
        progress(
          `zlib-cost ${rep}/${bench.options.reps} ` +
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
  },
};
