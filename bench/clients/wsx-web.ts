/**
 * wsx/web client under test (the WHATWG WebSocket on wsx), same traffic as
 * clients/wsx.ts: what an application written against the browser API pays
 * over wsx's own API. Binary messages arrive as ArrayBuffer, as a page
 * that sets `binaryType = "arraybuffer"` gets them.
 */
import { performance } from "node:perf_hooks";
import { WebSocket } from "../../src/web/index.js";
import { serveCommands } from "../lib/control.js";
import { openStandard } from "./standard.js";

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
