/**
 * `ws` server under test: `node dist/bench/servers/ws.js` prints its port,
 * then serves /echo and /idle. ws uses bufferutil (masking in C) when it is
 * installed unless WS_NO_BUFFER_UTIL is set: the runner starts the plain
 * `ws` variant with WS_NO_BUFFER_UTIL=1 and `ws-bufferutil` without it.
 */
import { createRequire } from "node:module";
import { WebSocketServer } from "ws";
import { emit, serveCommands } from "../lib/control.js";

const wss = new WebSocketServer({ port: 0, host: "127.0.0.1", perMessageDeflate: false });

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

wss.once("listening", () => {
  serveCommands((command) => {
    if (command.cmd === "info") return { library: "ws", bufferutil: nativeBufferUtil(), clients: wss.clients.size };
    throw new Error(`unknown command ${command.cmd}`);
  });
  const address = wss.address();
  emit(typeof address === "object" && address !== null ? address.port : address);
});
