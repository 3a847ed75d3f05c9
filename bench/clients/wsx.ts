/**
 * wsx client under test: `run` opens `connections` connections to `url`,
 * each keeping `window` messages of `size` bytes in flight (one new message
 * per echo received; text when `text` is set, else binary); `mark` reports
 * the echo count.
 */
import { performance } from "node:perf_hooks";
import { connect } from "../../src/index.js";
import { serveCommands, type RunCommand } from "../lib/control.js";

let messages = 0;

serveCommands(async (command) => {
  switch (command.cmd) {
    case "run": {
      const { url, connections, window, size, text } = command as unknown as RunCommand;
      const payload = text ? "a".repeat(size) : new Uint8Array(size).fill(0x61);
      const sockets = [];
      for (let c = 0; c < connections; c++) sockets.push(await connect(url));
      for (const ws of sockets) {
        ws.on("message", (message) => {
          messages++;
          // Text is decoded, as the standard WebSocket clients hand it over: a string.
          if (text) void message.text;
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
