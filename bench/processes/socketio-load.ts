/**
 * The Socket.IO scenario's load: Socket.IO clients speaking engine.io's
 * WebSocket transport by hand over wsx's client (the cheapest client we
 * have, the same for both servers), so the server's CPU per message is what
 * the figures compare. Text event packets only: `42["echo","aaa…"]`.
 *
 * Commands: `echo {port,connections,window,size}` keeps `window` echo events
 * in flight per connection; `broadcast {port,subscribers,window,size}` opens
 * that many sockets, the first of which also shouts, keeping `window` shouts
 * in flight (counted at its own receipt of each `news`); `mark` reports
 * the events received. Engine.io's pings are answered.
 */
import { performance } from "node:perf_hooks";
import { connect, type Message, type WebSocket } from "../../src/index.js";
import { serveCommands } from "../lib/control.js";

const encoder = new TextEncoder();
let events = 0;

/** A Socket.IO client on the default namespace: engine.io's open packet, then `40` and its answer. */
async function socketIo(port: number): Promise<WebSocket> {
  const ws = await connect(`ws://127.0.0.1:${port}/socket.io/?EIO=4&transport=websocket`);
  const open = await ws.receive({ timeout: 10_000 });
  if (!open.text.startsWith("0{")) throw new Error(`expected engine.io's open packet, got ${open.text.slice(0, 40)}`);
  await ws.send("40");
  const joined = await ws.receive({ timeout: 10_000 });
  if (!joined.text.startsWith("40")) throw new Error(`expected the namespace's connect packet, got ${joined.text.slice(0, 40)}`);
  return ws;
}

/** An event packet `42["<event>","aaa…"]`, as UTF-8 bytes sent as text. */
function eventPacket(event: string, size: number): Uint8Array {
  return encoder.encode(`42${JSON.stringify([event, "a".repeat(size)])}`);
}

/** Calls `onEvent` for each event packet (`42…`); answers engine.io's pings (`2` → `3`). */
function onPackets(ws: WebSocket, onEvent: () => void): void {
  ws.on("message", (message: Message) => {
    const bytes = message.bytes;
    if (bytes[0] === 0x34 && bytes[1] === 0x32) {
      events++;
      onEvent();
    } else if (bytes.length === 1 && bytes[0] === 0x32) {
      void ws.send("3");
    }
  });
}

async function openAll(port: number, count: number): Promise<WebSocket[]> {
  const sockets: WebSocket[] = [];
  for (let i = 0; i < count; i++) sockets.push(await socketIo(port));
  return sockets;
}

serveCommands(async (command) => {
  const { port, window, size } = command as unknown as { port: number; window: number; size: number };
  switch (command.cmd) {
    case "echo": {
      const sockets = await openAll(port, (command as unknown as { connections: number }).connections);
      const packet = eventPacket("echo", size);
      for (const ws of sockets) {
        onPackets(ws, () => void ws.send(packet, { type: "text" }));
        for (let k = 0; k < window; k++) void ws.send(packet, { type: "text" });
      }
      return { connected: sockets.length };
    }
    case "broadcast": {
      const sockets = await openAll(port, (command as unknown as { subscribers: number }).subscribers);
      const packet = eventPacket("shout", size);
      const publisher = sockets[0]!;
      for (const ws of sockets) onPackets(ws, ws === publisher ? () => void publisher.send(packet, { type: "text" }) : () => undefined);
      for (let k = 0; k < window; k++) void publisher.send(packet, { type: "text" });
      return { connected: sockets.length };
    }
    case "mark":
      return { messages: events, time: performance.now() };
    default:
      throw new Error(`unknown command ${command.cmd}`);
  }
});
