/**
 * Node's WebSocket (undici's; the global one from Node 22, the `undici`
 * package on Node 20), same traffic as clients/wsx-web.ts.
 */
import { performance } from "node:perf_hooks";
import { WebSocket as UndiciWebSocket } from "undici";
import { serveCommands } from "../lib/control.js";
import { openStandard, type StandardWebSocket } from "./standard.js";

const WebSocket = ((globalThis as { WebSocket?: unknown }).WebSocket ?? UndiciWebSocket) as StandardWebSocket;
let messages = 0;

serveCommands(async (command) => {
  switch (command.cmd) {
    case "run": {
      const { url, connections, window, size } = command as unknown as { url: string; connections: number; window: number; size: number };
      const connected = await openStandard(WebSocket, url, connections, window, new Uint8Array(size).fill(0x61), () => messages++);
      return { connected };
    }
    case "mark":
      return { messages, time: performance.now() };
    default:
      throw new Error(`unknown command ${command.cmd}`);
  }
});
