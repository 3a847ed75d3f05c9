/**
 * Code written for `ws`, run unchanged on `ws` and on wsx/ws: each scenario
 * is a program the way people use `ws` (from its README and common
 * practice), parameterised by the module under test. Both runs must
 * observe the same thing, and that thing is checked too. Clients are the
 * module's own WebSocket, so both sides of the facade are exercised.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer, type IncomingMessage, type Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { createRequire } from "node:module";
import * as wsModule from "ws";
import * as wsxModule from "../../src/ws/index.js";
import wsxDefault from "../../src/ws/index.js";
import { deadline } from "../helpers/net.js";

/** The module under test, typed as `ws`'s (wsx/ws is used through the same calls). */
interface Impl {
  name: string;
  WebSocket: typeof wsModule.WebSocket;
  WebSocketServer: typeof wsModule.WebSocketServer;
  createWebSocketStream: typeof wsModule.createWebSocketStream;
  /** What `require("ws")` gives: the class with the rest on it. */
  default: WsDefault;
}

type WsDefault = typeof wsModule.WebSocket & {
  WebSocket: typeof wsModule.WebSocket;
  WebSocketServer: typeof wsModule.WebSocketServer;
  Server: typeof wsModule.WebSocketServer;
  createWebSocketStream: typeof wsModule.createWebSocketStream;
};
const require = createRequire(import.meta.url);

const IMPLS: Impl[] = [
  { name: "ws", WebSocket: wsModule.WebSocket, WebSocketServer: wsModule.WebSocketServer, createWebSocketStream: wsModule.createWebSocketStream, default: require("ws") as WsDefault },
  {
    name: "wsx/ws",
    WebSocket: wsxModule.WebSocket as unknown as typeof wsModule.WebSocket,
    WebSocketServer: wsxModule.WebSocketServer as unknown as typeof wsModule.WebSocketServer,
    createWebSocketStream: wsxModule.createWebSocketStream as unknown as typeof wsModule.createWebSocketStream,
    default: wsxDefault as unknown as WsDefault,
  },
];

type Ws = wsModule.WebSocket;
type Wss = wsModule.WebSocketServer;
const T = { timeout: 20_000 };
const WAIT = 10_000;

// ---- small helpers written the way ws users write them ----

function listening(wss: Wss): Promise<number> {
  return new Promise((resolve) => wss.once("listening", () => resolve((wss.address() as AddressInfo).port)));
}

async function httpListening(server: HttpServer): Promise<number> {
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return (server.address() as AddressInfo).port;
}

function opened(ws: Ws): Promise<void> {
  return deadline(once(ws, "open").then(() => undefined), WAIT, "open");
}

function messages(ws: Ws, count: number): Promise<string[]> {
  const received: string[] = [];
  return deadline(
    new Promise((resolve) => {
      ws.on("message", (data, isBinary) => {
        received.push(`${isBinary ? "binary" : "text"}:${String(data)}`);
        if (received.length === count) resolve(received);
      });
    }),
    WAIT,
    `${count} messages`,
  );
}

function closed(ws: Ws): Promise<[number, string]> {
  return deadline(
    new Promise((resolve) => ws.once("close", (code: number, reason: Buffer) => resolve([code, reason.toString()]))),
    WAIT,
    "close",
  );
}

/** How a client's opening ended: "open", or the refusal it saw. */
function outcome(ws: Ws): Promise<string> {
  return deadline(
    new Promise((resolve) => {
      ws.once("open", () => resolve("open"));
      ws.once("unexpected-response", (_request: unknown, response: IncomingMessage) => {
        resolve(`status ${response.statusCode} ${String(response.headers["x-reason"] ?? "")}`.trim());
        ws.terminate();
      });
      ws.once("error", (error: Error) => resolve(`error ${error.message}`));
    }),
    WAIT,
    "handshake outcome",
  );
}

async function closeServer(wss: Wss): Promise<void> {
  for (const client of wss.clients ?? []) client.terminate();
  await new Promise<void>((resolve) => wss.close(() => resolve()));
}

// ---- the scenarios: each returns what it observed ----

type Scenario = (impl: Impl) => Promise<unknown>;

const SCENARIOS: Record<string, Scenario> = {
  /** README "Server broadcast": every other open client gets the message, with its type. */
  async "broadcast to wss.clients"({ WebSocket, WebSocketServer }) {
    const wss = new WebSocketServer({ port: 0, host: "127.0.0.1" });
    const port = await listening(wss);
    wss.on("connection", (ws) => {
      ws.on("message", (data, isBinary) => {
        wss.clients.forEach((client) => {
          if (client !== ws && client.readyState === WebSocket.OPEN) client.send(data, { binary: isBinary });
        });
      });
    });
    const clients = [0, 1, 2].map(() => new WebSocket(`ws://127.0.0.1:${port}`));
    await Promise.all(clients.map(opened));
    await deadline(
      (async () => {
        while (wss.clients.size < 3) await new Promise((resolve) => setImmediate(resolve));
      })(),
      WAIT,
      "three tracked clients",
    );
    const heard = [messages(clients[1]!, 2), messages(clients[2]!, 2)];
    clients[0]!.send("hello all");
    clients[0]!.send(Buffer.from("bytes"));
    const result = { tracked: wss.clients.size, heard: await Promise.all(heard) };
    for (const client of clients) client.close();
    await Promise.all(clients.map(closed));
    await closeServer(wss);
    return result;
  },

  /** README "Client authentication": handleUpgrade on an http server after checking a token. */
  async "handleUpgrade with authentication"({ WebSocket, WebSocketServer }) {
    const wss = new WebSocketServer({ noServer: true });
    const users = new Map([["secret-token", "alice"]]);
    wss.on("connection", (ws: Ws, _request: IncomingMessage, user: string) => ws.send(`welcome ${user}`));
    const server = createServer();
    server.on("upgrade", (request, socket, head) => {
      socket.on("error", () => socket.destroy());
      const user = users.get(String(request.headers["authorization"] ?? "").replace(/^Bearer /, ""));
      if (user === undefined) {
        socket.write("HTTP/1.1 401 Unauthorized\r\n\r\n");
        socket.destroy();
        return;
      }
      wss.handleUpgrade(request, socket, head, (ws) => wss.emit("connection", ws, request, user));
    });
    const port = await httpListening(server);
    const good = new WebSocket(`ws://127.0.0.1:${port}`, { headers: { Authorization: "Bearer secret-token" } });
    const greeting = messages(good, 1);
    const bad = new WebSocket(`ws://127.0.0.1:${port}`, { headers: { Authorization: "Bearer wrong" } });
    const result = { good: await outcome(good), greeting: await greeting, bad: await outcome(bad) };
    good.close(1000);
    await closed(good);
    await closeServer(wss);
    server.close();
    return result;
  },

  /** README "How to detect and close broken connections": isAlive, ping, pong, terminate. */
  async "heartbeat with ping/pong and isAlive"({ WebSocket, WebSocketServer }) {
    const wss = new WebSocketServer({ port: 0, host: "127.0.0.1" });
    const port = await listening(wss);
    type Tracked = Ws & { isAlive?: boolean; name?: string };
    const serverCloses: string[] = [];
    wss.on("connection", (ws: Tracked, request) => {
      ws.isAlive = true;
      ws.name = request.url!.slice(1);
      ws.on("pong", () => (ws.isAlive = true));
      ws.on("close", (code) => serverCloses.push(`${ws.name} ${code}`));
    });
    const interval = setInterval(() => {
      wss.clients.forEach((client) => {
        const ws = client as Tracked;
        if (ws.isAlive === false) return ws.terminate();
        ws.isAlive = false;
        ws.ping();
      });
    }, 30);
    const alive = new WebSocket(`ws://127.0.0.1:${port}/alive`);
    const silent = new WebSocket(`ws://127.0.0.1:${port}/silent`, { autoPong: false });
    let pings = 0;
    alive.on("ping", () => pings++);
    await Promise.all([opened(alive), opened(silent)]);
    const [code] = await closed(silent);
    // The live client keeps answering: it is still open after several more rounds.
    const before = pings;
    await deadline(
      (async () => {
        while (pings < before + 3) await new Promise((resolve) => setTimeout(resolve, 10));
      })(),
      WAIT,
      "three more pings",
    );
    const result = { silentClosedWith: code, aliveState: alive.readyState, serverCloses: [...serverCloses], tracked: wss.clients.size };
    clearInterval(interval);
    alive.close();
    await closed(alive);
    await closeServer(wss);
    return result;
  },

  /** verifyClient refusing: async with a status, message and header; sync with the default 401. */
  async "verifyClient rejection with a status"({ WebSocket, WebSocketServer }) {
    const asyncServer = new WebSocketServer({
      port: 0,
      host: "127.0.0.1",
      verifyClient: (info: { origin: string; secure: boolean; req: IncomingMessage }, done: (ok: boolean, code?: number, message?: string, headers?: Record<string, string>) => void) => {
        setImmediate(() => {
          if (info.origin === "https://good.example" && !info.secure && info.req.url === "/feed") done(true);
          else done(false, 403, "Forbidden origin", { "X-Reason": "origin" });
        });
      },
    });
    const syncServer = new WebSocketServer({ port: 0, host: "127.0.0.1", verifyClient: (info: { req: IncomingMessage }) => info.req.headers["x-key"] === "k" });
    const [asyncPort, syncPort] = await Promise.all([listening(asyncServer), listening(syncServer)]);
    const result = {
      asyncGood: await outcome(new WebSocket(`ws://127.0.0.1:${asyncPort}/feed`, { origin: "https://good.example" })),
      asyncBad: await outcome(new WebSocket(`ws://127.0.0.1:${asyncPort}/feed`, { origin: "https://evil.example" })),
      asyncBadNoListener: await deadline(
        new Promise<string>((resolve) => {
          const ws = new WebSocket(`ws://127.0.0.1:${asyncPort}/feed`, { origin: "https://evil.example" });
          ws.on("error", (error) => ws.once("close", (code) => resolve(`${error.message} / close ${code}`)));
        }),
        WAIT,
        "refusal without listener",
      ),
      syncGood: await outcome(new WebSocket(`ws://127.0.0.1:${syncPort}`, { headers: { "X-Key": "k" } })),
      syncBad: await outcome(new WebSocket(`ws://127.0.0.1:${syncPort}`)),
    };
    await Promise.all([closeServer(asyncServer), closeServer(syncServer)]);
    return result;
  },

  /** README "Multiple servers sharing a single HTTP/S server": noServer and a router by path. */
  async "noServer with multiple paths"({ WebSocket, WebSocketServer }) {
    const servers = { "/a": new WebSocketServer({ noServer: true }), "/b": new WebSocketServer({ noServer: true }) };
    for (const [path, wss] of Object.entries(servers)) wss.on("connection", (ws) => ws.send(`you reached ${path}`));
    const server = createServer();
    server.on("upgrade", (request, socket, head) => {
      const wss = servers[new URL(request.url!, "http://x").pathname as "/a" | "/b"];
      if (wss === undefined) {
        socket.destroy();
        return;
      }
      wss.handleUpgrade(request, socket, head, (ws) => wss.emit("connection", ws, request));
    });
    const port = await httpListening(server);
    const a = new WebSocket(`ws://127.0.0.1:${port}/a?x=1`);
    const b = new WebSocket(`ws://127.0.0.1:${port}/b`);
    const heard = await Promise.all([messages(a, 1), messages(b, 1)]);
    const nowhere = await outcome(new WebSocket(`ws://127.0.0.1:${port}/c`));
    a.close();
    b.close();
    await Promise.all([closed(a), closed(b)]);
    await Promise.all(Object.values(servers).map(closeServer));
    server.close();
    return { heard, nowhere: nowhere.startsWith("error") ? "error" : nowhere };
  },

  /** Client options: subprotocols, headers, origin; the server's handleProtocols and path. */
  async "client options and handleProtocols"({ WebSocket, WebSocketServer }) {
    const wss = new WebSocketServer({
      port: 0,
      host: "127.0.0.1",
      path: "/chat",
      handleProtocols: (protocols: Set<string>) => (protocols.has("chat.v2") ? "chat.v2" : false),
    });
    const port = await listening(wss);
    const seen: unknown[] = [];
    wss.on("connection", (ws, request) => {
      seen.push({ protocol: ws.protocol, custom: request.headers["x-custom"], origin: request.headers.origin, url: request.url });
      ws.send(ws.protocol || "none");
    });
    const client = new WebSocket(`ws://127.0.0.1:${port}/chat?room=1`, ["chat.v1", "chat.v2"], {
      headers: { "X-Custom": "yes" },
      origin: "https://app.example",
    });
    const reply = messages(client, 1);
    await opened(client);
    const plain = new WebSocket(`ws://127.0.0.1:${port}/chat`);
    const plainReply = messages(plain, 1);
    const wrongPath = await outcome(new WebSocket(`ws://127.0.0.1:${port}/other`));
    const result = {
      protocol: client.protocol,
      url: client.url.replace(/:\d+\//, ":PORT/"),
      reply: await reply,
      plain: await plainReply,
      plainProtocol: plain.protocol,
      seen,
      wrongPath,
      states: [WebSocket.CONNECTING, WebSocket.OPEN, WebSocket.CLOSING, WebSocket.CLOSED, client.OPEN],
    };
    client.close(4001, "done");
    plain.close();
    await Promise.all([closed(client), closed(plain)]);
    await closeServer(wss);
    return result;
  },

  /** binaryType on the client: Buffer, ArrayBuffer or fragments for binary; text is always a Buffer. */
  async binaryType({ WebSocket, WebSocketServer }) {
    const wss = new WebSocketServer({ port: 0, host: "127.0.0.1" });
    const port = await listening(wss);
    wss.on("connection", (ws) => {
      ws.send(Buffer.from([1, 2, 3]));
      ws.send("text");
    });
    const result: Record<string, unknown> = {};
    for (const type of ["nodebuffer", "arraybuffer", "fragments", "blob"] as const) {
      const ws = new WebSocket(`ws://127.0.0.1:${port}`);
      ws.binaryType = type as "nodebuffer"; // ws's types predate "blob"
      const got = await deadline(
        new Promise<unknown[]>((resolve) => {
          const list: Array<Promise<unknown>> = [];
          ws.on("message", (data: unknown, isBinary: boolean) => {
            const kind = Array.isArray(data) ? "Array" : (data as object).constructor.name;
            const bytes = Array.isArray(data)
              ? Promise.resolve(Buffer.concat(data))
              : data instanceof Blob
                ? data.arrayBuffer().then((buffer) => Buffer.from(buffer))
                : Promise.resolve(Buffer.from(data as ArrayBuffer));
            list.push(bytes.then((content) => [isBinary, kind, [...content]]));
            if (list.length === 2) resolve(Promise.all(list));
          });
        }),
        WAIT,
        type,
      );
      result[type] = got;
      ws.binaryType = "bogus" as never; // ignored, as ws ignores unknown types
      result[`${type} after bad`] = ws.binaryType;
      ws.close();
      await closed(ws);
    }
    await closeServer(wss);
    return result;
  },

  /** Close codes and reasons, both ways; sends after close report through their callback. */
  async "close codes, reasons and sends after close"({ WebSocket, WebSocketServer }) {
    const wss = new WebSocketServer({ port: 0, host: "127.0.0.1" });
    const port = await listening(wss);
    const serverSide = new Promise<[number, string]>((resolve) => {
      wss.on("connection", (ws) => ws.on("close", (code, reason) => resolve([code, reason.toString()])));
    });
    const ws = new WebSocket(`ws://127.0.0.1:${port}`);
    await opened(ws);
    let thrown = "";
    try {
      ws.close(1004);
    } catch {
      thrown = "invalid code refused";
    }
    ws.close(4002, "bye now");
    const states = [ws.readyState];
    const afterClose = await new Promise<string>((resolve) => ws.send("late", (error) => resolve(error ? "send failed" : "sent")));
    const [code] = await closed(ws);
    const result = { thrown, states, afterClose, clientCode: code, server: await serverSide, final: ws.readyState };
    await closeServer(wss);
    return result;
  },

  /** createWebSocketStream: an echo server piping the stream into itself; a client writes, reads the echoes, ends. */
  async "createWebSocketStream echo"({ WebSocket, WebSocketServer, createWebSocketStream }) {
    const wss = new WebSocketServer({ port: 0, host: "127.0.0.1" });
    const port = await listening(wss);
    wss.on("connection", (ws) => {
      const duplex = createWebSocketStream(ws);
      duplex.on("error", () => undefined);
      duplex.pipe(duplex);
    });
    const ws = new WebSocket(`ws://127.0.0.1:${port}`);
    const duplex = createWebSocketStream(ws, { encoding: "utf8" });
    const received: string[] = [];
    const echoed = new Promise<void>((resolve) => {
      duplex.on("data", (chunk: string) => {
        received.push(chunk);
        if (received.length === 3) resolve();
      });
    });
    for (const line of ["one", "two", "three"]) duplex.write(line);
    await deadline(echoed, WAIT, "echoes");
    duplex.end();
    const [code] = await closed(ws);
    await closeServer(wss);
    return { received: received.join("|"), code };
  },

  /** The default export (of wsx/ws; `require` of ws): the class, with the server and the stream helper on it. */
  async "default export shape"(impl) {
    const WebSocket = impl.default;
    return {
      isClass: typeof WebSocket === "function",
      server: WebSocket.WebSocketServer === impl.WebSocketServer && WebSocket.Server === impl.WebSocketServer,
      self: WebSocket.WebSocket === WebSocket,
      stream: typeof WebSocket.createWebSocketStream,
      open: WebSocket.OPEN,
    };
  },
};

/** What each scenario must observe (both modules observe it). */
const EXPECTED: Record<string, unknown> = {
  "broadcast to wss.clients": { tracked: 3, heard: [["text:hello all", "binary:bytes"], ["text:hello all", "binary:bytes"]] },
  "handleUpgrade with authentication": { good: "open", greeting: ["text:welcome alice"], bad: "status 401" },
  "heartbeat with ping/pong and isAlive": { silentClosedWith: 1006, aliveState: 1, serverCloses: ["silent 1006"], tracked: 1 },
  "verifyClient rejection with a status": {
    asyncGood: "open",
    asyncBad: "status 403 origin",
    asyncBadNoListener: "Unexpected server response: 403 / close 1006",
    syncGood: "open",
    syncBad: "status 401",
  },
  "noServer with multiple paths": { heard: [["text:you reached /a"], ["text:you reached /b"]], nowhere: "error" },
  "client options and handleProtocols": undefined, // checked below (the port is in the URL)
  binaryType: {
    nodebuffer: [
      [true, "Buffer", [1, 2, 3]],
      [false, "Buffer", [116, 101, 120, 116]],
    ],
    "nodebuffer after bad": "nodebuffer",
    arraybuffer: [
      [true, "ArrayBuffer", [1, 2, 3]],
      [false, "Buffer", [116, 101, 120, 116]],
    ],
    "arraybuffer after bad": "arraybuffer",
    fragments: [
      [true, "Array", [1, 2, 3]],
      [false, "Buffer", [116, 101, 120, 116]],
    ],
    "fragments after bad": "fragments",
    blob: [
      [true, "Blob", [1, 2, 3]],
      [false, "Buffer", [116, 101, 120, 116]],
    ],
    "blob after bad": "blob",
  },
  "close codes, reasons and sends after close": {
    thrown: "invalid code refused",
    states: [2],
    afterClose: "send failed",
    clientCode: 4002,
    server: [4002, "bye now"],
    final: 3,
  },
  "createWebSocketStream echo": { received: "one|two|three", code: 1005 },
  "default export shape": { isClass: true, server: true, self: true, stream: "function", open: 1 },
};

describe("ws code runs the same on ws and wsx/ws", () => {
  for (const [name, scenario] of Object.entries(SCENARIOS)) {
    test(name, T, async () => {
      const observed: unknown[] = [];
      for (const impl of IMPLS) observed.push(await scenario(impl));
      assert.deepEqual(observed[1], observed[0], `wsx/ws observed what ws observed in "${name}"`);
      const expected = EXPECTED[name];
      if (expected !== undefined) assert.deepEqual(observed[1], expected);
      else if (name === "client options and handleProtocols") {
        const result = observed[1] as { protocol: string; reply: string[]; plainProtocol: string; seen: unknown[]; wrongPath: string; states: number[] };
        assert.equal(result.protocol, "chat.v2");
        assert.deepEqual(result.reply, ["text:chat.v2"]);
        assert.equal(result.plainProtocol, "");
        assert.deepEqual(result.seen[0], { protocol: "chat.v2", custom: "yes", origin: "https://app.example", url: "/chat?room=1" });
        assert.equal(result.wrongPath, "status 400");
        assert.deepEqual(result.states, [0, 1, 2, 3, 1]);
      }
    });
  }
});
