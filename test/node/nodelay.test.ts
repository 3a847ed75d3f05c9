/**
 * TCP_NODELAY: every connection turns Nagle's algorithm off before its first
 * frame (frames must not wait for the peer's delayed ACK), and one that never
 * sends never pays the system call. Observed by wrapping
 * `net.Socket.prototype.setNoDelay` around real loopback connections.
 */
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { Socket } from "node:net";
import { connect, serve, type WebSocketServer } from "../../src/index.js";
import { LOOPBACK, delay } from "../helpers/net.js";
import { Accepted } from "../helpers/wsx.js";

interface NoDelayCall {
  socket: Socket;
  enabled: boolean;
  /** Bytes the socket had written when Nagle was turned off. */
  bytesWritten: number;
}

describe("TCP_NODELAY", () => {
  const calls: NoDelayCall[] = [];
  const original = Socket.prototype.setNoDelay;
  let server: WebSocketServer;
  let accepted: Accepted;

  before(async () => {
    Socket.prototype.setNoDelay = function (this: Socket, noDelay?: boolean): Socket {
      calls.push({ socket: this, enabled: noDelay !== false, bytesWritten: this.bytesWritten });
      return original.call(this, noDelay);
    };
    server = await serve({ port: 0, host: LOOPBACK });
    accepted = new Accepted(server);
  });

  after(async () => {
    Socket.prototype.setNoDelay = original;
    await server.close();
  });

  /** The calls made so far on the two ends of the connection whose client port is `clientPort`. */
  function callsOf(clientPort: number | undefined): { server: NoDelayCall[]; client: NoDelayCall[] } {
    const of = (local: number | undefined, remote: number | undefined) =>
      calls.filter((call) => call.socket.localPort === local && call.socket.remotePort === remote);
    return { server: of(server.port, clientPort), client: of(clientPort, server.port) };
  }

  test("a connection that never sends never sets it", async () => {
    calls.length = 0;
    const client = await connect(`ws://${LOOPBACK}:${server.port}/`);
    const { request } = await accepted.next();
    await delay(50); // anything the connection would do on its own has run
    assert.deepEqual(callsOf(request.remotePort), { server: [], client: [] });
    client.terminate();
  });

  test("each end sets it once, before its first frame leaves", async () => {
    calls.length = 0;
    const client = await connect(`ws://${LOOPBACK}:${server.port}/`);
    const { ws: peer, request } = await accepted.next();
    assert.deepEqual(callsOf(request.remotePort), { server: [], client: [] }, "not during the handshake");
    await client.send("one");
    await client.send("two");
    assert.equal((await peer.receive({ timeout: 2000 })).text, "one");
    await peer.send("back");
    assert.equal((await client.receive({ timeout: 2000 })).text, "back");
    const ends = callsOf(request.remotePort);
    const [serverCall, ...moreServer] = ends.server;
    const [clientCall, ...moreClient] = ends.client;
    assert.ok(serverCall !== undefined && clientCall !== undefined);
    assert.deepEqual([moreServer.length, moreClient.length], [0, 0], "once per socket");
    assert.equal(serverCall.enabled, true);
    assert.equal(clientCall.enabled, true);
    // Turned off when only the handshake had been written: the server's frame ("back", 2-byte header)
    // and the client's two (masked: 6-byte headers) all came after.
    assert.equal(serverCall.socket.bytesWritten - serverCall.bytesWritten, 2 + 4);
    assert.equal(clientCall.socket.bytesWritten - clientCall.bytesWritten, 2 * (6 + 3));
    assert.ok(serverCall.bytesWritten > 0 && clientCall.bytesWritten > 0, "after the 101 and the GET");
    await client.close(1000);
  });
});
