/**
 * Send-side backpressure: a peer that stops reading makes the bytes waiting
 * for its socket grow; past `maxBackpressure` the policy applies (wait,
 * drop, close), and memory stays bounded whatever the server keeps sending.
 */
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import {
  BackpressureError,
  ConnectionClosedError,
  UsageError,
  connect,
  serve,
  type ConnectOptions,
  type ServerOptions,
  type WebSocket,
  WebSocketServer,
} from "../../src/index.js";
import { OP, RawClient, deadline, eventually, parseClose, splitFrame, tick, type RawFrame } from "../helpers/net.js";
import { Accepted, startServer } from "../helpers/wsx.js";

const LIMIT = 64 * 1024;
const MESSAGE = 1024;

/** Raw clients that complete the handshake and then stop reading; the server side of each. */
async function withStalledClients(
  count: number,
  options: ServerOptions,
  body: (setup: { raws: RawClient[]; peers: WebSocket[]; wss: WebSocketServer; port: number }) => Promise<void>,
): Promise<void> {
  const server = await startServer("standalone", { closeTimeout: 300, maxBackpressure: LIMIT, ...options });
  const raws: RawClient[] = [];
  try {
    const accepted = new Accepted(server.wss);
    const peers: WebSocket[] = [];
    for (let i = 0; i < count; i++) {
      const raw = await RawClient.connect(server.port);
      raws.push(raw);
      await raw.handshake();
      raw.socket.pause(); // stop reading: the kernel buffers fill, then the server's
      peers.push((await accepted.next()).ws);
    }
    await body({ raws, peers, wss: server.wss, port: server.port });
  } finally {
    for (const raw of raws) raw.destroy();
    await server.close();
  }
}

/** A numbered message of MESSAGE bytes. */
function numbered(i: number): Uint8Array {
  const bytes = new Uint8Array(MESSAGE);
  new DataView(bytes.buffer).setUint32(0, i);
  return bytes;
}

/** Resume a stalled raw client and read data frames until one satisfies `last` (or the socket closes). */
async function drain(raw: RawClient, last: (frame: RawFrame) => boolean): Promise<RawFrame[]> {
  raw.socket.resume();
  const frames: RawFrame[] = [];
  for (let i = 0; i < 100_000; i++) {
    const frame = await raw.until(
      (buffer) => {
        const split = splitFrame(buffer);
        return split && { value: split.frame, size: split.size };
      },
      5000,
      "frame",
    );
    frames.push(frame);
    if (last(frame)) return frames;
  }
  throw new Error("too many frames");
}

/** Send numbered messages without awaiting them, a turn now and then so they get written, until `stop`. */
async function sendUntil(ws: WebSocket, stop: (i: number, sends: Array<Promise<void>>) => boolean, max = 50_000): Promise<Array<Promise<void>>> {
  const sends: Array<Promise<void>> = [];
  for (let i = 0; i < max && !stop(i, sends); i++) {
    sends.push(ws.send(numbered(i)));
    if (i % 64 === 63) await tick();
  }
  return sends;
}

function indexOf(frame: RawFrame): number {
  return new DataView(frame.payload.buffer, frame.payload.byteOffset, 4).getUint32(0);
}

describe("send backpressure", () => {
  test("drop: past maxBackpressure a send rejects with SEND_DROPPED, is counted, and the buffer stays bounded", async () => {
    await withStalledClients(1, { backpressure: "drop" }, async ({ raws, peers, wss }) => {
      const peer = peers[0]!;
      let dropped: Error | undefined;
      const sends = await sendUntil(peer, (_, all) => {
        const last = all.at(-1);
        void last?.catch((error: Error) => (dropped ??= error));
        return dropped !== undefined;
      });
      await tick();
      const error = await sends.at(-1)!.then(() => undefined, (e: Error) => e) ?? dropped;
      assert.ok(error instanceof BackpressureError, `expected a BackpressureError, got ${String(error)}`);
      assert.equal(error.code, "SEND_DROPPED");
      assert.ok(peer.bufferedAmount <= LIMIT + MESSAGE + 14, `buffered ${peer.bufferedAmount}`);
      assert.ok(peer.stats.dropped >= 1);
      assert.equal(wss.stats.dropped, peer.stats.dropped);
      // What was accepted arrives, in order, with gaps only where messages were dropped.
      // Once the client reads again and the buffer empties, sends are accepted again.
      raws[0]!.socket.resume();
      await eventually(() => peer.bufferedAmount === 0, "the buffer drains once the client reads");
      await peer.send("end");
      const frames = await drain(raws[0]!, (frame) => frame.opcode === OP.TEXT);
      const indexes = frames.filter((frame) => frame.opcode === OP.BINARY).map(indexOf);
      assert.ok(indexes.every((value, i) => i === 0 || value > indexes[i - 1]!), "in order");
      assert.equal(indexes.length, sends.length - peer.stats.dropped);
    });
  });

  test("wait: sends past the limit wait for the peer to read; nothing is lost and order is kept", async () => {
    await withStalledClients(1, { backpressure: "wait" }, async ({ raws, peers }) => {
      const peer = peers[0]!;
      // Fill the kernel's buffers and reach the limit, then send 500 more: those must wait.
      let full = -1;
      const sends = await sendUntil(peer, (i) => {
        if (full < 0 && peer.bufferedAmount >= LIMIT) full = i;
        return full >= 0 && i >= full + 500;
      });
      const total = sends.length;
      assert.ok(full >= 0, "the limit was never reached");
      let settledCount = 0;
      for (const send of sends) void send.then(() => settledCount++);
      for (let i = 0; i < 20; i++) await tick();
      assert.ok(peer.bufferedAmount <= LIMIT + MESSAGE + 14, `buffered ${peer.bufferedAmount} with the wait policy`);
      assert.ok(settledCount < total, "some sends are waiting");
      const frames = await drain(raws[0]!, (frame) => indexOf(frame) === total - 1);
      assert.deepEqual(frames.map(indexOf), Array.from({ length: total }, (_, i) => i));
      await deadline(Promise.all(sends), 5000, "all waiting sends");
      assert.equal(peer.stats.dropped, 0);
    });
  });

  test("wait: sends still waiting reject when the connection closes", async () => {
    await withStalledClients(1, { backpressure: "wait" }, async ({ raws, peers }) => {
      const peer = peers[0]!;
      let full = -1;
      const sends = await sendUntil(peer, (i) => {
        if (full < 0 && peer.bufferedAmount >= LIMIT) full = i;
        return full >= 0 && i >= full + 100;
      });
      for (let i = 0; i < 10; i++) await tick();
      raws[0]!.destroy();
      const results = await deadline(Promise.allSettled(sends), 3000, "sends settle");
      const failed = results.filter((result) => result.status === "rejected");
      assert.ok(failed.length > 0, "some sends were still waiting");
      for (const result of failed) assert.ok((result as PromiseRejectedResult).reason instanceof ConnectionClosedError);
    });
  });

  for (const code of [1008, 1013] as const) {
    test(`close: a slow consumer is closed with ${code}, after what was accepted`, async () => {
      await withStalledClients(1, { backpressure: "close", backpressureCloseCode: code, closeTimeout: 3000 }, async ({ raws, peers, wss }) => {
        const peer = peers[0]!;
        const sends = await sendUntil(peer, () => peer.readyState !== "open");
        assert.equal(peer.readyState, "closing");
        await assert.rejects(sends.at(-1)!, ConnectionClosedError);
        const frames = await drain(raws[0]!, (frame) => frame.opcode === OP.CLOSE);
        const close = frames.at(-1)!;
        assert.equal(parseClose(close.payload).code, code);
        const data = frames.filter((frame) => frame.opcode === OP.BINARY).map(indexOf);
        assert.deepEqual(data, Array.from({ length: data.length }, (_, i) => i), "everything accepted before the close arrives");
        raws[0]!.destroy();
        await deadline(peer.closed, 3000, "closed");
        assert.equal(wss.stats.closedByCode[1006] ?? wss.stats.closedByCode[code], 1);
      });
    });
  }

  test("publish: stalled subscribers miss messages past their limit (counted); a reading one gets every message", async () => {
    const stalled = 20;
    await withStalledClients(stalled, { backpressure: "drop" }, async ({ peers, wss, port }) => {
      for (const peer of peers) peer.subscribe("feed");
      const server = wss;
      const reader = await connect(`ws://127.0.0.1:${port}/`);
      try {
        await deadline(
          (async () => {
            while (server.clients.size < stalled + 1) await tick();
          })(),
          2000,
          "reader accepted",
        );
        const readerPeer = [...server.clients].find((ws) => !peers.includes(ws))!;
        readerPeer.subscribe("feed");
        const total = 3000;
        let received = 0;
        const reading = (async () => {
          for (; received < total; received++) {
            const message = await reader.receive({ timeout: 5000 });
            assert.equal(new DataView(message.bytes.buffer, message.bytes.byteOffset, 4).getUint32(0), received);
          }
        })();
        for (let i = 0; i < total; i++) {
          server.publish("feed", numbered(i));
          if (i % 32 === 31) await tick();
        }
        // The kernel took the first megabytes for the stalled ones: keep publishing (to them only) until all are full.
        for (let i = 0; i < 50_000 && peers.some((peer) => peer.stats.dropped === 0); i++) {
          server.publish("feed", numbered(i), { exclude: readerPeer });
          if (i % 32 === 31) await tick();
        }
        await deadline(reading, 10_000, "the reading subscriber got everything");
        let bufferedTotal = 0;
        for (const peer of peers) {
          assert.ok(peer.bufferedAmount <= LIMIT + MESSAGE + 14, `stalled subscriber holds ${peer.bufferedAmount} bytes`);
          assert.ok(peer.stats.dropped > 0, "a stalled subscriber missed messages");
          bufferedTotal += peer.bufferedAmount;
        }
        assert.ok(bufferedTotal <= stalled * (LIMIT + MESSAGE + 14));
        assert.equal(readerPeer.stats.dropped, 0);
        assert.ok(server.stats.dropped >= stalled);
      } finally {
        reader.terminate();
      }
    });
  });

  test("options are checked", async () => {
    const server = await serve({ port: 0, host: "127.0.0.1" });
    try {
      for (const bad of [{ maxBackpressure: 0 }, { maxBackpressure: -1 }, { backpressure: "later" }, { backpressureCloseCode: 1000 }]) {
        const invalid = (error: unknown): boolean => error instanceof UsageError && error.code === "INVALID_OPTION";
        assert.throws(() => new WebSocketServer(bad as ServerOptions), invalid, JSON.stringify(bad));
        await assert.rejects(connect(`ws://127.0.0.1:${server.port}/`, bad as ConnectOptions), invalid, JSON.stringify(bad));
      }
      assert.equal(server.stats.accepted, 0, "no connection was made with bad options");
    } finally {
      await server.close();
    }
  });
});
