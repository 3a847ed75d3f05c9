/**
 * The node:net floor: `node dist/bench/servers/floor.js` prints its port,
 * then answers every request with a 101 computed with the fewest steps
 * possible (the key is found with a string search, nothing is validated)
 * and keeps the connection open.
 *
 * It is not a WebSocket server: it shows what any server built on node:net
 * pays before doing any work of its own (the Socket and its streams,
 * accept, read, write, the kernel), so the figures of wsx and ws can be
 * read against it.
 *
 * - /idle (and any other path): nothing is ever read after the 101.
 * - /sub: a subscriber. /pub: every read from the publisher is turned into
 *   server frames (headers rewritten, payloads unmasked, control frames
 *   dropped) in one buffer, which is written to every subscriber, one write
 *   per subscriber per read (a read is a turn of the event loop here), with
 *   nothing else done: no per-subscriber state, queue or backpressure.
 * - /all: a subscriber that also publishes (wsload's `bcast` mode sends on
 *   one of the connections it counts).
 *
 * Commands: `stats` (subscribers).
 */
import { hash } from "node:crypto";
import { createServer, type Socket } from "node:net";
import { WEBSOCKET_GUID } from "../../src/core/handshake.js";
import { emit, serveCommands } from "../lib/control.js";

const KEY = "sec-websocket-key:";
const subscribers = new Set<Socket>();

function answer(this: Socket, chunk: Buffer): void {
  const text = chunk.toString("latin1");
  let at = text.indexOf("Sec-WebSocket-Key:");
  if (at < 0) at = text.toLowerCase().indexOf(KEY);
  const key = text.slice(at + KEY.length, text.indexOf("\r\n", at)).trim();
  this.write(
    `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${hash("sha1", key + WEBSOCKET_GUID, "base64")}\r\n\r\n`,
    "latin1",
  );
  this.removeListener("data", answer);
  // Whatever follows the head in this chunk is ignored (clients wait for the 101 before sending).
  const path = text.slice(4, text.indexOf(" ", 4));
  if (path === "/sub" || path === "/all") {
    subscribers.add(this);
    this.once("close", unsubscribe);
  }
  this.on("data", path === "/pub" || path === "/all" ? publisher() : ignore);
}

function unsubscribe(this: Socket): void {
  subscribers.delete(this);
}

function ignore(): void {}

/** A publisher's reader: client frames in (possibly split across reads), one fan-out per read. */
function publisher(): (chunk: Buffer) => void {
  let carry: Buffer | null = null;
  return (input: Buffer) => {
    const chunk = carry === null ? input : Buffer.concat([carry, input]);
    carry = null;
    const out = Buffer.allocUnsafe(chunk.length);
    let written = 0;
    let at = 0;
    while (at + 2 <= chunk.length) {
      const b0 = chunk[at]!;
      let length = chunk[at + 1]! & 0x7f;
      let header = 2;
      if (length === 126) {
        if (at + 4 > chunk.length) break;
        length = chunk.readUInt16BE(at + 2);
        header = 4;
      } else if (length === 127) {
        if (at + 10 > chunk.length) break;
        length = chunk.readUInt32BE(at + 6);
        header = 10;
      }
      if (at + header + 4 + length > chunk.length) break;
      const mask = at + header;
      const payload = mask + 4;
      if ((b0 & 0x0f) < 8) {
        // The same header without the mask bit, then the payload unmasked.
        chunk.copy(out, written, at, at + header);
        out[written + 1] = out[written + 1]! & 0x7f;
        written += header;
        for (let i = 0; i < length; i++) out[written + i] = chunk[payload + i]! ^ chunk[mask + (i & 3)]!;
        written += length;
      }
      at = payload + length;
    }
    if (at < chunk.length) carry = Buffer.from(chunk.subarray(at));
    if (written === 0) return;
    const frames = out.subarray(0, written);
    for (const subscriber of subscribers) subscriber.write(frames);
  };
}

const server = createServer((socket) => {
  socket.on("data", answer);
  socket.on("error", ignore);
});
server.listen(0, "127.0.0.1", () => emit((server.address() as { port: number }).port));
serveCommands((command) => {
  if (command.cmd === "stats") return { subscribers: subscribers.size, dropped: 0 };
  return null;
});
