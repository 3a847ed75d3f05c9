/**
 * wsx/ws's WebSocketServer: its modes, ws's answers to malformed and
 * refused upgrades (and wsClientError), the headers event, limits,
 * permessage-deflate in ws's shape, client tracking and ws's close()
 * semantics, with the `ws` client and raw sockets as peers.
 */
import { afterEach, test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer as createHttpServer, type IncomingMessage } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import type { Duplex } from "node:stream";
import { WebSocket as WsClient } from "ws";
import { ProtocolError, UsageError } from "../../src/index.js";
import { WebSocket, WebSocketServer } from "../../src/ws/index.js";
import { deadline, exchange, parseResponse, upgradeRequest } from "../helpers/net.js";

const T = { timeout: 20_000 };
const WAIT = 10_000;
const cleanups: Array<() => unknown> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function listen(options: ConstructorParameters<typeof WebSocketServer>[0] = {}): Promise<{ wss: WebSocketServer; port: number }> {
  const wss = new WebSocketServer({ port: 0, host: "127.0.0.1", ...options });
  await once(wss, "listening");
  cleanups.push(() => {
    for (const ws of wss.clients ?? []) ws.terminate();
    return new Promise((resolve) => wss.close(() => resolve(undefined)));
  });
  return { wss, port: (wss.address() as AddressInfo).port };
}

function wsClient(url: string, options?: ConstructorParameters<typeof WsClient>[2]): WsClient {
  const ws = new WsClient(url, options);
  ws.on("error", () => undefined);
  cleanups.push(() => ws.terminate());
  return ws;
}

test("malformed upgrades get ws's answers, or go to wsClientError listeners", T, async () => {
  const { wss, port } = await listen({ path: "/ws" });
  const badKey = parseResponse(await exchange(port, upgradeRequest({ path: "/ws", key: "short" })));
  assert.equal(badKey.status, 400);
  assert.equal(badKey.body, "Missing or invalid Sec-WebSocket-Key header");
  const badVersion = parseResponse(await exchange(port, upgradeRequest({ path: "/ws", version: "8" })));
  assert.equal(badVersion.status, 400);
  assert.equal(badVersion.headers["sec-websocket-version"], "13");
  const badProtocol = parseResponse(await exchange(port, upgradeRequest({ path: "/ws", headers: { "Sec-WebSocket-Protocol": "a, a" } })));
  assert.deepEqual([badProtocol.status, badProtocol.body], [400, "Invalid Sec-WebSocket-Protocol header"]);
  const wrongPath = parseResponse(await exchange(port, upgradeRequest({ path: "/other" })));
  assert.deepEqual([wrongPath.status, wrongPath.body], [400, "Bad Request"]);
  const plain = parseResponse(await exchange(port, "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  assert.equal(plain.status, 426, "a plain request to ws's own HTTP server");

  const seen: Array<[string, string | undefined]> = [];
  wss.on("wsClientError", (error: Error, socket: Duplex, request: IncomingMessage) => {
    seen.push([error.message, request.url]);
    socket.end("HTTP/1.1 418 I'm a teapot\r\nContent-Length: 0\r\n\r\n");
  });
  const taken = parseResponse(await exchange(port, upgradeRequest({ path: "/ws", key: "short" })));
  assert.equal(taken.status, 418);
  assert.deepEqual(seen, [["Missing or invalid Sec-WebSocket-Key header", "/ws"]]);
});

test("headers event: the 101 lines, which listeners extend; handleProtocols gets a Set and the request", T, async () => {
  const offered: unknown[] = [];
  const { wss, port } = await listen({
    handleProtocols: (protocols, request) => {
      offered.push([[...protocols], request.url]);
      return "b";
    },
  });
  const lines: string[][] = [];
  wss.on("headers", (headers, request) => {
    lines.push([...headers]);
    headers.push(`X-Path: ${request.url}`);
  });
  const ws = wsClient(`ws://127.0.0.1:${port}/p`, { headers: {} });
  const [response] = (await deadline(once(ws, "upgrade"), WAIT, "upgrade")) as [IncomingMessage];
  assert.equal(response.headers["x-path"], "/p");
  assert.equal(lines[0]![0], "HTTP/1.1 101 Switching Protocols");
  assert.ok(lines[0]!.some((line) => /^Sec-WebSocket-Accept: /.test(line)));
  const client2 = new WsClient(`ws://127.0.0.1:${port}/p`, ["a", "b"]);
  cleanups.push(() => client2.terminate());
  await once(client2, "open");
  assert.equal(client2.protocol, "b");
  assert.deepEqual(offered, [[["a", "b"], "/p"]]);
});

test("maxPayload: a larger message gets 1009 and an error on the server's WebSocket", T, async () => {
  const { wss, port } = await listen({ maxPayload: 10 });
  const accepted = once(wss, "connection");
  const ws = wsClient(`ws://127.0.0.1:${port}`);
  await once(ws, "open");
  const [serverSide] = (await accepted) as [WebSocket];
  const errored = once(serverSide, "error");
  const closing = once(ws, "close");
  ws.send("x".repeat(11));
  const [error] = (await deadline(errored, WAIT, "error")) as [Error];
  assert.ok(error instanceof ProtocolError);
  assert.equal((await deadline(closing, WAIT, "close"))[0], 1009);
});

test("perMessageDeflate in ws's shape is negotiated with a ws client", T, async () => {
  const { wss, port } = await listen({ perMessageDeflate: { threshold: 0, serverNoContextTakeover: true, zlibDeflateOptions: { level: 6 } } });
  wss.on("connection", (ws) => ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary })));
  const ws = wsClient(`ws://127.0.0.1:${port}`, { perMessageDeflate: true });
  const open = once(ws, "open");
  const [response] = (await deadline(once(ws, "upgrade"), WAIT, "upgrade")) as [IncomingMessage];
  assert.match(String(response.headers["sec-websocket-extensions"]), /^permessage-deflate;.*server_no_context_takeover/);
  await deadline(open, WAIT, "open");
  assert.equal(ws.extensions, "permessage-deflate");
  const big = JSON.stringify(Array.from({ length: 20_000 }, (_, i) => ({ i })));
  ws.send(big);
  const [data] = (await deadline(once(ws, "message"), WAIT, "echo")) as [Buffer];
  assert.equal(String(data), big);
  assert.equal([...wss.clients][0]!.extensions, "permessage-deflate");
});

test("close(): open connections stay open, 'close' comes once the last one closed; clients tracked or not", T, async () => {
  const http = createHttpServer();
  http.listen(0, "127.0.0.1");
  await once(http, "listening");
  cleanups.push(() => new Promise((resolve) => http.close(resolve)));
  const port = (http.address() as AddressInfo).port;
  const wss = new WebSocketServer({ server: http });
  const accepted = once(wss, "connection");
  const ws = wsClient(`ws://127.0.0.1:${port}`);
  await once(ws, "open");
  const [serverSide] = (await accepted) as [WebSocket];
  assert.equal(wss.clients.size, 1);
  let closed = false;
  wss.close(() => (closed = true));
  ws.send("still open");
  assert.equal(String(((await deadline(once(serverSide, "message"), WAIT, "message")) as [Buffer])[0]), "still open");
  assert.equal(closed, false);
  assert.equal(http.listenerCount("upgrade"), 0, "its listeners are gone from the http server");
  serverSide.close();
  await deadline(once(wss, "close"), WAIT, "server close");
  assert.equal(closed, true);
  assert.equal(wss.clients.size, 0);
  const again = await new Promise<Error | undefined>((resolve) => wss.close(resolve));
  assert.ok(again instanceof UsageError);

  const untracked = new WebSocketServer({ noServer: true, clientTracking: false });
  assert.equal(untracked.clients, undefined);
  assert.throws(() => untracked.address(), UsageError);
  await new Promise((resolve) => untracked.close(() => resolve(undefined)));
});

test("async verifyClient: closing meanwhile answers 503; info has origin, secure and the request", T, async () => {
  let release: () => void = () => undefined;
  const infos: unknown[] = [];
  const { wss, port } = await listen({
    verifyClient: (info, done) => {
      infos.push([info.origin, info.secure, info.req.url]);
      release = () => done(true);
    },
  });
  const ws = wsClient(`ws://127.0.0.1:${port}/v`, { origin: "https://o.example" });
  await deadline(
    (async () => {
      while (infos.length === 0) await new Promise((resolve) => setImmediate(resolve));
    })(),
    WAIT,
    "verifyClient called",
  );
  const refusal = once(ws, "unexpected-response");
  wss.close();
  release();
  const [, response] = (await deadline(refusal, WAIT, "refusal")) as [unknown, IncomingMessage];
  assert.equal(response.statusCode, 503);
  assert.deepEqual(infos, [["https://o.example", false, "/v"]]);
});

test("the WebSocket option sets the class of server-side sockets; a throwing connection listener is an error event", T, async () => {
  class Tagged extends WebSocket {
    readonly tag = "tagged";
  }
  const { wss, port } = await listen({ WebSocket: Tagged });
  const accepted = once(wss, "connection");
  const failing = new Error("listener bug");
  wss.once("connection", () => {
    throw failing;
  });
  const errored = once(wss, "error");
  const ws = wsClient(`ws://127.0.0.1:${port}`);
  const [serverSide] = (await deadline(accepted, WAIT, "connection")) as [Tagged];
  assert.ok(serverSide instanceof Tagged);
  assert.equal(serverSide.tag, "tagged");
  assert.equal(((await deadline(errored, WAIT, "error")) as [Error])[0], failing);
  assert.equal(((await deadline(once(ws, "close"), WAIT, "close")) as [number])[0], 1011);
});

test("port in use: the error event, as ws", T, async () => {
  const { port } = await listen();
  const second = new WebSocketServer({ port, host: "127.0.0.1" });
  const [error] = (await deadline(once(second, "error"), WAIT, "error")) as [NodeJS.ErrnoException];
  assert.equal(error.code, "EADDRINUSE");
  second.close();
});

test("handleUpgrade's callback gets the node:http request; the socket is the caller's to route", T, async () => {
  const wss = new WebSocketServer({ noServer: true });
  const http = createHttpServer();
  const requests: IncomingMessage[] = [];
  http.on("upgrade", (request: IncomingMessage, socket: Socket, head: Buffer) => {
    wss.handleUpgrade(request, socket, head, (ws, req) => {
      requests.push(req);
      ws.send(`hi ${req.headers["x-name"]}`);
    });
  });
  http.listen(0, "127.0.0.1");
  await once(http, "listening");
  cleanups.push(() => new Promise((resolve) => http.close(resolve)));
  const ws = wsClient(`ws://127.0.0.1:${(http.address() as AddressInfo).port}`, { headers: { "X-Name": "ann" } });
  const [data] = (await deadline(once(ws, "message"), WAIT, "greeting")) as [Buffer];
  assert.equal(String(data), "hi ann");
  assert.equal(requests.length, 1);
  assert.equal(typeof requests[0]!.socket.remoteAddress, "string");
  assert.equal(wss.clients.size, 1);
  ws.close();
  await once(ws, "close");
});
