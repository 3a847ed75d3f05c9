/**
 * `client`: client libraries (bench/clients/) against one server process
 * each of wsx, ws and Bun: 10 connections × 64 in flight, 32-byte binary;
 * client CPU µs per message.
 */
import { join } from "node:path";
import { envWith, type Bench, type Running } from "../lib/bench.js";
import { Child } from "../lib/child.js";
import { MiB, otherLoad, percent, sample, used } from "../lib/measure.js";
import { rssBytes } from "../lib/proc.js";
import { mainTargets, ratioLines, repeat, saturationWarnings, type Row, type ScenarioResult } from "../lib/report.js";
import { fmt, fmtSig, sleep } from "../lib/stats.js";

interface ClientResult {
  throughput: number;
  cpuPerUnit: number; // client CPU µs per message
  clientCpu: number;
  serverCpu: number;
  rssMiB: number;
  otherCpu: number;
}

const LOAD = { connections: 10, window: 64, size: 32 };
const LIBRARIES = ["wsx", "ws"] as const;
type Library = (typeof LIBRARIES)[number];

async function runClient(bench: Bench, library: Library, server: Running): Promise<ClientResult> {
  const name = `${library}-client`;
  const profile = bench.profileFlags(name);
  const client = new Child({
    name,
    command: process.execPath,
    args: [...profile.flags, join(bench.here, "clients", `${library}.js`)],
    env: library === "ws" ? envWith({ WS_NO_BUFFER_UTIL: "1" }) : process.env,
    ...bench.pinDriver(),
  });
  try {
    await client.request("run", { url: `ws://127.0.0.1:${server.port}/echo`, ...LOAD }, 30_000);
    await sleep(bench.options.warmupMs);
    const pids = [client.pid, server.child.pid];
    const s0 = sample(pids);
    const mark0 = await client.request<{ messages: number; time: number }>("mark");
    await sleep(bench.options.measureMs);
    const s1 = sample(pids);
    const mark1 = await client.request<{ messages: number; time: number }>("mark");
    const rss = rssBytes(client.pid);
    const messages = mark1.messages - mark0.messages;
    if (messages <= 0) throw new Error(`${library} client: no echo in the measured window`);
    return {
      throughput: messages / ((mark1.time - mark0.time) / 1000),
      cpuPerUnit: used(s0, s1, 0) / messages,
      clientCpu: percent(s0, s1, 0),
      serverCpu: percent(s0, s1, 1),
      rssMiB: rss / MiB,
      otherCpu: otherLoad(s0, s1),
    };
  } finally {
    if (profile.dir !== null) await client.stop(10_000);
    else await client.kill();
  }
}

export default {
  name: "client",
  async run(bench: Bench): Promise<ScenarioResult> {
    const wanted = bench.options.servers;
    const libraries = LIBRARIES.filter((l) => wanted === null || wanted.includes(l));
    // Both clients run against the same server process, for three servers. wsx and Bun batch
    // their writes, so a client reads many messages at a time and what the client library
    // itself costs shows. ws writes every message with its own syscall, so against it any
    // client reads one message per syscall and both libraries cost about the same.
    const targets = ["wsx", "ws", "bun"].map((name) => bench.anyServer(name)).filter((d) => d !== undefined);
    const rows: Row[] = [];
    for (const serverDef of targets) {
      // One server process for every client run against it, not profiled: the clients are what differs.
      const server = await bench.startServer(serverDef, undefined, false);
      try {
        const names = libraries.map((l) => `${l} → ${serverDef.name}`);
        rows.push(
          ...(await repeat(
            "client",
            names,
            bench.options.reps,
            (name) => runClient(bench, name.split(" ")[0] as Library, server),
            (r) =>
              `${fmt(r.throughput).padStart(9)} msg/s  client ${fmtSig(r.cpuPerUnit)} µs/msg (${fmt(r.clientCpu)}% CPU)  ` +
              `server ${fmt(r.serverCpu)}% CPU  other ${fmt(r.otherCpu)}%`,
          )),
        );
      } finally {
        await bench.stopServer(server);
      }
    }
    const ratios = ratioLines(rows, ["cpuPerUnit", "throughput", "rssMiB"], [
      { a: "wsx → wsx", b: "ws → wsx", targets: { cpuPerUnit: 0.3 } },
      { a: "wsx → ws", b: "ws → ws" },
      { a: "wsx → bun", b: "ws → bun" },
    ]);
    return {
      name: "client",
      description:
        `client libraries against one server process (wsx, ws, then bun): ${LOAD.connections} connections × ${LOAD.window} in flight, ` +
        `${LOAD.size}-byte binary; client CPU µs per message`,
      firstColumn: "client → server",
      rows,
      ratios,
      ratioTitles: { cpuPerUnit: "CPU/msg", throughput: "msgs/s", rssMiB: "RSS" },
      targets: mainTargets(ratios),
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
  },
};
