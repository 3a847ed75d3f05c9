/**
 * Interoperability: a `ws` 8.x client against a wsx server.
 *
 * Every data case runs both ways over one connection: the ws client sends,
 * the wsx server checks what it got (type and exact bytes) and echoes it, the
 * client checks the echo; then the wsx server sends on its own (its string
 * and byte paths, not just an echo of a received message), the ws client
 * checks what it got and echoes it, and the server checks the echo.
 */
import { afterEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { createServer, type IncomingMessage, type Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { Readable } from "node:stream";
import { WebSocket as WsSocket, type ClientOptions } from "ws";
import {
  Opcode,
  WebSocketServer,
  serve,
  type Frame,
  type ServerOptions,
  type ServerRequest,
  type WebSocket,
} from "../../src/index.js";
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
const clients: WsPeer[] = [];
const serverSides: WebSocket[] = [];

afterEach(async () => {
  for (const peer of clients.splice(0)) peer.socket.terminate();
  for (const ws of serverSides.splice(0)) ws.terminate();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Accepted {
  ws: WebSocket;
  request: ServerRequest;
}

interface WsxFixture {
  url: string;
  accepted: Inbox<Accepted>;
  server: WebSocketServer;
}

/** A standalone wsx server on 127.0.0.1 whose connections the test drives by hand. */
async function startWsx(options: ServerOptions = {}): Promise<WsxFixture> {
  const accepted = new Inbox<Accepted>();
  const server = await serve({ host: "127.0.0.1", port: 0, ...options }, (ws, request) => {
    serverSides.push(ws);
    accepted.push({ ws, request });
  });
  cleanups.push(() => server.close());
  return { url: `ws://127.0.0.1:${server.port}`, accepted, server };
}

function openWs(url: string, protocols?: string | string[], options?: ClientOptions): WsPeer {
  const peer = watch(new WsSocket(url, protocols, options));
  clients.push(peer);
  return peer;
}

interface Pair extends Accepted {
  peer: WsPeer;
  client: WsSocket;
}

async function pair(fixture?: WsxFixture, path = "/", protocols?: string | string[], options?: ClientOptions): Promise<Pair> {
  const wsx = fixture ?? (await startWsx());
  const peer = openWs(wsx.url + path, protocols, options);
  await once(peer.socket, "open");
  const { ws, request } = await wsx.accepted.next();
  return { peer, client: peer.socket, ws, request };
}

/** ws sends, wsx checks and echoes, ws checks; then wsx sends, ws checks and echoes, wsx checks. */
async function roundTrips(payload: Payload): Promise<void> {
  const { peer, client, ws } = await pair();
  const expected = payloadBytes(payload);
  const binary = payload.type === "binary";

  // ws -> wsx -> ws
  client.send(payload.type === "text" ? payload.data : Buffer.from(payload.data), { binary });
  const got = await ws.receive();
  assert.equal(got.type, payload.type, "type wsx received");
  assertBytes(got.bytes, expected, "bytes wsx received");
  if (payload.type === "text") assert.equal(got.text, payload.data, "text wsx decoded");
  await ws.send(got);
  const echo = await peer.messages.next();
  assert.equal(echo.isBinary, binary, "type of the echo ws received");
  assertBytes(echo.data, expected, "echo ws received");

  // wsx -> ws -> wsx
  await ws.send(payload.data);
  const sent = await peer.messages.next();
  assert.equal(sent.isBinary, binary, "type ws received");
  assertBytes(sent.data, expected, "bytes ws received");
  if (payload.type === "text") assert.equal(sent.data.toString("utf8"), payload.data, "text ws decoded");
  client.send(sent.data, { binary: sent.isBinary });
  const back = await ws.receive();
  assert.equal(back.type, payload.type, "type of the echo wsx received");
  assertBytes(back.bytes, expected, "echo wsx received");
  assert.deepEqual(peer.errors, []);
}

// ---- tests ----

describe("ws client -> wsx server: data messages", () => {
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

  // wsx encodes short strings straight into its output with a guessed header size: probe those edges.
  test("text whose character count and UTF-8 length straddle header-size edges", T, async () => {
    for (const count of [41, 42, 62, 63, 125, 126, 1365, 1366, 21845, 21846]) {
      await roundTrips({ type: "text", data: "漢".repeat(count) });
      await roundTrips({ type: "text", data: "é".repeat(count) });
      await roundTrips({ type: "text", data: "🚀".repeat(Math.ceil(count / 2)) });
    }
  });

  test("16 MiB binary message both ways (length, checksum and sample bytes)", { timeout: 60_000 }, async () => {
    const { peer, client, ws } = await pair();
    const big = randomBytes(16 * 1024 * 1024);
    const digest = sha256(big);
    const samples = [0, 1, 65535, 65536, 8 * 1024 * 1024, big.length - 1];
    const check = (bytes: Uint8Array, what: string): void => {
      assert.equal(bytes.length, big.length, `${what}: length`);
      for (const i of samples) assert.equal(bytes[i], big[i], `${what}: byte ${i}`);
      assert.equal(sha256(bytes), digest, `${what}: sha256`);
    };

    client.send(big, { binary: true });
    const got = await ws.receive();
    assert.equal(got.type, "binary");
    check(got.bytes, "wsx received");
    await ws.send(got);
    const echo = await peer.messages.next();
    assert.equal(echo.isBinary, true);
    check(echo.data, "ws received the echo");

    await ws.send(big);
    const sent = await peer.messages.next();
    assert.equal(sent.isBinary, true);
    check(sent.data, "ws received");
  });
});

describe("ws client -> wsx server: fragmentation", () => {
  test("ws fin:false fragments arrive at wsx as those frames, then as one message", T, async () => {
    const { peer, client, ws } = await pair();
    // "héllo wörld 😀" split inside the 2-byte "é" and inside the 4-byte emoji.
    const whole = Buffer.from("héllo wörld 😀", "utf8");
    const chunks = [whole.subarray(0, 2), whole.subarray(2, 9), Buffer.alloc(0), whole.subarray(9, whole.length - 2), whole.subarray(whole.length - 2)];

    ws.setDelivery("frames");
    chunks.forEach((chunk, i) => client.send(chunk, { binary: false, fin: i === chunks.length - 1 }));
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

    // Back to whole messages: a fragmented binary message is reassembled.
    ws.setDelivery("messages");
    const binary = pattern(70_000, 3);
    const cuts = [0, 1, 126, 65_536, 65_537, binary.length];
    for (let i = 0; i + 1 < cuts.length; i++) {
      client.send(binary.subarray(cuts[i], cuts[i + 1]), { binary: true, fin: i + 2 === cuts.length });
    }
    const message = await ws.receive();
    assert.equal(message.type, "binary");
    assertBytes(message.bytes, binary, "reassembled binary");
    await ws.send(message);
    const echo = await peer.messages.next();
    assertBytes(echo.data, binary, "echo of the reassembled message");
  });

  test("wsx sendFragmented (text split inside characters, and binary) reaches ws as one message", T, async () => {
    const { peer, ws } = await pair();
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
    assert.deepEqual(peer.errors, []);
  });

  test("wsx streamed send(asyncIterable) reaches ws as one message; later sends wait, pings interleave", T, async () => {
    const { peer, ws } = await pair();
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
    const ping = await peer.pings.next();
    assert.equal(ping.toString(), "mid-stream");
    await pinged;
    release();
    await Promise.all([streamed, after]);

    const first = await peer.messages.next();
    assert.equal(first.isBinary, false);
    assert.equal(first.data.toString("utf8"), pieces.join(""));
    const second = await peer.messages.next();
    assert.equal(second.data.toString("utf8"), "sent after the stream started");

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

describe("ws client -> wsx server: ping and pong", () => {
  test("wsx ping() resolves against ws's automatic pong; ws saw the payload", T, async () => {
    const { peer, ws } = await pair();
    const pongs: Uint8Array[] = [];
    ws.on("pong", (payload) => pongs.push(payload));

    const rtt = await ws.ping();
    assert.equal(typeof rtt, "number");
    assert.ok(rtt >= 0);
    const first = await peer.pings.next();
    assert.equal(first.length, 4, "default ping payload");

    await ws.ping("wsx-ping ✓");
    assert.equal((await peer.pings.next()).toString("utf8"), "wsx-ping ✓");

    const max = pattern(125, 5);
    await ws.ping(max);
    assertBytes(await peer.pings.next(), max, "125-byte ping payload ws received");

    await ws.ping(new Uint8Array(0));
    assert.equal((await peer.pings.next()).length, 0);

    assert.equal(pongs.length, 4);
    assertBytes(pongs[1]!, Buffer.from("wsx-ping ✓"), "pong payload wsx received");
    assertBytes(pongs[2]!, max, "125-byte pong payload wsx received");
  });

  test("ws ping(payload) gets a pong with the same payload; wsx saw the ping", T, async () => {
    const { peer, client, ws } = await pair();
    const pings: Uint8Array[] = [];
    ws.on("ping", (payload) => pings.push(payload));
    const reading = ws.receive().catch(() => null);

    for (const payload of [Buffer.from("from ws"), Buffer.alloc(0), pattern(125, 8), Buffer.from("日本")]) {
      client.ping(payload);
      assertBytes(await peer.pongs.next(), payload, `pong for a ${payload.length}-byte ping`);
    }
    assert.equal(pings.length, 4);
    assertBytes(pings[2]!, pattern(125, 8), "ping payload wsx received");

    client.send("done");
    const message = await reading;
    assert.equal(message?.text, "done");
  });
});

describe("ws client -> wsx server: close", () => {
  for (const { name, code, reason } of CLOSE_CASES) {
    const seen = code ?? 1005;
    test(`ws closes with ${name}`, T, async () => {
      const { peer, client, ws } = await pair();
      client.close(code, reason);
      const info = await ws.closed;
      assert.equal(info.code, seen, "code wsx received");
      assert.equal(info.reason, reason ?? "", "reason wsx received");
      assert.equal(info.wasClean, true);
      assert.equal(info.error, undefined);
      const closed = await peer.closed;
      assert.equal(closed.code, seen, "code wsx echoed");
      assert.equal(ws.readyState, "closed");
    });

    test(`wsx closes with ${name}`, T, async () => {
      const { peer, ws } = await pair();
      const info = await ws.close(code, reason);
      assert.equal(info.wasClean, true);
      assert.equal(info.code, seen, "code ws echoed");
      const closed = await peer.closed;
      assert.equal(closed.code, seen, "code ws received");
      assert.equal(closed.reason, reason ?? "", "reason ws received");
      assert.deepEqual(peer.errors, []);
    });
  }

  test("messages sent right before close() reach ws before the close frame", T, async () => {
    const { peer, ws } = await pair();
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
    first.client.terminate();
    const info = await first.ws.closed;
    assert.equal(info.code, 1006);
    assert.equal(info.wasClean, false);

    const second = await pair();
    second.ws.terminate();
    assert.equal((await second.peer.closed).code, 1006);
    assert.equal((await second.ws.closed).code, 1006);
  });

  test("server.close() closes open ws clients with 1001", T, async () => {
    const fixture = await startWsx();
    const { peer } = await pair(fixture);
    await fixture.server.close();
    const closed = await peer.closed;
    assert.equal(closed.code, 1001);
    assert.equal(fixture.server.clients.size, 0);
  });
});

/**
 * Offer subprotocols the server does not pick. wsx then accepts without a
 * Sec-WebSocket-Protocol header, as RFC 6455 4.2.2 allows; ws 8 is stricter
 * than RFC 6455 4.1 and aborts ("Server sent no subprotocol"), so the wsx
 * side is accepted and then sees the TCP connection drop.
 */
async function declined(fixture: WsxFixture, offered: string[]): Promise<WebSocket> {
  const peer = openWs(fixture.url, offered);
  const { ws, request } = await fixture.accepted.next();
  assert.deepEqual(request.protocols, offered);
  await peer.closed;
  assert.match(peer.errors[0]?.message ?? "", /Server sent no subprotocol/);
  const info = await ws.closed;
  assert.equal(info.code, 1006);
  return ws;
}

describe("ws client -> wsx server: handshake", () => {
  test("subprotocol: the server's preference among several offered (protocols option)", T, async () => {
    const fixture = await startWsx({ protocols: ["chat.v2", "chat.v1"] });
    const offered = ["chat.v1", "chat.v2", "superchat"];
    const { client, ws, request } = await pair(fixture, "/", offered);
    assert.deepEqual(request.protocols, offered);
    assert.equal(ws.protocol, "chat.v2");
    assert.equal(client.protocol, "chat.v2");

    const none = await declined(fixture, ["other", "another"]);
    assert.equal(none.protocol, null);
  });

  test("subprotocol: selectProtocol picks from the ws offer", T, async () => {
    const calls: string[][] = [];
    const fixture = await startWsx({
      protocols: ["ignored"],
      selectProtocol: (offered) => {
        calls.push(offered);
        return offered.includes("pick-me") ? "pick-me" : null;
      },
    });
    const picked = await pair(fixture, "/", ["a.b", "pick-me", "c-d"]);
    assert.equal(picked.client.protocol, "pick-me");
    assert.equal(picked.ws.protocol, "pick-me");

    const refused = await declined(fixture, ["x", "y"]);
    assert.equal(refused.protocol, null);

    const noOffer = await pair(fixture, "/");
    assert.equal(noOffer.ws.protocol, null);
    assert.deepEqual(calls, [["a.b", "pick-me", "c-d"], ["x", "y"]]);
  });

  test("request details and custom headers both ways; permessage-deflate offer declined", T, async () => {
    const fixture = await startWsx({
      headers: (request) => ({ "X-Server": "wsx", "X-Echo-Path": request.path }),
    });
    const peer = openWs(`${fixture.url}/room/42?user=bob&x=%C3%BC`, undefined, {
      headers: { "X-Trace-Id": "abc-123", "X-Empty": "" },
      origin: "http://example.test",
    });
    const upgraded = once(peer.socket, "upgrade");
    const opened = once(peer.socket, "open"); // emitted in the same tick as "upgrade"
    const [response] = (await upgraded) as [IncomingMessage];
    await opened;
    const { ws, request } = await fixture.accepted.next();

    assert.equal(request.path, "/room/42");
    assert.equal(request.query, "user=bob&x=%C3%BC");
    assert.equal(request.headers["x-trace-id"], "abc-123");
    assert.equal(request.headers["x-empty"], "");
    assert.equal(request.origin, "http://example.test");
    assert.equal(request.host, `127.0.0.1:${fixture.server.port}`);
    assert.equal(request.remoteAddress, "127.0.0.1");
    assert.match(request.headers["sec-websocket-extensions"] ?? "", /permessage-deflate/);

    assert.equal(response.headers["x-server"], "wsx");
    assert.equal(response.headers["x-echo-path"], "/room/42");
    assert.equal(response.headers["sec-websocket-extensions"], undefined);
    assert.equal(peer.socket.extensions, "");
    assert.equal(ws.extensions, "");

    // Compression was declined, so a message still goes through uncompressed.
    peer.socket.send("after the handshake");
    assert.equal((await ws.receive()).text, "after the handshake");
  });

  test("basic auth from ws reaches authenticate; refusals reach ws as HTTP statuses", T, async () => {
    const seen: Array<string | undefined> = [];
    const fixture = await startWsx({
      authenticate: (request) => {
        const header = request.headers["authorization"];
        seen.push(header);
        if (header === undefined) return false;
        const [scheme, encoded] = header.split(" ");
        const [user, ...rest] = Buffer.from(encoded ?? "", "base64").toString("utf8").split(":");
        if (scheme !== "Basic") return false;
        if (user === "mallory") return { status: 403, headers: { "X-Why": "banned" } };
        if (rest.join(":") !== "pa:ss") return false;
        request.locals["user"] = user;
        return true;
      },
    });

    // ws hands `auth` on to http.request (its typings do not list it).
    const auth = (credentials: string): ClientOptions => Object.assign({} as ClientOptions, { auth: credentials });
    const good = await pair(fixture, "/", undefined, auth("alice:pa:ss"));
    assert.equal(good.request.locals["user"], "alice");
    assert.equal(seen[0], `Basic ${Buffer.from("alice:pa:ss").toString("base64")}`);

    const viaUrl = openWs(fixture.url.replace("ws://", "ws://carol:pa%3Ass@"));
    await once(viaUrl.socket, "open");
    const carol = await fixture.accepted.next();
    assert.equal(carol.request.locals["user"], "carol");

    for (const [options, status] of [[{}, 401], [auth("alice:wrong"), 401], [auth("mallory:pa:ss"), 403]] as const) {
      const refused = openWs(fixture.url, undefined, options);
      await refused.closed;
      assert.match(refused.errors[0]?.message ?? "", new RegExp(`Unexpected server response: ${status}`));
    }
    assert.equal(fixture.server.clients.size, 2);
  });

  test("wsx handleUpgrade on a node:http server, with a ws client", T, async () => {
    const accepted = new Inbox<Accepted>();
    const wsx = new WebSocketServer({ path: "/ws", protocols: ["proto"] }, (ws, request) => {
      serverSides.push(ws);
      accepted.push({ ws, request });
    });
    const http: HttpServer = createServer((_request, response) => response.end("plain http"));
    http.on("upgrade", wsx.handleUpgrade);
    http.listen(0, "127.0.0.1");
    await once(http, "listening");
    cleanups.push(async () => {
      http.closeAllConnections();
      await new Promise((resolve) => http.close(resolve));
    });
    cleanups.push(() => wsx.close());
    const { port } = http.address() as AddressInfo;

    const response = await fetch(`http://127.0.0.1:${port}/`);
    assert.equal(await response.text(), "plain http");

    const peer = openWs(`ws://127.0.0.1:${port}/ws?id=7`, "proto");
    await once(peer.socket, "open");
    const { ws, request } = await accepted.next();
    assert.equal(request.path, "/ws");
    assert.equal(request.query, "id=7");
    assert.deepEqual(request.protocols, ["proto"]);
    assert.equal(ws.protocol, "proto");
    assert.equal(peer.socket.protocol, "proto");

    peer.socket.send("over node:http");
    peer.socket.send(pattern(70_000), { binary: true });
    const text = await ws.receive();
    const binary = await ws.receive();
    assert.equal(text.text, "over node:http");
    assertBytes(binary.bytes, pattern(70_000), "binary over node:http");
    await ws.send(text);
    await ws.send(binary);
    assert.equal((await peer.messages.next()).data.toString(), "over node:http");
    assertBytes((await peer.messages.next()).data, pattern(70_000), "binary echo over node:http");

    const wrongPath = openWs(`ws://127.0.0.1:${port}/elsewhere`);
    await wrongPath.closed;
    assert.match(wrongPath.errors[0]?.message ?? "", /Unexpected server response: 404/);

    const info = await ws.close(1000, "bye");
    assert.equal(info.wasClean, true);
    assert.deepEqual(await peer.closed, { code: 1000, reason: "bye" });
  });
});

describe("ws client -> wsx server: bursts", () => {
  const N = 10_000;
  const item = (i: number): Payload => (i % 3 === 0 ? { type: "binary", data: pattern(1 + (i % 50), i) } : { type: "text", data: `message ${i} ✓` });

  test(`${N} small messages from ws, sent back to back, echoed in order`, T, async () => {
    const { peer, client, ws } = await pair();
    for (let i = 0; i < N; i++) {
      const message = item(i);
      client.send(message.type === "text" ? message.data : message.data, { binary: message.type === "binary" });
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

  test(`${N} small messages from wsx, sent without awaiting, echoed in order`, T, async () => {
    const { peer, client, ws } = await pair();
    peer.socket.on("message", (data, isBinary) => client.send(toBuffer(data), { binary: isBinary }));
    const sends: Array<Promise<void>> = [];
    for (let i = 0; i < N; i++) sends.push(ws.send(item(i).data));
    await Promise.all(sends);
    for (let i = 0; i < N; i++) {
      const echo = await ws.receive();
      const expected = item(i);
      assert.equal(echo.type, expected.type, `type of echo ${i}`);
      assertBytes(echo.bytes, payloadBytes(expected), `echo ${i}`);
    }
    assert.equal(peer.messages.size, N, "everything ws received was recorded too");
  });
});

describe("ws client -> wsx server: control frames and protocol errors", () => {
  test("frames() shows ws's ping, data and close frames with their payloads", T, async () => {
    const { client, ws } = await pair();
    ws.setDelivery("frames");
    client.ping("p1");
    client.send(Buffer.from([1, 2, 3]));
    client.close(4001, "frames done ✓");
    const frames: Frame[] = [];
    for await (const frame of ws.frames()) {
      frames.push(frame);
      if (frames.length >= 10) break;
    }
    assert.deepEqual(
      frames.map((f) => [f.type, f.opcode, f.fin]),
      [
        ["ping", Opcode.PING, true],
        ["binary", Opcode.BINARY, true],
        ["close", Opcode.CLOSE, true],
      ],
    );
    assertBytes(frames[0]!.payload, Buffer.from("p1"), "ping payload");
    assertBytes(frames[1]!.payload, Uint8Array.of(1, 2, 3), "binary payload");
    const reason = Buffer.from("frames done ✓");
    assertBytes(frames[2]!.payload, Buffer.concat([Buffer.of(4001 >> 8, 4001 & 0xff), reason]), "close payload as sent by ws");
    assert.equal(frames[2]!.text, "frames done ✓");
    assert.equal((await ws.closed).code, 4001);
  });

  test("invalid UTF-8 text from ws: wsx fails the connection with 1007", T, async () => {
    const { peer, client, ws } = await pair();
    client.send(Buffer.from([0x68, 0xc3, 0x28, 0x69]), { binary: false });
    await assert.rejects(ws.receive(), { name: "ConnectionClosedError" });
    const info = await ws.closed;
    assert.equal((info.error as { code?: string } | undefined)?.code, "INVALID_UTF8");
    assert.equal(info.wasClean, false);
    assert.equal((await peer.closed).code, 1007);
  });

  test("invalid UTF-8 text from wsx (raw sendFrame): ws fails the connection with 1007", T, async () => {
    const { peer, ws } = await pair();
    await ws.sendFrame(Opcode.TEXT, Uint8Array.of(0xed, 0xa0, 0x80)); // an encoded surrogate
    const info = await ws.closed;
    assert.equal(info.code, 1007);
    assert.match(peer.errors[0]?.message ?? "", /UTF-8/);
  });

  test("message over the wsx server's maxMessageSize: wsx closes with 1009", T, async () => {
    const { peer, client, ws } = await pair(await startWsx({ maxMessageSize: 1000 }));
    client.send(pattern(1000));
    assert.equal((await ws.receive()).bytes.length, 1000);
    client.send(pattern(600), { fin: false });
    client.send(pattern(401), { fin: true });
    await assert.rejects(ws.receive(), { name: "ConnectionClosedError" });
    assert.equal((await ws.closed).error?.name, "ProtocolError");
    assert.equal((await peer.closed).code, 1009);
  });

  test("message over the ws client's maxPayload: ws closes with 1009 and wsx sees it", T, async () => {
    const { ws } = await pair(undefined, "/", undefined, { maxPayload: 1000 });
    await ws.send(pattern(1000));
    await ws.send(pattern(1001));
    const info = await ws.closed;
    assert.equal(info.code, 1009);
  });
});
