/**
 * connect() over real loopback sockets: schemes, TLS, addressing, request
 * headers, subprotocols, redirects, timeouts, refusals and abort.
 */
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer as createHttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { createSecureContext } from "node:tls";
import {
  HandshakeError,
  TimeoutError,
  UsageError,
  WebSocketError,
  WebSocketServer,
  connect,
  serve,
  type ConnectOptions,
  type ServerRequest,
  type WebSocket,
} from "../../src/index.js";
import {
  LOOPBACK,
  OP,
  acceptFor,
  closedPort,
  deadline,
  eventually,
  ipv6Available,
  listenHttpHead,
  listenRaw,
  randomKey,
  serverFrame,
  switchingResponse,
  type RawRequest,
  type RawServer,
} from "../helpers/net.js";
import { notPossibleHere } from "../helpers/skip.js";
import { Accepted, fixtures, rejection, startServer, type TestServer } from "../helpers/wsx.js";

const basic = (pair: string): string => `Basic ${Buffer.from(pair, "utf8").toString("base64")}`;

/** The main wsx server: accepts everything and picks the first "chat.*" subprotocol offered. */
let server: TestServer;
let accepted: Accepted;
/** A raw server whose behaviour is chosen by the request path. */
let raw: RawServer;
const rawRequests: RawRequest[] = [];

before(async () => {
  server = await startServer("standalone", {
    selectProtocol: (offered) => offered.find((name) => name.startsWith("chat.")) ?? null,
  });
  accepted = new Accepted(server.wss);
  raw = await listenHttpHead((request) => {
    rawRequests.push(request);
    const key = request.headers["sec-websocket-key"] ?? "";
    const url = new URL(request.target, "http://raw.invalid");
    const socket = request.socket;
    switch (url.pathname) {
      case "/silent":
        return; // never answers
      case "/hangup":
        socket.destroy();
        return;
      case "/forbidden":
        socket.end("HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nno entry here");
        return;
      case "/bad-accept":
        socket.write(
          `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptFor(randomKey())}\r\n\r\n`,
        );
        return;
      case "/unoffered":
        socket.write(switchingResponse(key, { "Sec-WebSocket-Protocol": "not-offered" }));
        return;
      case "/greet":
        // The 101 and a first text frame in one TCP write.
        socket.write(Buffer.concat([Buffer.from(switchingResponse(key), "latin1"), serverFrame(OP.TEXT, "hello")]));
        return;
      case "/moved":
        socket.end(`HTTP/1.1 302 Found\r\nLocation: ${url.searchParams.get("to")}\r\nContent-Length: 0\r\n\r\n`);
        return;
      case "/loop":
        socket.end("HTTP/1.1 302 Found\r\nLocation: /loop\r\nContent-Length: 0\r\n\r\n");
        return;
      default:
        socket.end("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    }
  });
});

after(async () => {
  await server.close();
  await raw.close();
});

/** Connect to the main server and pick up the server's side of the connection. */
async function open(url: string, options: ConnectOptions = {}): Promise<{ ws: WebSocket; peer: WebSocket; request: ServerRequest }> {
  const ws = await deadline(connect(url, options), 3000, "connect");
  const { ws: peer, request } = await accepted.next();
  return { ws, peer, request };
}

function rawUrl(path: string): string {
  return `ws://${LOOPBACK}:${raw.port}${path}`;
}

describe("connect() over ws://", () => {
  test("opens a connection that carries messages both ways", async () => {
    const { ws, peer } = await open(server.url("/"));
    try {
      assert.equal(ws.readyState, "open");
      assert.equal(ws.url, server.url("/"));
      assert.equal(ws.protocol, null);
      await ws.send("ping?");
      assert.equal((await peer.receive({ timeout: 2000 })).text, "ping?");
      await peer.send("pong!");
      assert.equal((await ws.receive({ timeout: 2000 })).text, "pong!");
    } finally {
      await ws.close();
    }
  });

  test("path and query reach the server unchanged", async () => {
    const { ws, request } = await open(server.url("/rooms/42?user=ann&debug"));
    try {
      assert.equal(request.path, "/rooms/42");
      assert.equal(request.query, "user=ann&debug");
      assert.equal(request.target, "/rooms/42?user=ann&debug");
    } finally {
      await ws.close();
    }
  });

  test("params are appended to the query of the URL", async () => {
    const { ws, request } = await open(server.url("/feed?a=1"), { params: { b: 2, flag: true, text: "x y&z" } });
    try {
      const query = new URLSearchParams(request.query);
      assert.deepEqual([...query], [["a", "1"], ["b", "2"], ["flag", "true"], ["text", "x y&z"]]);
      assert.equal(request.path, "/feed");
    } finally {
      await ws.close();
    }
  });

  test("params leave the URL's own query exactly as written", async () => {
    // A signed URL must reach the server byte for byte: no re-encoding of ~ or %2F, no "flag" turned into "flag=".
    const { ws, request } = await open(server.url("/signed?flag&sig=a~b%2Fc+d"), { params: { extra: "1" } });
    try {
      assert.equal(request.query, "flag&sig=a~b%2Fc+d&extra=1");
    } finally {
      await ws.close();
    }
  });

  test("params given as pairs repeat a name", async () => {
    const { ws, request } = await open(server.url("/"), { params: [["tag", "a"], ["tag", "b"]] });
    try {
      assert.deepEqual(new URLSearchParams(request.query).getAll("tag"), ["a", "b"]);
    } finally {
      await ws.close();
    }
  });

  test("the Host header carries a non-default port", async () => {
    const { ws, request } = await open(server.url("/"));
    try {
      assert.equal(request.headers["host"], `${LOOPBACK}:${server.port}`);
      assert.equal(request.host, `${LOOPBACK}:${server.port}`);
    } finally {
      await ws.close();
    }
  });

  test("extra headers arrive, repeated values too", async () => {
    const { ws, request } = await open(server.url("/"), { headers: { "X-Trace": "abc-123", "X-Multi": ["one", "two"] } });
    try {
      assert.equal(request.headers["x-trace"], "abc-123");
      assert.equal(request.headers["x-multi"], "one, two");
      assert.deepEqual(
        request.rawHeaders.filter(([name]) => name === "X-Multi"),
        [
          ["X-Multi", "one"],
          ["X-Multi", "two"],
        ],
      );
    } finally {
      await ws.close();
    }
  });

  test("headers given as pairs keep their order", async () => {
    const { ws, request } = await open(server.url("/"), { headers: [["X-B", "2"], ["X-A", "1"]] });
    try {
      const names = request.rawHeaders.map(([name]) => name);
      assert.ok(names.indexOf("X-B") < names.indexOf("X-A"));
    } finally {
      await ws.close();
    }
  });

  for (const name of ["Sec-WebSocket-Key", "Upgrade", "connection", "Sec-WebSocket-Version", "sec-websocket-protocol", "Sec-WebSocket-Extensions"]) {
    test(`${name} in options.headers is refused with RESERVED_HEADER`, async () => {
      const error = await rejection(connect(server.url("/"), { headers: { [name]: "x" } }));
      assert.ok(error instanceof UsageError, String(error));
      assert.equal((error as UsageError).code, "RESERVED_HEADER");
      assert.match(error.message, new RegExp(name, "i"));
    });
  }

  test("a header given both as an option and in headers is refused", async () => {
    const error = await rejection(connect(server.url("/"), { origin: "https://a.example", headers: { Origin: "https://b.example" } }));
    assert.ok(error instanceof UsageError);
    assert.equal((error as UsageError).code, "DUPLICATE_HEADER");
  });

  test("origin sets the Origin header", async () => {
    const { ws, request } = await open(server.url("/"), { origin: "https://app.example" });
    try {
      assert.equal(request.headers["origin"], "https://app.example");
      assert.equal(request.origin, "https://app.example");
    } finally {
      await ws.close();
    }
  });

  test("no Origin, Authorization or Cookie header unless asked for", async () => {
    const { ws, request } = await open(server.url("/"));
    try {
      assert.equal(request.headers["origin"], undefined);
      assert.equal(request.headers["authorization"], undefined);
      assert.equal(request.headers["cookie"], undefined);
    } finally {
      await ws.close();
    }
  });

  test("cookies as an object become one Cookie header", async () => {
    const { ws, request } = await open(server.url("/"), { cookies: { session: "abc", theme: "dark" } });
    try {
      assert.equal(request.headers["cookie"], "session=abc; theme=dark");
    } finally {
      await ws.close();
    }
  });

  test("cookies as a string are sent as given", async () => {
    const { ws, request } = await open(server.url("/"), { cookies: "a=1; b=2" });
    try {
      assert.equal(request.headers["cookie"], "a=1; b=2");
    } finally {
      await ws.close();
    }
  });

  test("basic auth from the URL userinfo, percent-decoded", async () => {
    const { ws, request } = await open(`ws://al%40ice:p%3Ass%20w@${LOOPBACK}:${server.port}/private`);
    try {
      assert.equal(request.headers["authorization"], basic("al@ice:p:ss w"));
      // Userinfo is not part of the Host header or the request target.
      assert.equal(request.headers["host"], `${LOOPBACK}:${server.port}`);
      assert.equal(request.target, "/private");
    } finally {
      await ws.close();
    }
  });

  test("basic auth from the auth option, as a string and as an object", async () => {
    for (const auth of ["bob:hunter2", { username: "bob", password: "hunter2" }]) {
      const { ws, request } = await open(server.url("/"), { auth });
      try {
        assert.equal(request.headers["authorization"], basic("bob:hunter2"));
      } finally {
        await ws.close();
      }
    }
  });

  test("the auth option wins over URL userinfo", async () => {
    const { ws, request } = await open(`ws://url:user@${LOOPBACK}:${server.port}/`, { auth: "opt:user" });
    try {
      assert.equal(request.headers["authorization"], basic("opt:user"));
    } finally {
      await ws.close();
    }
  });

  test("the server picks one of several offered subprotocols", async () => {
    const { ws, request } = await open(server.url("/"), { protocols: ["superchat", "chat.v2", "chat.v1"] });
    try {
      assert.deepEqual(request.protocols, ["superchat", "chat.v2", "chat.v1"]);
      assert.equal(request.headers["sec-websocket-protocol"], "superchat, chat.v2, chat.v1");
      assert.equal(ws.protocol, "chat.v2");
    } finally {
      await ws.close();
    }
  });

  test("subprotocols as a comma-separated string", async () => {
    const { ws, request } = await open(server.url("/"), { protocols: "x.y, chat.v1" });
    try {
      assert.deepEqual(request.protocols, ["x.y", "chat.v1"]);
      assert.equal(ws.protocol, "chat.v1");
    } finally {
      await ws.close();
    }
  });

  test("no common subprotocol leaves protocol null", async () => {
    const { ws, peer } = await open(server.url("/"), { protocols: ["mqtt"] });
    try {
      assert.equal(ws.protocol, null);
      assert.equal(peer.protocol, null);
    } finally {
      await ws.close();
    }
  });

  test("subprotocol names that are not tokens are refused", async () => {
    const error = await rejection(connect(server.url("/"), { protocols: ["has space"] }));
    assert.ok(error instanceof UsageError);
    assert.equal((error as UsageError).code, "INVALID_SUBPROTOCOL");
  });

  test("a server answering with a subprotocol that was not offered fails the connection", async () => {
    for (const protocols of [["chat.v1", "chat.v2"], []]) {
      const error = await rejection(connect(rawUrl("/unoffered"), { protocols }));
      assert.ok(error instanceof HandshakeError, String(error));
      assert.equal((error as HandshakeError).code, "PROTOCOL_NOT_OFFERED");
      assert.equal((error as HandshakeError).status, 101);
    }
  });

  test("URLs that cannot be WebSocket URLs are refused", async () => {
    for (const url of ["not a url", "ftp://127.0.0.1/", `ws://${LOOPBACK}:${server.port}/#frag`]) {
      const error = await rejection(connect(url));
      assert.ok(error instanceof UsageError, url);
      assert.equal((error as UsageError).code, "INVALID_URL", url);
    }
  });

  test("http:// is accepted as ws://", async () => {
    const { ws } = await open(`http://${LOOPBACK}:${server.port}/`);
    try {
      assert.equal(ws.url, `ws://${LOOPBACK}:${server.port}/`);
    } finally {
      await ws.close();
    }
  });
});

describe("connect(): default ports", () => {
  /** Listen on a privileged port, or skip when this machine does not allow it. */
  async function tryServe(port: number, secure: boolean): Promise<WebSocketServer | string> {
    try {
      return await serve({ port, host: LOOPBACK, ...(secure ? { tls: fixtures } : {}) });
    } catch (error) {
      return notPossibleHere(`cannot listen on ${LOOPBACK}:${port} (${(error as NodeJS.ErrnoException).code})`);
    }
  }

  test("ws:// on port 80 leaves the port out of Host", async (t) => {
    const wss = await tryServe(80, false);
    if (typeof wss === "string") return t.skip(wss);
    try {
      const seen = new Accepted(wss);
      for (const url of [`ws://${LOOPBACK}/`, `ws://${LOOPBACK}:80/`]) {
        const ws = await connect(url);
        const { request } = await seen.next();
        assert.equal(request.headers["host"], LOOPBACK, url);
        await ws.close();
      }
    } finally {
      await wss.close();
    }
  });

  test("wss:// on port 443 leaves the port out of Host", async (t) => {
    const wss = await tryServe(443, true);
    if (typeof wss === "string") return t.skip(wss);
    try {
      const seen = new Accepted(wss);
      const ws = await connect(`wss://${LOOPBACK}/`, { tls: { ca: fixtures.cert } });
      const { request } = await seen.next();
      assert.equal(request.headers["host"], LOOPBACK);
      await ws.close();
    } finally {
      await wss.close();
    }
  });
});

describe("connect() over IPv6", () => {
  test("an IPv6 literal connects to ::1 and is bracketed in Host", async (t) => {
    if (!(await ipv6Available())) return t.skip(notPossibleHere("::1 is not available"));
    const wss = await serve({ port: 0, host: "::1" });
    try {
      const seen = new Accepted(wss);
      const ws = await connect(`ws://[::1]:${wss.port}/six?v=6`);
      const { request, ws: peer } = await seen.next();
      assert.equal(request.headers["host"], `[::1]:${wss.port}`);
      assert.equal(request.remoteAddress, "::1");
      assert.equal(request.path, "/six");
      assert.equal(ws.remoteAddress, "::1");
      await peer.send("over v6");
      assert.equal((await ws.receive({ timeout: 2000 })).text, "over v6");
      await ws.close();
    } finally {
      await wss.close();
    }
  });
});

describe("connect() over wss://", () => {
  let tlsServer: TestServer;
  let tlsAccepted: Accepted;
  const sni: string[] = [];
  const context = createSecureContext(fixtures);

  before(async () => {
    tlsServer = await startServer("tls", {
      tls: {
        ...fixtures,
        SNICallback: (name, callback) => {
          sni.push(name);
          callback(null, context);
        },
      },
    });
    tlsAccepted = new Accepted(tlsServer.wss);
  });
  after(() => tlsServer.close());

  test("connects with the CA and carries messages", async () => {
    const ws = await connect(tlsServer.url("/secure"), { tls: { ca: fixtures.cert } });
    try {
      const { ws: peer, request } = await tlsAccepted.next();
      assert.equal(request.secure, true);
      assert.equal(request.headers["host"], `${LOOPBACK}:${tlsServer.port}`);
      assert.equal(ws.url, tlsServer.url("/secure"));
      await ws.send(new Uint8Array([1, 2, 3]));
      const message = await peer.receive({ timeout: 2000 });
      assert.equal(message.type, "binary");
      assert.deepEqual([...message.bytes], [1, 2, 3]);
    } finally {
      await ws.close();
    }
  });

  test("servername is sent as SNI and the certificate is checked against it", async () => {
    sni.length = 0;
    const ws = await connect(tlsServer.url("/"), { tls: { ca: fixtures.cert, servername: "localhost" } });
    await tlsAccepted.next();
    await ws.close();
    assert.deepEqual(sni, ["localhost"]);

    const error = await rejection(connect(tlsServer.url("/"), { tls: { ca: fixtures.cert, servername: "wrong.example" } }));
    assert.ok(error instanceof WebSocketError);
    assert.equal((error as WebSocketError).code, "CONNECT_FAILED");
    assert.match(error.message, /ERR_TLS_CERT_ALTNAME_INVALID/);
  });

  test("an IP literal is not sent as SNI", async () => {
    sni.length = 0;
    const ws = await connect(tlsServer.url("/"), { tls: { ca: fixtures.cert } });
    await tlsAccepted.next();
    await ws.close();
    assert.deepEqual(sni, []);
  });

  test("rejectUnauthorized: false accepts an untrusted certificate", async () => {
    const ws = await connect(tlsServer.url("/"), { tls: { rejectUnauthorized: false } });
    try {
      const { ws: peer } = await tlsAccepted.next();
      await peer.send("trusted enough");
      assert.equal((await ws.receive({ timeout: 2000 })).text, "trusted enough");
    } finally {
      await ws.close();
    }
  });

  test("without the CA the connection fails with a clear certificate error", async () => {
    const error = await rejection(connect(tlsServer.url("/")));
    assert.ok(error instanceof WebSocketError, String(error));
    assert.equal((error as WebSocketError).code, "CONNECT_FAILED");
    assert.match(error.message, /SELF_SIGNED/);
    assert.match(error.message, new RegExp(`${LOOPBACK}:${tlsServer.port}`));
    assert.match(String((error.cause as NodeJS.ErrnoException).code), /SELF_SIGNED/);
  });
});

describe("connect(): refusals and broken servers", () => {
  test("a non-101 answer is a HandshakeError with the status", async () => {
    const error = await rejection(connect(rawUrl("/forbidden")));
    assert.ok(error instanceof HandshakeError, String(error));
    assert.equal((error as HandshakeError).status, 403);
    assert.equal((error as HandshakeError).code, "UNEXPECTED_STATUS");
    assert.match(error.message, /403/);
    // The response headers come along.
    assert.equal((error as HandshakeError).headers["content-type"], "text/plain");
  });

  test("a wsx server refusing the path gives status 404", async () => {
    const wss = await startServer("standalone", { path: "/only" });
    try {
      const error = await rejection(connect(wss.url("/elsewhere")));
      assert.ok(error instanceof HandshakeError);
      assert.equal((error as HandshakeError).status, 404);
    } finally {
      await wss.close();
    }
  });

  test("a wrong Sec-WebSocket-Accept fails with INVALID_ACCEPT", async () => {
    const error = await rejection(connect(rawUrl("/bad-accept")));
    assert.ok(error instanceof HandshakeError, String(error));
    assert.equal((error as HandshakeError).code, "INVALID_ACCEPT");
  });

  test("a server that hangs up during the handshake fails the connection", async () => {
    const error = await rejection(connect(rawUrl("/hangup")));
    assert.ok(error instanceof HandshakeError, String(error));
    assert.equal((error as HandshakeError).code, "CONNECTION_CLOSED");
  });

  test("connection refused gives CONNECT_FAILED naming ECONNREFUSED", async () => {
    const port = await closedPort();
    const error = await rejection(connect(`ws://${LOOPBACK}:${port}/`));
    assert.ok(error instanceof WebSocketError, String(error));
    assert.equal((error as WebSocketError).code, "CONNECT_FAILED");
    assert.match(error.message, /ECONNREFUSED/);
    assert.equal((error.cause as NodeJS.ErrnoException).code, "ECONNREFUSED");
  });

  test("no handshake response within timeouts.handshake gives HANDSHAKE_TIMEOUT", async () => {
    const before = rawRequests.length;
    const error = await rejection(connect(rawUrl("/silent"), { timeouts: { handshake: 200 } }));
    assert.ok(error instanceof TimeoutError, String(error));
    assert.equal((error as TimeoutError).code, "HANDSHAKE_TIMEOUT");
    // The request was sent: the time ran out waiting for the answer.
    assert.equal(rawRequests.length, before + 1);
  });

  test("timeout sets the handshake timeout too", async () => {
    const error = await rejection(connect(rawUrl("/silent"), { timeout: 200 }));
    assert.ok(error instanceof TimeoutError, String(error));
    assert.equal((error as TimeoutError).code, "HANDSHAKE_TIMEOUT");
  });

  test("a TLS handshake that never completes gives TLS_TIMEOUT", async () => {
    // A plain TCP listener that never answers the TLS ClientHello.
    const mute = await listenRaw(() => {});
    try {
      const error = await rejection(connect(`wss://${LOOPBACK}:${mute.port}/`, { timeouts: { tls: 200 }, tls: { ca: fixtures.cert } }));
      assert.ok(error instanceof TimeoutError, String(error));
      assert.equal((error as TimeoutError).code, "TLS_TIMEOUT");
    } finally {
      await mute.close();
    }
  });
});

describe("connect(): abort", () => {
  test("an already aborted signal rejects at once with ABORTED", async () => {
    const error = await rejection(connect(server.url("/"), { signal: AbortSignal.abort(new Error("not today")) }));
    assert.ok(error instanceof WebSocketError, String(error));
    assert.equal((error as WebSocketError).code, "ABORTED");
    assert.equal((error.cause as Error).message, "not today");
  });

  test("aborting during the handshake rejects and closes the socket", async () => {
    const controller = new AbortController();
    const pending = connect(rawUrl("/silent?abort"), { signal: controller.signal });
    await eventually(() => rawRequests.some((r) => r.target === "/silent?abort"), "request reached the raw server");
    const socket = rawRequests.find((r) => r.target === "/silent?abort")!.socket;
    const socketClosed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
    controller.abort(new Error("user gave up"));
    const error = await rejection(pending);
    assert.ok(error instanceof WebSocketError, String(error));
    assert.equal((error as WebSocketError).code, "ABORTED");
    assert.equal((error.cause as Error).message, "user gave up");
    await deadline(socketClosed, 2000, "server side of the aborted socket closing");
  });
});

describe("connect(): redirects", () => {
  const movedTo = (target: string): string => rawUrl(`/moved?to=${encodeURIComponent(target)}`);

  test("a 302 is not followed by default: HandshakeError with status 302", async () => {
    const error = await rejection(connect(movedTo(server.url("/target"))));
    assert.ok(error instanceof HandshakeError, String(error));
    assert.equal((error as HandshakeError).status, 302);
    assert.equal((error as HandshakeError).headers["location"], server.url("/target"));
  });

  test("redirect: true follows the 302 to the real server", async () => {
    const target = server.url("/target?x=1");
    const { ws, request } = await open(movedTo(target), { redirect: true });
    try {
      assert.equal(request.target, "/target?x=1");
      assert.equal(ws.url, target);
    } finally {
      await ws.close();
    }
  });

  test("credentials from userinfo, auth and cookies are not sent to another origin", async () => {
    const first = rawRequests.length;
    const url = `ws://eve:secret@${LOOPBACK}:${raw.port}/moved?to=${encodeURIComponent(server.url("/landing"))}`;
    const { ws, request } = await open(url, { redirect: true, cookies: { session: "s1" }, headers: { "X-Keep": "yes" } });
    try {
      // The first hop got them...
      const hop = rawRequests[first]!;
      assert.equal(hop.headers["authorization"], basic("eve:secret"));
      assert.equal(hop.headers["cookie"], "session=s1");
      // ...the other origin did not, but ordinary headers follow.
      assert.equal(request.path, "/landing");
      assert.equal(request.headers["authorization"], undefined);
      assert.equal(request.headers["cookie"], undefined);
      assert.equal(request.headers["x-keep"], "yes");
    } finally {
      await ws.close();
    }
    const other = await open(movedTo(server.url("/landing")), { redirect: true, auth: "bob:pw" });
    try {
      assert.equal(other.request.headers["authorization"], undefined);
    } finally {
      await other.ws.close();
    }
  });

  test("Authorization and Cookie given in headers are not sent to another origin", async () => {
    const { ws, request } = await open(movedTo(server.url("/landing")), {
      redirect: true,
      headers: { Authorization: "Bearer t0ken", Cookie: "sid=1", "X-Keep": "yes" },
    });
    try {
      assert.equal(request.headers["x-keep"], "yes");
      assert.equal(request.headers["authorization"], undefined);
      assert.equal(request.headers["cookie"], undefined);
    } finally {
      await ws.close();
    }
  });

  test("a same-origin redirect keeps credentials and resolves a relative Location", async () => {
    const wss = new WebSocketServer({});
    const seen = new Accepted(wss);
    const http = createHttpServer();
    http.on("upgrade", (request, socket, head) => {
      if (request.url?.startsWith("/old")) socket.end("HTTP/1.1 301 Moved Permanently\r\nLocation: /new?from=old\r\nContent-Length: 0\r\n\r\n");
      else wss.handleUpgrade(request, socket, head);
    });
    await new Promise<void>((resolve) => http.listen(0, LOOPBACK, () => resolve()));
    const port = (http.address() as AddressInfo).port;
    try {
      const ws = await connect(`ws://${LOOPBACK}:${port}/old`, { redirect: true, auth: "ann:pw", cookies: { k: "v" } });
      const { request } = await seen.next();
      assert.equal(request.target, "/new?from=old");
      assert.equal(request.headers["authorization"], basic("ann:pw"));
      assert.equal(request.headers["cookie"], "k=v");
      assert.equal(ws.url, `ws://${LOOPBACK}:${port}/new?from=old`);
      await ws.close();
    } finally {
      await wss.close();
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    }
  });

  test("the number of redirects followed is bounded", async () => {
    const first = rawRequests.length;
    const error = await rejection(connect(rawUrl("/loop"), { redirect: 2 }));
    assert.ok(error instanceof HandshakeError, String(error));
    assert.equal((error as HandshakeError).status, 302);
    // The original request and two redirects.
    assert.equal(rawRequests.slice(first).filter((r) => r.target === "/loop").length, 3);
  });

  test("a redirect from wss:// to ws:// is refused", async () => {
    const tlsRaw = await listenHttpHead(
      (request) => request.socket.end(`HTTP/1.1 302 Found\r\nLocation: ${server.url("/")}\r\nContent-Length: 0\r\n\r\n`),
      { tls: fixtures },
    );
    try {
      const error = await rejection(connect(`wss://${LOOPBACK}:${tlsRaw.port}/`, { redirect: true, tls: { ca: fixtures.cert } }));
      assert.ok(error instanceof HandshakeError, String(error));
      assert.equal((error as HandshakeError).code, "INSECURE_REDIRECT");
    } finally {
      await tlsRaw.close();
    }
  });
});

describe("connect(): frames that arrive with the 101 response", () => {
  test("are not lost: receive() returns them", async () => {
    const ws = await connect(rawUrl("/greet"));
    try {
      const message = await ws.receive({ timeout: 2000 });
      assert.equal(message.type, "text");
      assert.equal(message.text, "hello");
    } finally {
      ws.terminate();
    }
  });

  test("reach a 'message' listener attached right after connect() resolves", async () => {
    const ws = await connect(rawUrl("/greet"));
    try {
      const message = await deadline(
        new Promise<string>((resolve) => ws.once("message", (m) => resolve(m.text))),
        1000,
        "'message' event for the greeting",
      );
      assert.equal(message, "hello");
    } finally {
      ws.terminate();
    }
  });
});
