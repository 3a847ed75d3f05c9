/**
 * The node:net floor for the idle scenario: `node dist/bench/servers/floor.js`
 * prints its port, then answers every request with a 101 computed with the
 * fewest steps possible (the key is found with a string search, nothing is
 * validated, no frame is ever parsed) and keeps the connection open.
 *
 * It is not a WebSocket server: it shows what any server built on node:net
 * pays per connection and per handshake before doing any work of its own
 * (the Socket and its streams, accept, read, write, the kernel), so the idle
 * figures of wsx and ws can be read against it.
 */
import { hash } from "node:crypto";
import { createServer, type Socket } from "node:net";
import { WEBSOCKET_GUID } from "../../src/core/handshake.js";
import { emit, serveCommands } from "../lib/control.js";

const KEY = "sec-websocket-key:";

function answer(this: Socket, chunk: Buffer): void {
  const text = chunk.toString("latin1");
  let at = text.indexOf("Sec-WebSocket-Key:");
  if (at < 0) at = text.toLowerCase().indexOf(KEY);
  const key = text.slice(at + KEY.length, text.indexOf("\r\n", at)).trim();
  this.write(
    `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${hash("sha1", key + WEBSOCKET_GUID, "base64")}\r\n\r\n`,
    "latin1",
  );
  // Whatever follows is ignored (the idle scenario sends nothing).
  this.removeListener("data", answer);
  this.on("data", ignore);
}

function ignore(): void {}

const server = createServer((socket) => {
  socket.on("data", answer);
  socket.on("error", ignore);
});
server.listen(0, "127.0.0.1", () => emit((server.address() as { port: number }).port));
serveCommands(() => null);
