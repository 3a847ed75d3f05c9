/**
 * Bun's own server, as a reference point (`bun dist/bench/servers/bun.js`):
 * prints its port, then serves /echo and /idle with `Bun.serve`.
 */
import { emit, serveCommands } from "../lib/control.js";

// The few parts of Bun's API used here (this project does not depend on Bun's types).
interface BunSocket {
  data: { echo: boolean };
  send(message: string | Uint8Array): number;
}
interface BunServer {
  port: number;
  upgrade(request: Request, options: { data: { echo: boolean } }): boolean;
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
      message(ws: BunSocket, message: string | Uint8Array): void;
    };
  }): BunServer;
}
declare const Bun: BunApi;

const server = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  fetch(request, srv) {
    const path = new URL(request.url).pathname;
    if ((path === "/echo" || path === "/idle") && srv.upgrade(request, { data: { echo: path === "/echo" } })) {
      return undefined;
    }
    return new Response("not found\n", { status: 404 });
  },
  websocket: {
    perMessageDeflate: false,
    maxPayloadLength: 64 * 1024 * 1024,
    message(ws, message) {
      if (ws.data.echo) ws.send(message);
    },
  },
});

serveCommands((command) => {
  if (command.cmd === "info") return { library: "bun", version: Bun.version };
  throw new Error(`unknown command ${command.cmd}`);
});
emit(server.port);
