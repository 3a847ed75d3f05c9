/**
 * `ws` server under test: `node dist/bench/servers/ws.js [--deflate JSON]`
 * prints its port, then serves /echo, /idle, /sub (a subscriber: every
 * connection is one, ws has no topics) and /pub (every message received is
 * sent to every other open client with ws's documented broadcast loop,
 * `wss.clients.forEach(... client.send(data, { binary }))`), and /all (the
 * same loop to every client, the sender included: the path wsload's `bcast`
 * mode uses). ws uses bufferutil (masking
 * in C) when it is installed unless WS_NO_BUFFER_UTIL is set: the runner
 * starts the plain `ws` variant with WS_NO_BUFFER_UTIL=1 and `ws-bufferutil`
 * without it. `--deflate true` sets `perMessageDeflate: true`, `--deflate
 * '{…}'` passes those PerMessageDeflateOptions; the `zlib` command then
 * counts the zlib contexts ws's connections hold (from ws internals).
 * `--unix PATH` also accepts connections on that Unix socket (a node:http
 * server handing its upgrades to `wss.handleUpgrade`).
 *
 * `--wsx` runs this same program on `wsx/ws` instead of `ws` (the `wsx-ws`
 * row): the import is the only change, which is what the facade promises;
 * the `zlib` command then reports wsx's live zlib contexts.
 */
import { createServer } from "node:http";
import { createRequire } from "node:module";
import type * as wsPackage from "ws";
import type { PerMessageDeflateOptions } from "ws";
import { emit, serveCommands } from "../lib/control.js";
import { startFlood, type FloodCommand, type FloodProgress } from "../lib/flood.js";

const args = process.argv.slice(2);
const facade = args.includes("--wsx");
// wsx/ws has ws's API; its types differ only in what ws leaves loose, so it is used through ws's.
// Only the library under test is loaded (its memory is in the RSS column).
const { WebSocket, WebSocketServer } = facade ? ((await import("../../src/ws/index.js")) as unknown as typeof wsPackage) : await import("ws");
const wsxDeflate = facade ? await import("../../src/deflate/index.js") : null;
const deflateAt = args.indexOf("--deflate");
const perMessageDeflate: boolean | PerMessageDeflateOptions =
  deflateAt < 0 ? false : (JSON.parse(args[deflateAt + 1] ?? "true") as boolean | PerMessageDeflateOptions);

const wss = new WebSocketServer({ port: 0, host: "127.0.0.1", perMessageDeflate });

wss.on("connection", (ws, request) => {
  ws.on("error", () => undefined);
  if (request.url === "/pub" || request.url === "/all") {
    const others = request.url === "/pub";
    ws.on("message", (data, isBinary) => {
      wss.clients.forEach((client) => {
        if ((!others || client !== ws) && client.readyState === WebSocket.OPEN) client.send(data, { binary: isBinary });
      });
    });
    return;
  }
  if (request.url !== "/echo") return;
  ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary }));
});

/** The broadcast loop for `flood`: every open client is a subscriber; returns the deliveries queued. */
function broadcast(payload: Buffer): number {
  let queued = 0;
  wss.clients.forEach((client) => {
    if (client.readyState === WebSocket.OPEN) {
      client.send(payload, { binary: true });
      queued++;
    }
  });
  return queued;
}

let flood: FloodProgress | null = null;

/** Whether ws runs with the native bufferutil (it skips it when WS_NO_BUFFER_UTIL is set). */
function nativeBufferUtil(): boolean {
  if (facade || process.env["WS_NO_BUFFER_UTIL"]) return false;
  try {
    const require = createRequire(import.meta.url);
    return require("bufferutil") !== require("bufferutil/fallback");
  } catch {
    return false;
  }
}

/** The part of ws's (private) permessage-deflate object read here. */
interface WsDeflateInternals {
  _inflate: unknown;
  _deflate: unknown;
}

/** zlib contexts held by ws's connections: each creates them on first use, like wsx. */
function zlibContexts(): number {
  if (wsxDeflate !== null) return wsxDeflate.liveZlibContexts();
  let contexts = 0;
  for (const ws of wss.clients) {
    const extensions = (ws as wsPackage.WebSocket & { _extensions?: Record<string, WsDeflateInternals | undefined> })._extensions;
    const deflate = extensions?.["permessage-deflate"];
    if (deflate === undefined) continue;
    if (deflate._inflate) contexts++;
    if (deflate._deflate) contexts++;
  }
  return contexts;
}

const unixAt = args.indexOf("--unix");
const unix = unixAt < 0 ? undefined : args[unixAt + 1];

wss.once("listening", async () => {
  if (unix !== undefined) {
    const http = createServer((_request, response) => response.writeHead(404).end());
    http.on("upgrade", (request, socket, head) => wss.handleUpgrade(request, socket, head, (ws) => wss.emit("connection", ws, request)));
    await new Promise<void>((resolve) => http.listen(unix, resolve));
  }
  serveCommands((command) => {
    if (command.cmd === "info") return { library: facade ? "wsx/ws" : "ws", bufferutil: nativeBufferUtil(), perMessageDeflate, clients: wss.clients.size };
    if (command.cmd === "zlib") return { contexts: zlibContexts(), clients: wss.clients.size };
    if (command.cmd === "flood") {
      flood = startFlood(command as unknown as FloodCommand, broadcast);
      return null;
    }
    if (command.cmd === "backlog") {
      let buffered = 0;
      let open = 0;
      wss.clients.forEach((client) => {
        buffered += client.bufferedAmount;
        if (client.readyState === WebSocket.OPEN) open++;
      });
      // ws never drops: a client that does not read gets everything queued for it.
      return { connections: open, buffered, dropped: 0, closed: 0, flood, arrayBuffers: process.memoryUsage().arrayBuffers };
    }
    throw new Error(`unknown command ${command.cmd}`);
  });
  const address = wss.address();
  emit(typeof address === "object" && address !== null ? address.port : address);
});
