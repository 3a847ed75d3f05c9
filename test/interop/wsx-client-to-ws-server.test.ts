/**
 * Interoperability: a wsx client against a `ws` 8.x server.
 *
 * Every data case runs both ways over one connection: the wsx client sends
 * (its string and byte paths, masked), the ws server checks what it got
 * (type and exact bytes) and echoes it, the client checks the echo; then the
 * ws server sends, the wsx client checks what it got and echoes it, and the
 * server checks the echo.
 */
import { afterEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { createServer, type IncomingMessage, type Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { Readable } from "node:stream";
import { WebSocketServer as WsServer, type ServerOptions as WsServerOptions } from "ws";
import { HandshakeError, Opcode, connect, type ConnectOptions, type Frame, type WebSocket } from "../../src/index.js";
import {
  CLOSE_CASES,
  Inbox,
  SIZES,
  T,
  asciiText,
  assertBytes,
  pattern,
  payloadBytes,
  sha256,
  toBuffer,
  utf8Text,
  watch,
  type Payload,
  type WsPeer,
} from "../helpers/interop.js";

// ---- fixtures ----

const cleanups: Array<() => unknown> = [];
const wsxClients: WebSocket[] = [];
const serverPeers: WsPeer[] = [];

afterEach(async () => {
  for (const ws of wsxClients.splice(0)) ws.terminate();
  for (const peer of serverPeers.splice(0)) peer.socket.terminate();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Accepted {
  peer: WsPeer;
  request: IncomingMessage;
}

interface WsFixture {
  url: string;
  port: number;
  accepted: Inbox<Accepted>;
  server: WsServer;
}

function acceptInto(server: WsServer): Inbox<Accepted> {
  const accepted = new Inbox<Accepted>();
  server.on("connection", (socket, request) => {
    const peer = watch(socket);
    serverPeers.push(peer);
    accepted.push({ peer, request });
  });
  return accepted;
}

/** A standalone ws server on 127.0.0.1 whose connections the test drives by hand. */
async function startWs(options: WsServerOptions = {}): Promise<WsFixture> {
  const server = new WsServer({ host: "127.0.0.1", port: 0, ...options });
  await once(server, "listening");
  const accepted = acceptInto(server);
  cleanups.push(async () => {
    for (const client of server.clients) client.terminate();
    await new Promise((resolve) => server.close(resolve));
  });
  const { port } = server.address() as AddressInfo;
  return { url: `ws://127.0.0.1:${port}`, port, accepted, server };
}

async function open(url: string, options?: ConnectOptions): Promise<WebSocket> {
  const ws = await connect(url, options);
  wsxClients.push(ws);
  return ws;
}

interface Pair extends Accepted {
  ws: WebSocket;
}

async function pair(fixture?: WsFixture, path = "/", options?: ConnectOptions): Promise<Pair> {
  const server = fixture ?? (await startWs());
  const ws = await open(server.url + path, options);
  const { peer, request } = await server.accepted.next();
  return { ws, peer, request };
}

/** connect() must fail with a HandshakeError; returns it. */
async function refused(url: string, options?: ConnectOptions): Promise<HandshakeError> {
  try {
    const ws = await connect(url, options);
    wsxClients.push(ws);
  } catch (error) {
    assert.ok(error instanceof HandshakeError, `expected a HandshakeError, got ${String(error)}`);
    return error;
  }
  assert.fail(`connecting to ${url} should have failed`);
}

/** wsx sends, ws checks and echoes, wsx checks; then ws sends, wsx checks and echoes, ws checks. */
async function roundTrips(payload: Payload): Promise<void> {
  const { ws, peer } = await pair();
  const expected = payloadBytes(payload);
  const binary = payload.type === "binary";

  // wsx -> ws -> wsx
  await ws.send(payload.data);
  const got = await peer.messages.next();
  assert.equal(got.isBinary, binary, "type ws received");
  assertBytes(got.data, expected, "bytes ws received");
  if (payload.type === "text") assert.equal(got.data.toString("utf8"), payload.data, "text ws decoded");
  peer.socket.send(got.data, { binary: got.isBinary });
  const echo = await ws.receive();
  assert.equal(echo.type, payload.type, "type of the echo wsx received");
  assertBytes(echo.bytes, expected, "echo wsx received");

  // ws -> wsx -> ws
  peer.socket.send(payload.type === "text" ? payload.data : Buffer.from(payload.data), { binary });
  const sent = await ws.receive();
  assert.equal(sent.type, payload.type, "type wsx received");
  assertBytes(sent.bytes, expected, "bytes wsx received");
  if (payload.type === "text") assert.equal(sent.text, payload.data, "text wsx decoded");
  await ws.send(sent);
  const back = await peer.messages.next();
  assert.equal(back.isBinary, binary, "type of the echo ws received");
  assertBytes(back.data, expected, "echo ws received");
  assert.deepEqual(peer.errors, []);
}

// ---- tests ----

describe("wsx client -> ws server: data messages", () => {
  test("text", T, () => roundTrips({ type: "text", data: "hello from the other side" }));
  test("binary", T, () => roundTrips({ type: "binary", data: Uint8Array.from([0, 1, 2, 0x7f, 0x80, 0xfe, 0xff]) }));
  test("empty text", T, () => roundTrips({ type: "text", data: "" }));
  test("empty binary", T, () => roundTrips({ type: "binary", data: new Uint8Array(0) }));

  for (const size of SIZES) {
    test(`binary of ${size} bytes`, T, () => roundTrips({ type: "binary", data: pattern(size, size) }));
    test(`ASCII text of ${size} bytes`, T, () => roundTrips({ type: "text", data: asciiText(size) }));
    test(`multi-byte text of ${size} UTF-8 bytes`, T, () => roundTrips({ type: "text", data: utf8Text(size) }));
  }

  test("multi-byte UTF-8 text: emoji, CJK, combining marks, astral edge", T, async () => {
    for (const text of [
      "😀",
      "👩‍👩‍👧‍👦 family, 🇯🇵 flag, 🏳️‍🌈",
      "日本語のテキスト、中文文本、한국어 텍스트",
      "e\u0301 n\u0303 a\u0308 (combining)",
      "\u{10FFFF}\u{10000}\uFFFD\u0080\u07FF\u0800\uFFFF",
      "mixed ASCII, ünïcødé, Ελληνικά, русский, עברית, العربية, 🎉",
    ]) {
      await roundTrips({ type: "text", data: text });
    }
  });

  // wsx encodes short strings straight into its (masked) output with a guessed header size: probe those edges.
  test("text whose character count and UTF-8 length straddle header-size edges", T, async () => {
    for (const count of [41, 42, 62, 63, 125, 126, 1365, 1366, 21845, 21846]) {
      await roundTrips({ type: "text", data: "漢".repeat(count) });
      await roundTrips({ type: "text", data: "é".repeat(count) });
      await roundTrips({ type: "text", data: "🚀".repeat(Math.ceil(count / 2)) });
    }
  });

  test("send options: bytes as text, a string as binary", T, async () => {
    const { ws, peer } = await pair();
    await ws.send(Buffer.from("bytes sent as text ✓"), { type: "text" });
    const text = await peer.messages.next();
    assert.equal(text.isBinary, false);
    assert.equal(text.data.toString("utf8"), "bytes sent as text ✓");
    await ws.send("string sent as binary ✓", { type: "binary" });
    const binary = await peer.messages.next();
    assert.equal(binary.isBinary, true);
    assertBytes(binary.data, Buffer.from("string sent as binary ✓"), "string sent as binary");
    const typed = new Uint16Array([1, 0xffff, 258]);
    await ws.send(typed);
    assertBytes((await peer.messages.next()).data, new Uint8Array(typed.buffer), "a Uint16Array's bytes");
  });

  test("16 MiB binary message both ways (length, checksum and sample bytes)", { timeout: 60_000 }, async () => {
    const { ws, peer } = await pair();
    const big = randomBytes(16 * 1024 * 1024);
    const digest = sha256(big);
    const samples = [0, 1, 65535, 65536, 8 * 1024 * 1024, big.length - 1];
    const check = (bytes: Uint8Array, what: string): void => {
      assert.equal(bytes.length, big.length, `${what}: length`);
      for (const i of samples) assert.equal(bytes[i], big[i], `${what}: byte ${i}`);
      assert.equal(sha256(bytes), digest, `${what}: sha256`);
    };

    await ws.send(big);
    const got = await peer.messages.next();
    assert.equal(got.isBinary, true);
    check(got.data, "ws received");

    peer.socket.send(got.data, { binary: true });
    const echo = await ws.receive();
    assert.equal(echo.type, "binary");
    check(echo.bytes, "wsx received the echo");
    await ws.send(echo);
    check((await peer.messages.next()).data, "ws received wsx's echo");
  });
});

describe("wsx client -> ws server: fragmentation", () => {
  test("ws fin:false fragments arrive at wsx as those frames, then as one message", T, async () => {
    const { ws, peer } = await pair();
    // "héllo wörld 😀" split inside the 2-byte "é" and inside the 4-byte emoji.
    const whole = Buffer.from("héllo wörld 😀", "utf8");
    const chunks = [whole.subarray(0, 2), whole.subarray(2, 9), Buffer.alloc(0), whole.subarray(9, whole.length - 2), whole.subarray(whole.length - 2)];

    ws.setDelivery("frames");
    chunks.forEach((chunk, i) => peer.socket.send(chunk, { binary: false, fin: i === chunks.length - 1 }));
    const frames: Frame[] = [];
    for await (const frame of ws.frames()) {
      frames.push(frame);
      if (frame.fin || frames.length >= chunks.length) break;
    }
    assert.equal(frames.length, chunks.length, "frame count");
    frames.forEach((frame, i) => {
      assert.equal(frame.opcode, i === 0 ? Opcode.TEXT : Opcode.CONTINUATION, `frame ${i} opcode`);
      assert.equal(frame.type, "text", `frame ${i} type`);
      assert.equal(frame.fin, i === chunks.length - 1, `frame ${i} fin`);
      assertBytes(frame.payload, chunks[i]!, `frame ${i} payload`);
    });
    assert.equal(frames.map((f) => f.text).join(""), "héllo wörld 😀", "text decoded across frames");

    ws.setDelivery("messages");
    const binary = pattern(70_000, 3);
    const cuts = [0, 1, 126, 65_536, 65_537, binary.length];
    for (let i = 0; i + 1 < cuts.length; i++) {
      peer.socket.send(binary.subarray(cuts[i], cuts[i + 1]), { binary: true, fin: i + 2 === cuts.length });
    }
    const message = await ws.receive();
    assert.equal(message.type, "binary");
    assertBytes(message.bytes, binary, "reassembled binary");
    await ws.send(message);
    assertBytes((await peer.messages.next()).data, binary, "echo of the reassembled message");
  });

  test("wsx sendFragmented (text split inside characters, and binary) reaches ws as one message", T, async () => {
    const { ws, peer } = await pair();
    const text = "fragmented: 漢字 and emoji 😀🚀 across frames";
    await ws.sendFragmented(text, { fragmentSize: 3 });
    const gotText = await peer.messages.next();
    assert.equal(gotText.isBinary, false);
    assert.equal(gotText.data.toString("utf8"), text);

    const binary = pattern(100_000, 9);
    await ws.sendFragmented(binary, { fragmentSize: 4096 });
    const gotBinary = await peer.messages.next();
    assert.equal(gotBinary.isBinary, true);
    assertBytes(gotBinary.data, binary, "binary ws received");

    await ws.sendFragmented(new Uint8Array(0), { fragmentSize: 10 });
    const empty = await peer.messages.next();
    assert.equal(empty.isBinary, true);
    assert.equal(empty.data.length, 0);

    await ws.sendFragmented(Buffer.from("bytes as text ✓"), { fragmentSize: 2, type: "text" });
    const asText = await peer.messages.next();
    assert.equal(asText.isBinary, false);
    assert.equal(asText.data.toString("utf8"), "bytes as text ✓");

    // Frames by hand, with a ping between two fragments (control frames may interleave).
    await ws.sendFrame(Opcode.BINARY, Uint8Array.of(1, 2), false);
    await ws.ping("between fragments");
    await ws.sendFrame(Opcode.CONTINUATION, Uint8Array.of(3), false);
    await ws.sendFrame(Opcode.CONTINUATION, Uint8Array.of(4, 5), true);
    assert.equal((await peer.pings.next()).toString(), "between fragments");
    assertBytes((await peer.messages.next()).data, Uint8Array.of(1, 2, 3, 4, 5), "message sent frame by frame");
    assert.deepEqual(peer.errors, []);
  });

  test("wsx streamed send(asyncIterable) reaches ws as one message; later sends wait, pings interleave", T, async () => {
    const { ws, peer } = await pair();
    const pieces = ["stream ", "of ", "strings ", "ünïcødé ", "😀"];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    async function* strings(): AsyncGenerator<string> {
      for (let i = 0; i < pieces.length; i++) {
        yield pieces[i]!;
        if (i === 1) await gate; // let the test send and ping while the message is half sent
      }
    }
    const streamed = ws.send(strings());
    const after = ws.send("sent after the stream started");
    const pinged = ws.ping("mid-stream");
    assert.equal((await peer.pings.next()).toString(), "mid-stream");
    await pinged;
    release();
    await Promise.all([streamed, after]);

    const first = await peer.messages.next();
    assert.equal(first.isBinary, false);
    assert.equal(first.data.toString("utf8"), pieces.join(""));
    assert.equal((await peer.messages.next()).data.toString("utf8"), "sent after the stream started");

    async function* chunks(): AsyncGenerator<Uint8Array> {
      for (let i = 0; i < 5; i++) yield pattern(20_000 + i, i);
    }
    await ws.send(chunks());
    const binary = await peer.messages.next();
    assert.equal(binary.isBinary, true);
    assertBytes(binary.data, Buffer.concat([0, 1, 2, 3, 4].map((i) => pattern(20_000 + i, i))), "streamed binary");

    const parts = [pattern(10, 1), pattern(70_000, 2), pattern(1, 3)];
    await ws.send(Readable.from(parts));
    const fromReadable = await peer.messages.next();
    assert.equal(fromReadable.isBinary, true);
    assertBytes(fromReadable.data, Buffer.concat(parts), "message streamed from a Readable");
    assert.deepEqual(peer.errors, []);
  });
});

describe("wsx client -> ws server: ping and pong", () => {
  test("wsx ping() resolves against ws's automatic pong; ws saw the payload", T, async () => {
    const { ws, peer } = await pair();
    const pongs: Uint8Array[] = [];
    ws.on("pong", (payload) => pongs.push(payload));

    const rtt = await ws.ping();
    assert.equal(typeof rtt, "number");
    assert.ok(rtt >= 0);
    assert.equal((await peer.pings.next()).length, 4, "default ping payload");

    await ws.ping("wsx-ping ✓");
    assert.equal((await peer.pings.next()).toString("utf8"), "wsx-ping ✓");

    const max = pattern(125, 5);
    await ws.ping(max);
    assertBytes(await peer.pings.next(), max, "125-byte ping payload ws received");

    await ws.ping(new Uint8Array(0));
    assert.equal((await peer.pings.next()).length, 0);

    // Several pings in flight at once all resolve.
    await Promise.all([ws.ping("a"), ws.ping("b"), ws.ping("c")]);
    assert.deepEqual([await peer.pings.next(), await peer.pings.next(), await peer.pings.next()].map(String), ["a", "b", "c"]);

    assert.equal(pongs.length, 7);
    assertBytes(pongs[1]!, Buffer.from("wsx-ping ✓"), "pong payload wsx received");
    assertBytes(pongs[2]!, max, "125-byte pong payload wsx received");
  });

  test("ws ping(payload) gets a pong with the same payload; wsx saw the ping", T, async () => {
    const { ws, peer } = await pair();
    const pings: Uint8Array[] = [];
    ws.on("ping", (payload) => pings.push(payload));
    const reading = ws.receive().catch(() => null);

    for (const payload of [Buffer.from("from ws"), Buffer.alloc(0), pattern(125, 8), Buffer.from("日本")]) {
      peer.socket.ping(payload);
      assertBytes(await peer.pongs.next(), payload, `pong for a ${payload.length}-byte ping`);
    }
    assert.equal(pings.length, 4);
    assertBytes(pings[2]!, pattern(125, 8), "ping payload wsx received");

    peer.socket.send("done");
    assert.equal((await reading)?.text, "done");
    assert.deepEqual(peer.errors, []);
  });
});

describe("wsx client -> ws server: close", () => {
  for (const { name, code, reason } of CLOSE_CASES) {
    const seen = code ?? 1005;
    test(`wsx closes with ${name}`, T, async () => {
      const { ws, peer } = await pair();
      const info = await ws.close(code, reason);
      assert.equal(info.wasClean, true);
      assert.equal(info.code, seen, "code ws echoed");
      assert.equal(info.error, undefined);
      const closed = await peer.closed;
      assert.equal(closed.code, seen, "code ws received");
      assert.equal(closed.reason, reason ?? "", "reason ws received");
      assert.deepEqual(peer.errors, []);
      assert.equal(ws.readyState, "closed");
    });

    test(`ws closes with ${name}`, T, async () => {
      const { ws, peer } = await pair();
      peer.socket.close(code, reason);
      const info = await ws.closed;
      assert.equal(info.code, seen, "code wsx received");
      assert.equal(info.reason, reason ?? "", "reason wsx received");
      assert.equal(info.wasClean, true);
      const closed = await peer.closed;
      assert.equal(closed.code, seen, "code wsx echoed");
      await assert.rejects(ws.receive(), { name: "ConnectionClosedError" });
    });
  }

  test("messages sent right before close() reach ws before the close frame", T, async () => {
    const { ws, peer } = await pair();
    void ws.send("last words");
    void ws.send(pattern(70_000));
    const info = await ws.close(1000, "after the messages");
    assert.equal(info.wasClean, true);
    assert.equal((await peer.messages.next()).data.toString(), "last words");
    assertBytes((await peer.messages.next()).data, pattern(70_000), "large message before the close");
    assert.deepEqual(await peer.closed, { code: 1000, reason: "after the messages" });
    await assert.rejects(ws.send("too late"), { name: "ConnectionClosedError" });
  });

  test("a dropped connection is 1006 on both sides", T, async () => {
    const first = await pair();
    first.peer.socket.terminate();
    const info = await first.ws.closed;
    assert.equal(info.code, 1006);
    assert.equal(info.wasClean, false);

    const second = await pair();
    second.ws.terminate();
    assert.equal((await second.peer.closed).code, 1006);
    assert.equal((await second.ws.closed).code, 1006);
  });

  test("receive() and iteration end when ws closes", T, async () => {
    const { ws, peer } = await pair();
    peer.socket.send("one");
    peer.socket.send(Buffer.from("two"));
    peer.socket.close(1000, "that is all");
    const got: string[] = [];
    for await (const message of ws) got.push(`${message.type}:${message.text}`);
    assert.deepEqual(got, ["text:one", "binary:two"]);
    assert.deepEqual((await ws.closed).code, 1000);
  });
});

describe("wsx client -> ws server: handshake", () => {
  test("subprotocol: ws handleProtocols picks from the wsx offer", T, async () => {
    const offers: string[][] = [];
    const fixture = await startWs({
      handleProtocols: (protocols) => {
        offers.push([...protocols]);
        if (protocols.has("bogus.offer")) return "not.offered";
        return protocols.has("v2.chat") ? "v2.chat" : false;
      },
    });
    const picked = await pair(fixture, "/", { protocols: ["v1.chat", "v2.chat", "v3.chat"] });
    assert.equal(picked.ws.protocol, "v2.chat");
    assert.equal(picked.peer.socket.protocol, "v2.chat");
    assert.equal(picked.request.headers["sec-websocket-protocol"], "v1.chat, v2.chat, v3.chat");

    // As a comma-separated string.
    const listed = await pair(fixture, "/", { protocols: "v2.chat , other" });
    assert.equal(listed.ws.protocol, "v2.chat");

    // The server declines: RFC 6455 4.1 lets the client go on without a subprotocol.
    const declined = await pair(fixture, "/", { protocols: ["v9.chat"] });
    assert.equal(declined.ws.protocol, null);
    assert.equal(declined.peer.socket.protocol, "");
    await declined.ws.send("still works");
    assert.equal((await declined.peer.messages.next()).data.toString(), "still works");

    // The server picks something never offered: the client must fail the connection (RFC 6455 4.1).
    const error = await refused(fixture.url, { protocols: ["bogus.offer"] });
    assert.equal(error.code, "PROTOCOL_NOT_OFFERED");
    const { peer } = await fixture.accepted.next();
    assert.equal((await peer.closed).code, 1006);

    assert.deepEqual(offers, [["v1.chat", "v2.chat", "v3.chat"], ["v2.chat", "other"], ["v9.chat"], ["bogus.offer"]]);
  });

  test("subprotocol: without handleProtocols ws picks the first offered", T, async () => {
    const fixture = await startWs();
    const { ws, peer } = await pair(fixture, "/", { protocols: ["first", "second"] });
    assert.equal(ws.protocol, "first");
    assert.equal(peer.socket.protocol, "first");
    const none = await pair(fixture);
    assert.equal(none.ws.protocol, null);
    assert.equal(none.request.headers["sec-websocket-protocol"], undefined);
  });

  test("custom headers, origin, cookies and query parameters reach the ws server", T, async () => {
    const fixture = await startWs();
    const { ws, peer, request } = await pair(fixture, "/room/42?user=bob", {
      headers: { "X-Trace-Id": "abc-123", "X-List": ["a", "b"], "User-Agent": "wsx-interop" },
      origin: "http://example.test",
      cookies: { session: "s3cr3t", theme: "dark" },
      params: { extra: "two words", n: 5 },
    });
    const url = new URL(request.url ?? "", "http://placeholder");
    assert.equal(url.pathname, "/room/42");
    assert.equal(url.searchParams.get("user"), "bob");
    assert.equal(url.searchParams.get("extra"), "two words");
    assert.equal(url.searchParams.get("n"), "5");
    assert.equal(request.headers["x-trace-id"], "abc-123");
    assert.equal(request.headers["x-list"], "a, b");
    assert.equal(request.headers["user-agent"], "wsx-interop");
    assert.equal(request.headers.origin, "http://example.test");
    assert.equal(request.headers.cookie, "session=s3cr3t; theme=dark");
    assert.equal(request.headers.host, `127.0.0.1:${fixture.port}`);
    assert.equal(request.headers["sec-websocket-version"], "13");
    assert.equal(request.headers["sec-websocket-extensions"], undefined);
    assert.equal(peer.socket.extensions, "");
    assert.equal(ws.url, `${fixture.url}/room/42?user=bob&extra=two+words&n=5`);
  });

  test("basic auth from wsx is seen by the ws server's verifyClient", T, async () => {
    const seen: Array<string | undefined> = [];
    const fixture = await startWs({
      verifyClient: (info, done) => {
        const header = info.req.headers.authorization;
        seen.push(header);
        const ok = header !== undefined && !Buffer.from(header.slice(6), "base64").toString("utf8").includes("wrong");
        if (ok) done(true);
        else done(false, 401, "Unauthorized", { "WWW-Authenticate": 'Basic realm="interop"' });
      },
    });
    const basic = (credentials: string): string => `Basic ${Buffer.from(credentials, "utf8").toString("base64")}`;

    await pair(fixture, "/", { auth: "alice:pa:ss" });
    assert.equal(seen.at(-1), basic("alice:pa:ss"));
    await pair(fixture, "/", { auth: { username: "jürgen", password: "päss wörd ✓" } });
    assert.equal(seen.at(-1), basic("jürgen:päss wörd ✓"));
    await pair({ ...fixture, url: fixture.url.replace("ws://", "ws://carol:p%40ss%3Aword@") });
    assert.equal(seen.at(-1), basic("carol:p@ss:word"), "credentials from the URL, percent-decoded");

    assert.equal((await refused(fixture.url)).status, 401);
    assert.equal(seen.at(-1), undefined);
    assert.equal((await refused(fixture.url, { auth: "mallory:wrong" })).status, 401);
    assert.equal(seen.at(-1), basic("mallory:wrong"));
    assert.equal(seen.length, 5);
  });

  test("ws on noServer behind a node:http server, with a wsx client", T, async () => {
    const wss = new WsServer({ noServer: true });
    const accepted = acceptInto(wss);
    const http: HttpServer = createServer((_request, response) => response.end("plain http"));
    http.on("upgrade", (request: IncomingMessage, socket, head: Buffer) => {
      const path = new URL(request.url ?? "/", "http://placeholder").pathname;
      if (path === "/old") {
        socket.end("HTTP/1.1 302 Found\r\nLocation: /ws?moved=1\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
      } else if (path !== "/ws") {
        socket.end("HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
      } else {
        wss.handleUpgrade(request, socket, head, (client) => wss.emit("connection", client, request));
      }
    });
    http.listen(0, "127.0.0.1");
    await once(http, "listening");
    cleanups.push(async () => {
      http.closeAllConnections();
      await new Promise((resolve) => http.close(resolve));
    });
    cleanups.push(async () => {
      for (const client of wss.clients) client.terminate();
      await new Promise((resolve) => wss.close(resolve));
    });
    const { port } = http.address() as AddressInfo;

    const ws = await open(`ws://127.0.0.1:${port}/ws?id=7`);
    const { peer, request } = await accepted.next();
    assert.equal(request.url, "/ws?id=7");
    await ws.send("over node:http");
    await ws.send(pattern(70_000));
    assert.equal((await peer.messages.next()).data.toString(), "over node:http");
    const binary = await peer.messages.next();
    assertBytes(binary.data, pattern(70_000), "binary over node:http");
    peer.socket.send(binary.data);
    assertBytes((await ws.receive()).bytes, pattern(70_000), "binary echo over node:http");

    const notFound = await refused(`ws://127.0.0.1:${port}/elsewhere`);
    assert.equal(notFound.status, 404);

    const redirect = await refused(`ws://127.0.0.1:${port}/old`);
    assert.equal(redirect.status, 302);
    const followed = await open(`ws://127.0.0.1:${port}/old`, { redirect: true });
    assert.equal(followed.url, `ws://127.0.0.1:${port}/ws?moved=1`);
    assert.equal((await accepted.next()).request.url, "/ws?moved=1");

    const info = await ws.close(1000, "bye");
    assert.equal(info.wasClean, true);
    assert.deepEqual(await peer.closed, { code: 1000, reason: "bye" });
  });
});

describe("wsx client -> ws server: bursts", () => {
  const N = 10_000;
  const item = (i: number): Payload => (i % 3 === 0 ? { type: "binary", data: pattern(1 + (i % 50), i) } : { type: "text", data: `message ${i} ✓` });

  test(`${N} small messages from wsx, sent without awaiting, echoed in order`, T, async () => {
    const { ws, peer } = await pair();
    peer.socket.on("message", (data, isBinary) => peer.socket.send(toBuffer(data), { binary: isBinary }));
    const sends: Array<Promise<void>> = [];
    for (let i = 0; i < N; i++) sends.push(ws.send(item(i).data));
    await Promise.all(sends);
    for (let i = 0; i < N; i++) {
      const echo = await ws.receive();
      const expected = item(i);
      assert.equal(echo.type, expected.type, `type of echo ${i}`);
      assertBytes(echo.bytes, payloadBytes(expected), `echo ${i}`);
    }
    assert.equal(peer.messages.size, N, "ws received each message once");
    for (let i = 0; i < N; i++) {
      const got = await peer.messages.next();
      assertBytes(got.data, payloadBytes(item(i)), `message ${i} ws received`);
    }
  });

  test(`${N} small messages from ws, sent back to back, echoed in order`, T, async () => {
    const { ws, peer } = await pair();
    for (let i = 0; i < N; i++) {
      const message = item(i);
      peer.socket.send(message.data, { binary: message.type === "binary" });
    }
    const echoes: Array<Promise<void>> = [];
    for (let i = 0; i < N; i++) {
      const message = await ws.receive();
      const expected = item(i);
      assert.equal(message.type, expected.type, `type of message ${i} wsx received`);
      assertBytes(message.bytes, payloadBytes(expected), `message ${i} wsx received`);
      echoes.push(ws.send(message));
    }
    await Promise.all(echoes);
    for (let i = 0; i < N; i++) {
      const echo = await peer.messages.next();
      const expected = item(i);
      assert.equal(echo.isBinary, expected.type === "binary", `type of echo ${i}`);
      assertBytes(echo.data, payloadBytes(expected), `echo ${i}`);
    }
  });
});

describe("wsx client -> ws server: control frames, extensions and protocol errors", () => {
  test("frames() shows ws's pong, ping, data and close frames with their payloads", T, async () => {
    const { ws, peer } = await pair();
    ws.setDelivery("frames");
    await ws.ping("p2");
    peer.socket.ping("p1");
    peer.socket.send("data");
    peer.socket.close(4001, "frames done ✓");
    const frames: Frame[] = [];
    for await (const frame of ws.frames()) {
      frames.push(frame);
      if (frames.length >= 10) break;
    }
    assert.deepEqual(
      frames.map((f) => [f.type, f.opcode, f.fin]),
      [
        ["pong", Opcode.PONG, true],
        ["ping", Opcode.PING, true],
        ["text", Opcode.TEXT, true],
        ["close", Opcode.CLOSE, true],
      ],
    );
    assertBytes(frames[0]!.payload, Buffer.from("p2"), "pong payload");
    assertBytes(frames[1]!.payload, Buffer.from("p1"), "ping payload");
    assert.equal(frames[2]!.text, "data");
    const reason = Buffer.from("frames done ✓");
    assertBytes(frames[3]!.payload, Buffer.concat([Buffer.of(4001 >> 8, 4001 & 0xff), reason]), "close payload as sent by ws");
    assert.equal(frames[3]!.text, "frames done ✓");
    assert.equal((await ws.closed).code, 4001);
  });

  test("a ws server with permessage-deflate enabled talks uncompressed to wsx (no offer)", T, async () => {
    const fixture = await startWs({ perMessageDeflate: true });
    const { ws, peer, request } = await pair(fixture);
    assert.equal(request.headers["sec-websocket-extensions"], undefined);
    assert.equal(peer.socket.extensions, "");
    assert.equal(ws.extensions, "");
    const text = asciiText(100_000);
    await ws.send(text);
    assert.equal((await peer.messages.next()).data.toString(), text);
    peer.socket.send(text);
    assert.equal((await ws.receive()).text, text);
  });

  test("invalid UTF-8 text from ws: wsx fails the connection with 1007", T, async () => {
    const { ws, peer } = await pair();
    peer.socket.send(Buffer.from([0x68, 0xc3, 0x28, 0x69]), { binary: false });
    await assert.rejects(ws.receive(), { name: "ConnectionClosedError" });
    const info = await ws.closed;
    assert.equal((info.error as { code?: string } | undefined)?.code, "INVALID_UTF8");
    assert.equal(info.wasClean, false);
    assert.equal((await peer.closed).code, 1007);
  });

  test("invalid UTF-8 text from wsx (raw sendFrame): ws fails the connection with 1007", T, async () => {
    const { ws, peer } = await pair();
    await ws.sendFrame(Opcode.TEXT, Uint8Array.of(0xed, 0xa0, 0x80)); // an encoded surrogate
    const info = await ws.closed;
    assert.equal(info.code, 1007);
    assert.match(peer.errors[0]?.message ?? "", /UTF-8/);
  });

  test("message over wsx's maxMessageSize: wsx closes with 1009", T, async () => {
    const { ws, peer } = await pair(undefined, "/", { maxMessageSize: 1000 });
    peer.socket.send(pattern(1000), { binary: true });
    assert.equal((await ws.receive()).bytes.length, 1000);
    peer.socket.send(pattern(600), { binary: true, fin: false });
    peer.socket.send(pattern(401), { binary: true, fin: true });
    await assert.rejects(ws.receive(), { name: "ConnectionClosedError" });
    assert.equal((await ws.closed).error?.name, "ProtocolError");
    assert.equal((await peer.closed).code, 1009);
  });

  test("message over ws's maxPayload: ws closes with 1009 and wsx sees it", T, async () => {
    const { ws } = await pair(await startWs({ maxPayload: 1000 }));
    await ws.send(pattern(1000));
    await ws.send(pattern(1001));
    const info = await ws.closed;
    assert.equal(info.code, 1009);
  });
});
