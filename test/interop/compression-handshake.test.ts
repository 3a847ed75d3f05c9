/**
 * permessage-deflate on the wire, byte by byte: a raw client against a wsx
 * server and a raw server against a wsx client. The handshake headers are
 * written and read by hand, and compressed payloads are made and checked
 * with node:zlib directly (raw DEFLATE, sync flush, tail removed, RFC 7692
 * 7.2.1), independently of wsx's codec.
 */
import { afterEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createDeflateRaw, deflateRawSync, inflateRawSync, constants as zlibConstants } from "node:zlib";
import type { Socket } from "node:net";
import { HandshakeError, connect, serve, type ConnectOptions, type WebSocket } from "../../src/index.js";
import {
  OP,
  RawClient,
  clientFrame,
  deadline,
  listenHttpHead,
  parseClose,
  serverFrame,
  splitFrame,
  switchingResponse,
  type RawFrame,
} from "../helpers/net.js";
import { Inbox } from "../helpers/interop.js";
import { rejection } from "../helpers/wsx.js";

const T = { timeout: 15_000 };
const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/** A message compressed as permessage-deflate sends it, by node:zlib alone. */
function deflate(data: string | Uint8Array, windowBits = 15): Buffer {
  const out = deflateRawSync(data, { windowBits, finishFlush: zlibConstants.Z_SYNC_FLUSH });
  return out.subarray(out.length - 4).equals(TAIL) ? out.subarray(0, out.length - 4) : out;
}

/** A permessage-deflate payload inflated by node:zlib alone (the tail put back). */
function inflate(payload: Uint8Array, windowBits = 15): Buffer {
  return inflateRawSync(Buffer.concat([payload, TAIL]), { windowBits, finishFlush: zlibConstants.Z_SYNC_FLUSH });
}

function json(bytes: number): string {
  const records: string[] = [];
  for (let i = 0, size = 2; size < bytes; i++) {
    const record = JSON.stringify({ id: i, name: `user-${(i * 7919) % 10_007}`, active: i % 3 === 0, tags: ["a", "b", "c"].slice(i % 3) });
    records.push(record);
    size += record.length + 1;
  }
  return `[${records.join(",")}]`;
}

const TEXT = json(64 * 1024);

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

// ---- a raw client against a wsx server ----

/** A wsx server that echoes every message; `sides` hands out its connections. */
async function echoServer(compression: boolean): Promise<{ port: number; sides: Inbox<WebSocket> }> {
  const sides = new Inbox<WebSocket>();
  const server = await serve({ host: "127.0.0.1", port: 0, compression }, async (ws) => {
    cleanups.push(() => ws.terminate());
    sides.push(ws);
    for await (const message of ws) await ws.send(message);
  });
  cleanups.push(() => server.close());
  return { port: server.port, sides };
}

async function rawClient(port: number): Promise<RawClient> {
  const client = await RawClient.connect(port);
  cleanups.push(() => client.destroy());
  return client;
}

describe("raw client -> wsx server with compression", () => {
  const OFFERS: Array<[offer: string, answer: string | undefined]> = [
    ["permessage-deflate", "permessage-deflate"],
    ["permessage-deflate; client_max_window_bits", "permessage-deflate"],
    ["permessage-deflate;client_max_window_bits=12", "permessage-deflate; client_max_window_bits=12"],
    ["x-webkit-deflate-frame, permessage-deflate; server_max_window_bits=12", "permessage-deflate; server_max_window_bits=12"],
    // The first offer is unusable (bad value, unknown parameter): the next one is taken.
    ["permessage-deflate; server_max_window_bits=abc, permessage-deflate; server_no_context_takeover", "permessage-deflate; server_no_context_takeover"],
    ["permessage-deflate; foo=1, permessage-deflate", "permessage-deflate"],
    ['permessage-deflate; server_max_window_bits="9"', "permessage-deflate; server_max_window_bits=9"],
    // Nothing usable: the connection opens without the extension.
    ["permessage-deflate; server_max_window_bits=16", undefined],
    ["permessage-deflate; client_no_context_takeover=yes", undefined],
    ["x-unknown-extension", undefined],
  ];
  for (const [offer, answer] of OFFERS) {
    test(`offer ${JSON.stringify(offer)} -> ${answer === undefined ? "no extension" : JSON.stringify(answer)}`, T, async () => {
      const { port, sides } = await echoServer(true);
      const client = await rawClient(port);
      const response = await client.handshake({ headers: { "Sec-WebSocket-Extensions": offer } });
      assert.equal(response.headers["sec-websocket-extensions"], answer);
      const side = await deadline(sides.next(), 3000, "server connection");
      assert.equal(side.extensions, answer ?? "");
    });
  }

  test("a server without compression ignores the offer", T, async () => {
    const { port } = await echoServer(false);
    const client = await rawClient(port);
    const response = await client.handshake({ headers: { "Sec-WebSocket-Extensions": "permessage-deflate" } });
    assert.equal(response.headers["sec-websocket-extensions"], undefined);
    // And RSV1 is then a protocol error (RFC 6455 5.2).
    await client.write(clientFrame(OP.TEXT, deflate(TEXT), { rsv: 4 }));
    const close = await client.readFrame();
    assert.equal(close.opcode, OP.CLOSE);
    assert.equal(parseClose(close.payload).code, 1002);
  });

  test("node:zlib's compressed message is understood; wsx's answer inflates with node:zlib", T, async () => {
    const { port } = await echoServer(true);
    const client = await rawClient(port);
    await client.handshake({ headers: { "Sec-WebSocket-Extensions": "permessage-deflate; server_no_context_takeover; client_no_context_takeover" } });
    for (let i = 0; i < 3; i++) {
      await client.write(clientFrame(OP.TEXT, deflate(TEXT), { rsv: 4 }));
      const echo = await client.readFrame(5000);
      assert.deepEqual([echo.opcode, echo.rsv, echo.fin, echo.masked], [OP.TEXT, 4, true, false]);
      // No context takeover: each echo inflates on its own.
      assert.equal(inflate(echo.payload).toString("utf8"), TEXT, `echo ${i}`);
    }
  });

  test("a compressed message fragmented by the client, the empty message as 0x00, a frame with the request", T, async () => {
    const { port } = await echoServer(true);
    const client = await rawClient(port);
    // The handshake and a first compressed frame in one write: the frame must still be decoded.
    const key = "dGhlIHNhbXBsZSBub25jZQ==";
    const request =
      `GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\n` +
      "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover\r\n\r\n";
    await client.write(Buffer.concat([Buffer.from(request, "latin1"), clientFrame(OP.TEXT, deflate("early bird"), { rsv: 4 })]));
    const response = await client.readResponse();
    assert.equal(response.status, 101);
    const early = await client.readFrame();
    assert.equal(early.rsv, 0, "below the threshold: echoed uncompressed");
    assert.equal(early.payload.toString("utf8"), "early bird");

    const compressed = deflate(TEXT);
    const cut = [0, 1, 500, compressed.length - 1, compressed.length];
    for (let i = 0; i + 1 < cut.length; i++) {
      const last = i + 2 === cut.length;
      await client.write(clientFrame(i === 0 ? OP.BINARY : OP.CONTINUATION, compressed.subarray(cut[i], cut[i + 1]), { fin: last, rsv: i === 0 ? 4 : 0 }));
    }
    const echo = await client.readFrame(5000);
    assert.equal(echo.opcode, OP.BINARY);
    assert.equal(inflate(echo.payload).toString("utf8"), TEXT);

    await client.write(clientFrame(OP.TEXT, Buffer.from([0x00]), { rsv: 4 }));
    const empty = await client.readFrame();
    assert.deepEqual([empty.opcode, empty.payload.length], [OP.TEXT, 0]);
  });

  test("RSV1 on a continuation frame is a protocol error (1002)", T, async () => {
    const { port } = await echoServer(true);
    const client = await rawClient(port);
    await client.handshake({ headers: { "Sec-WebSocket-Extensions": "permessage-deflate" } });
    const compressed = deflate(TEXT);
    await client.write(clientFrame(OP.TEXT, compressed.subarray(0, 100), { fin: false, rsv: 4 }));
    await client.write(clientFrame(OP.CONTINUATION, compressed.subarray(100), { rsv: 4 }));
    const close = await client.readFrame();
    assert.equal(close.opcode, OP.CLOSE);
    assert.equal(parseClose(close.payload).code, 1002);
  });

  test("RSV1 on a control frame is a protocol error (1002)", T, async () => {
    const { port } = await echoServer(true);
    const client = await rawClient(port);
    await client.handshake({ headers: { "Sec-WebSocket-Extensions": "permessage-deflate" } });
    await client.write(clientFrame(OP.PING, "hi", { rsv: 4 }));
    const close = await client.readFrame();
    assert.equal(close.opcode, OP.CLOSE);
    assert.equal(parseClose(close.payload).code, 1002);
  });

  test("data that does not inflate is 1007, and the server carries on", T, async () => {
    const { port } = await echoServer(true);
    const client = await rawClient(port);
    await client.handshake({ headers: { "Sec-WebSocket-Extensions": "permessage-deflate" } });
    await client.write(clientFrame(OP.BINARY, Buffer.from([0xff, 0xff, 0xff, 0xff, 0x00, 0x12, 0x34]), { rsv: 4 }));
    const close = await client.readFrame();
    assert.equal(close.opcode, OP.CLOSE);
    assert.equal(parseClose(close.payload).code, 1007);

    const next = await rawClient(port);
    await next.handshake({ headers: { "Sec-WebSocket-Extensions": "permessage-deflate" } });
    await next.write(clientFrame(OP.TEXT, deflate(TEXT), { rsv: 4 }));
    assert.equal(inflate((await next.readFrame(5000)).payload).toString("utf8"), TEXT);
  });
});

// ---- a raw server against a wsx client ----

/** Frames read from a raw server-side socket. */
function frameReader(socket: Socket, initial: Buffer): { next(ms?: number): Promise<RawFrame> } {
  let buffer = initial;
  const frames = new Inbox<RawFrame>();
  const drain = (): void => {
    for (let split = splitFrame(buffer); split !== undefined; split = splitFrame(buffer)) {
      frames.push(split.frame);
      buffer = buffer.subarray(split.size);
    }
  };
  socket.on("data", (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk]);
    drain();
  });
  socket.on("close", () => frames.end(new Error("socket closed")));
  drain();
  return { next: (ms = 5000) => deadline(frames.next(), ms, "frame from the wsx client") };
}

interface RawServerSide {
  socket: Socket;
  frames: { next(ms?: number): Promise<RawFrame> };
  offer: string | undefined;
}

/** A raw server answering 101 with `extensions` (and then `after`, in the same write); sides are handed out. */
async function rawServer(extensions: string | undefined, after?: Buffer): Promise<{ url: string; sides: Inbox<RawServerSide> }> {
  const sides = new Inbox<RawServerSide>();
  const server = await listenHttpHead((request) => {
    const key = request.headers["sec-websocket-key"] ?? "";
    const headers: Record<string, string> = extensions === undefined ? {} : { "Sec-WebSocket-Extensions": extensions };
    const head = Buffer.from(switchingResponse(key, headers), "latin1");
    request.socket.write(after === undefined ? head : Buffer.concat([head, after]));
    sides.push({ socket: request.socket, frames: frameReader(request.socket, request.rest), offer: request.headers["sec-websocket-extensions"] });
  });
  cleanups.push(() => server.close());
  return { url: `ws://127.0.0.1:${server.port}/`, sides };
}

async function wsxClient(url: string, compression: ConnectOptions["compression"] = true): Promise<WebSocket> {
  const ws = await connect(url, { compression });
  cleanups.push(() => ws.terminate());
  return ws;
}

describe("wsx client with compression -> raw server", () => {
  test("the offer: permessage-deflate; client_max_window_bits", T, async () => {
    const { url, sides } = await rawServer("permessage-deflate");
    const ws = await wsxClient(url);
    const side = await sides.next();
    assert.equal(side.offer, "permessage-deflate; client_max_window_bits");
    assert.equal(ws.extensions, "permessage-deflate");
  });

  const BAD: Array<[response: string, why: string]> = [
    ["permessage-deflate; server_max_window_bits=16", "window bits out of range"],
    ["permessage-deflate; server_max_window_bits", "window bits without a value"],
    ["permessage-deflate; client_max_window_bits", "client_max_window_bits without a value"],
    ["permessage-deflate; server_no_context_takeover=1", "a value on a flag"],
    ["permessage-deflate; mystery", "an unknown parameter"],
    ["permessage-deflate; server_no_context_takeover; server_no_context_takeover", "a repeated parameter"],
    ["permessage-deflate, permessage-deflate", "the extension twice"],
    ["x-not-offered", "an extension that was not offered"],
  ];
  for (const [response, why] of BAD) {
    test(`refuses a response with ${why}: ${JSON.stringify(response)}`, T, async () => {
      const { url, sides } = await rawServer(response);
      const error = await rejection(connect(url, { compression: true }));
      assert.ok(error instanceof HandshakeError, `HandshakeError, got ${String(error)}`);
      // The socket is given up: the server side sees it close.
      const side = await sides.next();
      await deadline(new Promise((resolve) => (side.socket.destroyed ? resolve(null) : side.socket.once("close", resolve))), 3000, "socket closed");
    });
  }

  test("a client without compression refuses a response that enables it", T, async () => {
    const { url } = await rawServer("permessage-deflate");
    const error = await rejection(connect(url));
    assert.ok(error instanceof HandshakeError, `HandshakeError, got ${String(error)}`);
  });

  test("client_max_window_bits=9 in the response: wsx compresses within 512 bytes of window", T, async () => {
    const { url, sides } = await rawServer("permessage-deflate; client_max_window_bits=9; client_no_context_takeover");
    const ws = await wsxClient(url);
    const side = await sides.next();
    for (let i = 0; i < 2; i++) {
      await ws.send(TEXT);
      const frame = await side.frames.next();
      assert.deepEqual([frame.opcode, frame.rsv, frame.masked], [OP.TEXT, 4, true]);
      // zlib refuses a back-reference farther than its window: this inflates only if wsx kept to 2^9.
      assert.equal(inflate(frame.payload, 9).toString("utf8"), TEXT, `message ${i}`);
    }
  });

  test("a compressed message in the same write as the 101, then context takeover across messages", T, async () => {
    // Two messages from one compressor with its context kept: the second refers back into the first.
    const deflateRaw = createDeflateRaw();
    const chunks: Buffer[] = [];
    deflateRaw.on("data", (chunk: Buffer) => chunks.push(chunk));
    const flushOne = async (text: string): Promise<Buffer> => {
      deflateRaw.write(text);
      await new Promise<void>((resolve) => deflateRaw.flush(zlibConstants.Z_SYNC_FLUSH, () => resolve()));
      const out = Buffer.concat(chunks.splice(0));
      return out.subarray(0, out.length - 4);
    };
    // Short enough for the whole first copy to sit in the 32 KiB window.
    const text = json(8 * 1024);
    const first = await flushOne(text);
    const second = await flushOne(text);
    deflateRaw.close();
    assert.ok(second.length < first.length / 4, "the second message leans on the first");
    const { url, sides } = await rawServer("permessage-deflate", serverFrame(OP.TEXT, first, { rsv: 4 }));
    const ws = await wsxClient(url);
    const side = await sides.next();
    assert.equal((await ws.receive({ timeout: 5000 })).text, text);
    side.socket.write(serverFrame(OP.TEXT, second, { rsv: 4 }));
    assert.equal((await ws.receive({ timeout: 5000 })).text, text);
  });
});
