/**
 * `compressed`: permessage-deflate echo of JSON-like text, the client's
 * messages pre-compressed (client_no_context_takeover): 64 B, 64 KiB and 1 MiB,
 * wsx and ws in the configurations that do the same work (see BENCHMARKS.md).
 */
import type { Bench, ServerDef } from "../lib/bench.js";
import { describeEcho, echoColumns, runEcho, type EchoLoad } from "../lib/echo.js";
import { LOAD_BOUND, ratioLines, repeat, saturationWarnings, type Row, type ScenarioResult } from "../lib/report.js";
import { fmt } from "../lib/stats.js";

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
  load: EchoLoad;
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
    load: { connections: 50, window: 32, size: 64, text: true, perMiB: false, deflate: true, json: true },
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
    load: { connections: 8, window: 4, size: 64 * 1024, text: true, perMiB: false, deflate: true, json: true },
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
  {
    label: "1 MiB",
    // Large compressed messages: both libraries inflate and deflate them on libuv's thread pool
    // (their CPU is counted: every thread of the server process).
    load: { connections: 4, window: 2, size: 1024 * 1024, text: true, perMiB: false, deflate: true, json: true },
    servers: [
      { name: "1 MiB  wsx", base: "wsx", deflate: true },
      { name: "1 MiB  ws", base: "ws", deflate: true },
      { name: "1 MiB  ws level 1", base: "ws", deflate: { zlibDeflateOptions: { level: 1 } } },
    ],
    pairs: [
      ["1 MiB  wsx", "1 MiB  ws", "1 MiB  wsx/ws"],
      ["1 MiB  wsx", "1 MiB  ws level 1", "1 MiB  wsx/ws level 1"],
    ],
  },
];

/** A base server definition started with `--deflate <json>`. */
function withDeflate(base: ServerDef, name: string, deflate: unknown): ServerDef {
  return { ...base, name, args: [...base.args, "--deflate", JSON.stringify(deflate)] };
}

export default {
  name: "compressed",
  async run(bench: Bench): Promise<ScenarioResult> {
    const rows: Row[] = [];
    const pairs: Array<[string, string, string]> = [];
    const wire: string[] = [];
    for (const c of COMPRESSED) {
      const servers = c.servers
        .map((s) => {
          const base = bench.server(s.base);
          return base === undefined ? null : withDeflate(base, s.name, s.deflate);
        })
        .filter((d): d is ServerDef => d !== null);
      if (servers.length === 0) continue;
      let wireBytes = Number.NaN;
      rows.push(
        ...(await repeat(
          "compressed",
          servers.map((d) => d.name),
          bench.options.reps,
          async (name) => {
            const result = await runEcho(bench, servers.find((d) => d.name === name)!, c.load);
            wireBytes = result.wireBytes;
            return result;
          },
          (r) => describeEcho(r, false),
        )),
      );
      pairs.push(...c.pairs);
      wire.push(`${c.label} → ${fmt(wireBytes)} B on the wire`);
    }
    const compressedCases = COMPRESSED.map((c) => `${c.load.connections} × ${c.load.window} in flight for ${c.label}`).join(", ");
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
        pairs.map(([a, b, label]) => ({ a, b, label })),
      ),
      ratioTitles: { cpuPerUnit: "CPU/msg", throughput: "msgs/s", rssMiB: "RSS" },
      targets: {},
      columns: echoColumns("msg"),
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
  },
};
