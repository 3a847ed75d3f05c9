/**
 * wsx server under test. `node dist/bench/servers/wsx.js [listener|iter] [--deflate JSON]
 * [--max-backpressure BYTES] [--backpressure wait|drop|close]` prints its port, then serves
 * /echo (echo every message with its type), /idle (accept, do nothing),
 * /sub (subscribe to the topic "bench"), /pub (publish every message
 * received to "bench" with `server.publish`) and /all (both: the path
 * wsload's `bcast` mode uses, where one of the subscribers publishes).
 *
 * - listener: `ws.on("message", (m) => ws.send(m))`, the fastest public API.
 * - iter: `for await (const m of ws) ws.send(m)`, to show what the async iterator costs.
 * - `--deflate true` serves with `compression: true`, `--deflate '{"threshold":0}'`
 *   with those DeflateOptions; the `zlib` command then reports
 *   `liveZlibContexts()` of this process.
 * - `--max-backpressure` and `--backpressure` set those server options.
 * - `--unix PATH` also accepts connections on that Unix socket (a node:http
 *   server handing its upgrades to `server.handleUpgrade`): `slow-consumers`
 *   connects there, where the kernel buffers little per connection.
 *
 * Commands: `flood` publishes to "bench" at a fixed rate (lib/flood.ts),
 * `backlog` reports what waits for the sockets and what the flood did,
 * `stats` returns `server.stats`.
 */
import { createServer } from "node:http";
import { serve, type BackpressurePolicy, type WebSocket } from "../../src/index.js";
import { liveZlibContexts, type DeflateOptions } from "../../src/deflate/index.js";
import { emit, serveCommands } from "../lib/control.js";
import { startFlood, type FloodCommand, type FloodProgress } from "../lib/flood.js";

const TOPIC = "bench";
const args = process.argv.slice(2);
const mode = args.find((a, i) => !a.startsWith("--") && (i === 0 || !args[i - 1]!.startsWith("--"))) ?? "listener";
if (mode !== "listener" && mode !== "iter") throw new Error(`unknown mode ${mode}`);
const option = (name: string): string | undefined => {
  const at = args.indexOf(name);
  return at < 0 ? undefined : args[at + 1];
};
const deflate = option("--deflate");
const compression: boolean | DeflateOptions = deflate === undefined ? false : (JSON.parse(deflate) as boolean | DeflateOptions);
const maxBackpressure = option("--max-backpressure");
const backpressure = option("--backpressure") as BackpressurePolicy | undefined;

/** Echo with the async iterator (iter mode). */
async function iterate(ws: WebSocket): Promise<void> {
  for await (const message of ws) void ws.send(message);
}

const server = await serve(
  {
    port: 0,
    host: "127.0.0.1",
    path: ["/echo", "/idle", "/sub", "/pub", "/all"],
    compression,
    ...(maxBackpressure === undefined ? {} : { maxBackpressure: Number(maxBackpressure) }),
    ...(backpressure === undefined ? {} : { backpressure }),
  },
  // Synchronous, as ws's server's 'connection' listener is: only iter mode runs an async function per connection.
  (ws, request) => {
    if (request.path === "/sub") {
      ws.subscribe(TOPIC);
      return;
    }
    if (request.path === "/all") ws.subscribe(TOPIC);
    if (request.path === "/pub" || request.path === "/all") {
      ws.on("message", (message) => void server.publish(TOPIC, message));
      return;
    }
    if (request.path !== "/echo") return;
    if (mode === "listener") ws.on("message", (message) => void ws.send(message));
    else return iterate(ws);
  },
);

const unix = option("--unix");
if (unix !== undefined) {
  const http = createServer((_request, response) => response.writeHead(404).end());
  http.on("upgrade", server.handleUpgrade);
  await new Promise<void>((resolve) => http.listen(unix, resolve));
}

let flood: FloodProgress | null = null;

serveCommands((command) => {
  switch (command.cmd) {
    case "info":
      return { library: "wsx", mode, compression, maxBackpressure, backpressure, clients: server.clients.size };
    case "zlib":
      return { contexts: liveZlibContexts(), clients: server.clients.size };
    case "stats":
      return { ...server.stats, subscribers: server.subscriberCount(TOPIC) };
    case "flood":
      flood = startFlood(command as unknown as FloodCommand, (payload) => server.publish(TOPIC, payload));
      return null;
    case "backlog": {
      let buffered = 0;
      for (const ws of server.clients) buffered += ws.bufferedAmount;
      const stats = server.stats;
      const closed = Object.values(stats.closedByCode).reduce((a, b) => a + b, 0);
      return { connections: stats.connections, buffered, dropped: stats.dropped, closed, flood, arrayBuffers: process.memoryUsage().arrayBuffers };
    }
    default:
      throw new Error(`unknown command ${command.cmd}`);
  }
});
emit(server.port);
