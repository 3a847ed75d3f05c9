/**
 * A connection listens for its socket's 'drain' only once a write has found
 * the socket full (node emits 'drain' only after that): an idle connection,
 * or one whose writes always fit, carries no such listener. Real loopback
 * sockets; the peer stops reading so that writes back up.
 */
import { test, describe, after, before } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer, connect as netConnect, type Server, type Socket } from "node:net";
import { WebSocket } from "../../src/index.js";
import { LOOPBACK } from "../helpers/net.js";

describe("the 'drain' listener", () => {
  let listener: Server;
  let accepted: Promise<Socket>;

  before(async () => {
    listener = createServer();
    accepted = once(listener, "connection").then(([socket]) => socket as Socket);
    listener.listen(0, LOOPBACK);
    await once(listener, "listening");
  });

  after(() => listener.close());

  const sockets: Socket[] = [];
  after(() => {
    for (const socket of sockets) socket.destroy();
  });

  test("is added when a write first fills the socket, once, and forwards 'drain' to the connection", async () => {
    const port = (listener.address() as { port: number }).port;
    const peer = netConnect(port, LOOPBACK);
    sockets.push(peer);
    peer.pause(); // nothing is read: the server's writes back up in the kernel, then in node
    const socket = await accepted;
    sockets.push(socket);
    const ws = WebSocket.fromStream(socket, { role: "server" });
    assert.equal(socket.listenerCount("drain"), 0, "idle: none");

    await ws.send("small");
    assert.equal(socket.listenerCount("drain"), 0, "a write that fits: none");

    const big = new Uint8Array(1 << 20);
    const drained = once(ws, "drain");
    // Bounded: loopback buffers hold a few MiB at most, node's high-water mark is 16 KiB.
    // Sends of one turn leave in one write at its end: a turn between them.
    for (let i = 0; i < 64 && socket.listenerCount("drain") === 0; i++) {
      void ws.send(big).catch(() => {});
      await new Promise((resolve) => setImmediate(resolve));
    }
    assert.equal(socket.listenerCount("drain"), 1, "a write that filled the socket: one");
    void ws.send(big).catch(() => {});
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(socket.listenerCount("drain"), 1, "still one after the next full write");

    peer.resume(); // the peer reads again: the socket drains and the connection says so
    await drained;
    ws.terminate();
    peer.destroy();
  });
});
