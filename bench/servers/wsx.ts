/**
 * wsx server under test. `node dist/bench/servers/wsx.js [listener|iter] [--deflate JSON]`
 * prints its port, then serves /echo (echo every message with its type)
 * and /idle (accept, do nothing).
 *
 * - listener: `ws.on("message", (m) => ws.send(m))`, the fastest public API.
 * - iter: `for await (const m of ws) ws.send(m)`, to show what the async iterator costs.
 * - `--deflate true` serves with `compression: true`, `--deflate '{"threshold":0}'`
 *   with those DeflateOptions; the `zlib` command then reports
 *   `liveZlibContexts()` of this process.
 */
import { serve } from "../../src/index.js";
import { liveZlibContexts, type DeflateOptions } from "../../src/deflate/index.js";
import { emit, serveCommands } from "../lib/control.js";

const args = process.argv.slice(2);
const mode = args.find((a) => !a.startsWith("--")) ?? "listener";
if (mode !== "listener" && mode !== "iter") throw new Error(`unknown mode ${mode}`);
const deflateAt = args.indexOf("--deflate");
const compression: boolean | DeflateOptions = deflateAt < 0 ? false : (JSON.parse(args[deflateAt + 1] ?? "true") as boolean | DeflateOptions);

const server = await serve({ port: 0, host: "127.0.0.1", path: ["/echo", "/idle"], compression }, async (ws, request) => {
  if (request.path !== "/echo") return;
  if (mode === "listener") {
    ws.on("message", (message) => void ws.send(message));
  } else {
    for await (const message of ws) void ws.send(message);
  }
});

serveCommands((command) => {
  if (command.cmd === "info") return { library: "wsx", mode, compression, clients: server.clients.size };
  if (command.cmd === "zlib") return { contexts: liveZlibContexts(), clients: server.clients.size };
  throw new Error(`unknown command ${command.cmd}`);
});
emit(server.port);
