/**
 * wsx/ws's WebSocket, client and server side, against the `ws` package as
 * the peer (and raw sockets where a peer must misbehave): `ws`'s events and
 * their arguments, send options, control frames, pause/resume, the client's
 * opening events and errors, the browser-style listeners, and what the
 * facade refuses.
 */
import { afterEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer as createHttpServer, type IncomingMessage } from "node:http";
import { createServer as createNetServer, type AddressInfo, type Socket } from "node:net";
import { WebSocket as WsClient, WebSocketServer as WsServer } from "ws";
import { ProtocolError, UsageError } from "../../src/index.js";
import { HandshakeRequest, WebSocket, type CloseEvent, type MessageEvent, type RawData } from "../../src/ws/index.js";
import { acceptFor, deadline, deferred, delay, encodeFrame, OP, parseClose, parseFrames } from "../helpers/net.js";

const T = { timeout: 20_000 };
const WAIT = 10_000;
const cleanups: Array<() => unknown> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A ws server on 127.0.0.1 whose server-side sockets the test gets. */
async function wsServer(options: ConstructorParameters<typeof WsServer>[0] = {}): Promise<{ url: string; server: WsServer; next(): Promise<WsClient> }> {
  const server = new WsServer({ port: 0, host: "127.0.0.1", ...options });
  await once(server, "listening");
  const pending: WsClient[] = [];
  const waiting: Array<(ws: WsClient) => void> = [];
  server.on("connection", (ws) => {
    const waiter = waiting.shift();
    if (waiter !== undefined) waiter(ws);
    else pending.push(ws);
  });
  cleanups.push(() => {
    for (const client of server.clients) client.terminate();
    return new Promise((resolve) => server.close(resolve));
  });
  const next = (): Promise<WsClient> => {
    const ws = pending.shift();
    return deadline(ws !== undefined ? Promise.resolve(ws) : new Promise<WsClient>((resolve) => waiting.push(resolve)), WAIT, "server connection");
  };
  return { url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}`, server, next };
}

function client(url: string, ...rest: unknown[]): WebSocket {
  const ws = new (WebSocket as new (...args: unknown[]) => WebSocket)(url, ...rest);
  cleanups.push(() => ws.terminate());
  return ws;
}

function opened(ws: WebSocket): Promise<unknown> {
  return deadline(once(ws, "open"), WAIT, "open");
}

function nextMessage(ws: WsClient | WebSocket): Promise<[RawData, boolean]> {
  const emitter = ws as unknown as NodeJS.EventEmitter;
  return deadline(new Promise((resolve) => emitter.once("message", (data: RawData, isBinary: boolean) => resolve([data, isBinary]))), WAIT, "message");
}

function closed(ws: WsClient | WebSocket): Promise<[number, Buffer]> {
  const emitter = ws as unknown as NodeJS.EventEmitter;
  return deadline(new Promise((resolve) => emitter.once("close", (code: number, reason: Buffer) => resolve([code, reason]))), WAIT, "close");
}

/** A TCP server that answers every upgrade with 101 and then runs `then` on the socket. */
async function rawServer(then: (socket: Socket) => void): Promise<string> {
  const server = createNetServer((socket) => {
    socket.on("error", () => undefined);
    let head = "";
    socket.on("data", function onData(chunk) {
      head += chunk.toString("latin1");
      if (!head.includes("\r\n\r\n")) return;
      socket.removeListener("data", onData);
      const key = /sec-websocket-key: *(\S+)/i.exec(head)![1]!;
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptFor(key)}\r\n\r\n`);
      then(socket);
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  cleanups.push(() => new Promise((resolve) => server.close(resolve)));
  return `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe("wsx/ws client against a ws server", () => {
  test("message, ping and pong events carry ws's arguments; send options choose the type", T, async () => {
    const { url, next } = await wsServer();
    const ws = client(url);
    assert.equal(ws.readyState, WebSocket.CONNECTING);
    assert.throws(() => ws.send("early"), (error: Error) => error instanceof UsageError && error.code === "NOT_OPEN");
    await opened(ws);
    const peer = await next();
    assert.equal(ws.readyState, WebSocket.OPEN);
    assert.equal(ws.protocol, "");
    assert.equal(ws.url, `${url}/`);

    peer.send("text");
    const [text, textIsBinary] = await nextMessage(ws);
    assert.ok(Buffer.isBuffer(text));
    assert.equal(String(text), "text");
    assert.equal(textIsBinary, false);

    ws.send("as binary", { binary: true });
    let [data, isBinary] = await nextMessage(peer);
    assert.equal(String(data), "as binary");
    assert.equal(isBinary, true);
    ws.send(Buffer.from("bytes as text"), { binary: false });
    [data, isBinary] = await nextMessage(peer);
    assert.equal(String(data), "bytes as text");
    assert.equal(isBinary, false);
    ws.send(new Uint16Array([0x4241]).buffer);
    [data, isBinary] = await nextMessage(peer);
    assert.deepEqual([...(data as Buffer)], [0x41, 0x42]);
    assert.equal(isBinary, true);
    ws.send(42);
    [data, isBinary] = await nextMessage(peer);
    assert.deepEqual([String(data), isBinary], ["42", false]);
    assert.throws(() => ws.send(Buffer.from([0xff]), { binary: false }), (error: Error) => error instanceof UsageError && error.code === "INVALID_UTF8");
    assert.throws(() => ws.send("x", { mask: false }), (error: Error) => error instanceof UsageError && error.code === "INVALID_MASK");

    const pinged = once(peer, "ping");
    const answered = once(ws, "pong");
    const written = new Promise<Error | undefined>((resolve) => ws.ping("are you there", true, resolve));
    assert.equal(await written, undefined);
    assert.equal(String((await pinged)[0]), "are you there");
    assert.equal(String((await deadline(answered, WAIT, "pong"))[0]), "are you there", "the ws peer's pong");
    const ponged = once(peer, "pong");
    peer.ping(Buffer.from([1, 2]));
    assert.deepEqual([...((await deadline(ponged, WAIT, "pong"))[0] as Buffer)], [1, 2], "autoPong answered the ws peer's ping");
    const gotPing = once(ws, "ping");
    peer.ping("p");
    assert.equal(String((await gotPing)[0]), "p");
    assert.throws(() => ws.ping(Buffer.alloc(126)), (error: Error) => error instanceof UsageError && error.code === "CONTROL_TOO_LONG");
  });

  test("fin: false sends one message in fragments, compressed connection or not", T, async () => {
    for (const perMessageDeflate of [false, true]) {
      const { url, next } = await wsServer({ perMessageDeflate });
      const ws = client(url);
      await opened(ws);
      assert.equal(ws.extensions, perMessageDeflate ? "permessage-deflate" : "");
      const peer = await next();
      const frames: number[] = [];
      ws.send("hé", { fin: false });
      ws.send(Buffer.from([0xc3]), { fin: false }); // half of "é": checked across fragments
      ws.send(Buffer.from([0xa9, 0x21]), { binary: true }); // the type of later fragments is the first one's
      const [data, isBinary] = await nextMessage(peer);
      assert.deepEqual([String(data), isBinary], ["héé!", false]);
      ws.send(Buffer.from([1]), { fin: false });
      ws.send(Buffer.from([2]), { fin: true }, (error) => frames.push(error === undefined ? 1 : 0));
      const [binary, binaryFlag] = await nextMessage(peer);
      assert.deepEqual([[...(binary as Buffer)], binaryFlag], [[1, 2], true]);
      assert.deepEqual(frames, [1]);
      ws.send("x".repeat(5000), { compress: false });
      assert.equal(String((await nextMessage(peer))[0]).length, 5000);
    }
  });

  test("sends after close report through their callback and count in bufferedAmount", T, async () => {
    const { url, next } = await wsServer();
    const ws = client(url);
    await opened(ws);
    const peer = await next();
    assert.throws(() => ws.close(1005), (error: Error) => error instanceof UsageError && error.code === "INVALID_CLOSE_CODE");
    assert.throws(() => ws.close(1000, "x".repeat(124)), UsageError);
    const peerClosed = closed(peer);
    const clientClosed = closed(ws);
    ws.close(4000, Buffer.from("done"));
    assert.equal(ws.readyState, WebSocket.CLOSING);
    const error = await new Promise<Error | undefined>((resolve) => ws.send("late", resolve));
    assert.ok(error instanceof UsageError);
    assert.match(error.message, /readyState 2 \(CLOSING\)/);
    assert.equal(ws.bufferedAmount >= 4, true);
    const [code, reason] = await peerClosed;
    assert.deepEqual([code, String(reason)], [4000, "done"]);
    const [clientCode, clientReason] = await clientClosed;
    assert.equal(clientCode, 4000);
    assert.ok(Buffer.isBuffer(clientReason));
    assert.equal(ws.readyState, WebSocket.CLOSED);
    ws.terminate(); // a no-op once closed
  });

  test("pause stops reading until resume; isPaused says so", T, async () => {
    const { url, next } = await wsServer();
    const ws = client(url);
    await opened(ws);
    const peer = await next();
    const received: string[] = [];
    ws.on("message", (data) => received.push(String(data)));
    ws.pause();
    assert.equal(ws.isPaused, true);
    for (const n of [1, 2, 3]) await new Promise((resolve) => peer.send(`m${n}`, resolve));
    await delay(100);
    assert.deepEqual(received, [], "nothing is read while paused");
    ws.resume();
    assert.equal(ws.isPaused, false);
    await deadline(
      (async () => {
        while (received.length < 3) await delay(5);
      })(),
      WAIT,
      "messages after resume",
    );
    assert.deepEqual(received, ["m1", "m2", "m3"]);
  });

  test("upgrade gives the 101 as an IncomingMessage; unexpected-response and its default", T, async () => {
    const { url, server } = await wsServer({ verifyClient: (info: { req: IncomingMessage }) => info.req.url !== "/private" });
    server.on("headers", (headers) => headers.push("Set-Cookie: a=1", "Set-Cookie: b=2"));
    const ws = client(url);
    const upgraded = deadline(once(ws, "upgrade"), WAIT, "upgrade");
    const open = opened(ws);
    const [response] = (await upgraded) as [IncomingMessage];
    assert.equal(response.statusCode, 101);
    assert.deepEqual(response.headers["set-cookie"], ["a=1", "b=2"]);
    await open;

    const refused = client(`${url}/private`);
    const refusedClose = closed(refused);
    const [request, refusal] = (await deadline(once(refused, "unexpected-response"), WAIT, "unexpected-response")) as [HandshakeRequest, IncomingMessage];
    assert.ok(request instanceof HandshakeRequest);
    assert.equal(request.path, "/private");
    assert.equal(refusal.statusCode, 401);
    assert.deepEqual(await refusedClose, [1006, Buffer.alloc(0)]);

    const unheard = client(`${url}/private`);
    const unheardClose = closed(unheard);
    const [error] = (await deadline(once(unheard, "error"), WAIT, "error")) as [Error];
    assert.equal(error.message, "Unexpected server response: 401");
    assert.equal((await unheardClose)[0], 1006);
  });

  test("redirects: followed with followRedirects (redirect event, url updated), else unexpected", T, async () => {
    const { url } = await wsServer();
    const redirector = createHttpServer();
    redirector.on("upgrade", (_request, socket) => socket.end(`HTTP/1.1 302 Found\r\nLocation: ${url}/moved\r\nContent-Length: 0\r\n\r\n`));
    redirector.listen(0, "127.0.0.1");
    await once(redirector, "listening");
    cleanups.push(() => new Promise((resolve) => redirector.close(resolve)));
    const start = `ws://127.0.0.1:${(redirector.address() as AddressInfo).port}/old`;
    const ws = client(start, { followRedirects: true });
    const [to, request] = (await deadline(once(ws, "redirect"), WAIT, "redirect")) as [string, HandshakeRequest];
    assert.equal(to, `${url}/moved`);
    assert.equal(request.url, to);
    await opened(ws);
    assert.equal(ws.url, `${url}/moved`);
    const stays = client(start);
    const [, response] = (await deadline(once(stays, "unexpected-response"), WAIT, "302")) as [unknown, IncomingMessage];
    assert.equal(response.statusCode, 302);
    assert.equal(response.headers.location, `${url}/moved`);
  });

  test("a refused connection emits node's error (code ECONNREFUSED), then close 1006", T, async () => {
    const probe = createNetServer();
    probe.listen(0, "127.0.0.1");
    await once(probe, "listening");
    const port = (probe.address() as AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));
    const ws = client(`ws://127.0.0.1:${port}`);
    const events: string[] = [];
    ws.on("error", (error: NodeJS.ErrnoException) => events.push(`error ${error.code}`));
    ws.on("close", (code) => events.push(`close ${code}`));
    await closed(ws);
    assert.deepEqual(events, ["error ECONNREFUSED", "close 1006"]);
    assert.equal(ws.readyState, WebSocket.CLOSED);
  });

  test("close or terminate while connecting: error, then close 1006, as ws", T, async () => {
    const { url } = await wsServer();
    for (const how of ["close", "terminate"] as const) {
      const ws = client(url);
      const events: string[] = [];
      ws.on("error", (error) => events.push(error.message));
      ws.on("close", (code) => events.push(`close ${code}`));
      ws[how]();
      assert.equal(ws.readyState, WebSocket.CLOSING);
      await closed(ws);
      assert.deepEqual(events, ["WebSocket was closed before the connection was established", "close 1006"]);
    }
  });

  test("a peer breaking the protocol: error (a ProtocolError) then close; a dropped socket only closes", T, async () => {
    const invalid = await rawServer((socket) => socket.write(encodeFrame(OP.TEXT, Buffer.from([0xff, 0xfe]))));
    const ws = client(invalid);
    const [error] = (await deadline(once(ws, "error"), WAIT, "error")) as [Error];
    assert.ok(error instanceof ProtocolError);
    assert.equal(error.closeCode, 1007);
    await closed(ws);

    const dropping = await rawServer((socket) => setImmediate(() => socket.resetAndDestroy()));
    const dropped = client(dropping);
    const errors: Error[] = [];
    dropped.on("error", (problem) => errors.push(problem));
    await opened(dropped);
    assert.equal((await closed(dropped))[0], 1006);
    assert.deepEqual(errors, [], "ws emits no error for a reset socket");
  });

  for (const [name, make] of [
    ["ws", (url: string) => new WsClient(url)],
    ["wsx/ws", (url: string) => client(url)],
  ] as const) {
    test(`${name}: messages before a protocol error arrive first, and a reply sent from one goes out before the close`, T, async () => {
      let received = Buffer.alloc(0);
      const gotClose = deferred();
      const url = await rawServer((socket) => {
        socket.on("data", (chunk: Buffer) => {
          received = Buffer.concat([received, chunk]);
          if (parseFrames(received).some((frame) => frame.opcode === OP.CLOSE)) {
            socket.end();
            gotClose.resolve();
          }
        });
        socket.write(Buffer.concat([encodeFrame(OP.TEXT, "before"), encodeFrame(OP.TEXT, Buffer.from([0xff, 0xfe]))]));
      });
      const ws = make(url) as unknown as NodeJS.EventEmitter & { send(data: string): void; terminate(): void };
      if (name === "ws") cleanups.push(() => ws.terminate());
      const log: string[] = [];
      ws.on("message", (data: RawData) => {
        log.push(`message:${String(data)}`);
        ws.send("reply");
      });
      ws.on("error", () => log.push("error"));
      const done = closed(ws as never);
      await deadline(gotClose.promise, WAIT, "close frame at the peer");
      await done;
      assert.deepEqual(log, ["message:before", "error"]);
      const frames = parseFrames(received);
      assert.deepEqual(
        frames.map((frame) => (frame.opcode === OP.CLOSE ? `close:${parseClose(frame.payload).code}` : `${frame.opcode}:${Buffer.from(frame.payload).toString()}`)),
        [`${OP.TEXT}:reply`, "close:1007"],
      );
    });
  }

  test("onmessage/onclose and addEventListener give browser-style events", T, async () => {
    const { url, next } = await wsServer();
    const ws = client(url);
    const opens: string[] = [];
    ws.onopen = (event) => opens.push(event.type);
    ws.addEventListener("open", { handleEvent: (event) => opens.push(`handle ${event.type}`) });
    await opened(ws);
    assert.deepEqual(opens, ["open", "handle open"]);
    const peer = await next();
    const events: MessageEvent[] = [];
    const listener = (event: MessageEvent): void => {
      events.push(event);
    };
    ws.addEventListener("message", listener);
    ws.addEventListener("message", listener); // added once
    ws.onmessage = listener;
    peer.send("hello");
    await deadline(
      (async () => {
        while (events.length < 2) await delay(5);
      })(),
      WAIT,
      "message events",
    );
    assert.equal(events.length, 2);
    assert.equal(events[0]!.data, "hello");
    assert.equal(events[0]!.target, ws);
    assert.equal(ws.onmessage, listener);
    ws.removeEventListener("message", listener);
    ws.onmessage = null;
    assert.equal(ws.listenerCount("message"), 0);
    const closing = new Promise<CloseEvent>((resolve) => (ws.onclose = resolve));
    ws.close(1000, "bye");
    const event = await deadline(closing, WAIT, "close event");
    assert.deepEqual([event.code, event.wasClean], [1000, true]);
  });

  test("options that wsx cannot honour are refused, with typed errors", () => {
    assert.throws(() => new WebSocket("ws://127.0.0.1:1", { agent: {} as never }), (error: Error) => error instanceof UsageError && error.code === "UNSUPPORTED_OPTION");
    assert.throws(() => new WebSocket("ws://127.0.0.1:1", { protocolVersion: 8 }), UsageError);
    assert.throws(() => new WebSocket("not a url"), (error: Error) => error instanceof UsageError && error.code === "INVALID_URL");
    assert.throws(() => new WebSocket("ftp://127.0.0.1"), UsageError);
    assert.throws(() => new WebSocket("ws://127.0.0.1/#x"), UsageError);
    assert.throws(() => new WebSocket("ws://127.0.0.1:1", ["a", "a"]), UsageError);
  });
});

describe("wsx/ws server side against a ws client", () => {
  test("ws's server-side shapes; a mask on a server frame is refused", T, async () => {
    const { WebSocketServer } = await import("../../src/ws/index.js");
    const wss = new WebSocketServer({ port: 0, host: "127.0.0.1" });
    await once(wss, "listening");
    cleanups.push(() => new Promise((resolve) => wss.close(() => resolve(undefined))));
    const accepted = once(wss, "connection");
    const peer = new WsClient(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`);
    cleanups.push(() => peer.terminate());
    const [ws] = (await deadline(accepted, WAIT, "connection")) as [WebSocket];
    assert.equal(ws.url, undefined);
    assert.throws(() => ws.send("x", { mask: true }), (error: Error) => error instanceof UsageError && error.code === "INVALID_MASK");
    ws.binaryType = "arraybuffer";
    await once(peer, "open");
    peer.send(Buffer.from([9, 8]));
    const [data, isBinary] = await nextMessage(ws);
    assert.ok(data instanceof ArrayBuffer);
    assert.deepEqual([[...new Uint8Array(data)], isBinary], [[9, 8], true]);
    const peerClosed = closed(peer);
    ws.terminate();
    assert.equal(ws.readyState, WebSocket.CLOSING);
    assert.equal((await peerClosed)[0], 1006);
  });
});
