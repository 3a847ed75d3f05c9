/**
 * Bun's own server, as a reference point (`bun dist/bench/servers/bun.js`):
 * prints its port, then serves /echo, /idle, /sub (subscribe to the topic
 * "bench"), /pub (every message received goes to `server.publish("bench", …)`)
 * and /all (both: the path wsload's `bcast` mode uses)
 * with `Bun.serve`.
 */
import { emit, serveCommands } from "../lib/control.js";

const TOPIC = "bench";

type Path = "/echo" | "/idle" | "/sub" | "/pub" | "/all";

// The few parts of Bun's API used here (this project does not depend on Bun's types).
interface BunSocket {
  data: { path: Path };
  send(message: string | Uint8Array): number;
  subscribe(topic: string): void;
}
interface BunServer {
  port: number;
  upgrade(request: Request, options: { data: { path: Path } }): boolean;
  publish(topic: string, message: string | Uint8Array): number;
  subscriberCount(topic: string): number;
}
interface BunApi {
  version: string;
  serve(options: {
    hostname: string;
    port: number;
    fetch(request: Request, server: BunServer): Response | undefined;
    websocket: {
      perMessageDeflate: boolean;
      maxPayloadLength: number;
      open(ws: BunSocket): void;
      message(ws: BunSocket, message: string | Uint8Array): void;
    };
  }): BunServer;
}
declare const Bun: BunApi;

const PATHS: readonly string[] = ["/echo", "/idle", "/sub", "/pub", "/all"];

const server = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  fetch(request, srv) {
    const path = new URL(request.url).pathname;
    if (PATHS.includes(path) && srv.upgrade(request, { data: { path: path as Path } })) return undefined;
    return new Response("not found\n", { status: 404 });
  },
  websocket: {
    perMessageDeflate: false,
    maxPayloadLength: 64 * 1024 * 1024,
    open(ws) {
      if (ws.data.path === "/sub" || ws.data.path === "/all") ws.subscribe(TOPIC);
    },
    message(ws, message) {
      if (ws.data.path === "/echo") ws.send(message);
      else if (ws.data.path === "/pub" || ws.data.path === "/all") server.publish(TOPIC, message);
    },
  },
});

serveCommands((command) => {
  if (command.cmd === "info") return { library: "bun", version: Bun.version };
  if (command.cmd === "stats") return { subscribers: server.subscriberCount(TOPIC) };
  throw new Error(`unknown command ${command.cmd}`);
});
emit(server.port);
