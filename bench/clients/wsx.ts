/**
 * wsx client under test: `run` opens `connections` connections to `url`,
 * each keeping `window` messages of `size` bytes in flight (one new message
 * per echo received; text when `text` is set, else binary); `mark` reports
 * the echo count.
 */
import { connect } from "../../src/index.js";
import { serveEchoClient } from "../lib/control.js";

serveEchoClient(async ({ url, connections, window, size, text }, received) => {
  const payload = text ? "a".repeat(size) : new Uint8Array(size).fill(0x61);
  const sockets = [];
  for (let c = 0; c < connections; c++) sockets.push(await connect(url));
  for (const ws of sockets) {
    ws.on("message", (message) => {
      received();
      // Text is decoded, as the standard WebSocket clients hand it over: a string.
      if (text) void message.text;
      void ws.send(payload);
    });
    for (let k = 0; k < window; k++) void ws.send(payload);
  }
  return sockets.length;
});
