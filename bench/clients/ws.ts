/**
 * `ws` client under test, same traffic as clients/wsx.ts: `run` opens
 * `connections` connections, each keeping `window` messages of `size`
 * bytes in flight (text when `text` is set); `mark` reports the echo count.
 */
import { WebSocket } from "ws";
import { serveEchoClient } from "../lib/control.js";

function open(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.once("open", () => resolve(ws));
    ws.once("error", reject);
  });
}

serveEchoClient(async ({ url, connections, window, size, text }, received) => {
  const payload = text ? "a".repeat(size) : Buffer.alloc(size, 0x61);
  const sockets: WebSocket[] = [];
  for (let c = 0; c < connections; c++) sockets.push(await open(url));
  for (const ws of sockets) {
    ws.on("error", () => undefined);
    ws.on("message", (data: Buffer) => {
      received();
      // Text is decoded, as the standard WebSocket clients hand it over: a string.
      if (text) data.toString();
      ws.send(payload);
    });
    for (let k = 0; k < window; k++) ws.send(payload);
  }
  return sockets.length;
});
