/**
 * Pub/sub on the server: subscriptions, publish to every subscriber once,
 * one encoding per publish (and one compression when subscribers share
 * parameters), one batched write per subscriber per turn, order against
 * streamed sends, cleanup on close, and the adapter contract.
 */
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { Socket } from "node:net";
import { createInterface } from "node:readline";
import {
  UsageError,
  WebSocket,
  WebSocketServer,
  connect,
  serve,
  type AdapterHub,
  type PubSubAdapter,
  type ServerOptions,
} from "../../src/index.js";
import { deadline, delay, eventually, LOOPBACK } from "../helpers/net.js";
import { Accepted, startServer, type TestServer } from "../helpers/wsx.js";

/** A server, `count` wsx clients connected to it, and the server side of each (same order). */
async function withSubscribers(
  count: number,
  options: { server?: ServerOptions; client?: Parameters<typeof connect>[1] },
  body: (setup: { server: TestServer; clients: WebSocket[]; peers: WebSocket[] }) => Promise<void>,
): Promise<void> {
  const server = await startServer("standalone", { closeTimeout: 500, ...options.server });
  const clients: WebSocket[] = [];
  try {
    const accepted = new Accepted(server.wss);
    const peers: WebSocket[] = [];
    for (let i = 0; i < count; i++) {
      clients.push(await connect(server.url("/"), { closeTimeout: 500, ...options.client }));
      peers.push((await accepted.next()).ws);
    }
    await body({ server, clients, peers });
  } finally {
    for (const client of clients) client.terminate();
    await server.close();
  }
}

/** The server side's socket of a connection (to watch what is written to it). */
function socketOf(ws: WebSocket): Socket {
  return (ws as unknown as { socket: Socket }).socket;
}

/** Record every Socket#write call on the given sockets while `body` runs. */
async function recordWrites(sockets: Set<Socket>, body: () => Promise<void>): Promise<Array<{ socket: Socket; chunk: Uint8Array }>> {
  const writes: Array<{ socket: Socket; chunk: Uint8Array }> = [];
  const original = Socket.prototype.write;
  Socket.prototype.write = function (this: Socket, chunk: unknown, ...rest: unknown[]): boolean {
    if (sockets.has(this) && chunk instanceof Uint8Array) writes.push({ socket: this, chunk });
    return (original as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
  } as typeof Socket.prototype.write;
  try {
    await body();
  } finally {
    Socket.prototype.write = original;
  }
  return writes;
}

/**
 * Count the writes each socket hands to the OS while `body` runs: one per
 * `_write` (a single chunk) or `_writev` (everything corked together).
 */
async function countSocketWrites(sockets: Set<Socket>, body: () => Promise<void>): Promise<Map<Socket, number>> {
  const counts = new Map<Socket, number>();
  type Internal = { _write: (...args: unknown[]) => void; _writev: (...args: unknown[]) => void };
  const proto = Socket.prototype as unknown as Internal;
  const { _write, _writev } = proto;
  const count = (socket: Socket): void => {
    if (sockets.has(socket)) counts.set(socket, (counts.get(socket) ?? 0) + 1);
  };
  proto._write = function (this: Socket, ...args: unknown[]) {
    count(this);
    return _write.apply(this, args);
  };
  proto._writev = function (this: Socket, ...args: unknown[]) {
    count(this);
    return _writev.apply(this, args);
  };
  try {
    await body();
  } finally {
    proto._write = _write;
    proto._writev = _writev;
  }
  return counts;
}

describe("pub/sub", () => {
  test("publish reaches every subscriber once, keeps the type, skips the excluded and the unsubscribed", async () => {
    await withSubscribers(4, {}, async ({ server, clients, peers }) => {
      for (const peer of peers) assert.equal(peer.subscribe("news"), true);
      assert.equal(peers[0]!.subscribe("news"), false, "a second subscribe is a no-op");
      assert.equal(server.wss.subscriberCount("news"), 4);
      assert.deepEqual(peers[0]!.topics, ["news"]);
      assert.equal(peers[0]!.isSubscribed("news"), true);

      assert.equal(server.wss.publish("news", "text one"), 4);
      assert.equal(server.wss.publish("news", new Uint8Array([1, 2, 3])), 4);
      assert.equal(server.wss.publish("news", "excluded", { exclude: peers[1] }), 3);
      assert.equal(peers[2]!.unsubscribe("news"), true);
      assert.equal(peers[2]!.unsubscribe("news"), false);
      assert.equal(server.wss.publish("news", "after unsubscribe"), 3);
      assert.equal(server.wss.publish("nobody-listens", "x"), 0);
      // A marker sent straight to each connection shows where the published stream ends.
      for (const peer of peers) await peer.send("end");

      const expected = [
        ["text:text one", "binary:1,2,3", "text:excluded", "text:after unsubscribe", "text:end"],
        ["text:text one", "binary:1,2,3", "text:after unsubscribe", "text:end"],
        ["text:text one", "binary:1,2,3", "text:excluded", "text:end"],
        ["text:text one", "binary:1,2,3", "text:excluded", "text:after unsubscribe", "text:end"],
      ];
      for (const [i, client] of clients.entries()) {
        const got: string[] = [];
        for (;;) {
          const message = await client.receive({ timeout: 2000 });
          got.push(message.type === "text" ? `text:${message.text}` : `binary:${[...message.bytes].join(",")}`);
          if (message.type === "text" && message.text === "end") break;
        }
        assert.deepEqual(got, expected[i], `client ${i}`);
      }
    });
  });

  test("options: bytes as text are checked, strings can go as binary", async () => {
    await withSubscribers(1, {}, async ({ server, clients, peers }) => {
      peers[0]!.subscribe("t");
      assert.throws(() => server.wss.publish("t", new Uint8Array([0xff]), { type: "text" }), (error: unknown) => {
        return error instanceof UsageError && error.code === "INVALID_UTF8";
      });
      server.wss.publish("t", new TextEncoder().encode("bytes as text"), { type: "text" });
      server.wss.publish("t", "string as binary", { type: "binary" });
      const first = await clients[0]!.receive({ timeout: 2000 });
      assert.equal(first.type, "text");
      assert.equal(first.text, "bytes as text");
      const second = await clients[0]!.receive({ timeout: 2000 });
      assert.equal(second.type, "binary");
      assert.equal(new TextDecoder().decode(second.bytes), "string as binary");
    });
  });

  test("subscriptions end when a connection closes, and a closed connection cannot subscribe", async () => {
    await withSubscribers(3, {}, async ({ server, clients, peers }) => {
      peers.forEach((peer) => {
        peer.subscribe("a");
        peer.subscribe("b");
      });
      await clients[0]!.close(1000);
      clients[1]!.terminate();
      await eventually(() => server.wss.subscriberCount("a") === 1, "two subscribers gone from a");
      assert.equal(server.wss.subscriberCount("b"), 1);
      await deadline(peers[0]!.closed, 2000, "peer closed");
      assert.equal(peers[0]!.subscribe("a"), false);
      assert.deepEqual(peers[0]!.topics, []);
      await clients[2]!.close(1000);
      await deadline(peers[2]!.closed, 2000, "last peer closed");
      assert.equal(server.wss.subscriberCount("a"), 0);
      assert.equal(server.wss.subscriberCount("b"), 0);
      assert.equal((server.wss as unknown as { topics: { size: number } }).topics.size, 0, "no topic left behind");
    });
  });

  test("topics belong to server connections: a client connection refuses to subscribe", async () => {
    await withSubscribers(1, {}, async ({ clients }) => {
      assert.throws(() => clients[0]!.subscribe("x"), (error: unknown) => error instanceof UsageError && error.code === "NOT_ON_SERVER");
    });
  });

  test("a publish is encoded once: every subscriber's socket writes the same frame bytes", async () => {
    await withSubscribers(20, {}, async ({ server, clients, peers }) => {
      for (const peer of peers) peer.subscribe("big");
      const payload = new Uint8Array(64 * 1024).map((_, i) => i % 251);
      const writes = await recordWrites(new Set(peers.map(socketOf)), async () => {
        server.wss.publish("big", payload);
        await delay(10);
      });
      assert.equal(writes.length, 20, "one write per subscriber");
      const buffers = new Set(writes.map((write) => write.chunk.buffer));
      assert.equal(buffers.size, 1, "all subscribers were given the same encoded frame");
      for (const client of clients) assert.ok(Buffer.from((await client.receive({ timeout: 2000 })).bytes).equals(payload));
    });
  });

  test("publishes made in one turn leave in one write per subscriber", async () => {
    const count = 300;
    await withSubscribers(count, {}, async ({ server, clients, peers }) => {
      for (const peer of peers) peer.subscribe("tick");
      const writes = await countSocketWrites(new Set(peers.map(socketOf)), async () => {
        for (let i = 0; i < 5; i++) server.wss.publish("tick", `message ${i}`);
        await delay(20);
      });
      assert.equal(writes.size, count, "every subscriber was written to");
      assert.ok([...writes.values()].every((n) => n === 1), "five publishes in one turn: one write per subscriber");
      for (const client of clients) {
        for (let i = 0; i < 5; i++) assert.equal((await client.receive({ timeout: 2000 })).text, `message ${i}`);
      }
    });
  });

  /** Everything a client receives up to the text "end", as "text:..." / "binary:n bytes". */
  async function receiveUntilEnd(client: WebSocket): Promise<string[]> {
    const got: string[] = [];
    for (let i = 0; i < 10_000; i++) {
      const message = await client.receive({ timeout: 2000 });
      got.push(message.type === "text" ? `text:${message.text}` : `binary:${message.bytes.length} bytes`);
      if (message.type === "text" && message.text === "end") return got;
    }
    throw new Error("no end marker");
  }

  test("publishes of one turn share frames, and stay in order with everything else queued in that turn", async () => {
    await withSubscribers(3, {}, async ({ server, clients, peers }) => {
      const [a, b, c] = peers as [WebSocket, WebSocket, WebSocket];
      for (const peer of [a, b]) peer.subscribe("t");
      b.subscribe("u");
      const out0 = a.stats.messagesOut;
      const buffered0 = a.bufferedAmount;
      assert.equal(server.wss.publish("t", "1"), 2);
      assert.equal(server.wss.publish("t", "2"), 2);
      // Counted and buffered at once, as a publish made on its own would be.
      assert.equal(a.stats.messagesOut, out0 + 2);
      assert.equal(a.bufferedAmount, buffered0 + 6);
      void b.send("direct to b"); // queued between two publishes: b must get it between them
      assert.equal(server.wss.publish("t", "3"), 2);
      assert.equal(server.wss.publish("u", "u1"), 1); // another topic in between
      assert.equal(server.wss.publish("t", "4"), 2);
      c.subscribe("t"); // joins in the middle of the turn: gets what comes after only
      assert.equal(server.wss.publish("t", "5"), 3);
      a.unsubscribe("t"); // leaves in the middle of the turn
      assert.equal(server.wss.publish("t", "6"), 2);
      assert.equal(server.wss.publish("t", "7", { exclude: b }), 1);
      assert.equal(server.wss.publish("t", "8"), 2);
      for (const peer of peers) void peer.send("end");
      assert.deepEqual(await receiveUntilEnd(clients[0]!), ["text:1", "text:2", "text:3", "text:4", "text:5", "text:end"]);
      assert.deepEqual(await receiveUntilEnd(clients[1]!), [
        "text:1",
        "text:2",
        "text:direct to b",
        "text:3",
        "text:u1",
        "text:4",
        "text:5",
        "text:6",
        "text:8",
        "text:end",
      ]);
      assert.deepEqual(await receiveUntilEnd(clients[2]!), ["text:5", "text:6", "text:7", "text:8", "text:end"]);
      assert.equal(a.stats.messagesOut, out0 + 6);
    });
  });

  test("publishes of one turn that share frames drop exactly where publishes one by one would (drop policy)", async () => {
    // 64-byte payloads: 66-byte frames. Under a 1,000-byte limit a subscriber takes
    // messages while less than 1,000 bytes wait: 16 of them (15 × 66 = 990), then drops.
    const server: ServerOptions = { maxBackpressure: 1000, backpressure: "drop" };
    await withSubscribers(2, { server }, async ({ server, clients, peers }) => {
      const [tight, roomy] = peers as [WebSocket, WebSocket];
      tight.subscribe("t");
      roomy.subscribe("t");
      void roomy.send(new Uint8Array(400)); // less room on this one: it should drop earlier
      const delivered: number[] = [];
      for (let i = 0; i < 30; i++) delivered.push(server.wss.publish("t", new Uint8Array(64)));
      // roomy starts with a 404-byte frame waiting: it takes 10 (404 + 9 × 66 = 998), tight 16.
      assert.deepEqual(delivered, [...Array(10).fill(2), ...Array(6).fill(1), ...Array(14).fill(0)]);
      assert.equal(tight.stats.dropped, 14);
      assert.equal(roomy.stats.dropped, 20);
      // Past the limit a send is dropped too: the end marker goes once the queue has drained.
      await eventually(() => peers.every((peer) => peer.bufferedAmount === 0), "the queues drained");
      for (const peer of peers) void peer.send("end");
      const tightGot = await receiveUntilEnd(clients[0]!);
      assert.deepEqual(tightGot, [...Array(16).fill("binary:64 bytes"), "text:end"]);
      const roomyGot = await receiveUntilEnd(clients[1]!);
      assert.deepEqual(roomyGot, ["binary:400 bytes", ...Array(10).fill("binary:64 bytes"), "text:end"]);
    });
  });

  test("a subscriber that starts a send compressed off the loop mid-turn gets later publishes after it, as one by one", async () => {
    const server: ServerOptions = { compression: { serverNoContextTakeover: true, asyncThreshold: 1024 } };
    await withSubscribers(2, { server, client: { compression: true } }, async ({ server: s, clients, peers }) => {
      assert.ok(peers.every((peer) => peer.extensions.includes("permessage-deflate")));
      for (const peer of peers) peer.subscribe("t");
      // compress: false makes every subscriber take the same plain frames, so they share them.
      s.wss.publish("t", "p1", { compress: false });
      s.wss.publish("t", "p2", { compress: false });
      void peers[0]!.send("x".repeat(4096)); // over asyncThreshold: compressed off the loop, queued later
      s.wss.publish("t", "p3", { compress: false });
      for (const peer of peers) void peer.send("end");
      assert.deepEqual(await receiveUntilEnd(clients[0]!), ["text:p1", "text:p2", `text:${"x".repeat(4096)}`, "text:p3", "text:end"]);
      assert.deepEqual(await receiveUntilEnd(clients[1]!), ["text:p1", "text:p2", "text:p3", "text:end"]);
    });
  });

  test("a subscriber that starts streaming a message mid-turn gets later publishes after it, as one by one", async () => {
    await withSubscribers(2, {}, async ({ server: s, clients, peers }) => {
      for (const peer of peers) peer.subscribe("t");
      async function* pieces(): AsyncGenerator<string> {
        yield "streamed ";
        yield "message"; // the first piece goes out when this one arrives: within this turn
        await delay(5);
        yield ", the end";
      }
      s.wss.publish("t", "p1");
      const streamed = peers[0]!.send(pieces());
      // Let the stream start (microtasks only: the same turn, before any write).
      for (let i = 0; i < 20; i++) await Promise.resolve();
      s.wss.publish("t", "p2"); // waits behind the streamed message, as a publish alone would
      await streamed;
      for (const peer of peers) void peer.send("end");
      assert.deepEqual(await receiveUntilEnd(clients[0]!), ["text:p1", "text:streamed message, the end", "text:p2", "text:end"]);
      assert.deepEqual(await receiveUntilEnd(clients[1]!), ["text:p1", "text:p2", "text:end"]);
    });
  });

  test("shared frames of one turn reach compressed and plain subscribers alike, in order", async () => {
    const server: ServerOptions = { compression: { serverNoContextTakeover: true, threshold: 0 } };
    await withSubscribers(2, { server }, async ({ server: s, clients, peers }) => {
      // One plain client (no compression offered) and one compressed.
      const accepted = new Accepted(s.wss);
      const plain = await connect(s.url("/"), { compression: false });
      try {
        const plainPeer = (await accepted.next()).ws;
        for (const peer of [...peers, plainPeer]) peer.subscribe("t");
        for (let i = 0; i < 20; i++) s.wss.publish("t", `m${i}`);
        for (const peer of [...peers, plainPeer]) void peer.send("end");
        const expected = [...Array.from({ length: 20 }, (_, i) => `text:m${i}`), "text:end"];
        for (const client of [...clients, plain]) assert.deepEqual(await receiveUntilEnd(client), expected);
      } finally {
        plain.terminate();
      }
    });
  });

  test("compressed once for subscribers that share no-context-takeover parameters; correct for all others", async () => {
    const server: ServerOptions = { compression: { serverNoContextTakeover: true, threshold: 0 } };
    await withSubscribers(6, { server, client: { compression: true } }, async ({ server: test, peers }) => {
      // Two more subscribers: one without compression, one keeping its context (a client that asks for it cannot
      // when the server refuses takeover, so a second server is not needed: compare with a plain client).
      const plain = await connect(test.url("/"), { closeTimeout: 500 });
      try {
        await eventually(() => test.wss.clients.size === 7, "seven connections");
        for (const ws of test.wss.clients) ws.subscribe("z");
        let encodings = 0;
        const original = WebSocket.prototype.encodeMessage;
        WebSocket.prototype.encodeMessage = function (this: WebSocket, ...args: Parameters<WebSocket["encodeMessage"]>) {
          encodings++;
          return original.apply(this, args);
        };
        const text = "compress me ".repeat(200);
        try {
          assert.equal(test.wss.publish("z", text), 7);
          assert.equal(test.wss.publish("z", text), 7);
        } finally {
          WebSocket.prototype.encodeMessage = original;
        }
        assert.equal(encodings, 2, "one compression per publish for six compressed subscribers");
        assert.equal(peers[0]!.extensions.includes("server_no_context_takeover"), true);
        // Every subscriber reads the text back, compressed or not.
        for (const ws of test.wss.clients) assert.ok(ws.isSubscribed("z"));
        const readers = [plain];
        for (const reader of readers) {
          assert.equal((await reader.receive({ timeout: 2000 })).text, text);
          assert.equal((await reader.receive({ timeout: 2000 })).text, text);
        }
      } finally {
        plain.terminate();
      }
    });
  });

  test("with context takeover each subscriber compresses for itself, and every message decodes", async () => {
    await withSubscribers(3, { server: { compression: { threshold: 0 } }, client: { compression: true } }, async ({ server, clients, peers }) => {
      for (const peer of peers) peer.subscribe("ctx");
      assert.equal(peers[0]!.encodingKey, null, "a compressor with context takeover cannot be shared");
      const messages = Array.from({ length: 20 }, (_, i) => `repeated text ${i % 3} `.repeat(30));
      for (const message of messages) server.wss.publish("ctx", message);
      for (const client of clients) {
        for (const message of messages) assert.equal((await client.receive({ timeout: 2000 })).text, message);
      }
    });
  });

  test("a publish made while a fragmented message is on the wire follows that message's last fragment", async () => {
    await withSubscribers(1, {}, async ({ server, clients, peers }) => {
      const peer = peers[0]!;
      peer.subscribe("s");
      async function* pieces(): AsyncGenerator<string> {
        yield "part 1 ";
        yield "part 2 ";
        // "part 1 " is on the wire by now (one piece is held back for fin): this is mid-message.
        await delay(20);
        server.wss.publish("s", "published");
        yield "part 3";
      }
      await peer.send(pieces());
      const first = await clients[0]!.receive({ timeout: 2000 });
      assert.equal(first.text, "part 1 part 2 part 3");
      assert.equal((await clients[0]!.receive({ timeout: 2000 })).text, "published");
    });
  });

  test("publish to 10,000 subscribers: one pass, one write per subscriber, every byte delivered", async () => {
    const count = 10_000;
    const publishes = 3;
    const payload = new Uint8Array(16).fill(7); // an 18-byte frame
    const server = await serve({ port: 0, host: LOOPBACK, closeTimeout: 500 }, (ws) => void ws.subscribe("all"));
    // The clients live in another process: both ends of 10,000 connections would not fit one process's descriptors.
    const swarm = new URL("../helpers/swarm.js", import.meta.url).pathname;
    const child = spawn(process.execPath, [swarm, String(server.port), String(count), String(publishes * 18)], {
      stdio: ["pipe", "pipe", "inherit"],
    });
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
    try {
      const ready = await deadline(lines.next(), 60_000, "10,000 clients connected");
      assert.equal(ready.value, `ready ${count}`);
      await eventually(() => server.subscriberCount("all") === count, "every client subscribed", 500, 20);
      const delivered: number[] = [];
      const writes = await countSocketWrites(new Set([...server.clients].map(socketOf)), async () => {
        for (let i = 0; i < publishes; i++) delivered.push(server.publish("all", payload));
        const done = await deadline(lines.next(), 30_000, "every client got every message");
        assert.equal(done.value, `done ${count}`);
      });
      assert.deepEqual(delivered, [count, count, count]);
      assert.equal(writes.size, count);
      assert.ok([...writes.values()].every((n) => n === 1), "three publishes in one turn: one write per subscriber");
    } finally {
      child.stdin!.end();
      await deadline(exited, 10_000, "swarm exit").catch(() => child.kill("SIGKILL"));
      await server.close();
    }
  });

  test("publish skips connections that are closing", async () => {
    await withSubscribers(2, {}, async ({ server, peers }) => {
      peers.forEach((peer) => peer.subscribe("c"));
      void peers[0]!.close(1000);
      assert.equal(server.wss.publish("c", "only one"), 1);
    });
  });
});

/** An in-memory adapter linking servers in one process, recording what the server asked of it. */
class MemoryBus {
  readonly nodes: MemoryAdapter[] = [];
}
class MemoryAdapter implements PubSubAdapter {
  hub: AdapterHub | null = null;
  readonly calls: string[] = [];
  readonly subscribed = new Set<string>();
  closed = false;
  constructor(private readonly bus: MemoryBus) {
    bus.nodes.push(this);
  }
  attach(hub: AdapterHub): void {
    this.hub = hub;
  }
  publish(topic: string, payload: Uint8Array, binary: boolean): void {
    this.calls.push(`publish ${topic}`);
    for (const node of this.bus.nodes) {
      if (node !== this && node.subscribed.has(topic)) node.hub!.deliverLocal(topic, payload, binary);
    }
  }
  subscribe(topic: string): void {
    this.calls.push(`subscribe ${topic}`);
    this.subscribed.add(topic);
  }
  unsubscribe(topic: string): void {
    this.calls.push(`unsubscribe ${topic}`);
    this.subscribed.delete(topic);
  }
  async close(): Promise<void> {
    this.closed = true;
  }
}

describe("pub/sub adapter contract", () => {
  test("topics reach subscribers of other servers exactly once; the adapter hears first and last subscribers", async () => {
    const bus = new MemoryBus();
    const adapters = [new MemoryAdapter(bus), new MemoryAdapter(bus)];
    const servers = await Promise.all(
      adapters.map((adapter) => new WebSocketServer({ port: 0, host: LOOPBACK, adapter, closeTimeout: 500 }).listen()),
    );
    const clients: WebSocket[] = [];
    try {
      const accepted = servers.map((server) => new Accepted(server));
      const peers: WebSocket[] = [];
      for (const [i, server] of servers.entries()) {
        for (let j = 0; j < 2; j++) {
          clients.push(await connect(`ws://${LOOPBACK}:${server.port}/`));
          peers.push((await accepted[i]!.next()).ws);
        }
      }
      for (const peer of peers) peer.subscribe("room");
      assert.deepEqual(adapters[0]!.calls, ["subscribe room"], "the adapter hears the first local subscriber only");
      assert.deepEqual([...adapters[1]!.hub!.localTopics()], ["room"]);

      servers[0]!.publish("room", "from server 0", { exclude: peers[0] });
      servers[1]!.publish("room", new Uint8Array([7]));
      // client 0 (excluded on its own server) still gets server 1's publish; everyone else gets both, once.
      const expected = [["binary"], ["text", "binary"], ["text", "binary"], ["text", "binary"]];
      for (const [i, client] of clients.entries()) {
        const types: string[] = [];
        for (let k = 0; k < expected[i]!.length; k++) types.push((await client.receive({ timeout: 2000 })).type);
        assert.deepEqual(types.sort(), [...expected[i]!].sort(), `client ${i}`);
        await assert.rejects(client.receive({ timeout: 50 }), { code: "RECEIVE_TIMEOUT" }, `client ${i} got a duplicate`);
      }
      assert.equal(servers[1]!.stats.published, 2, "a publish that came through the adapter is counted");

      peers[0]!.unsubscribe("room");
      await clients[1]!.close(1000);
      await eventually(() => adapters[0]!.calls.includes("unsubscribe room"), "the adapter hears the last local subscriber leave");
    } finally {
      for (const client of clients) client.terminate();
      await Promise.all(servers.map((server) => server.close()));
    }
    assert.ok(adapters.every((adapter) => adapter.closed), "server.close() closes its adapter");
  });
});
