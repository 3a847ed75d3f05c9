/**
 * `client`: client libraries (bench/clients/) against one server process
 * each of wsx, ws and Bun: 10 connections × 64 in flight, 32-byte binary;
 * client CPU µs per message. The libraries: wsx's own API, wsx/web (the
 * WHATWG WebSocket on wsx), ws, and Node's WebSocket (undici).
 * {@link clientScenario} makes the same comparison for other traffic
 * (`client-large`, `client-text`).
 */
import { join } from "node:path";
import { CLIENT_NAMES, envWith, type Bench, type Running, type Scenario } from "../lib/bench.js";
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

/**
 * The traffic a client scenario runs; `perMiB` reports per MiB received
 * instead of per message; `text` sends strings (binary otherwise).
 */
export interface ClientLoad {
  connections: number;
  window: number;
  size: number;
  perMiB: boolean;
  text?: boolean;
}

const LOAD: ClientLoad = { connections: 10, window: 64, size: 32, perMiB: false };
type Library = (typeof CLIENT_NAMES)[number];

async function runClient(bench: Bench, library: Library, server: Running, load: ClientLoad): Promise<ClientResult> {
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
    const { connections, window, size, text = false } = load;
    await client.request("run", { url: `ws://127.0.0.1:${server.port}/echo`, connections, window, size, text }, 30_000);
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
    const units = load.perMiB ? (messages * load.size) / MiB : messages;
    return {
      throughput: units / ((mark1.time - mark0.time) / 1000),
      cpuPerUnit: used(s0, s1, 0) / units,
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

export default clientScenario("client", LOAD);

/** Client libraries compared on `load`, each against the same server process of wsx, ws and Bun. */
export function clientScenario(name: string, load: ClientLoad): Scenario {
  const unit = load.perMiB ? "MiB" : "msg";
  const rate = load.perMiB ? "MiB/s" : "msgs/s";
  return {
    name,
    async run(bench: Bench): Promise<ScenarioResult> {
      // --clients picks the libraries; without it, --servers does for wsx and ws (their own clients).
      const wanted = bench.options.clients ?? bench.options.servers;
      const libraries = CLIENT_NAMES.filter((l) => wanted === null || wanted.includes(l));
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
              name,
              names,
              bench.options.reps,
              (row) => runClient(bench, row.split(" ")[0] as Library, server, load),
              (r) =>
                `${fmt(r.throughput).padStart(9)} ${rate}  client ${fmtSig(r.cpuPerUnit)} µs/${unit} (${fmt(r.clientCpu)}% CPU)  ` +
                `server ${fmt(r.serverCpu)}% CPU  other ${fmt(r.otherCpu)}%`,
            )),
          );
        } finally {
          await bench.stopServer(server);
        }
      }
      const ratios = ratioLines(rows, ["cpuPerUnit", "throughput", "rssMiB"], [
        { a: "wsx → wsx", b: "ws → wsx", targets: load.perMiB || load.text === true ? {} : { cpuPerUnit: 0.3 } },
        { a: "wsx → ws", b: "ws → ws" },
        { a: "wsx → bun", b: "ws → bun" },
        // What the browser API costs over wsx's own, and against the other standard WebSocket.
        { a: "wsx-web → wsx", b: "wsx → wsx" },
        { a: "wsx-web → wsx", b: "undici → wsx" },
        { a: "wsx-web → bun", b: "undici → bun" },
      ]);
      return {
        name,
        description:
          `client libraries (wsx, wsx/web, ws, Node's WebSocket = undici) against one server process (wsx, ws, then bun): ${load.connections} connections × ${load.window} in flight, ` +
          `${load.perMiB ? `${fmt(load.size / MiB)} MiB` : `${load.size}-byte`} ${load.text === true ? "text" : "binary"}; client CPU µs per ${load.perMiB ? "MiB received" : "message"}`,
        firstColumn: "client → server",
        rows,
        ratios,
        ratioTitles: { cpuPerUnit: `CPU/${unit}`, throughput: rate, rssMiB: "RSS" },
        targets: mainTargets(ratios),
        columns: [
          { key: "throughput", title: rate, format: (v) => fmt(v) },
          { key: "cpuPerUnit", title: `client CPU µs/${unit}`, format: fmtSig },
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
}
