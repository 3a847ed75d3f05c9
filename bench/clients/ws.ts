/**
 * `ws` client under test, same traffic as clients/wsx.ts: `run` opens
 * `connections` connections, each keeping `window` binary messages of
 * `size` bytes in flight; `mark` reports the echo count.
 */
import { performance } from "node:perf_hooks";
import { WebSocket } from "ws";
import { serveCommands } from "../lib/control.js";

let messages = 0;

function open(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.once("open", () => resolve(ws));
    ws.once("error", reject);
  });
}

serveCommands(async (command) => {
  switch (command.cmd) {
    case "run": {
      const { url, connections, window, size } = command as unknown as { url: string; connections: number; window: number; size: number };
      const payload = Buffer.alloc(size, 0x61);
      const sockets: WebSocket[] = [];
      for (let c = 0; c < connections; c++) sockets.push(await open(url));
      for (const ws of sockets) {
        ws.on("error", () => undefined);
        ws.on("message", () => {
          messages++;
          ws.send(payload);
        });
        for (let k = 0; k < window; k++) ws.send(payload);
      }
      return { connected: sockets.length };
    }
    case "mark":
      return { messages, time: performance.now() };
    default:
      throw new Error(`unknown command ${command.cmd}`);
  }
});
