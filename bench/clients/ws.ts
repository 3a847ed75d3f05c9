/**
 * `ws` client under test, same traffic as clients/wsx.ts: `run` opens
 * `connections` connections, each keeping `window` messages of `size`
 * bytes in flight (text when `text` is set); `mark` reports the echo count.
 */
import { performance } from "node:perf_hooks";
import { WebSocket } from "ws";
import { serveCommands, type RunCommand } from "../lib/control.js";

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
      const { url, connections, window, size, text } = command as unknown as RunCommand;
      const payload = text ? "a".repeat(size) : Buffer.alloc(size, 0x61);
      const sockets: WebSocket[] = [];
      for (let c = 0; c < connections; c++) sockets.push(await open(url));
      for (const ws of sockets) {
        ws.on("error", () => undefined);
        ws.on("message", (data: Buffer) => {
          messages++;
          // Text is decoded, as the standard WebSocket clients hand it over: a string.
          if (text) data.toString();
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
