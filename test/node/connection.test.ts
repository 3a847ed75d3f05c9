/**
 * The connection API end to end, wsx client against wsx server over
 * loopback (and raw peers where a misbehaving one is needed): sending every
 * kind of data, fragmentation, streaming, receiving, ping/pong, the close
 * handshake, protocol failures and receive backpressure.
 */
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { Readable } from "node:stream";
import {
  CloseCode,
  ConnectionClosedError,
  Message,
  Opcode,
  ProtocolError,
  TimeoutError,
  UsageError,
  connect,
  type ConnectionHandler,
  type Frame,
  type ServerOptions,
  type WebSocket,
} from "../../src/index.js";
import {
  OP,
  RawClient,
  clientFrame,
  closePayload,
  deadline,
  deferred,
  delay,
  settled,
  eventually,
  listenHttpHead,
  parseClose,
  parseFrames,
  serverFrame,
  switchingResponse,
  tick,
} from "../helpers/net.js";
import { Accepted, rejection, startServer, withPair } from "../helpers/wsx.js";

/**
 * A wsx server with `options`, a raw client that has completed the opening
 * handshake with it, and the server's side of that connection. Everything
 * is torn down afterwards.
 */
async function withRawClient(options: ServerOptions, body: (sides: { raw: RawClient; peer: WebSocket }) => Promise<void>): Promise<void> {
  const server = await startServer("standalone", options);
  try {
    const accepted = new Accepted(server.wss);
    const raw = await RawClient.connect(server.port);
    try {
      await raw.handshake();
      const { ws: peer } = await accepted.next();
      await body({ raw, peer });
    } finally {
      raw.destroy();
    }
  } finally {
    await server.close();
  }
}

const echo: ConnectionHandler = async (ws) => {
  for await (const message of ws) await ws.send(message);
};

/** Start frame-by-frame reading at once (so delivery switches before data arrives) and read with deadlines. */
function frameReader(ws: WebSocket): { next(ms?: number): Promise<Frame>; end(ms?: number): Promise<void> } {
  const frames = ws.frames();
  let pending = frames.next();
  return {
    async next(ms = 2000) {
      const result = await deadline(pending, ms, "next frame");
      if (result.done) throw new Error("frames() ended");
      pending = frames.next();
      return result.value;
    },
    async end(ms = 2000) {
      const result = await deadline(pending, ms, "end of frames()");
      assert.equal(result.done, true, "frames() should have ended");
    },
  };
}

const bytes = (...values: number[]): Uint8Array => new Uint8Array(values);
const text = (data: Uint8Array): string => Buffer.from(data).toString("utf8");

describe("send() and the types of data", () => {
  test("each kind of data is echoed with its type and content", async () => {
    await withPair({ handler: echo }, async ({ client }) => {
      const buffer = new ArrayBuffer(8);
      new Uint8Array(buffer).set([0, 1, 2, 3, 4, 5, 6, 7]);
      const cases: Array<[string, Parameters<WebSocket["send"]>[0], "text" | "binary", number[]]> = [
        ["string", "héllo ✓", "text", [...Buffer.from("héllo ✓")]],
        ["empty string", "", "text", []],
        ["Uint8Array", bytes(1, 2, 3), "binary", [1, 2, 3]],
        ["Buffer", Buffer.from("buf"), "binary", [...Buffer.from("buf")]],
        ["ArrayBuffer", buffer, "binary", [0, 1, 2, 3, 4, 5, 6, 7]],
        ["DataView of a range", new DataView(buffer, 2, 3), "binary", [2, 3, 4]],
        ["Uint16Array of a range", new Uint16Array(buffer, 4, 1), "binary", [4, 5]],
        ["text Message", new Message("text", Buffer.from("from a message")), "text", [...Buffer.from("from a message")]],
        ["binary Message", new Message("binary", bytes(9, 8)), "binary", [9, 8]],
      ];
      for (const [, data] of cases) void client.send(data);
      for (const [name, , type, content] of cases) {
        const message = await client.receive({ timeout: 2000 });
        assert.equal(message.type, type, name);
        assert.deepEqual([...message.bytes], content, name);
      }
      // A received Message goes back out unchanged.
      await client.send("round trip");
      const received = await client.receive({ timeout: 2000 });
      await client.send(received);
      const again = await client.receive({ timeout: 2000 });
      assert.equal(again.type, "text");
      assert.equal(again.text, "round trip");
      assert.equal(again.data, "round trip");
    });
  });

  test("send resolves once the data is handed to the OS", async () => {
    await withPair({}, async ({ client, peer }) => {
      const result = await client.send("x");
      assert.equal(result, undefined);
      assert.equal((await peer.receive({ timeout: 2000 })).text, "x");
    });
  });

  test("{ type: 'text' } sends UTF-8 bytes as text; a string can go as binary", async () => {
    await withPair({}, async ({ client, peer }) => {
      await client.send(Buffer.from("naïve"), { type: "text" });
      await client.send("abc", { type: "binary" });
      const first = await peer.receive({ timeout: 2000 });
      assert.equal(first.type, "text");
      assert.equal(first.text, "naïve");
      const second = await peer.receive({ timeout: 2000 });
      assert.equal(second.type, "binary");
      assert.deepEqual([...second.bytes], [97, 98, 99]);
    });
  });

  test("{ type: 'text' } with bytes that are not UTF-8 rejects and sends nothing", async () => {
    await withPair({}, async ({ client, peer }) => {
      const error = await rejection(client.send(bytes(0x68, 0xff, 0xfe), { type: "text" }));
      assert.ok(error instanceof UsageError, String(error));
      assert.equal((error as UsageError).code, "INVALID_UTF8");
      await client.send("still open");
      const next = await peer.receive({ timeout: 2000 });
      assert.equal(next.text, "still open");
      assert.equal(client.readyState, "open");
    });
  });

  test(
    "a text Message sent with { type: 'binary' } keeps its bytes",
    async () => {
      await withPair({}, async ({ client, peer }) => {
        // A plain Uint8Array: a Buffer would hide the bug, as String(buffer) decodes it.
        await client.send(new Message("text", new Uint8Array(Buffer.from("hi"))), { type: "binary" });
        const message = await peer.receive({ timeout: 2000 });
        assert.equal(message.type, "binary");
        assert.deepEqual([...message.bytes], [...Buffer.from("hi")]);
      });
    },
  );
});

describe("fragmentation", () => {
  test("messages larger than maxFrameSize are fragmented automatically", async () => {
    await withPair({ client: { maxFrameSize: 1000 } }, async ({ client, peer }) => {
      const frames = frameReader(peer);
      const data = new Uint8Array(2500).map((_, i) => i & 0xff);
      const words = "é".repeat(1200); // 2400 bytes: fragments split characters
      void client.send(data);
      void client.send(words);
      const binary = [await frames.next(), await frames.next(), await frames.next()];
      assert.deepEqual(
        binary.map((f) => [f.opcode, f.fin, f.length]),
        [
          [Opcode.BINARY, false, 1000],
          [Opcode.CONTINUATION, false, 1000],
          [Opcode.CONTINUATION, true, 500],
        ],
      );
      assert.deepEqual(Buffer.concat(binary.map((f) => f.payload)), Buffer.from(data));
      const texts = [await frames.next(), await frames.next(), await frames.next()];
      assert.deepEqual(
        texts.map((f) => [f.opcode, f.fin, f.length]),
        [
          [Opcode.TEXT, false, 1000],
          [Opcode.CONTINUATION, false, 1000],
          [Opcode.CONTINUATION, true, 400],
        ],
      );
      assert.equal(texts.map((f) => f.text).join(""), words);
      assert.ok(texts.every((f) => f.type === "text"));
    });
  });

  test("a fragmented message reassembles on the other side", async () => {
    await withPair({ client: { maxFrameSize: 100 } }, async ({ client, peer }) => {
      const words = "ünïcödé ".repeat(100);
      await client.send(words);
      assert.equal((await peer.receive({ timeout: 2000 })).text, words);
    });
  });

  test("sendFragmented splits into fragments of fragmentSize", async () => {
    await withPair({}, async ({ client, peer }) => {
      const frames = frameReader(peer);
      await client.sendFragmented(bytes(0, 1, 2, 3, 4, 5, 6, 7, 8, 9), { fragmentSize: 4 });
      const got = [await frames.next(), await frames.next(), await frames.next()];
      assert.deepEqual(
        got.map((f) => [f.opcode, f.fin, [...f.payload]]),
        [
          [Opcode.BINARY, false, [0, 1, 2, 3]],
          [Opcode.CONTINUATION, false, [4, 5, 6, 7]],
          [Opcode.CONTINUATION, true, [8, 9]],
        ],
      );
      await client.sendFragmented("abcde", { fragmentSize: 2 });
      const words = [await frames.next(), await frames.next(), await frames.next()];
      assert.deepEqual(
        words.map((f) => [f.opcode, f.fin, f.text]),
        [
          [Opcode.TEXT, false, "ab"],
          [Opcode.CONTINUATION, false, "cd"],
          [Opcode.CONTINUATION, true, "e"],
        ],
      );
      // Bytes as text, and an empty message: one empty final frame.
      await client.sendFragmented(Buffer.from("xyz"), { fragmentSize: 2, type: "text" });
      const typed = [await frames.next(), await frames.next()];
      assert.deepEqual(typed.map((f) => [f.opcode, f.fin, f.text]), [
        [Opcode.TEXT, false, "xy"],
        [Opcode.CONTINUATION, true, "z"],
      ]);
      await client.sendFragmented(new Uint8Array(0), { fragmentSize: 4 });
      const empty = await frames.next();
      assert.deepEqual([empty.opcode, empty.fin, empty.length], [Opcode.BINARY, true, 0]);
    });
  });

  test("sendFragmented refuses a fragmentSize that is not a positive integer, and bytes as text that are not UTF-8", async () => {
    await withPair({}, async ({ client, peer }) => {
      for (const fragmentSize of [0, -1, 1.5]) {
        const error = await rejection(client.sendFragmented(bytes(1, 2), { fragmentSize }));
        assert.equal((error as UsageError).code, "INVALID_FRAGMENT_SIZE", String(fragmentSize));
      }
      const error = await rejection(client.sendFragmented(bytes(0xff), { fragmentSize: 1, type: "text" }));
      assert.equal((error as UsageError).code, "INVALID_UTF8");
      await client.send("fine");
      assert.equal((await peer.receive({ timeout: 2000 })).text, "fine");
    });
  });

  test(
    "sendFragmented checks a binary Message sent as text for UTF-8",
    async () => {
      await withPair({}, async ({ client }) => {
        const error = await rejection(client.sendFragmented(new Message("binary", bytes(0xff, 0xfe)), { fragmentSize: 1, type: "text" }));
        assert.ok(error instanceof UsageError, String(error));
        assert.equal((error as UsageError).code, "INVALID_UTF8");
      });
    },
  );
});

describe("streaming send(asyncIterable)", () => {
  test("a Readable of buffers goes out as binary fragments, one per chunk", async () => {
    await withPair({}, async ({ client, peer }) => {
      const frames = frameReader(peer);
      await client.send(Readable.from([Buffer.from("ab"), Buffer.from("cd"), Buffer.from("e")]));
      const got = [await frames.next(), await frames.next(), await frames.next()];
      assert.deepEqual(
        got.map((f) => [f.opcode, f.fin, text(f.payload)]),
        [
          [Opcode.BINARY, false, "ab"],
          [Opcode.CONTINUATION, false, "cd"],
          [Opcode.CONTINUATION, true, "e"],
        ],
      );
    });
  });

  test("an async generator of strings goes out as one text message", async () => {
    await withPair({}, async ({ client, peer }) => {
      async function* words(): AsyncGenerator<string> {
        yield "Hel";
        await delay(5);
        yield "lo, ";
        yield "wörld";
      }
      await client.send(words());
      const message = await peer.receive({ timeout: 2000 });
      assert.equal(message.type, "text");
      assert.equal(message.text, "Hello, wörld");
    });
  });

  test("sends issued while a stream is in progress go out after it, in call order", async () => {
    await withPair({}, async ({ client, peer }) => {
      const gate = deferred<void>();
      const started = deferred<void>();
      async function* slow(): AsyncGenerator<Uint8Array> {
        yield bytes(1);
        yield bytes(2);
        started.resolve();
        await gate.promise;
        yield bytes(3);
      }
      const order: string[] = [];
      const streaming = client.send(slow()).then(() => order.push("stream"));
      await started.promise;
      const later = [
        client.send("after 1").then(() => order.push("1")),
        client.send(bytes(42)).then(() => order.push("2")),
        client.sendFragmented("after 3", { fragmentSize: 3 }).then(() => order.push("3")),
      ];
      await tick();
      gate.resolve();
      await deadline(Promise.all([streaming, ...later]), 2000, "all sends");
      assert.deepEqual(order, ["stream", "1", "2", "3"]);
      const received = [];
      for (let i = 0; i < 4; i++) received.push(await peer.receive({ timeout: 2000 }));
      assert.deepEqual([...received[0]!.bytes], [1, 2, 3]);
      assert.equal(received[1]!.text, "after 1");
      assert.deepEqual([...received[2]!.bytes], [42]);
      assert.equal(received[3]!.text, "after 3");
    });
  });

  test("a stream mixing strings and bytes is refused before anything is sent", async () => {
    await withPair({}, async ({ client, peer }) => {
      async function* mixed(): AsyncGenerator<string | Uint8Array> {
        yield "text";
        yield bytes(1);
      }
      const error = await rejection(client.send(mixed()));
      assert.equal((error as UsageError).code, "MIXED_STREAM");
      await client.send("next");
      assert.equal((await peer.receive({ timeout: 2000 })).text, "next");
    });
  });

  test("a stream failing halfway rejects and closes the connection with 1011", async () => {
    await withPair({}, async ({ client, peer }) => {
      async function* broken(): AsyncGenerator<Uint8Array> {
        yield bytes(1);
        yield bytes(2);
        throw new Error("source failed");
      }
      const error = await rejection(client.send(broken()));
      assert.equal(error.message, "source failed");
      const info = await deadline(peer.closed, 2000, "peer closed");
      assert.equal(info.code, CloseCode.INTERNAL_ERROR);
    });
  });
});

describe("receiving", () => {
  test("messages that arrive before any listener wait for the first one, in order", async () => {
    await withPair({}, async ({ client, peer }) => {
      await peer.send("one");
      await peer.send("two");
      await delay(50); // both are in the client's queue by now: nobody listens or reads
      const seen: string[] = [];
      const both = deferred<void>();
      client.on("message", (message) => {
        seen.push(message.text);
        if (seen.length === 2) both.resolve();
      });
      await deadline(both.promise, 2000, "queued messages handed to the new listener");
      assert.deepEqual(seen, ["one", "two"]);
    });
  });

  test("eventNames() lists only events that have listeners", async () => {
    await withPair({}, async ({ client }) => {
      assert.deepEqual(client.eventNames(), []);
      const onMessage = (): void => undefined;
      client.on("message", onMessage);
      client.on("pong", () => undefined);
      assert.deepEqual(client.eventNames().sort(), ["message", "pong"]);
      client.off("message", onMessage);
      assert.deepEqual(client.eventNames(), ["pong"]);
      assert.equal(client.listenerCount("message"), 0);
    });
  });

  test("receive({ timeout }) rejects with RECEIVE_TIMEOUT and the later message is not lost", async () => {
    await withPair({}, async ({ client, peer }) => {
      const error = await rejection(client.receive({ timeout: 100 }));
      assert.ok(error instanceof TimeoutError, String(error));
      assert.equal((error as TimeoutError).code, "RECEIVE_TIMEOUT");
      await peer.send("late");
      await peer.send("later");
      assert.equal((await client.receive({ timeout: 2000 })).text, "late");
      assert.equal((await client.receive({ timeout: 2000 })).text, "later");
    });
  });

  test("for await ends when the connection closes", async () => {
    await withPair({}, async ({ client, peer }) => {
      for (const word of ["one", "two", "three"]) void peer.send(word);
      void peer.close(CloseCode.NORMAL, "done");
      const seen: string[] = [];
      await deadline(
        (async () => {
          for await (const message of client) seen.push(message.text);
        })(),
        2000,
        "for await",
      );
      assert.deepEqual(seen, ["one", "two", "three"]);
      const info = await client.closed;
      assert.equal(info.code, 1000);
      assert.equal(info.reason, "done");
      // Nothing left to read: receive() rejects.
      const error = await rejection(client.receive());
      assert.ok(error instanceof ConnectionClosedError, String(error));
    });
  });

  test("frames() yields data frames and ping, pong and close frames, then ends", async () => {
    await withPair({}, async ({ client, peer }) => {
      const frames = frameReader(client);
      await peer.ping("pp");
      await peer.pong("qq");
      await peer.sendFragmented("abc", { fragmentSize: 2 });
      await peer.send(bytes(5));
      void peer.close(4000, "bye");
      const ping = await frames.next();
      assert.deepEqual([ping.type, ping.opcode, ping.fin, text(ping.payload)], ["ping", Opcode.PING, true, "pp"]);
      const pong = await frames.next();
      assert.deepEqual([pong.type, pong.opcode, pong.fin, text(pong.payload)], ["pong", Opcode.PONG, true, "qq"]);
      const first = await frames.next();
      assert.deepEqual([first.opcode, first.fin, first.text], [Opcode.TEXT, false, "ab"]);
      const second = await frames.next();
      assert.deepEqual([second.opcode, second.fin, second.text, second.type], [Opcode.CONTINUATION, true, "c", "text"]);
      const binary = await frames.next();
      assert.deepEqual([binary.opcode, binary.fin, [...binary.payload]], [Opcode.BINARY, true, [5]]);
      const close = await frames.next();
      assert.deepEqual([close.type, close.opcode, close.fin], ["close", Opcode.CLOSE, true]);
      assert.deepEqual(Buffer.from(close.payload), closePayload(4000, "bye"));
      await frames.end();
    });
  });
});

describe("ping and pong", () => {
  test("ping() resolves with the round-trip time", async () => {
    await withPair({}, async ({ client, peer }) => {
      const rtt = await deadline(client.ping(), 2000, "ping");
      assert.equal(typeof rtt, "number");
      assert.ok(rtt >= 0 && Number.isFinite(rtt), String(rtt));
      assert.ok((await deadline(client.ping("with payload"), 2000, "ping")) >= 0);
      assert.ok((await deadline(peer.ping(bytes(1, 2)), 2000, "server ping")) >= 0);
    });
  });

  test("a ping payload over 125 bytes is refused", async () => {
    await withPair({}, async ({ client }) => {
      const error = await rejection(client.ping(new Uint8Array(126)));
      assert.equal((error as UsageError).code, "CONTROL_TOO_LONG");
    });
  });

  test("ping with a timeout rejects with PING_TIMEOUT when the peer does not answer", async () => {
    await withPair({ server: { autoPong: false } }, async ({ client, peer }) => {
      const pings: string[] = [];
      peer.on("ping", (payload) => pings.push(text(payload)));
      const error = await rejection(client.ping("anyone?", { timeout: 150 }));
      assert.ok(error instanceof TimeoutError, String(error));
      assert.equal((error as TimeoutError).code, "PING_TIMEOUT");
      assert.deepEqual(pings, ["anyone?"]);
      assert.equal(client.readyState, "open");
    });
  });

  test("with autoPong off the application sees the ping and answers with pong()", async () => {
    await withPair({ server: { autoPong: false } }, async ({ client, peer }) => {
      assert.equal(peer.autoPong, false);
      const seen: string[] = [];
      peer.on("ping", (payload) => {
        seen.push(text(payload));
        void peer.pong(payload);
      });
      const rtt = await deadline(client.ping("by hand"), 2000, "ping answered by hand");
      assert.ok(rtt >= 0);
      assert.deepEqual(seen, ["by hand"]);
    });
  });

  test("a pong answers every earlier ping too", async () => {
    await withPair({ server: { autoPong: false } }, async ({ client, peer }) => {
      const first = client.ping("1");
      const second = client.ping("2");
      const payloads: Uint8Array[] = [];
      peer.on("ping", (payload) => {
        payloads.push(payload);
        if (payloads.length === 2) void peer.pong(payload);
      });
      const rtts = await deadline(Promise.all([first, second]), 2000, "both pings");
      assert.ok(rtts.every((rtt) => rtt >= 0));
    });
  });
});

describe("closing", () => {
  test("close(code, reason): the peer sees both and both sides close cleanly", async () => {
    await withPair({}, async ({ client, peer }) => {
      const info = await deadline(client.close(4321, "see you"), 2000, "client close");
      assert.equal(info.wasClean, true);
      assert.equal(info.code, 4321); // the peer echoed the code
      const peerInfo = await deadline(peer.closed, 2000, "peer closed");
      assert.deepEqual([peerInfo.code, peerInfo.reason, peerInfo.wasClean], [4321, "see you", true]);
      assert.equal(peerInfo.error, undefined);
      assert.equal(client.readyState, "closed");
      assert.equal(peer.readyState, "closed");
      assert.equal(client.closeCode, 4321);
      // close() again returns the same result.
      assert.deepEqual(await client.close(), info);
    });
  });

  test("close() without a code reports 1005 on the other side", async () => {
    await withPair({}, async ({ client, peer }) => {
      await deadline(client.close(), 2000, "close");
      const info = await deadline(peer.closed, 2000, "peer closed");
      assert.equal(info.code, CloseCode.NO_STATUS);
      assert.equal(info.wasClean, true);
    });
  });

  test("close() refuses codes that may not be sent", async () => {
    await withPair({}, async ({ client }) => {
      for (const code of [999, 1006, 1015, 5000]) {
        const error = await rejection(client.close(code));
        assert.ok(error instanceof UsageError, `${code}: ${String(error)}`);
      }
      assert.equal(client.readyState, "open");
    });
  });

  test("with autoClose off the application sees the close frame before answering it", async () => {
    await withPair({ server: { autoClose: false } }, async ({ client, peer }) => {
      const frames = frameReader(peer);
      const clientDone = client.close(4000, "bye");
      const close = await frames.next();
      assert.equal(close.opcode, Opcode.CLOSE);
      assert.equal(close.text, "bye");
      assert.equal(peer.readyState, "closing");
      // Not answered yet: the application may still send, then answer with its own code.
      await peer.send("last words");
      assert.equal((await client.receive({ timeout: 2000 })).text, "last words");
      await peer.close(4001, "ack");
      const info = await deadline(clientDone, 2000, "client close");
      assert.deepEqual([info.code, info.reason, info.wasClean], [4001, "ack", true]);
      const peerInfo = await deadline(peer.closed, 2000, "peer closed");
      assert.deepEqual([peerInfo.code, peerInfo.reason, peerInfo.wasClean], [4000, "bye", true]);
    });
  });

  test("close() against a peer that never answers resolves after closeTimeout, not clean", async () => {
    let serverSide: Buffer = Buffer.alloc(0);
    const raw = await listenHttpHead((request) => {
      request.socket.write(switchingResponse(request.headers["sec-websocket-key"] ?? ""));
      request.socket.on("data", (chunk: Buffer) => (serverSide = Buffer.concat([serverSide, chunk])));
    });
    try {
      const client = await connect(`ws://127.0.0.1:${raw.port}/`, { closeTimeout: 300 });
      const info = await deadline(client.close(1000, "anyone?"), 3000, "close against a silent peer");
      assert.equal(info.wasClean, false);
      assert.equal(info.code, CloseCode.ABNORMAL);
      const frames = parseFrames(serverSide);
      assert.equal(frames.length, 1);
      assert.equal(frames[0]!.opcode, OP.CLOSE);
      assert.equal(frames[0]!.masked, true);
      assert.deepEqual(parseClose(frames[0]!.payload), { code: 1000, reason: "anyone?" });
    } finally {
      await raw.close();
    }
  });

  test("the server's close() against a silent client resolves after closeTimeout", async () => {
    await withRawClient({ closeTimeout: 300 }, async ({ raw, peer }) => {
      const info = await deadline(peer.close(1001, "bye"), 3000, "close against a silent client");
      assert.equal(info.wasClean, false);
      const frame = await raw.readFrame();
      assert.equal(frame.opcode, OP.CLOSE);
      assert.equal(frame.masked, false);
      assert.deepEqual(parseClose(frame.payload), { code: 1001, reason: "bye" });
    });
  });

  test("sending after close rejects with ConnectionClosedError", async () => {
    await withPair({}, async ({ client }) => {
      const closing = client.close(1000);
      // Closing: the close frame is out, so nothing else may follow it.
      assert.ok((await rejection(client.send("too late"))) instanceof ConnectionClosedError);
      await deadline(closing, 2000, "close");
      const attempts: Array<Promise<unknown>> = [
        client.send("x"),
        client.send(bytes(1)),
        client.sendFragmented("xy", { fragmentSize: 1 }),
        client.send(Readable.from([Buffer.from("s")])),
        client.ping(),
        client.pong(),
        client.sendFrame(Opcode.TEXT, "frame"),
      ];
      for (const attempt of attempts) {
        const error = await rejection(attempt);
        assert.ok(error instanceof ConnectionClosedError, String(error));
        assert.equal((error as ConnectionClosedError).code, "CONNECTION_CLOSED");
      }
    });
  });

  test("terminate() gives 1006 on both sides", async () => {
    await withPair({}, async ({ client, peer }) => {
      client.terminate();
      const peerInfo = await deadline(peer.closed, 2000, "peer closed");
      assert.equal(peerInfo.code, CloseCode.ABNORMAL);
      assert.equal(peerInfo.wasClean, false);
      const info = await deadline(client.closed, 2000, "client closed");
      assert.equal(info.code, 1006);
      assert.equal(info.wasClean, false);
    });
  });
});

describe("split(), bufferedAmount and events", () => {
  test("the reader and writer halves work concurrently", async () => {
    await withPair({ handler: echo }, async ({ client }) => {
      const { reader, writer } = client.split();
      const count = 50;
      const writing = (async () => {
        for (let i = 0; i < count; i++) await writer.send(`message ${i}`);
      })();
      const reading = (async () => {
        const got: string[] = [];
        for await (const message of reader) {
          got.push(message.text);
          if (got.length === count) break;
        }
        return got;
      })();
      const [, got] = await deadline(Promise.all([writing, reading]), 3000, "split halves");
      assert.deepEqual(got, Array.from({ length: count }, (_, i) => `message ${i}`));
      assert.equal(writer.bufferedAmount, 0);
      await writer.close(1000, "done");
      assert.equal((await reader.closed).code, 1000);
    });
  });

  test("bufferedAmount counts a large message until it is handed to the OS", async () => {
    await withPair({}, async ({ client, peer }) => {
      assert.equal(client.bufferedAmount, 0);
      const size = 4 * 1024 * 1024;
      const sending = client.send(new Uint8Array(size));
      assert.ok(client.bufferedAmount >= size, `bufferedAmount ${client.bufferedAmount}`);
      await deadline(sending, 5000, "large send");
      assert.equal(client.bufferedAmount, 0);
      assert.equal((await peer.receive({ timeout: 5000 })).bytes.length, size);
    });
  });

  test("listeners receive message, ping, pong and close events", async () => {
    await withPair({}, async ({ client, peer }) => {
      const events: string[] = [];
      client.on("message", (message) => events.push(`message:${message.text}`));
      client.on("ping", (payload) => events.push(`ping:${text(payload)}`));
      client.on("pong", (payload) => events.push(`pong:${text(payload)}`));
      const closed = new Promise<number>((resolve) => client.on("close", (info) => resolve(info.code)));
      await peer.send("hello");
      await peer.ping("are you there");
      await client.ping("me too");
      await eventually(() => events.length === 3, "three events");
      void peer.close(1000);
      assert.equal(await deadline(closed, 2000, "close event"), 1000);
      assert.deepEqual(events, ["message:hello", "ping:are you there", "pong:me too"]);
    });
  });
});

describe("protocol errors", () => {
  test("an unmasked frame from a client: close 1002 to it, and closed reports UNMASKED_FRAME", async () => {
    await withRawClient({ closeTimeout: 500 }, async ({ raw, peer }) => {
      const errors: Error[] = [];
      peer.on("error", (error) => errors.push(error));
      await raw.write(serverFrame(OP.TEXT, "not masked"));
      const frame = await raw.readFrame();
      assert.equal(frame.opcode, OP.CLOSE);
      assert.equal(parseClose(frame.payload).code, CloseCode.PROTOCOL_ERROR);
      await raw.waitEnded();
      const info = await deadline(peer.closed, 2000, "server side closed");
      assert.ok(info.error instanceof ProtocolError, String(info.error));
      assert.equal((info.error as ProtocolError).code, "UNMASKED_FRAME");
      assert.equal(info.wasClean, false);
      assert.equal(errors.length, 1);
      assert.equal((errors[0] as ProtocolError).code, "UNMASKED_FRAME");
    });
  });

  test("a masked frame from a server: the client closes with 1002 and reports MASKED_FRAME", async () => {
    let received = Buffer.alloc(0);
    const raw = await listenHttpHead((request) => {
      request.socket.write(switchingResponse(request.headers["sec-websocket-key"] ?? ""));
      // Misbehave once the client speaks, so its listeners are in place.
      request.socket.once("data", () => request.socket.write(clientFrame(OP.TEXT, "masked")));
      request.socket.on("data", (chunk: Buffer) => (received = Buffer.concat([received, chunk])));
    });
    try {
      const client = await connect(`ws://127.0.0.1:${raw.port}/`, { closeTimeout: 300 });
      const errors: Error[] = [];
      client.on("error", (error) => errors.push(error));
      await client.send("go");
      const info = await deadline(client.closed, 3000, "client closed");
      assert.equal((info.error as ProtocolError).code, "MASKED_FRAME");
      assert.equal((errors[0] as ProtocolError | undefined)?.code, "MASKED_FRAME");
      const close = parseFrames(received).find((frame) => frame.opcode === OP.CLOSE);
      assert.ok(close !== undefined, "the client sent a close frame");
      assert.equal(parseClose(close.payload).code, CloseCode.PROTOCOL_ERROR);
    } finally {
      await raw.close();
    }
  });

  test("an 'error' listener attached right after connect() hears of a violation that came with the 101", async () => {
    const raw = await listenHttpHead((request) => {
      request.socket.write(
        Buffer.concat([Buffer.from(switchingResponse(request.headers["sec-websocket-key"] ?? ""), "latin1"), clientFrame(OP.TEXT, "masked")]),
      );
    });
    try {
      const client = await connect(`ws://127.0.0.1:${raw.port}/`, { closeTimeout: 300 });
      const errors: Error[] = [];
      client.on("error", (error) => errors.push(error));
      const info = await deadline(client.closed, 3000, "client closed");
      assert.equal((info.error as ProtocolError).code, "MASKED_FRAME");
      assert.equal(errors.length, 1, "the 'error' event was never emitted");
    } finally {
      await raw.close();
    }
  });

  test("a message over maxMessageSize: the sender gets 1009", async () => {
    await withPair({ server: { maxMessageSize: 100 } }, async ({ client, peer }) => {
      await client.send(new Uint8Array(100)); // at the limit: fine
      assert.equal((await peer.receive({ timeout: 2000 })).bytes.length, 100);
      await client.sendFragmented(new Uint8Array(120), { fragmentSize: 60 });
      const info = await deadline(client.closed, 2000, "client closed");
      assert.equal(info.code, CloseCode.MESSAGE_TOO_BIG);
      const peerInfo = await deadline(peer.closed, 2000, "peer closed");
      assert.equal((peerInfo.error as ProtocolError).code, "MESSAGE_TOO_BIG");
    });
  });

  test("invalid UTF-8 in a text message: the sender gets 1007", async () => {
    await withPair({}, async ({ client, peer }) => {
      // A character split across two frames is fine...
      const euro = Buffer.from("€");
      await client.sendFrame(Opcode.TEXT, euro.subarray(0, 1), false);
      await client.sendFrame(Opcode.CONTINUATION, euro.subarray(1), true);
      assert.equal((await peer.receive({ timeout: 2000 })).text, "€");
      // ...bytes that are not UTF-8 are not.
      await client.sendFrame(Opcode.TEXT, bytes(0xc3, 0x28));
      const info = await deadline(client.closed, 2000, "client closed");
      assert.equal(info.code, CloseCode.INVALID_PAYLOAD);
      const peerInfo = await deadline(peer.closed, 2000, "peer closed");
      assert.equal((peerInfo.error as ProtocolError).code, "INVALID_UTF8");
    });
  });
});

describe("receive backpressure", () => {
  test("with receiveQueue 4, 1000 unread messages pause reading; all arrive in order once read", async () => {
    const count = 1000;
    const size = 32 * 1024; // 32 MB in all: far more than loopback socket buffers hold
    // The sender has no send limit here, so that everything it sends waits in its own buffer.
    await withPair({ server: { receiveQueue: 4 }, client: { maxBackpressure: Infinity } }, async ({ client, peer }) => {
      const sends: Array<Promise<void>> = [];
      for (let i = 0; i < count; i++) {
        const payload = new Uint8Array(size);
        new DataView(payload.buffer).setUint32(0, i);
        sends.push(client.send(payload));
        // One socket write per message, so bufferedAmount falls message by message as the kernel takes them.
        await tick();
      }
      let done = 0;
      for (const send of sends) void send.then(() => done++);
      // Wait until the sender stops making progress: the server stopped reading.
      await settled(() => client.bufferedAmount, "the sender's buffer");
      // Most of the 32 MB is still with the sender: the server holds a few queued messages and its socket buffers, no more.
      assert.ok(client.bufferedAmount > (count * size) / 2, `only ${client.bufferedAmount} bytes held back: the server kept reading`);
      assert.ok(done < count / 2, `${done} of ${count} sends completed although nobody read`);
      for (let i = 0; i < count; i++) {
        const message = await peer.receive({ timeout: 5000 });
        assert.equal(message.bytes.length, size);
        const index = new DataView(message.bytes.buffer, message.bytes.byteOffset, 4).getUint32(0);
        if (index !== i) assert.fail(`message ${i} arrived as ${index}`);
      }
      await deadline(Promise.all(sends), 5000, "all sends");
      assert.equal(client.bufferedAmount, 0);
    });
  });

  test(
    "close() still completes cleanly while reading is paused for backpressure",
    async () => {
      await withPair({ server: { receiveQueue: 2, closeTimeout: 300 } }, async ({ client, peer }) => {
        for (let i = 0; i < 10; i++) void client.send(`unread ${i}`);
        // The ping is answered once the server processed everything before it, then it pauses.
        await deadline(client.ping(), 2000, "ping");
        const info = await deadline(peer.close(1000, "enough"), 3000, "server close");
        assert.equal(info.wasClean, true);
        assert.equal(info.code, 1000);
      });
    },
  );
});

describe("handshake headers, close frames with autoClose off, ping timers", () => {
  test("handshakeHeaders: the client sees the 101 response's headers; the server keeps none", async () => {
    await withPair(
      { server: { headers: { "X-Server": "wsx-test" } }, client: { headers: { "X-Client": "c1" } } },
      async ({ client, peer }) => {
        assert.equal(client.handshakeHeaders["x-server"], "wsx-test");
        assert.equal(client.handshakeHeaders["upgrade"], "websocket");
        assert.deepEqual({ ...peer.handshakeHeaders }, {}, "a server keeps no request headers per connection");
      },
    );
  });

  test("with autoClose off a received close frame ends iteration and is readable, then answered by close()", async () => {
    await withPair({ client: { autoClose: false } }, async ({ client, peer }) => {
      const ended = (async () => {
        const seen: string[] = [];
        for await (const message of client) seen.push(message.text);
        return seen;
      })();
      await peer.send("last");
      const peerClosed = peer.close(4001, "done");
      assert.deepEqual(await deadline(ended, 3000, "iteration end"), ["last"]);
      assert.deepEqual({ ...client.closeReceived }, { code: 4001, reason: "done" });
      assert.equal(client.readyState, "closing");
      await assert.rejects(client.receive(), (error: Error) => error instanceof ConnectionClosedError);
      await client.close(4001, "done");
      const info = await deadline(peerClosed, 3000, "peer close");
      assert.equal(info.code, 4001);
      assert.equal(info.wasClean, true);
    });
  });

  test("a pending ping with a timeout rejects at close and its timer does not keep the process alive", async () => {
    await withPair({ server: { autoPong: false } }, async ({ client }) => {
      const pending = client.ping(undefined, { timeout: 60_000 });
      client.terminate();
      await assert.rejects(pending, (error: Error) => error instanceof ConnectionClosedError);
      // The timer was cleared: no active 60 s timeout remains among the process's handles.
      const timers = (process as unknown as { getActiveResourcesInfo(): string[] }).getActiveResourcesInfo();
      assert.ok(timers.filter((name) => name === "Timeout").length < 5, timers.join(","));
    });
  });
});

test("what waits when the connection drops (a ping, a reader) rejects with the connection's ConnectionClosedError; a send after it still gets the close code", async () => {
  await withPair({ server: { autoPong: false } }, async ({ client, peer }) => {
    const ping = rejection(client.ping());
    const read = rejection(client.receive());
    peer.terminate();
    await deadline(client.closed, 3000, "client closed");
    for (const error of [await ping, await read]) {
      assert.ok(error instanceof ConnectionClosedError, String(error));
      assert.equal(error.code, "CONNECTION_CLOSED");
      assert.equal(error.closeCode, CloseCode.ABNORMAL);
      assert.equal(error.message, "connection is closed (1006)");
    }
    // A send after the close (nothing waited at the time) still learns the connection's close code.
    const late = await rejection(client.send("late"));
    assert.ok(late instanceof ConnectionClosedError, String(late));
    assert.equal(late.closeCode, CloseCode.ABNORMAL);
  });
});

test("stats read before any traffic are live: the object handed out counts what follows, as do the server's totals", async () => {
  await withPair({}, async ({ client, peer, server }) => {
    assert.equal(server.wss.stats.messagesIn, 0);
    const before = peer.stats;
    assert.deepEqual({ ...before }, { messagesIn: 0, messagesOut: 0, bytesIn: 0, bytesOut: 0, dropped: 0 });
    await client.send("hi");
    assert.equal((await peer.receive({ timeout: 3000 })).text, "hi");
    await peer.send("back");
    assert.equal((await client.receive({ timeout: 3000 })).text, "back");
    assert.equal(before.messagesIn, 1);
    assert.equal(before.messagesOut, 1);
    assert.equal(before.bytesIn, 8, "one masked 2-byte text frame");
    assert.equal(before.bytesOut, 6);
    assert.equal(peer.stats, before);
    assert.deepEqual([server.wss.stats.messagesIn, server.wss.stats.messagesOut, server.wss.stats.bytesIn], [1, 1, 8]);
  });
});

test("receiveFrame() switches to frame delivery; receive() then joins the frames of the next message; for await refuses frames", async () => {
  await withPair({}, async ({ client, peer }) => {
    const first = client.receiveFrame({ timeout: 3000 });
    await peer.sendFragmented("abcdef", { fragmentSize: 4 });
    const a = await first;
    const b = await client.receiveFrame({ timeout: 3000 });
    assert.deepEqual([a.opcode, a.fin, a.text], [Opcode.TEXT, false, "abcd"]);
    assert.deepEqual([b.opcode, b.fin, b.text], [Opcode.CONTINUATION, true, "ef"]);
    await peer.sendFragmented(Uint8Array.of(1, 2, 3, 4, 5), { fragmentSize: 2 });
    await peer.ping();
    await peer.send("next");
    const whole = await client.receive({ timeout: 3000 });
    assert.deepEqual([whole.type, [...whole.bytes]], ["binary", [1, 2, 3, 4, 5]]);
    assert.equal((await client.receive({ timeout: 3000 })).text, "next", "the ping frame between was passed over");
    await peer.send("x");
    await assert.rejects(client[Symbol.asyncIterator]().next(), (error: Error) => error instanceof UsageError && error.code === "FRAME_DELIVERY");
  });
});
