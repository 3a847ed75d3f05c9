/**
 * The demo behind `npm start`: a chat with rooms on wsx's pub/sub, served
 * by one process. A plain GET on the port answers the page (public/: HTML,
 * CSS and a script using the browser's own WebSocket, no bundler); the
 * page's WebSocket goes to /chat on the same port.
 *
 * Each room is a topic (`room:NAME`): joining subscribes the connection,
 * and every chat message and member list is one `publish` to it, encoded
 * (and compressed, for browsers that offer permessage-deflate) once for
 * all members. The sender gets its own message back through the topic too,
 * which gives the page each message's round-trip time.
 *
 * Messages are JSON text. From the page:
 *   {"type":"join","room":"lobby","name":"ada"}   join (or move to) a room
 *   {"type":"say","text":"hi","id":"c7"}          send to the room
 *   {"type":"probe","id":12}                      latency probe, answered directly
 * From the server:
 *   {"type":"joined","room","name","you"}         after a join
 *   {"type":"members","room","members":[{"id","name"}]}
 *   {"type":"message","room","from","name","text","id","at"}
 *   {"type":"probe","id"} and {"type":"error","message"}
 *
 * Settings (environment): PORT (default 8080, 0 for any free port), HOST (127.0.0.1).
 */
import { readFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { WebSocketServer, type WebSocket } from "../../src/index.js";

const port = Number(process.env["PORT"] ?? 8080);
const host = process.env["HOST"] ?? "127.0.0.1";

/** The page's files, read on each request (edit them and reload). */
const PUBLIC = new URL("../../../examples/chat/public/", import.meta.url);
const FILES: Record<string, { file: string; type: string }> = {
  "/": { file: "index.html", type: "text/html; charset=utf-8" },
  "/app.js": { file: "app.js", type: "text/javascript; charset=utf-8" },
  "/style.css": { file: "style.css", type: "text/css; charset=utf-8" },
};

/** A chat message may carry this many bytes of text (the page's 1 MiB test message fits). */
const MAX_TEXT_BYTES = 2 * 1024 * 1024;
const ROOM = /^[A-Za-z0-9_-]{1,32}$/;
const NAME_MAX = 32;

interface Member {
  id: number;
  name: string;
  room: string | null;
}

/** Who is in each room, in joining order. */
const rooms = new Map<string, Map<number, Member>>();
let nextId = 1;

const topic = (room: string): string => `room:${room}`;

function publishMembers(room: string): void {
  const members = [...(rooms.get(room)?.values() ?? [])].map(({ id, name }) => ({ id, name }));
  wss.publish(topic(room), JSON.stringify({ type: "members", room, members }));
}

function leave(ws: WebSocket, member: Member): void {
  const room = member.room;
  if (room === null) return;
  member.room = null;
  ws.unsubscribe(topic(room));
  const members = rooms.get(room);
  members?.delete(member.id);
  if (members?.size === 0) rooms.delete(room);
  else publishMembers(room);
}

function join(ws: WebSocket, member: Member, room: unknown, name: unknown): string | null {
  if (typeof room !== "string" || !ROOM.test(room)) return "a room name is 1 to 32 letters, digits, _ or -";
  const trimmed = typeof name === "string" ? name.trim() : "";
  // Control characters would let one member garble the others' pages.
  if (trimmed === "" || trimmed.length > NAME_MAX || /\p{Cc}/u.test(trimmed)) return `a name is 1 to ${NAME_MAX} printable characters`;
  leave(ws, member);
  member.name = trimmed;
  member.room = room;
  if (!rooms.has(room)) rooms.set(room, new Map());
  rooms.get(room)!.set(member.id, member);
  ws.subscribe(topic(room));
  void ws.send(JSON.stringify({ type: "joined", room, name: trimmed, you: member.id })).catch(() => {});
  publishMembers(room);
  console.log(`+ ${trimmed} joined ${room} (${rooms.get(room)!.size} there)`);
  return null;
}

/** One message from a page; a string when it must be refused. */
function handle(ws: WebSocket, member: Member, data: unknown): string | null {
  if (typeof data !== "object" || data === null) return "messages are JSON objects";
  const message = data as Record<string, unknown>;
  switch (message["type"]) {
    case "join":
      return join(ws, member, message["room"], message["name"]);
    case "say": {
      const text = message["text"];
      if (member.room === null) return "join a room first";
      if (typeof text !== "string" || text === "") return "say what?";
      if (Buffer.byteLength(text) > MAX_TEXT_BYTES) return `a message is at most ${MAX_TEXT_BYTES} bytes`;
      const id = typeof message["id"] === "string" ? message["id"].slice(0, 64) : null;
      const record = { type: "message", room: member.room, from: member.id, name: member.name, text, id, at: Date.now() };
      wss.publish(topic(member.room), JSON.stringify(record));
      return null;
    }
    case "probe":
      void ws.send(JSON.stringify({ type: "probe", id: message["id"] })).catch(() => {});
      return null;
    default:
      return `unknown message type ${JSON.stringify(message["type"])}`;
  }
}

const wss = new WebSocketServer(
  {
    path: "/chat",
    compression: true, // used when the browser offers permessage-deflate (Chromium, Firefox and Safari do)
    maxMessageSize: MAX_TEXT_BYTES + 64 * 1024,
    pingInterval: 30_000, // notice pages that vanished without closing
  },
  async (ws) => {
    const member: Member = { id: nextId++, name: "", room: null };
    try {
      for await (const message of ws) {
        let problem: string | null;
        if (message.type !== "text") problem = "messages are JSON text";
        else {
          try {
            problem = handle(ws, member, JSON.parse(message.text));
          } catch {
            problem = "messages are JSON text";
          }
        }
        if (problem !== null) await ws.send(JSON.stringify({ type: "error", message: problem }));
      }
    } finally {
      if (member.room !== null) console.log(`- ${member.name} left ${member.room}`);
      leave(ws, member);
    }
  },
);

async function page(request: IncomingMessage, response: ServerResponse): Promise<void> {
  const entry = FILES[new URL(request.url ?? "/", "http://localhost").pathname];
  if (entry === undefined || (request.method !== "GET" && request.method !== "HEAD")) {
    response.writeHead(404, { "Content-Type": "text/plain; charset=utf-8" }).end("not found\n");
    return;
  }
  const body = await readFile(new URL(entry.file, PUBLIC));
  response.writeHead(200, { "Content-Type": entry.type, "Content-Length": body.length, "Cache-Control": "no-cache" });
  response.end(request.method === "HEAD" ? undefined : body);
}

const http = createServer((request, response) => {
  page(request, response).catch(() => response.writeHead(500).end());
});
http.on("upgrade", wss.handleUpgrade);
http.on("error", (error: NodeJS.ErrnoException) => {
  console.error(`cannot listen on ${host}:${port}: ${error.code ?? error.message}${error.code === "EADDRINUSE" ? " (try PORT=8081 npm start)" : ""}`);
  process.exit(1);
});
http.listen(port, host, () => {
  const { port: actual } = http.address() as AddressInfo;
  console.log(`wsx chat demo on http://${host}:${actual}/ (open it in two browser tabs; Ctrl-C stops)`);
  console.log(`from a terminal: npx wsx connect ws://${host}:${actual}/chat, then type {"type":"join","room":"lobby","name":"me"}`);
});

const stop = async (): Promise<void> => {
  await wss.close(); // 1001 to every page; they reconnect when the server is back
  http.closeAllConnections();
  http.close(() => process.exit(0));
};
process.once("SIGINT", () => void stop());
process.once("SIGTERM", () => void stop());
