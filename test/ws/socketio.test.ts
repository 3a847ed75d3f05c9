/**
 * Socket.IO on wsx/ws: the `socket.io` server with `wsEngine` set to
 * wsx/ws's WebSocketServer and `socket.io-client` (which dials with the
 * `ws` package) exchange events with acknowledgements, room broadcasts and
 * binary attachments, with and without permessage-deflate. The client is
 * restricted to the WebSocket transport, and the server side checks that
 * engine.io's transport is "websocket" over a wsx/ws WebSocket that the
 * wsx/ws server handled.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { Server as IoServer, type Socket as ServerSocket } from "socket.io";
import { io as ioClient, type Socket as ClientSocket } from "socket.io-client";
import { WebSocket, WebSocketServer } from "../../src/ws/index.js";
import { deadline } from "../helpers/net.js";

const T = { timeout: 30_000 };

/** The engine: wsx/ws's server, counting the upgrades it handled. */
class CountingServer extends WebSocketServer {
  static upgrades = 0;
  override handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer, callback: (ws: WebSocket, request: IncomingMessage) => void): void {
    CountingServer.upgrades++;
    super.handleUpgrade(request, socket, head, callback);
  }
}

/** engine.io's transport of a Socket.IO server socket (not in socket.io's types). */
function transportOf(socket: ServerSocket): { name: string; socket: unknown } {
  return (socket.conn as unknown as { transport: { name: string; socket: unknown } }).transport;
}

function connectClient(url: string, perMessageDeflate: boolean): ClientSocket {
  // Without compression the server declines the client's offer.
  return ioClient(url, { transports: ["websocket"], forceNew: true, reconnection: false, perMessageDeflate: perMessageDeflate ? { threshold: 0 } : undefined });
}

/** The next `event` of a Socket.IO client socket. */
function next(socket: ClientSocket, event: string): Promise<unknown> {
  return new Promise((resolve) => socket.once(event, resolve));
}

for (const perMessageDeflate of [false, true]) {
  test(`Socket.IO events, rooms and binary attachments over wsx/ws (perMessageDeflate ${perMessageDeflate})`, T, async () => {
    const http = createServer();
    const io = new IoServer(http, { wsEngine: CountingServer, perMessageDeflate: perMessageDeflate ? { threshold: 0 } : false });
    const before = CountingServer.upgrades;
    const serverSockets: ServerSocket[] = [];
    io.on("connection", (socket) => {
      serverSockets.push(socket);
      socket.on("join", (room: string, ack: () => void) => {
        void socket.join(room);
        ack();
      });
      socket.on("echo", (payload: unknown, ack: (reply: unknown) => void) => ack(payload));
      socket.on("shout", (room: string, text: string) => io.to(room).emit("news", text, socket.id));
    });
    http.listen(0, "127.0.0.1");
    await once(http, "listening");
    const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    const clients = [connectClient(url, perMessageDeflate), connectClient(url, perMessageDeflate), connectClient(url, perMessageDeflate)];
    try {
      await deadline(Promise.all(clients.map((client) => next(client, "connect"))), 10_000, "Socket.IO connects");
      assert.equal(CountingServer.upgrades - before, 3, "every connection was upgraded by wsx/ws's server");
      for (const socket of serverSockets) {
        const transport = transportOf(socket);
        assert.equal(transport.name, "websocket");
        assert.ok(transport.socket instanceof WebSocket, "engine.io's socket is a wsx/ws WebSocket");
        assert.equal((transport.socket as WebSocket).extensions, perMessageDeflate ? "permessage-deflate" : "");
      }
      for (const client of clients) assert.equal((client.io.engine as unknown as { transport: { name: string } }).transport.name, "websocket");

      // Events with acknowledgements: text and nested binary attachments come back intact.
      const text = "héllo ".repeat(500);
      const binary = Buffer.from(Array.from({ length: 70_000 }, (_, i) => i % 251));
      const reply = (await deadline(clients[0]!.emitWithAck("echo", { text, parts: [binary, Buffer.from("tail")] }), 10_000, "echo ack")) as {
        text: string;
        parts: Buffer[];
      };
      assert.equal(reply.text, text);
      assert.ok(Buffer.from(reply.parts[0]!).equals(binary), "binary attachment round trip");
      assert.equal(Buffer.from(reply.parts[1]!).toString(), "tail");

      // Rooms: two of three clients join; a broadcast to the room reaches exactly them.
      await deadline(Promise.all([clients[0]!.emitWithAck("join", "room-a"), clients[1]!.emitWithAck("join", "room-a")]), 10_000, "joins");
      const heard: Array<[number, string]> = [];
      clients.forEach((client, index) => client.on("news", (message: string) => heard.push([index, message])));
      const delivered = Promise.all([next(clients[0]!, "news"), next(clients[1]!, "news")]);
      clients[2]!.emit("shout", "room-a", "to the room");
      await deadline(delivered, 10_000, "room broadcast");
      // The third client's own echo round trip goes after the broadcast: nothing reached it by then.
      await deadline(clients[2]!.emitWithAck("echo", "sync"), 10_000, "sync");
      assert.deepEqual(heard.map(([index]) => index).sort(), [0, 1]);
      assert.ok(heard.every(([, message]) => message === "to the room"));
    } finally {
      for (const client of clients) client.close();
      await new Promise<void>((resolve) => io.close(() => resolve()));
    }
  });
}
