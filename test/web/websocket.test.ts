/**
 * wsx/web's WebSocket on Node, where no browser can be the reference: the
 * third constructor argument, "nodebuffer", bufferedAmount falling as the
 * socket takes the bytes, the EventTarget it is, relative URLs without a
 * document, and close(undefined, reason), which Chromium 156 cannot run
 * (its renderer dies). Browser-comparable behaviour is in differential.test.ts.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { UsageError, type Message, type ServerRequest } from "../../src/index.js";
import { CloseEvent, WebSocket, WebSocketStream } from "../../src/web/index.js";
import { deadline, eventually, tick } from "../helpers/net.js";
import { withServer } from "../helpers/wsx.js";

function opened(ws: WebSocket): Promise<void> {
  return new Promise((resolve, reject) => {
    ws.addEventListener("open", () => resolve(), { once: true });
    ws.addEventListener("error", () => reject(new Error("error before open")), { once: true });
  });
}

function closed(ws: WebSocket): Promise<CloseEvent> {
  return deadline(new Promise((resolve) => ws.addEventListener("close", (event) => resolve(event as CloseEvent), { once: true })), 5000, "close event");
}

function nextMessage(ws: WebSocket): Promise<MessageEvent> {
  return deadline(new Promise((resolve) => ws.addEventListener("message", (event) => resolve(event as MessageEvent), { once: true })), 5000, "message");
}

const echo = async (ws: import("../../src/index.js").WebSocket): Promise<void> => {
  for await (const message of ws) await ws.send(message);
};

/**
 * A wsx server that reads nothing (receiveQueue 1: TCP pushes back on the
 * client) until `release()` is called, then echoes.
 */
async function withStalledServer(body: (url: string, release: () => void) => Promise<void>): Promise<void> {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  await withServer("standalone", { receiveQueue: 1, maxMessageSize: 2 * 1024 * 1024 }, (server) => body(server.url(), release), async (ws) => {
    await released;
    await echo(ws);
  });
}

describe("wsx/web WebSocket on Node", () => {
  test("relative URLs are a SyntaxError: Node has no document, so no base URL", () => {
    for (const url of ["/chat", "chat", "//127.0.0.1/chat", ""]) {
      assert.throws(() => new WebSocket(url), (error: Error) => error instanceof DOMException && error.name === "SyntaxError", url);
    }
  });

  test("a bad option in the third argument is refused at once with wsx's UsageError", () => {
    assert.throws(
      () => new WebSocket("ws://127.0.0.1:9/", [], { maxFrameSize: -1 }),
      (error: Error) => error instanceof UsageError && typeof error.code === "string",
    );
    assert.throws(() => new WebSocket("ws://127.0.0.1:9/", [], { compression: { level: 42 } }), UsageError);
    // connect()'s own table: a misspelt name is UNKNOWN_OPTION naming the constructor and the nearest option.
    assert.throws(
      () => new WebSocket("ws://127.0.0.1:9/", [], { hedaers: {} } as never),
      (error: Error) => error instanceof UsageError && error.code === "UNKNOWN_OPTION" && /new WebSocket\(\)/.test(error.message) && /headers/.test(error.message),
    );
    assert.throws(
      () => new WebSocketStream("ws://127.0.0.1:9/", { timeout: "soon" } as never),
      (error: Error) => error instanceof UsageError && error.code === "INVALID_OPTION" && /new WebSocketStream\(\)/.test(error.message),
    );
    // What the standard fixes cannot be changed: refused, not silently overridden.
    const signal = new AbortController().signal;
    assert.throws(() => new WebSocket("ws://127.0.0.1:9/", [], { protocols: ["chat"] } as never), (error: Error) => error instanceof UsageError && error.code === "UNKNOWN_OPTION");
    assert.throws(() => new WebSocket("ws://127.0.0.1:9/", [], { signal } as never), (error: Error) => error instanceof UsageError && error.code === "UNKNOWN_OPTION");
    for (const option of [{ deliver: "frames" }, { autoClose: false }, { backpressure: "throw" }, { maxBackpressure: 1024 }]) {
      assert.throws(() => new WebSocket("ws://127.0.0.1:9/", [], option as never), (error: Error) => error instanceof UsageError && error.code === "UNKNOWN_OPTION", JSON.stringify(option));
      assert.throws(() => new WebSocketStream("ws://127.0.0.1:9/", option as never), (error: Error) => error instanceof UsageError && error.code === "UNKNOWN_OPTION", JSON.stringify(option));
    }
  });

  test("the third argument reaches connect(): headers, compression; extensions is the server's header value", async () => {
    let request: ServerRequest | undefined;
    await withServer("standalone", { compression: true }, async (server) => {
      const ws = new WebSocket(server.url("/"), "chat", { headers: { "X-Client": "wsx-web" }, compression: true });
      await opened(ws);
      assert.equal(request?.headers["x-client"], "wsx-web");
      assert.match(ws.extensions, /^permessage-deflate/);
      assert.equal(ws.protocol, "", "the server selected no subprotocol");
      // Compressed sends read the bytes later (off the event loop when large): they are sent as they were at send().
      ws.binaryType = "arraybuffer";
      const bytes = new Uint8Array(600_000).fill(7);
      ws.send(bytes);
      bytes.fill(0);
      const event = await nextMessage(ws);
      assert.ok(new Uint8Array(event.data as ArrayBuffer).every((byte) => byte === 7), "the bytes as they were when sent");
      ws.close();
      await closed(ws);
    }, async (ws, req) => {
      request = req;
      await echo(ws);
    });
  });

  test('binaryType "nodebuffer" hands binary messages out as Buffers, as ws does', async () => {
    await withServer("standalone", {}, async (server) => {
      const ws = new WebSocket(server.url());
      ws.binaryType = "nodebuffer";
      await opened(ws);
      ws.send(new Uint8Array([1, 2, 3]));
      const event = await nextMessage(ws);
      assert.ok(Buffer.isBuffer(event.data));
      assert.deepEqual([...(event.data as Buffer)], [1, 2, 3]);
      ws.close();
      await closed(ws);
    }, echo);
  });

  test("bufferedAmount counts what the socket has not taken, and falls as it takes it", { timeout: 30_000 }, async () => {
    await withStalledServer(async (url, release) => {
      const ws = new WebSocket(url);
      await opened(ws);
      const MiB = 1024 * 1024;
      const chunk = new Uint8Array(MiB);
      const turns = 48; // far more than loopback socket buffers hold
      let sent = 0;
      for (let i = 0; i < turns; i++) {
        ws.send(chunk);
        sent += MiB;
        assert.equal(ws.bufferedAmount <= sent, true);
        await tick(); // one socket write per turn
      }
      // Stalled: nothing more is being taken, and most of it is still counted.
      let previous = -1;
      await eventually(() => {
        const now = ws.bufferedAmount;
        const stable = now === previous;
        previous = now;
        return stable;
      }, "bufferedAmount stops changing", 100, 50);
      assert.ok(ws.bufferedAmount > 16 * MiB, `bufferedAmount ${ws.bufferedAmount} while the server does not read`);
      const seen = new Set<number>();
      const sample = setInterval(() => seen.add(ws.bufferedAmount), 1);
      release();
      await eventually(() => ws.bufferedAmount === 0, "bufferedAmount drains to 0", 500, 20);
      clearInterval(sample);
      const between = [...seen].filter((value) => value > 0 && value < previous);
      assert.ok(between.length > 0, "bufferedAmount fell step by step, not all at once");
      ws.close();
      await closed(ws);
    });
  });

  test("bufferedAmount counts strings in UTF-8 bytes whenever it is read, and falls to 0 once they are written", async () => {
    await withServer("standalone", {}, async (server) => {
      const ws = new WebSocket(server.url());
      await opened(ws);
      let received = 0;
      ws.onmessage = () => received++;
      // Nothing is written before this turn ends: everything sent in it is counted.
      ws.send("é".repeat(1000));
      ws.send(new Uint8Array(10));
      ws.send("✓".repeat(1000));
      assert.equal(ws.bufferedAmount, 2000 + 10 + 3000);
      // Strings sent while bufferedAmount is not read, written, then read.
      for (let i = 0; i < 5; i++) ws.send("ü€".repeat(100));
      await eventually(() => received === 8, "the echoes", 500, 10);
      assert.equal(ws.bufferedAmount, 0);
      // Sent, read before written, then written.
      ws.send("€");
      assert.equal(ws.bufferedAmount, 3);
      await eventually(() => received === 9, "the last echo", 500, 10);
      assert.equal(ws.bufferedAmount, 0);
      ws.close();
      ws.send("ü");
      assert.equal(ws.bufferedAmount, 2);
      await closed(ws);
    }, echo);
  });

  test("bufferedAmount for strings still unwritten under backpressure: whole messages of UTF-8 bytes", { timeout: 30_000 }, async () => {
    await withStalledServer(async (url, release) => {
      const ws = new WebSocket(url);
      await opened(ws);
      const MiB = 1024 * 1024;
      const SIZE = 2048;
      const short = "é".repeat(SIZE / 2); // 2 KiB of UTF-8, half as many characters
      ws.send("é".repeat(MiB / 2)); // a long string too: 1 MiB, 512 short ones' worth
      for (let turn = 0; turn < 48; turn++) {
        for (let i = 0; i < 512; i++) ws.send(short); // bufferedAmount is not read while sending
        await tick();
      }
      const total = 49 * MiB;
      const stalled = ws.bufferedAmount;
      assert.ok(stalled > 16 * MiB && stalled <= total, `bufferedAmount ${stalled} while the server does not read`);
      assert.equal(stalled % SIZE, 0, "counted in whole messages of UTF-8 bytes");
      // While the queue drains (and the facade drops written entries now and then), a string
      // sent and then read adds exactly its UTF-8 size: nothing is written in between.
      const probe = "€".repeat(100); // 300 bytes
      const added: number[] = [];
      const sample = setInterval(() => {
        const before = ws.bufferedAmount;
        ws.send(probe);
        added.push(ws.bufferedAmount - before);
      }, 1);
      release();
      await eventually(() => ws.bufferedAmount === 0, "bufferedAmount drains to 0", 500, 20);
      clearInterval(sample);
      await tick();
      await eventually(() => ws.bufferedAmount === 0, "the last probes written", 500, 20);
      assert.ok(added.length > 0);
      assert.deepEqual(new Set(added), new Set([300]));
      ws.close();
      await closed(ws);
    });
  });

  test("bufferedAmount keeps counting after close, as the standard says, and never resets", async () => {
    await withServer("standalone", {}, async (server) => {
      const ws = new WebSocket(server.url());
      await opened(ws);
      ws.close();
      ws.send("abc");
      ws.send(new Uint8Array(4));
      assert.equal(ws.bufferedAmount, 7);
      await closed(ws);
      ws.send(new Blob(["12345"]));
      assert.equal(ws.bufferedAmount, 12);
    }, echo);
  });

  test("close() with only a reason sends code 1000 and the reason", async () => {
    let info: import("../../src/index.js").CloseInfo | undefined;
    await withServer("standalone", {}, async (server) => {
      const ws = new WebSocket(server.url());
      await opened(ws);
      ws.close(undefined, "bye");
      const event = await closed(ws);
      assert.equal(event.code, 1000);
      await eventually(() => info !== undefined, "server side closed");
      assert.deepEqual({ code: info!.code, reason: info!.reason }, { code: 1000, reason: "bye" });
    }, async (ws) => {
      info = await ws.closed;
    });
  });

  test("it is an EventTarget: dispatchEvent reaches on<event> handlers and listeners, once and removal work", () => {
    const ws = new WebSocket("ws://127.0.0.1:1/"); // a bad port: fails later, never connects
    assert.ok(ws instanceof EventTarget);
    const calls: string[] = [];
    const listener = (): void => void calls.push("listener");
    ws.addEventListener("message", listener);
    ws.addEventListener("message", () => calls.push("once"), { once: true });
    ws.onmessage = function (this: unknown, event) {
      calls.push(`handler this=${this === ws} data=${(event as MessageEvent).data}`);
    };
    ws.dispatchEvent(new MessageEvent("message", { data: "x" }));
    ws.removeEventListener("message", listener);
    ws.dispatchEvent(new MessageEvent("message", { data: "y" }));
    assert.deepEqual(calls, ["listener", "once", "handler this=true data=x", "handler this=true data=y"]);
    assert.equal(Object.prototype.toString.call(ws), "[object WebSocket]");
    assert.deepEqual(Object.keys(ws), [], "no own enumerable state, as in browsers");
    ws.onerror = () => undefined;
  });

  test("CloseEvent: defaults, init values, an Event", () => {
    const plain = new CloseEvent("close");
    assert.deepEqual([plain.code, plain.reason, plain.wasClean, plain.type], [0, "", false, "close"]);
    const given = new CloseEvent("close", { code: 4000, reason: "r", wasClean: true });
    assert.deepEqual([given.code, given.reason, given.wasClean], [4000, "r", true]);
    assert.ok(given instanceof Event);
    assert.equal(CloseEvent.name, "CloseEvent");
  });

  test("a received message's event is a MessageEvent as a browser's is: attributes, tag, frozen ports, targets", async () => {
    await withServer("standalone", {}, async (server) => {
      const ws = new WebSocket(server.url());
      await opened(ws);
      const seen: Record<string, unknown>[] = [];
      let event!: MessageEvent;
      ws.onmessage = function (this: unknown, e) {
        event = e;
        seen.push({ self: this === ws, target: e.target === ws, current: e.currentTarget === ws, phase: e.eventPhase });
      };
      ws.send("hi");
      await eventually(() => seen.length === 1, "the echo", 500, 10);
      assert.deepEqual(seen, [{ self: true, target: true, current: true, phase: 2 }]); // AT_TARGET
      assert.ok(event instanceof MessageEvent && event instanceof Event);
      assert.equal(event.constructor, MessageEvent);
      assert.equal(Object.prototype.toString.call(event), "[object MessageEvent]");
      assert.equal(event.type, "message");
      assert.equal(event.data, "hi");
      assert.equal(event.origin, new URL(server.url()).origin);
      assert.equal(event.lastEventId, "");
      assert.equal(event.source, null);
      assert.deepEqual(event.ports, []);
      assert.ok(Object.isFrozen(event.ports), "ports is a FrozenArray");
      assert.equal(event.ports, event.ports, "the same array each time it is read");
      assert.equal(event.currentTarget, null, "after dispatch");
      assert.equal(event.target, ws);
      // Read-only, enumerable attributes, as Web IDL defines them.
      assert.throws(() => {
        (event as { data: unknown }).data = "changed";
      }, TypeError);
      assert.equal(event.data, "hi");
      const attributes = [];
      for (const key in event) attributes.push(key);
      for (const name of ["data", "origin", "lastEventId", "source", "ports", "type", "target"]) assert.ok(attributes.includes(name), name);
      ws.close();
      await closed(ws);
    }, echo);
  });

  test("messages that came with the handshake response are dispatched after open", async () => {
    await withServer("standalone", {}, async (server) => {
      const ws = new WebSocket(server.url());
      const order: string[] = [];
      ws.onopen = () => order.push("open");
      ws.onmessage = (event) => order.push(String((event as MessageEvent).data));
      await closed(ws);
      assert.deepEqual(order.slice(0, 3), ["open", "first", "second"]);
    }, async (ws: import("../../src/index.js").WebSocket) => {
      // Queued before the handshake response is even written: they leave in the same write.
      void ws.send("first");
      void ws.send("second");
      await ws.close(1000);
    });
  });

  test("https: URLs mean wss: (TLS) for both constructors, and url shows wss:", async () => {
    await withServer("tls", {}, async (server) => {
      const https = server.url("/tls?x=1").replace(/^wss:/, "https:");
      const ws = new WebSocket(https, [], server.clientOptions);
      assert.equal(ws.url, server.url("/tls?x=1"));
      await opened(ws);
      ws.send("over tls");
      assert.equal((await nextMessage(ws)).data, "over tls");
      ws.close();
      assert.equal((await closed(ws)).wasClean, true);
      const stream = new WebSocketStream(https, server.clientOptions);
      assert.equal(stream.url, server.url("/tls?x=1"));
      const { readable, writable } = await deadline(stream.opened, 5000, "stream opened");
      await writable.getWriter().write("stream over tls");
      assert.equal((await readable.getReader().read()).value, "stream over tls");
      stream.close();
      await deadline(stream.closed, 5000, "stream closed");
    }, echo);
  });

  test("received messages keep arriving in order under a burst (no message is lost or reordered)", async () => {
    await withServer("standalone", {}, async (server) => {
      const ws = new WebSocket(server.url());
      ws.binaryType = "arraybuffer";
      const got: number[] = [];
      ws.onmessage = (event) => got.push(new Uint8Array(event.data as ArrayBuffer)[0]!);
      await opened(ws);
      for (let i = 0; i < 200; i++) ws.send(new Uint8Array([i]));
      await eventually(() => got.length === 200, "200 echoes");
      assert.deepEqual(got, Array.from({ length: 200 }, (_, i) => i));
      ws.close();
      await closed(ws);
    }, async (ws) => {
      for await (const message of ws as AsyncIterable<Message>) await ws.send(message);
    });
  });
});
