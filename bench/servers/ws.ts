/**
 * `ws` server under test: `node dist/bench/servers/ws.js [--deflate JSON]`
 * prints its port, then serves /echo and /idle. ws uses bufferutil (masking
 * in C) when it is installed unless WS_NO_BUFFER_UTIL is set: the runner
 * starts the plain `ws` variant with WS_NO_BUFFER_UTIL=1 and `ws-bufferutil`
 * without it. `--deflate true` sets `perMessageDeflate: true`, `--deflate
 * '{…}'` passes those PerMessageDeflateOptions; the `zlib` command then
 * counts the zlib contexts ws's connections hold (from ws internals).
 */
import { createRequire } from "node:module";
import { WebSocketServer, type PerMessageDeflateOptions, type WebSocket } from "ws";
import { emit, serveCommands } from "../lib/control.js";

const args = process.argv.slice(2);
const deflateAt = args.indexOf("--deflate");
const perMessageDeflate: boolean | PerMessageDeflateOptions =
  deflateAt < 0 ? false : (JSON.parse(args[deflateAt + 1] ?? "true") as boolean | PerMessageDeflateOptions);

const wss = new WebSocketServer({ port: 0, host: "127.0.0.1", perMessageDeflate });

wss.on("connection", (ws, request) => {
  ws.on("error", () => undefined);
  if (request.url !== "/echo") return;
  ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary }));
});

/** Whether ws runs with the native bufferutil (it skips it when WS_NO_BUFFER_UTIL is set). */
function nativeBufferUtil(): boolean {
  if (process.env["WS_NO_BUFFER_UTIL"]) return false;
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
  let contexts = 0;
  for (const ws of wss.clients) {
    const extensions = (ws as WebSocket & { _extensions?: Record<string, WsDeflateInternals | undefined> })._extensions;
    const deflate = extensions?.["permessage-deflate"];
    if (deflate === undefined) continue;
    if (deflate._inflate) contexts++;
    if (deflate._deflate) contexts++;
  }
  return contexts;
}

wss.once("listening", () => {
  serveCommands((command) => {
    if (command.cmd === "info") return { library: "ws", bufferutil: nativeBufferUtil(), perMessageDeflate, clients: wss.clients.size };
    if (command.cmd === "zlib") return { contexts: zlibContexts(), clients: wss.clients.size };
    throw new Error(`unknown command ${command.cmd}`);
  });
  const address = wss.address();
  emit(typeof address === "object" && address !== null ? address.port : address);
});
