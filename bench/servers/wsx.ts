/**
 * wsx server under test. `node dist/bench/servers/wsx.js [listener|iter]`
 * prints its port, then serves /echo (echo every message with its type)
 * and /idle (accept, do nothing).
 *
 * - listener: `ws.on("message", (m) => ws.send(m))`, the fastest public API.
 * - iter: `for await (const m of ws) ws.send(m)`, to show what the async iterator costs.
 */
import { serve } from "../../src/index.js";
import { emit, serveCommands } from "../lib/control.js";

const mode = process.argv[2] ?? "listener";
if (mode !== "listener" && mode !== "iter") throw new Error(`unknown mode ${mode}`);

const server = await serve({ port: 0, host: "127.0.0.1", path: ["/echo", "/idle"] }, async (ws, request) => {
  if (request.path !== "/echo") return;
  if (mode === "listener") {
    ws.on("message", (message) => void ws.send(message));
  } else {
    for await (const message of ws) void ws.send(message);
  }
});

serveCommands((command) => {
  if (command.cmd === "info") return { library: "wsx", mode, clients: server.clients.size };
  throw new Error(`unknown command ${command.cmd}`);
});
emit(server.port);
