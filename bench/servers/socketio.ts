/**
 * Socket.IO server under test: `node dist/bench/servers/socketio.js ws|wsx`
 * prints its port, then serves one Socket.IO app on engine.io's WebSocket
 * transport only: `echo` events are emitted back to their sender, `shout`
 * events go to every connected socket (`io.emit`). `ws` runs it on
 * engine.io's default WebSocket server (the `ws` package), `wsx` on wsx/ws's
 * (`wsEngine: WebSocketServer`): the app and Socket.IO are the same, only
 * the WebSocket layer under them differs. Neither compresses (engine.io's
 * default).
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { Server } from "socket.io";
import { WebSocketServer } from "../../src/ws/index.js";
import { emit, serveCommands } from "../lib/control.js";

const engine = process.argv[2] ?? "ws";
if (engine !== "ws" && engine !== "wsx") throw new Error(`unknown engine ${engine}: ws or wsx`);

const http = createServer();
const io = new Server(http, { transports: ["websocket"], ...(engine === "wsx" ? { wsEngine: WebSocketServer } : {}) });
io.on("connection", (socket) => {
  socket.on("echo", (data: unknown) => socket.emit("echo", data));
  socket.on("shout", (data: unknown) => io.emit("news", data));
});

http.listen(0, "127.0.0.1", () => {
  serveCommands((command) => {
    if (command.cmd === "info") {
      // engine.io keeps its WebSocket server as `ws` (not in its types): which class it really is.
      const wsServer = (io.engine as unknown as { ws?: object }).ws;
      return { library: "socket.io", engine, wsxEngine: wsServer instanceof WebSocketServer, clients: io.engine.clientsCount };
    }
    throw new Error(`unknown command ${command.cmd}`);
  });
  emit((http.address() as AddressInfo).port);
});
