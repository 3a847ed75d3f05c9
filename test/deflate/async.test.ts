/**
 * permessage-deflate off the event loop, over real sockets: large messages
 * are inflated and deflated on the thread pool (above `asyncThreshold`)
 * while everything keeps its order — messages, control frames, the close
 * frame, the zlib context itself — and the limits, errors and clean-up of
 * the synchronous path still hold. Raw peers put exact bytes on the wire
 * (one TCP write); wsx and ws peers check real traffic both ways.
 */
import { afterEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import type { Socket } from "node:net";
import { WebSocket as WsSocket, WebSocketServer as WsServer } from "ws";
import { ConnectionClosedError } from "../../src/core/errors.js";
import { formatExtensions, parseExtensions } from "../../src/core/http.js";
import { Message, type Frame } from "../../src/core/message.js";
import { PerMessageDeflate, compressMessage, liveZlibContexts, permessageDeflate, sharedZlibContexts } from "../../src/deflate/index.js";
import { connect, serve, type ConnectOptions, type ServerOptions, type WebSocket } from "../../src/index.js";
import { Inbox, toBuffer, watch, type WsPeer } from "../helpers/interop.js";
import {
  OP,
  RawClient,
  clientFrame,
  closePayload,
  deadline,
  deferred,
  eventually,
  listenHttpHead,
  parseClose,
  serverFrame,
  splitFrame,
  switchingResponse,
  type RawFrame,
} from "../helpers/net.js";
import { jsonLike } from "./pair.js";

const T = { timeout: 30_000 };
const KiB = 1024;
const MiB = 1024 * KiB;

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

// ---- watching the codec ----

type AsyncTransform = "decodeAsync" | "encodeAsync";

/** Counts PerMessageDeflate's transforms in this process, and lets a test act when an asynchronous one starts. */
interface CodecSpy {
  calls: { decode: number; encode: number; decodeAsync: number; encodeAsync: number };
  /** Turns of the event loop seen during each asynchronous call, once it settled. */
  turns: number[];
  /** Every codec an asynchronous call ran on. */
  codecs: Set<PerMessageDeflate>;
  onStart: ((kind: AsyncTransform, codec: PerMessageDeflate) => void) | null;
  onSettle: ((kind: AsyncTransform, codec: PerMessageDeflate) => void) | null;
}

function spyOnCodecs(): CodecSpy {
  const proto = PerMessageDeflate.prototype;
  const { decode, encode, decodeAsync, encodeAsync } = proto;
  const spy: CodecSpy = {
    calls: { decode: 0, encode: 0, decodeAsync: 0, encodeAsync: 0 },
    turns: [],
    codecs: new Set(),
    onStart: null,
    onSettle: null,
  };
  let turns = 0;
  let running = true;
  const turn = (): void => {
    turns++;
    if (running) setImmediate(turn);
  };
  setImmediate(turn);
  const timed = <T>(kind: AsyncTransform, codec: PerMessageDeflate, run: () => Promise<T>): Promise<T> => {
    spy.calls[kind]++;
    spy.codecs.add(codec);
    const before = turns;
    const promise = run();
    spy.onStart?.(kind, codec);
    const record = (): void => {
      spy.turns.push(turns - before);
      spy.onSettle?.(kind, codec);
    };
    promise.then(record, record);
    return promise;
  };
  proto.decode = function (this: PerMessageDeflate, payload, maxSize) {
    spy.calls.decode++;
    return decode.call(this, payload, maxSize);
  };
  proto.encode = function (this: PerMessageDeflate, payload, options) {
    spy.calls.encode++;
    return encode.call(this, payload, options);
  };
  proto.decodeAsync = function (this: PerMessageDeflate, payload, maxSize) {
    return timed("decodeAsync", this, () => decodeAsync.call(this, payload, maxSize));
  };
  proto.encodeAsync = function (this: PerMessageDeflate, payload, options) {
    return timed("encodeAsync", this, () => encodeAsync.call(this, payload, options));
  };
  cleanups.push(() => {
    running = false;
    Object.assign(proto, { decode, encode, decodeAsync, encodeAsync });
  });
  return spy;
}

/** Private zlib contexts open now (shared ones outlive connections by design). */
function privateContexts(): number {
  return liveZlibContexts() - sharedZlibContexts();
}

/**
 * The codecs that ran asynchronous calls hold no zlib context any more, and
 * the process holds no more than before the test (connections of earlier
 * tests may still be closing, so it can hold fewer).
 */
async function released(spy: CodecSpy, base: number): Promise<void> {
  assert.ok(spy.codecs.size > 0);
  await eventually(() => [...spy.codecs].every((codec) => codec.zlibContexts === 0), "the connections' zlib contexts released");
  await eventually(() => privateContexts() <= base, `zlib contexts back to ${base} (now ${privateContexts()})`);
}

// ---- peers ----

interface TestServer {
  port: number;
  accepted: Inbox<WebSocket>;
  publish(topic: string, data: string): number;
}

async function wsxServer(options: ServerOptions): Promise<TestServer> {
  const accepted = new Inbox<WebSocket>();
  const server = await serve({ host: "127.0.0.1", port: 0, ...options }, (ws) => {
    cleanups.push(() => ws.terminate());
    accepted.push(ws);
  });
  cleanups.push(() => server.close());
  return { port: server.port, accepted, publish: (topic, data) => server.publish(topic, data) };
}

async function wsxPair(serverOptions: ServerOptions, clientOptions: ConnectOptions): Promise<{ client: WebSocket; server: WebSocket }> {
  const { port, accepted } = await wsxServer(serverOptions);
  const client = await connect(`ws://127.0.0.1:${port}/`, clientOptions);
  cleanups.push(() => client.terminate());
  return { client, server: await deadline(accepted.next(), 3000, "server connection") };
}

/** A raw TCP client that negotiated permessage-deflate, with a client codec to compress as a peer would. */
async function rawDeflateClient(port: number): Promise<{ raw: RawClient; codec: PerMessageDeflate }> {
  const raw = await RawClient.connect(port);
  cleanups.push(() => raw.destroy());
  const response = await raw.handshake({ headers: { "Sec-WebSocket-Extensions": "permessage-deflate" } });
  const [agreed] = parseExtensions(response.headers["sec-websocket-extensions"]);
  assert.ok(agreed, "the server accepted permessage-deflate");
  const codec = permessageDeflate({ threshold: 0 }).accept(agreed);
  cleanups.push(() => codec.dispose());
  return { raw, codec };
}

/**
 * What a connection in frame delivery saw, in arrival order: messages
 * (compressed ones come whole), pings and the close frame.
 */
function record(ws: WebSocket): string[] {
  const seen: string[] = [];
  ws.on("frame", (frame) => seen.push(label(frame)));
  return seen;
}

function label(frame: Frame): string {
  const payload = Buffer.from(frame.payload);
  switch (frame.type) {
    case "binary":
      return `binary:${payload.toString("hex").slice(0, 16)}`;
    case "text":
      return `text:${frame.text!.length > 40 ? `${frame.text!.length} chars` : frame.text}`;
    case "close":
      return `close:${parseClose(payload).code}`;
    default:
      return `${frame.type}:${payload.toString()}`;
  }
}

function text(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("utf8");
}

// ---- 1. order on receive, loop not blocked ----

describe("permessage-deflate off the loop: received messages keep their order", () => {
  const big = text(jsonLike(8 * MiB, 11));
  const small = text(jsonLike(4000, 12));
  const expected = [`text:${big.length} chars`, "text:one", `text:${small.length} chars`, "binary:010203", "ping:are you there", "text:two", "close:1000"];

  test("wsx server: a big compressed message, small ones, a ping and a close in one TCP write arrive in that order", T, async () => {
    const spy = spyOnCodecs();
    const { port, accepted } = await wsxServer({ compression: true, deliver: "frames" });
    const { raw, codec } = await rawDeflateClient(port);
    const server = await deadline(accepted.next(), 3000, "server connection");
    const seen = record(server);

    const compressed = codec.encode(Buffer.from(big), {})!;
    assert.ok(compressed.length >= 256 * KiB, `the big message is ${compressed.length} bytes compressed: over the default asyncThreshold`);
    await raw.write(
      Buffer.concat([
        clientFrame(OP.TEXT, compressed, { rsv: 4 }),
        clientFrame(OP.TEXT, "one"),
        clientFrame(OP.TEXT, codec.encode(Buffer.from(small), {})!, { rsv: 4 }),
        clientFrame(OP.BINARY, Buffer.of(1, 2, 3)),
        clientFrame(OP.PING, "are you there"),
        clientFrame(OP.TEXT, "two"),
        clientFrame(OP.CLOSE, closePayload(1000, "done")),
      ]),
    );
    const pong = await raw.readFrame(10_000);
    assert.deepEqual([pong.opcode, pong.payload.toString()], [OP.PONG, "are you there"]);
    const close = await raw.readFrame(10_000);
    assert.equal(close.opcode, OP.CLOSE);
    assert.equal(parseClose(close.payload).code, 1000);
    const info = await deadline(server.closed, 5000, "server closed");
    assert.equal(info.code, 1000);

    assert.deepEqual(seen, expected);
    assert.equal(spy.calls.decodeAsync, 1, "the big message went to the thread pool");
    assert.equal(spy.calls.decode, 1, "the small compressed one did not");
    assert.ok(spy.turns[0]! >= 1, `the event loop turned ${spy.turns[0]} times while it was inflated`);
  });

  test("wsx client: the same sequence from a server, in one TCP write, arrives in that order", T, async () => {
    const spy = spyOnCodecs();
    const peer = deferred<{ socket: Socket; codec: PerMessageDeflate }>();
    const rawServer = await listenHttpHead((request) => {
      const answer = permessageDeflate({ threshold: 0 }).negotiate(parseExtensions(request.headers["sec-websocket-extensions"]));
      assert.ok(answer);
      cleanups.push(() => answer.extension.dispose());
      const headers = { "Sec-WebSocket-Extensions": formatExtensions([answer.response]) };
      request.socket.write(switchingResponse(request.headers["sec-websocket-key"]!, headers));
      peer.resolve({ socket: request.socket, codec: answer.extension });
    });
    cleanups.push(() => rawServer.close());
    const client = await connect(`ws://127.0.0.1:${rawServer.port}/`, { compression: true, deliver: "frames" });
    cleanups.push(() => client.terminate());
    const seen = record(client);
    const { socket, codec } = await deadline(peer.promise, 3000, "raw server side");
    // Read the client's answers; end TCP once its close echo is in, as a server does.
    let received = Buffer.alloc(0);
    const answers: RawFrame[] = [];
    socket.on("data", (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      for (let split = splitFrame(received); split !== undefined; split = splitFrame(received)) {
        answers.push(split.frame);
        received = received.subarray(split.size);
        if (split.frame.opcode === OP.CLOSE) socket.end();
      }
    });
    socket.write(
      Buffer.concat([
        serverFrame(OP.TEXT, codec.encode(Buffer.from(big), {})!, { rsv: 4 }),
        serverFrame(OP.TEXT, "one"),
        serverFrame(OP.TEXT, codec.encode(Buffer.from(small), {})!, { rsv: 4 }),
        serverFrame(OP.BINARY, Buffer.of(1, 2, 3)),
        serverFrame(OP.PING, "are you there"),
        serverFrame(OP.TEXT, "two"),
        serverFrame(OP.CLOSE, closePayload(1000, "done")),
      ]),
    );
    const info = await deadline(client.closed, 10_000, "client closed");
    assert.equal(info.code, 1000);
    assert.equal(info.wasClean, true);
    assert.deepEqual(seen, expected);
    assert.deepEqual(
      answers.map((frame) => frame.opcode),
      [OP.PONG, OP.CLOSE],
      "the pong, then the close echo",
    );
    assert.equal(spy.calls.decodeAsync, 1);
    assert.ok(spy.turns[0]! >= 1, `the event loop turned ${spy.turns[0]} times while it was inflated`);
  });

  test("reading stops while a message is inflated: what follows waits in the socket, then arrives in order", T, async () => {
    const spy = spyOnCodecs();
    const { port, accepted } = await wsxServer({ compression: true });
    const { raw, codec } = await rawDeflateClient(port);
    const server = await deadline(accepted.next(), 3000, "server connection");
    const read: number[] = [];
    spy.onStart = () => read.push(server.stats.bytesIn);
    spy.onSettle = () => read.push(server.stats.bytesIn);
    const COUNT = 2000;
    const following = Array.from({ length: COUNT }, (_, i) => clientFrame(OP.TEXT, `${i}:${"f".repeat(4000)}`));
    // Not awaited: the server stops reading whenever nobody takes its messages, and that is the point.
    const writing = raw.write(Buffer.concat([clientFrame(OP.TEXT, codec.encode(jsonLike(16 * MiB, 5), {})!, { rsv: 4 }), ...following]));
    assert.equal((await server.receive({ timeout: 10_000 })).text.length, 16 * MiB);
    for (let i = 0; i < COUNT; i++) assert.ok((await server.receive({ timeout: 10_000 })).text.startsWith(`${i}:`), `message ${i}`);
    await deadline(writing, 5000, "client write");
    assert.equal(read.length, 2);
    assert.equal(read[1], read[0], "nothing was read from the socket during the inflate");
    assert.ok(server.stats.bytesIn > read[0]!, "the rest was read afterwards");
  });
});

// ---- 2. context takeover across both paths ----

describe("permessage-deflate off the loop: context takeover across both paths", () => {
  const ROUNDS = 16;
  /** Big ones compress to well over 16 KiB (thread pool), small ones to far less (in place). */
  const messages = Array.from({ length: ROUNDS }, (_, i) => [text(jsonLike(256 * KiB + i, i % 4)), text(jsonLike(2 * KiB + i, i % 4))]).flat();

  async function flow(from: { send(data: string): unknown }, receive: () => Promise<string>, what: string): Promise<void> {
    for (const message of messages) void from.send(message);
    for (const [i, message] of messages.entries()) {
      const got = await deadline(receive(), 10_000, `${what} message ${i}`);
      assert.equal(got.length, message.length, `${what} message ${i}: length`);
      assert.ok(got === message, `${what} message ${i}: content`);
    }
  }

  test("wsx <-> wsx: alternating big and small messages, both ways, all intact", T, async () => {
    const spy = spyOnCodecs();
    const compression = { asyncThreshold: 16 * KiB };
    const { client, server } = await wsxPair({ compression }, { compression });
    assert.equal(client.extensions, "permessage-deflate", "context takeover both ways");
    await flow(client, async () => (await server.receive()).text, "client -> server");
    await flow(server, async () => (await client.receive()).text, "server -> client");
    assert.equal(spy.calls.encodeAsync, 2 * ROUNDS, "big messages were deflated on the thread pool");
    assert.equal(spy.calls.decodeAsync, 2 * ROUNDS, "and inflated there");
    assert.equal(spy.calls.encode, 2 * ROUNDS, "small ones in place");
    assert.equal(spy.calls.decode, 2 * ROUNDS);
  });

  test("ws client <-> wsx server: alternating big and small messages, both ways, all intact", T, async () => {
    const spy = spyOnCodecs();
    const { port, accepted } = await wsxServer({ compression: { asyncThreshold: 16 * KiB } });
    const ws = new WsSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: { threshold: 0 } });
    cleanups.push(() => ws.terminate());
    const peer = watch(ws);
    await deadline(once(ws, "open"), 5000, "ws open");
    assert.equal(ws.extensions, "permessage-deflate");
    const server = await deadline(accepted.next(), 3000, "server connection");
    await flow(ws, async () => (await server.receive()).text, "ws -> wsx");
    await flow(server, async () => toBuffer((await peer.messages.next()).data).toString("utf8"), "wsx -> ws");
    assert.equal(spy.calls.decodeAsync, ROUNDS);
    assert.equal(spy.calls.encodeAsync, ROUNDS);
  });
});

// ---- 3 and 4. limits and bad data on the thread pool ----

describe("permessage-deflate off the loop: limits and bad data", () => {
  for (const [name, clientOffer] of [
    ["with context takeover", "permessage-deflate"],
    ["without context takeover", "permessage-deflate; client_no_context_takeover"],
  ] as const) {
    test(`${name}: a bomb over maxMessageSize closes with 1009, allocating about the limit only`, T, async () => {
      const spy = spyOnCodecs();
      const base = privateContexts();
      const bomb = compressMessage(new Uint8Array(64 * MiB), { level: 9 });
      const { port, accepted } = await wsxServer({ compression: { asyncThreshold: 8 * KiB }, maxMessageSize: MiB, deliver: "frames" });
      const raw = await RawClient.connect(port);
      cleanups.push(() => raw.destroy());
      await raw.handshake({ headers: { "Sec-WebSocket-Extensions": clientOffer } });
      const server = await deadline(accepted.next(), 3000, "server connection");
      const seen = record(server);
      assert.ok(bomb.length >= 8 * KiB && bomb.length < MiB, `the bomb is ${bomb.length} bytes on the wire`);

      const allocUnsafe = Buffer.allocUnsafe;
      const allocUnsafeSlow = Buffer.allocUnsafeSlow;
      let allocated = 0;
      Buffer.allocUnsafe = (size: number) => {
        allocated += size;
        return allocUnsafe(size);
      };
      Buffer.allocUnsafeSlow = (size: number) => {
        allocated += size;
        return allocUnsafeSlow(size);
      };
      let info;
      try {
        await raw.write(Buffer.concat([clientFrame(OP.BINARY, bomb, { rsv: 4 }), clientFrame(OP.TEXT, "after the bomb")]));
        info = await deadline(server.closed, 10_000, "server closed");
      } finally {
        Buffer.allocUnsafe = allocUnsafe;
        Buffer.allocUnsafeSlow = allocUnsafeSlow;
      }
      assert.equal((info.error as { code?: string } | undefined)?.code, "MESSAGE_TOO_BIG");
      const close = await raw.readFrame(5000);
      assert.equal(close.opcode, OP.CLOSE);
      assert.equal(parseClose(close.payload).code, 1009);
      assert.deepEqual(seen, [], "nothing was delivered, not even what followed");
      assert.equal(spy.calls.decodeAsync, 1, "the bomb went to the thread pool");
      assert.ok(allocated < 4 * MiB, `${(allocated / MiB).toFixed(1)} MiB allocated for a 1 MiB limit (the bomb holds 64 MiB)`);
      await released(spy, base);
    });
  }

  test("invalid compressed data on the thread pool closes with 1007; nothing after it is delivered", T, async () => {
    const spy = spyOnCodecs();
    const { port, accepted } = await wsxServer({ compression: { asyncThreshold: KiB }, deliver: "frames" });
    for (const [what, payload] of [
      ["an invalid block type", Buffer.concat([Buffer.of(0xff), randomBytes(4 * KiB)])],
      ["corruption 2 MiB into a 3 MiB message", null],
    ] as const) {
      const { raw, codec } = await rawDeflateClient(port);
      const server = await deadline(accepted.next(), 3000, "server connection");
      const seen = record(server);
      let wire = payload;
      if (wire === null) {
        wire = Buffer.from(codec.encode(randomBytes(3 * MiB), {})!);
        wire.fill(0xff, 2 * MiB, 2 * MiB + 4096);
      }
      await raw.write(Buffer.concat([clientFrame(OP.TEXT, "before"), clientFrame(OP.BINARY, wire, { rsv: 4 }), clientFrame(OP.TEXT, "after")]));
      const info = await deadline(server.closed, 10_000, "server closed");
      assert.equal((info.error as { code?: string } | undefined)?.code, "INVALID_COMPRESSED_DATA", what);
      const close = await raw.readFrame(5000);
      assert.equal(parseClose(close.payload).code, 1007, what);
      assert.deepEqual(seen, ["text:before"], what);
    }
    assert.equal(spy.calls.decodeAsync, 2);
  });
});

// ---- 5. order on send ----

describe("permessage-deflate off the loop: sends keep their order", () => {
  const big = (seed: number): string => text(jsonLike(MiB, seed));

  test("wsx -> wsx: big and small sends, fragments, a Message and close, none awaited, arrive in order", T, async () => {
    const spy = spyOnCodecs();
    const { client, server } = await wsxPair({ compression: true, deliver: "frames" }, { compression: true });
    const seen = record(server);
    const sends = [
      client.send(big(1)),
      client.send("small 1"),
      client.send(Buffer.from("small binary")),
      client.sendFragmented(big(2), { fragmentSize: 100 * KiB }),
      client.send("small 2"),
      client.send(new Message("text", Buffer.from(big(3)))),
      client.send(big(4), { compress: false }),
      client.send("small 3"),
    ];
    const closed = client.close(1000, "bye");
    await Promise.all(sends);
    assert.equal((await deadline(closed, 10_000, "client closed")).wasClean, true);
    await deadline(server.closed, 5000, "server closed");
    assert.deepEqual(seen, [
      `text:${MiB} chars`,
      "text:small 1",
      `binary:${Buffer.from("small bi").toString("hex")}`,
      `text:${MiB} chars`,
      "text:small 2",
      `text:${MiB} chars`,
      `text:${MiB} chars`,
      "text:small 3",
      "close:1000",
    ]);
    assert.equal(spy.calls.encodeAsync, 3, "three big sends were deflated on the thread pool; compress: false was not");
    assert.deepEqual({ ...server.closeReceived }, { code: 1000, reason: "bye" });
  });

  test("wsx client -> ws server: the same sequence arrives in order", T, async () => {
    spyOnCodecs();
    const wss = new WsServer({ host: "127.0.0.1", port: 0, perMessageDeflate: true });
    cleanups.push(() => new Promise<void>((resolve) => wss.close(() => resolve())));
    await once(wss, "listening");
    const peer = deferred<WsPeer>();
    wss.on("connection", (socket) => peer.resolve(watch(socket)));
    const address = wss.address();
    assert.ok(typeof address === "object" && address !== null);
    const client = await connect(`ws://127.0.0.1:${address.port}/`, { compression: true });
    cleanups.push(() => client.terminate());
    const ws = await deadline(peer.promise, 3000, "ws server connection");
    const expected = [big(5), "small 1", big(6), "small 2", "small 3"];
    const sends = expected.map((message) => client.send(message));
    await Promise.all(sends);
    for (const [i, message] of expected.entries()) {
      const got = await deadline(ws.messages.next(), 10_000, `message ${i}`);
      assert.ok(got.data.toString("utf8") === message, `message ${i}`);
    }
  });

  test("a publish to a connection that is deflating a big send goes out after it", T, async () => {
    const spy = spyOnCodecs();
    const { port, accepted, publish } = await wsxServer({ compression: true });
    const client = await connect(`ws://127.0.0.1:${port}/`, { compression: true });
    cleanups.push(() => client.terminate());
    const server = await deadline(accepted.next(), 3000, "server connection");
    server.subscribe("news");
    const message = big(7);
    const sent = server.send(message);
    assert.equal(publish("news", "published after"), 1);
    await sent;
    assert.ok((await client.receive({ timeout: 10_000 })).text === message, "the big message first");
    assert.equal((await client.receive({ timeout: 10_000 })).text, "published after");
    assert.equal(spy.calls.encodeAsync, 1);
  });
});

// ---- 6. the connection ending mid-way ----

describe("permessage-deflate off the loop: the connection ending with a transform in flight", () => {
  test("terminated while inflating: the message is dropped, promises settle, contexts are released", T, async () => {
    const spy = spyOnCodecs();
    const base = privateContexts();
    const { port, accepted } = await wsxServer({ compression: true });
    const { raw, codec } = await rawDeflateClient(port);
    const server = await deadline(accepted.next(), 3000, "server connection");
    const reading = server.receive();
    spy.onStart = (kind) => {
      if (kind === "decodeAsync") server.terminate();
    };
    await raw.write(Buffer.concat([clientFrame(OP.TEXT, codec.encode(jsonLike(16 * MiB, 3), {})!, { rsv: 4 }), clientFrame(OP.TEXT, "after")]));
    const info = await deadline(server.closed, 10_000, "server closed");
    assert.equal(info.code, 1006);
    await assert.rejects(deadline(reading, 5000, "receive"), ConnectionClosedError);
    assert.equal(spy.calls.decodeAsync, 1);
    await eventually(() => spy.turns.length === 1, "the inflate call settled");
    codec.dispose();
    await released(spy, base);
  });

  test("terminated while deflating: the send and those queued behind it reject, contexts are released", T, async () => {
    const spy = spyOnCodecs();
    const base = privateContexts();
    for (const compression of [true, { clientNoContextTakeover: true }]) {
      const { client } = await wsxPair({ compression: true }, { compression });
      spy.onStart = (kind, codec) => {
        if (kind === "encodeAsync" && codec.role === "client") client.terminate();
      };
      const big = client.send(text(jsonLike(8 * MiB, 4)));
      const after = client.send("queued behind it");
      await assert.rejects(deadline(big, 10_000, "big send"), ConnectionClosedError);
      await assert.rejects(deadline(after, 10_000, "small send"), ConnectionClosedError);
      assert.equal((await deadline(client.closed, 5000, "client closed")).code, 1006);
    }
    spy.onStart = null;
    await released(spy, base);
  });

  test("close() while a big send is being deflated: the message goes first, then a clean close", T, async () => {
    spyOnCodecs();
    const { client, server } = await wsxPair({ compression: true }, { compression: true });
    const message = text(jsonLike(4 * MiB, 9));
    const sent = client.send(message);
    const closing = client.close(1000, "after the message");
    assert.equal(client.readyState, "open", "the close frame waits for the message");
    await sent;
    assert.ok((await server.receive({ timeout: 10_000 })).text === message);
    const [clientInfo, serverInfo] = await deadline(Promise.all([closing, server.closed]), 10_000, "both closed");
    assert.equal(clientInfo.wasClean, true);
    assert.equal(serverInfo.code, 1000);
    await assert.rejects(client.send(message), ConnectionClosedError);
  });
});
