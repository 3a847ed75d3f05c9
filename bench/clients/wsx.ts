/**
 * wsx client under test: `run` opens `connections` connections to `url`,
 * each keeping `window` binary messages of `size` bytes in flight (one new
 * message per echo received); `mark` reports the echo count.
 */
import { performance } from "node:perf_hooks";
import { connect } from "../../src/index.js";
import { serveCommands } from "../lib/control.js";

let messages = 0;

serveCommands(async (command) => {
  switch (command.cmd) {
    case "run": {
      const { url, connections, window, size } = command as unknown as { url: string; connections: number; window: number; size: number };
      const payload = new Uint8Array(size).fill(0x61);
      const sockets = [];
      for (let c = 0; c < connections; c++) sockets.push(await connect(url));
      for (const ws of sockets) {
        ws.on("message", () => {
          messages++;
          void ws.send(payload);
        });
        for (let k = 0; k < window; k++) void ws.send(payload);
      }
      return { connected: sockets.length };
    }
    case "mark":
      return { messages, time: performance.now() };
    default:
      throw new Error(`unknown command ${command.cmd}`);
  }
});
