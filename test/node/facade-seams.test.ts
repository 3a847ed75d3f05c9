/**
 * The seams facades build on, tested at wsx's level with `ws` as the peer:
 * the connection's sink (events synchronously, queued messages handed
 * over), pause/resume, sends with `fin: false`, terminate handing queued
 * output to the socket, handleUpgrade's per-upgrade callbacks with the
 * node:http request, and connect()'s onResponse/onRedirect.
 */
import { afterEach, test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer as createHttpServer, type IncomingMessage } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { WebSocket as WsClient, WebSocketServer as WsServer, type RawData } from "ws";
import { UsageError, WebSocketServer, connect, type CloseInfo, type HttpHead, type Message, type ServerRequest, type WebSocket } from "../../src/index.js";
import { deadline, delay } from "../helpers/net.js";

const T = { timeout: 20_000 };
const WAIT = 10_000;
const cleanups: Array<() => unknown> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A ws server and a wsx client connected to it. */
async function pair(): Promise<{ ws: WebSocket; peer: WsClient; url: string; server: WsServer }> {
  const server = new WsServer({ port: 0, host: "127.0.0.1" });
  await once(server, "listening");
  cleanups.push(() => {
    for (const client of server.clients) client.terminate();
    return new Promise((resolve) => server.close(resolve));
  });
  const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const accepted = once(server, "connection");
  const ws = await connect(url);
  cleanups.push(() => ws.terminate());
  const [peer] = (await deadline(accepted, WAIT, "connection")) as [WsClient];
  return { ws, peer, url, server };
}

function peerMessage(peer: WsClient): Promise<[RawData, boolean]> {
  return deadline(new Promise((resolve) => peer.once("message", (data, isBinary) => resolve([data, isBinary]))), WAIT, "peer message");
}

test("a sink gets messages as each read is parsed, then the close; queued messages are handed over first", T, async () => {
  const { ws, peer } = await pair();
  peer.send("queued before the sink");
  await delay(50);
  const log: string[] = [];
  // Which promise-job "turn" each event arrived in: a microtask queued at an
  // event bumps it, so events delivered within one read share a number.
  const turns: number[] = [];
  let turn = 0;
  let bumpQueued = false;
  const record = (entry: string): void => {
    log.push(entry);
    turns.push(turn);
    if (!bumpQueued) {
      bumpQueued = true;
      queueMicrotask(() => {
        turn += 1;
        bumpQueued = false;
      });
    }
  };
  let closeInfo: CloseInfo | null = null;
  ws.setSink({
    message: (message: Message) => record(`${message.type}:${message.text}`),
    ping: (payload) => record(`ping:${Buffer.from(payload).toString()}`),
    pong: () => record("pong"),
    error: (error) => record(`error:${error.message}`),
    close: (info) => (closeInfo = info),
  });
  assert.deepEqual(log, ["text:queued before the sink"]);
  assert.throws(() => ws.setSink({ message() {}, ping() {}, pong() {}, error() {}, close() {} }), UsageError);
  // Several frames in one write reach the sink within one read, before any promise job runs.
  const socket = (peer as unknown as { _socket: Socket })._socket;
  socket.cork();
  peer.send("a");
  peer.ping("p");
  peer.send("b");
  socket.uncork();
  await deadline(
    (async () => {
      while (log.length < 4) await delay(5);
    })(),
    WAIT,
    "three events",
  );
  assert.deepEqual(log.slice(1), ["text:a", "ping:p", "text:b"]);
  assert.equal(new Set(turns.slice(1)).size, 1, `one turn for the three events, got ${turns.join(",")}`);
  assert.equal(ws.listenerCount("message"), 0);
  peer.close(4000);
  await deadline(
    (async () => {
      while (closeInfo === null) await delay(5);
    })(),
    WAIT,
    "close to the sink",
  );
  assert.equal(closeInfo!.code, 4000);
});

test("pause() stops reading until resume(); isPaused tells", T, async () => {
  const { ws, peer } = await pair();
  const received: string[] = [];
  ws.on("message", (message) => received.push(message.text));
  ws.pause();
  assert.equal(ws.isPaused, true);
  for (const n of [1, 2]) await new Promise((resolve) => peer.send(`m${n}`, resolve));
  await delay(100);
  assert.deepEqual(received, []);
  ws.resume();
  assert.equal(ws.isPaused, false);
  await deadline(
    (async () => {
      while (received.length < 2) await delay(5);
    })(),
    WAIT,
    "messages after resume",
  );
  assert.deepEqual(received, ["m1", "m2"]);
});

test("send with fin: false: fragments of one message, later sends continue it; other kinds wait", T, async () => {
  const { ws, peer } = await pair();
  void ws.send("one ", { fin: false });
  assert.equal(ws.sendingFragments, true);
  void ws.send(new Uint8Array([0x74, 0x77, 0xc3]), { fin: false });
  await ws.send(new Uint8Array([0xa9]));
  assert.equal(ws.sendingFragments, false);
  const [data, isBinary] = await peerMessage(peer);
  assert.deepEqual([String(data), isBinary], ["one twé", false]);
  await assert.rejects(ws.send(new Uint8Array([0xff]), { type: "text" }), (error: Error) => error instanceof UsageError && error.code === "INVALID_UTF8");
  void ws.send(new Uint8Array([1]), { fin: false, type: "binary" });
  await ws.send("2");
  const [binary, binaryFlag] = await peerMessage(peer);
  assert.deepEqual([[...(binary as Buffer)], binaryFlag], [[1, 0x32], true]);
});

test("terminate() hands what was sent to the socket before destroying it", T, async () => {
  const { ws, peer } = await pair();
  const got = peerMessage(peer);
  void ws.send("last words");
  ws.terminate();
  assert.equal(String((await got)[0]), "last words");
});

test("handleUpgrade with callbacks: accepted instead of the connection event, the 101's lines, request.incoming", T, async () => {
  const wss = new WebSocketServer();
  const events: string[] = [];
  wss.on("connection", () => events.push("connection event"));
  const http = createHttpServer();
  const accepted: Array<[WebSocket, ServerRequest]> = [];
  http.on("upgrade", (request: IncomingMessage, socket: Socket, head: Buffer) => {
    wss.handleUpgrade(request, socket, head, {
      accepted: (ws, req) => accepted.push([ws, req]),
      response: (lines, req) => {
        assert.equal(req.incoming, request);
        lines.push("X-Seen: yes");
      },
    });
  });
  http.listen(0, "127.0.0.1");
  await once(http, "listening");
  cleanups.push(async () => {
    await wss.close();
    await new Promise((resolve) => http.close(resolve));
  });
  const client = new WsClient(`ws://127.0.0.1:${(http.address() as AddressInfo).port}/path`);
  cleanups.push(() => client.terminate());
  const [response] = (await deadline(once(client, "upgrade"), WAIT, "upgrade")) as [IncomingMessage];
  assert.equal(response.headers["x-seen"], "yes");
  await deadline(
    (async () => {
      while (accepted.length === 0) await delay(5);
    })(),
    WAIT,
    "accepted",
  );
  assert.deepEqual(events, []);
  assert.equal(accepted[0]![1].incoming?.url, "/path");
  assert.equal(wss.clients.size, 1);
});

test("connect(): onResponse sees each response head, onRedirect each redirect followed", T, async () => {
  const { url } = await pair();
  const redirector = createHttpServer();
  redirector.on("upgrade", (_request, socket: Socket) => socket.end(`HTTP/1.1 307 Temporary Redirect\r\nLocation: ${url}/there\r\nContent-Length: 0\r\n\r\n`));
  redirector.listen(0, "127.0.0.1");
  await once(redirector, "listening");
  cleanups.push(() => new Promise((resolve) => redirector.close(resolve)));
  const heads: HttpHead[] = [];
  const redirects: string[] = [];
  const ws = await connect(`ws://127.0.0.1:${(redirector.address() as AddressInfo).port}/here`, {
    redirect: true,
    onResponse: (head) => heads.push(head),
    onRedirect: (next) => redirects.push(next.href),
  });
  cleanups.push(() => ws.terminate());
  assert.deepEqual(
    heads.map((head) => head.startLine[1]),
    ["307", "101"],
  );
  assert.deepEqual(redirects, [`${url}/there`]);
  assert.ok(heads[1]!.rawHeaders.some(([name]) => name.toLowerCase() === "sec-websocket-accept"));
});
