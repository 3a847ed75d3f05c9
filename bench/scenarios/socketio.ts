/**
 * `socketio`: one Socket.IO app (servers/socketio.ts: `echo` back to the
 * sender, `shout` to everyone with `io.emit`) on engine.io's default
 * WebSocket server (`ws`) and on wsx/ws's (`wsEngine`), driven by Socket.IO
 * clients speaking the protocol over wsx's client (processes/socketio-load.ts).
 * Echo: 50 sockets × 16 events in flight; broadcast: 200 sockets, one of
 * which shouts with 8 in flight. Server CPU µs per event received by a
 * client. Socket.IO's own work (packet encoding, event dispatch) is the
 * same in both rows, so the ratio is smaller than the WebSocket layer's alone.
 */
import { join } from "node:path";
import { envWith, type Bench, type ServerDef } from "../lib/bench.js";
import { Child } from "../lib/child.js";
import { MiB, otherLoad, percent, sample, used } from "../lib/measure.js";
import { rssBytes } from "../lib/proc.js";
import { mainTargets, ratioLines, repeat, saturationWarnings, type Pair, type Row, type ScenarioResult } from "../lib/report.js";
import { fmt, fmtSig, sleep } from "../lib/stats.js";

interface SocketIoResult {
  throughput: number; // events received by the clients per second
  cpuPerUnit: number; // server CPU µs per event received
  serverCpu: number;
  rssMiB: number;
  loadCpu: number;
  otherCpu: number;
}

const ECHO = { connections: 50, window: 16, size: 32 };
const BROADCAST = { subscribers: 200, window: 8, size: 32 };
const SHAPES = ["echo", "broadcast"] as const;
/** The engines, with the server row of `--servers` each stands for. */
const ENGINES = [
  { engine: "ws", row: "ws", label: "ws engine" },
  { engine: "wsx", row: "wsx-ws", label: "wsx/ws" },
] as const;

function serverDef(bench: Bench, engine: string): ServerDef {
  return {
    name: `socket.io on ${engine}`,
    library: engine === "ws" ? "ws" : "wsx/ws",
    command: process.execPath,
    args: [join(bench.here, "servers", "socketio.js"), engine],
    // As the ws rows: ws without bufferutil (it only unmasks what clients send here).
    env: envWith({ WS_NO_BUFFER_UTIL: "1" }),
    node: true,
  };
}

async function runSocketIo(bench: Bench, engine: string, shape: (typeof SHAPES)[number]): Promise<SocketIoResult> {
  const def = serverDef(bench, engine);
  const server = await bench.startServer(def);
  const load = new Child({
    name: "socket.io load",
    command: process.execPath,
    args: [join(bench.here, "processes", "socketio-load.js")],
    ...bench.pinDriver(),
  });
  try {
    const params = shape === "echo" ? ECHO : BROADCAST;
    const started = await load.request<{ connected: number }>(shape, { port: server.port, ...params }, 60_000);
    const wanted = shape === "echo" ? ECHO.connections : BROADCAST.subscribers;
    if (started.connected !== wanted) throw new Error(`${def.name}: ${started.connected} of ${wanted} sockets connected`);
    await sleep(bench.options.warmupMs);
    const pids = [server.child.pid, load.pid];
    const s0 = sample(pids);
    const mark0 = await load.request<{ messages: number; time: number }>("mark");
    await sleep(bench.options.measureMs);
    const s1 = sample(pids);
    const mark1 = await load.request<{ messages: number; time: number }>("mark");
    const rss = rssBytes(server.child.pid);
    const events = mark1.messages - mark0.messages;
    if (events <= 0) throw new Error(`${def.name}: no event in the measured window`);
    return {
      throughput: events / ((mark1.time - mark0.time) / 1000),
      cpuPerUnit: used(s0, s1, 0) / events,
      serverCpu: percent(s0, s1, 0),
      rssMiB: rss / MiB,
      loadCpu: percent(s0, s1, 1),
      otherCpu: otherLoad(s0, s1),
    };
  } finally {
    await bench.stopServer(server);
    await load.kill();
  }
}

export default {
  name: "socketio",
  async run(bench: Bench): Promise<ScenarioResult> {
    const wanted = bench.options.servers;
    const engines = ENGINES.filter((e) => wanted === null || wanted.includes(e.row));
    const rows: Row[] = [];
    const pairs: Pair[] = [];
    for (const shape of SHAPES) {
      const label = (engineLabel: string): string => `${shape.padEnd(9)} ${engineLabel}`;
      rows.push(
        ...(await repeat(
          "socketio",
          engines.map((e) => label(e.label)),
          bench.options.reps,
          (name) => runSocketIo(bench, engines.find((e) => label(e.label) === name)!.engine, shape),
          (r) =>
            `${fmt(r.throughput).padStart(9)} events/s  server ${fmtSig(r.cpuPerUnit)} µs/event (${fmt(r.serverCpu)}% CPU)  ` +
            `load ${fmt(r.loadCpu)}% CPU  other ${fmt(r.otherCpu)}%`,
        )),
      );
      pairs.push({ a: label("wsx/ws"), b: label("ws engine"), label: `wsx/ws ÷ ws engine (${shape})` });
    }
    const ratios = ratioLines(rows, ["cpuPerUnit", "throughput", "rssMiB"], pairs);
    return {
      name: "socketio",
      description:
        `one Socket.IO app (echo to the sender; io.emit to everyone) on engine.io's default ws server and on wsx/ws (wsEngine), websocket ` +
        `transport, ${ECHO.size}-character text events: echo ${ECHO.connections} sockets × ${ECHO.window} in flight, broadcast to ` +
        `${BROADCAST.subscribers} sockets with ${BROADCAST.window} in flight; server CPU µs per event a client received`,
      firstColumn: "traffic · engine",
      rows,
      ratios,
      ratioTitles: { cpuPerUnit: "CPU/event", throughput: "events/s", rssMiB: "RSS" },
      targets: mainTargets(ratios),
      columns: [
        { key: "throughput", title: "events/s", format: (v) => fmt(v) },
        { key: "cpuPerUnit", title: "CPU µs/event", format: fmtSig },
        { key: "serverCpu", title: "server CPU%", format: (v) => fmt(v) },
        { key: "rssMiB", title: "RSS MiB", format: (v) => fmt(v, 1) },
        { key: "loadCpu", title: "load CPU%", format: (v) => fmt(v) },
        { key: "otherCpu", title: "other CPU%", format: (v) => fmt(v) },
      ],
      warnings: saturationWarnings(rows, "loadCpu", "the load (Node)").map((w) => `${w}: events/s is a lower bound, CPU per event stands`),
    };
  },
};
