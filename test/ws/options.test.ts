/**
 * `ws`'s client and server options that only show at the edges: a
 * handshake that never completes (handshakeTimeout), TLS options, the
 * redirect cap, a client's maxPayload, a subclass's shouldHandle, the
 * server's backlog, a ws+unix: URL and a client's lookup. Each case
 * runs on `ws` and on wsx/ws and both must observe the same; then
 * skipUTF8Validation, which wsx/ws deliberately ignores.
 */
import { afterEach, test } from "node:test";
import { lookup as dnsLookup } from "node:dns";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { Server as NetServer, createServer as createNetServer, type AddressInfo, type Socket } from "node:net";
import * as wsModule from "ws";
import { ProtocolError } from "../../src/index.js";
import * as wsxModule from "../../src/ws/index.js";
import { acceptFor, deadline, encodeFrame, OP } from "../helpers/net.js";
import { fixtures } from "../helpers/wsx.js";

interface Impl {
  name: string;
  WebSocket: typeof wsModule.WebSocket;
  WebSocketServer: typeof wsModule.WebSocketServer;
}

const IMPLS: Impl[] = [
  { name: "ws", WebSocket: wsModule.WebSocket, WebSocketServer: wsModule.WebSocketServer },
  {
    name: "wsx/ws",
    WebSocket: wsxModule.WebSocket as unknown as typeof wsModule.WebSocket,
    WebSocketServer: wsxModule.WebSocketServer as unknown as typeof wsModule.WebSocketServer,
  },
];

const T = { timeout: 30_000 };
const WAIT = 10_000;
const cleanups: Array<() => unknown> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Listen on 127.0.0.1; the cleanup destroys the connections left, then closes the server. */
async function listen(server: HttpServer | ReturnType<typeof createNetServer>): Promise<number> {
  const connections = new Set<Socket>();
  server.on("connection", (socket: Socket) => {
    connections.add(socket);
    socket.on("error", () => undefined).once("close", () => connections.delete(socket));
  });
  server.on("secureConnection", (socket: Socket) => socket.on("error", () => undefined));
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  cleanups.push(() => {
    for (const socket of connections) socket.destroy();
    return new Promise((resolve) => server.close(resolve));
  });
  return (server.address() as AddressInfo).port;
}

/** Each event of a client up to its close, as "open", "redirect", "error", "close <code>". */
function story(ws: wsModule.WebSocket): Promise<string[]> {
  cleanups.push(() => ws.terminate());
  const events: string[] = [];
  ws.on("open", () => events.push("open"));
  ws.on("redirect", () => events.push("redirect"));
  ws.on("error", () => events.push("error"));
  return deadline(
    new Promise((resolve) =>
      ws.on("close", (code) => {
        events.push(`close ${code}`);
        resolve(events);
      }),
    ),
    WAIT,
    "close",
  );
}

/** Runs `scenario` on ws then on wsx/ws; both must observe the same, which is returned. */
async function same<T>(scenario: (impl: Impl) => Promise<T>): Promise<T> {
  const observed: T[] = [];
  for (const impl of IMPLS) {
    observed.push(await scenario(impl));
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  }
  assert.deepEqual(observed[1], observed[0], "wsx/ws observed what ws observed");
  return observed[0]!;
}

test("handshakeTimeout: a server that never answers the upgrade gives error, then close 1006", T, async () => {
  const observed = await same(async ({ WebSocket }) => {
    const port = await listen(createNetServer());
    return story(new WebSocket(`ws://127.0.0.1:${port}`, { handshakeTimeout: 200 }));
  });
  assert.deepEqual(observed, ["error", "close 1006"]);
});

test("TLS options reach the TLS connection: ca and rejectUnauthorized", T, async () => {
  const observed = await same(async ({ WebSocket, WebSocketServer }) => {
    const https = createHttpsServer({ key: fixtures.key, cert: fixtures.cert });
    const wss = new WebSocketServer({ server: https });
    wss.on("connection", (ws) => ws.close(1000));
    const port = await listen(https);
    cleanups.push(() => wss.close());
    const url = `wss://127.0.0.1:${port}`;
    return [
      await story(new WebSocket(url, { ca: fixtures.cert })),
      await story(new WebSocket(url)),
      await story(new WebSocket(url, { rejectUnauthorized: false })),
    ];
  });
  assert.deepEqual(observed, [["open", "close 1000"], ["error", "close 1006"], ["open", "close 1000"]]);
});

test("maxRedirects caps followRedirects: each redirect followed is an event, the next one an error", T, async () => {
  const observed = await same(async ({ WebSocket }) => {
    const loop = createHttpServer();
    loop.on("upgrade", (request: IncomingMessage, socket: Socket) => {
      socket.end(`HTTP/1.1 302 Found\r\nLocation: ${request.url === "/" ? "/again" : "/"}\r\nContent-Length: 0\r\n\r\n`);
    });
    const port = await listen(loop);
    return story(new WebSocket(`ws://127.0.0.1:${port}/`, { followRedirects: true, maxRedirects: 2 }));
  });
  assert.deepEqual(observed, ["redirect", "redirect", "error", "close 1006"]);
});

test("a client's maxPayload: a larger message is an error, then the connection is dropped (1006)", T, async () => {
  const observed = await same(async ({ WebSocket }) => {
    // The peer is ws for both: only the client under test differs.
    const wss = new wsModule.WebSocketServer({ port: 0, host: "127.0.0.1" });
    await once(wss, "listening");
    cleanups.push(() => new Promise((resolve) => wss.close(resolve)));
    wss.on("connection", (peer) => {
      peer.on("error", () => undefined);
      peer.send(Buffer.alloc(2000));
    });
    const ws = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, { maxPayload: 1000 });
    const messages: number[] = [];
    ws.on("message", (data: Buffer) => messages.push(data.length));
    const events = await story(ws);
    return { events, messages };
  });
  assert.deepEqual(observed, { events: ["open", "error", "close 1006"], messages: [] });
});

test("a subclass's shouldHandle refuses with 400", T, async () => {
  const observed = await same(async ({ WebSocket, WebSocketServer }) => {
    class OnlyOk extends WebSocketServer {
      override shouldHandle(request: IncomingMessage): boolean {
        return request.url === "/ok";
      }
    }
    const wss = new OnlyOk({ port: 0, host: "127.0.0.1" });
    await once(wss, "listening");
    cleanups.push(() => new Promise((resolve) => wss.close(resolve)));
    wss.on("connection", (ws) => ws.close(1000));
    const base = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`;
    const refused = new WebSocket(`${base}/nope`);
    const error = new Promise<string>((resolve) => refused.once("error", (problem) => resolve(problem.message)));
    const refusedStory = story(refused);
    return { ok: await story(new WebSocket(`${base}/ok`)), refused: await refusedStory, error: await error };
  });
  assert.deepEqual(observed, { ok: ["open", "close 1000"], refused: ["error", "close 1006"], error: "Unexpected server response: 400" });
});

test("backlog reaches the listening server's listen(), beside port and host", T, async () => {
  const observed = await same(async ({ WebSocketServer }) => {
    // What the server's own node:http server is asked to listen with (the call goes on to the real listen).
    const listen = NetServer.prototype.listen;
    const calls: unknown[][] = [];
    NetServer.prototype.listen = function (this: NetServer, ...args: unknown[]) {
      calls.push(args.filter((arg) => typeof arg !== "function" && arg !== undefined));
      return (listen as (...a: unknown[]) => NetServer).apply(this, args);
    } as typeof listen;
    try {
      const wss = new WebSocketServer({ port: 0, host: "127.0.0.1", backlog: 7 });
      cleanups.push(() => new Promise((resolve) => wss.close(resolve)));
      await once(wss, "listening");
    } finally {
      NetServer.prototype.listen = listen;
    }
    return calls;
  });
  assert.deepEqual(observed, [[0, "127.0.0.1", 7]]);
});

test("ws+unix: URLs reach a server on a Unix socket, with the request path after the colon", T, async () => {
  const observed = await same(async ({ WebSocket, WebSocketServer }) => {
    const dir = mkdtempSync(join(tmpdir(), "wsx-ws-unix-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const socketPath = join(dir, "server.sock");
    const http = createHttpServer();
    const wss = new WebSocketServer({ server: http });
    const seen: string[] = [];
    wss.on("connection", (peer, request) => {
      seen.push(`${request.headers.host} ${request.url}`);
      peer.on("message", (data, isBinary) => peer.send(data, { binary: isBinary }));
    });
    http.listen(socketPath);
    await once(http, "listening");
    cleanups.push(() => new Promise((resolve) => http.close(resolve)));
    cleanups.push(() => wss.close());
    const ws = new WebSocket(`ws+unix://${socketPath}:/chat?room=1`);
    cleanups.push(() => ws.terminate());
    await deadline(once(ws, "open"), WAIT, "open");
    ws.send("over the socket");
    const [data] = (await deadline(once(ws, "message"), WAIT, "echo")) as [Buffer];
    ws.close(1000);
    await deadline(once(ws, "close"), WAIT, "close");
    return [...seen, data.toString()];
  });
  assert.deepEqual(observed, ["localhost /chat?room=1", "over the socket"]);
});

test("lookup: the client resolves the host name with the given function", T, async () => {
  const observed = await same(async ({ WebSocket, WebSocketServer }) => {
    const http = createHttpServer();
    const wss = new WebSocketServer({ server: http });
    wss.on("connection", (peer) => peer.close(1000));
    const port = await listen(http);
    cleanups.push(() => wss.close());
    const asked: string[] = [];
    const lookup = ((hostname: string, options: object, callback: (...args: unknown[]) => void) => {
      asked.push(hostname);
      dnsLookup("127.0.0.1", options, callback as never);
    }) as never;
    const events = await story(new WebSocket(`ws://only-by-lookup.test:${port}/`, { lookup }));
    return [asked.includes("only-by-lookup.test"), ...events];
  });
  assert.deepEqual(observed, [true, "open", "close 1000"]);
});

test("skipUTF8Validation is ignored by wsx/ws: invalid text is still a 1007 ProtocolError", T, async () => {
  const raw = createNetServer((socket) => {
    socket.once("data", (chunk) => {
      const key = /sec-websocket-key: *(\S+)/i.exec(chunk.toString("latin1"))![1]!;
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptFor(key)}\r\n\r\n`);
      socket.write(encodeFrame(OP.TEXT, Buffer.from([0xff, 0xfe])));
    });
  });
  const port = await listen(raw);
  const ws = new wsxModule.WebSocket(`ws://127.0.0.1:${port}`, { skipUTF8Validation: true });
  cleanups.push(() => ws.terminate());
  const messages: unknown[] = [];
  ws.on("message", (data) => messages.push(data));
  const [error] = (await deadline(once(ws, "error"), WAIT, "error")) as [Error];
  assert.ok(error instanceof ProtocolError);
  assert.equal(error.closeCode, 1007);
  assert.deepEqual(messages, []);
});
