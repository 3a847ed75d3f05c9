/**
 * Connections over a stream the caller already has: `connect({ stream })`
 * and `WebSocketServer#handleStream` run the opening handshake on any
 * Duplex, `WebSocket.fromStream` starts after it; and the close frame as a
 * value (parsed in `frames()`, given back to `close()`).
 */
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { connect as netConnect, type AddressInfo } from "node:net";
import { Duplex, duplexPair } from "node:stream";
import { WebSocketServer as WsServer } from "ws";
import { CloseCode, ProtocolError, UsageError, WebSocket, WebSocketServer, connect } from "../../src/index.js";
import { deadline } from "../helpers/net.js";
import { withPair } from "../helpers/wsx.js";

describe("over a caller's stream, handshake included", () => {
  test("connect({ stream }) against handleStream(stream) over an in-process pair: subprotocol, headers, compression, echo, close", async () => {
    const wss = new WebSocketServer({ protocols: ["chat"], compression: true }, (ws, request) => {
      ws.on("message", (message) => void ws.send(`${request.headers["x-who"]}: ${message.text}`));
    });
    const [clientSide, serverSide] = duplexPair();
    wss.handleStream(serverSide);
    const ws = await connect("ws://in-process/room", { stream: clientSide, protocols: ["chat"], headers: { "x-who": "alice" }, compression: true });
    try {
      assert.equal(ws.protocol, "chat");
      assert.match(ws.extensions, /permessage-deflate/);
      await ws.send("hello ".repeat(100));
      assert.equal((await ws.receive({ timeout: 3000 })).text, `alice: ${"hello ".repeat(100)}`);
      assert.equal((await deadline(ws.close(1000, "done"), 3000, "close()")).code, 1000);
    } finally {
      ws.terminate();
      await deadline(wss.close(), 3000, "wss.close()");
    }
  });

  test("connect({ stream }) over a stream that is not a net.Socket, to a ws server", async () => {
    const server = new WsServer({ host: "127.0.0.1", port: 0 });
    await once(server, "listening");
    server.on("connection", (socket) => socket.on("message", (data, binary) => socket.send(data, { binary })));
    const tcp = netConnect((server.address() as AddressInfo).port, "127.0.0.1");
    await once(tcp, "connect");
    // A plain Duplex in front of the socket, as a tunnel would hand out.
    const tunnel = Duplex.from({ readable: tcp, writable: tcp });
    const ws = await connect("ws://tunnelled.example/", { stream: tunnel });
    try {
      await ws.send(Uint8Array.of(1, 2, 3));
      assert.deepEqual([...(await ws.receive({ timeout: 3000 })).bytes], [1, 2, 3]);
      assert.equal((await deadline(ws.close(1000), 3000, "close()")).code, 1000);
    } finally {
      ws.terminate();
      tcp.destroy();
      for (const socket of server.clients) socket.terminate();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  test("a stream that is not a Duplex is refused with a UsageError", async () => {
    await assert.rejects(connect("ws://127.0.0.1:1/", { stream: {} as Duplex }), (error: Error) => error instanceof UsageError && error.code === "INVALID_OPTION");
    const wss = new WebSocketServer({});
    assert.throws(() => wss.handleStream("socket" as unknown as Duplex), (error: Error) => error instanceof UsageError && error.code === "INVALID_OPTION");
    await wss.close();
  });
});

describe("over a caller's stream, after the handshake", () => {
  test("WebSocket.fromStream: both roles over a pair, frames masked one way only, close handshake", async () => {
    const [left, right] = duplexPair();
    const client = WebSocket.fromStream(left, { role: "client" });
    const server = WebSocket.fromStream(right, { role: "server", protocol: "p" });
    try {
      assert.equal(server.protocol, "p");
      await client.send("from the client");
      assert.equal((await server.receive({ timeout: 3000 })).text, "from the client");
      await server.send("from the server");
      assert.equal((await client.receive({ timeout: 3000 })).text, "from the server");
      const [info, peerInfo] = await Promise.all([deadline(client.close(4000, "bye"), 3000, "close()"), server.closed]);
      assert.deepEqual([info.code, peerInfo.code, peerInfo.reason], [4000, 4000, "bye"]);
    } finally {
      client.terminate();
      server.terminate();
    }
  });

  test("two servers over a pair: the unmasked frame fails the connection (1002)", async () => {
    const [left, right] = duplexPair();
    const a = WebSocket.fromStream(left, { role: "server" });
    const b = WebSocket.fromStream(right, { role: "server" });
    b.on("error", () => {}); // reported in closed
    try {
      await a.send("not masked");
      const { error } = await deadline(b.closed, 3000, "b.closed");
      assert.ok(error instanceof ProtocolError);
      assert.deepEqual([error.code, error.closeCode], ["UNMASKED_FRAME", CloseCode.PROTOCOL_ERROR]);
    } finally {
      a.terminate();
      b.terminate();
    }
  });

  test("bad arguments: a missing role, a non-stream, an unknown option", () => {
    const [left] = duplexPair();
    const usage = (code: string) => (error: Error) => error instanceof UsageError && error.code === code;
    assert.throws(() => WebSocket.fromStream(left, {} as never), usage("INVALID_OPTION"));
    assert.throws(() => WebSocket.fromStream({} as Duplex, { role: "client" }), usage("INVALID_OPTION"));
    assert.throws(() => WebSocket.fromStream(left, { role: "client", rol: 1 } as never), usage("UNKNOWN_OPTION"));
    left.destroy();
  });
});

describe("close frames as values", () => {
  test("frames() delivers the peer's close frame with its parsed code and reason; close(frame.close) answers it as it was", async () => {
    await withPair({ client: { autoClose: false } }, async ({ client, peer }) => {
      const frames = client.frames();
      const peerClosed = peer.close(4001, "going away now");
      let close = null;
      for (let i = 0; i < 10 && close === null; i++) {
        const { value } = await frames.next();
        if (value?.type === "close") close = value.close;
      }
      assert.ok(close !== null);
      assert.deepEqual([close.code, close.reason], [4001, "going away now"]);
      await client.close(close);
      const info = await deadline(peerClosed, 3000, "peer.close()");
      assert.deepEqual([info.code, info.reason], [4001, "going away now"], "the peer got its own close frame back");
    });
  });
});
