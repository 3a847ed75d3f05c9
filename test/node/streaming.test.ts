/**
 * Streamed receive and send: payload pieces delivered as they arrive
 * (chunk delivery, `receiveChunk({ maxBytes })`), per-call size limits on
 * `receive({ maxSize })`, a message far larger than memory passing through
 * in constant memory, and streamed sends that respect the peer's frame
 * size, are compressed when negotiated and are counted.
 */
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import { WebSocketServer as WsServer } from "ws";
import { Opcode, SizeLimitError, UsageError, connect, type Chunk } from "../../src/index.js";
import { concat } from "../helpers/bytes.js";
import { withPair } from "../helpers/wsx.js";

const decoder = new TextDecoder();

/** A payload whose bytes say where they are: a piece delivered out of place shows. */
function pattern(length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 7 + (i >> 8)) & 0xff;
  return bytes;
}

/** Pieces of one message are consistent: offsets run through each frame, opcodes and fin as the frames were. */
function checkPieces(chunks: readonly Chunk[]): void {
  let expectedOffset = 0;
  let first = true;
  for (const chunk of chunks) {
    assert.equal(chunk.offset, expectedOffset, "pieces follow each other within the frame");
    assert.equal(chunk.opcode === Opcode.CONTINUATION, !first, "first frame TEXT/BINARY, later ones CONTINUATION");
    assert.ok(chunk.offset + chunk.length <= chunk.frameLength);
    expectedOffset = chunk.frameEnd ? 0 : chunk.offset + chunk.length;
    if (chunk.frameEnd) first = false;
  }
  assert.ok(chunks.at(-1)!.messageEnd);
  assert.equal(chunks.filter((chunk) => chunk.messageEnd).length, 1);
}

describe("chunk delivery", () => {
  test('setDelivery("chunks"): "chunk" events carry opcode, fin, frameLength and offset; messagesIn counts the message', async () => {
    await withPair({}, async ({ client, peer }) => {
      client.setDelivery("chunks");
      const chunks: Chunk[] = [];
      const done = new Promise<void>((resolve) => {
        client.on("chunk", (chunk) => {
          chunks.push(chunk);
          if (chunk.messageEnd) resolve();
        });
      });
      const payload = pattern(3011);
      await peer.sendFragmented(payload, { fragmentSize: 1000 });
      await done;
      checkPieces(chunks);
      assert.deepEqual(concat(chunks.map((chunk) => chunk.payload)), payload);
      assert.deepEqual([...new Set(chunks.map((chunk) => chunk.frameLength))], [1000, 11]);
      assert.ok(chunks.every((chunk) => chunk.messageType === "binary"));
      assert.deepEqual(chunks.filter((chunk) => chunk.frameEnd).map((chunk) => chunk.fin), [false, false, false, true]);
      assert.equal(client.stats.messagesIn, 1);
    });
  });

  test("chunks() yields pieces of a message larger than a socket read before it is all received", async () => {
    await withPair({}, async ({ client, peer }) => {
      const iterator = client.chunks();
      const payload = pattern(8 * 1024 * 1024);
      // The one frame is 8 MiB: pieces must come out before its end has been read.
      const sent = peer.send(payload);
      const first = await iterator.next();
      assert.equal(first.done, false);
      const chunk = first.value as Chunk;
      assert.equal(chunk.frameLength, payload.length);
      assert.equal(chunk.offset, 0);
      assert.ok(chunk.length < payload.length, `a first piece of ${chunk.length} bytes, not the whole frame`);
      assert.deepEqual(chunk.payload, payload.subarray(0, chunk.length));
      let received = chunk.length;
      while (received < payload.length) {
        const next = (await iterator.next()).value as Chunk;
        assert.equal(next.offset, received);
        assert.deepEqual(next.payload, payload.subarray(received, received + next.length));
        received += next.length;
      }
      await sent;
    });
  });

  test("receiveChunk({ maxBytes }) returns partial payloads, the rest on the next calls", async () => {
    await withPair({}, async ({ client, peer }) => {
      await peer.sendFragmented("a message in pieces of at most seven bytes", { fragmentSize: 20 });
      const chunks: Chunk[] = [];
      for (let i = 0; i < 100; i++) {
        const chunk = await client.receiveChunk({ maxBytes: 7, timeout: 3000 });
        assert.ok(chunk.length <= 7);
        chunks.push(chunk);
        if (chunk.messageEnd) break;
      }
      checkPieces(chunks);
      assert.equal(decoder.decode(concat(chunks.map((chunk) => chunk.payload))), "a message in pieces of at most seven bytes");
      assert.deepEqual(chunks.slice(0, 3).map((chunk) => [chunk.offset, chunk.frameLength]), [[0, 20], [7, 20], [14, 20]]);
      await assert.rejects(client.receiveChunk({ maxBytes: 0 }), (error: Error) => error instanceof UsageError && error.code === "INVALID_OPTION");
    });
  });

  test("receive() joins the pieces of the next message in chunk delivery", async () => {
    await withPair({}, async ({ client, peer }) => {
      client.setDelivery("chunks");
      await peer.sendFragmented("joined again", { fragmentSize: 5 });
      const message = await client.receive({ timeout: 3000 });
      assert.deepEqual([message.type, message.text], ["text", "joined again"]);
    });
  });
});

describe("receive({ maxSize })", () => {
  for (const delivery of ["messages", "frames", "chunks"] as const) {
    test(`a message over maxSize is refused with SizeLimitError and skipped; the next one is read (${delivery} delivery)`, async () => {
      await withPair({}, async ({ client, peer }) => {
        client.setDelivery(delivery);
        await peer.sendFragmented(pattern(5000), { fragmentSize: 1000 });
        await peer.send("small");
        await assert.rejects(
          client.receive({ maxSize: 4096, timeout: 3000 }),
          (error: Error) => error instanceof SizeLimitError && error.code === "RECEIVE_TOO_BIG" && error.limit === 4096 && error.size > 4096,
        );
        assert.equal((await client.receive({ maxSize: 4096, timeout: 3000 })).text, "small");
        assert.equal(client.readyState, "open");
        await peer.send(pattern(4096));
        assert.equal((await client.receive({ maxSize: 4096, timeout: 3000 })).bytes.length, 4096, "exactly maxSize is allowed");
      });
    });
  }

  test("maxSize must be a positive integer", async () => {
    await withPair({}, async ({ client }) => {
      for (const maxSize of [0, -1, 1.5, Number.NaN, "10"]) {
        await assert.rejects(client.receive({ maxSize: maxSize as number }), (error: Error) => error instanceof UsageError && error.code === "INVALID_OPTION");
      }
    });
  });
});

describe("a message far larger than memory", () => {
  test("1 GiB passes through chunk delivery without the process's peak memory growing with it", async () => {
    const MiB = 1024 * 1024;
    const piece = pattern(MiB);
    /** A source of `size` bytes made of one reused buffer: the sender holds no more than one piece. */
    async function* source(size: number): AsyncGenerator<Uint8Array> {
      for (let sent = 0; sent < size; sent += MiB) yield piece;
    }
    await withPair({ client: { maxMessageSize: 2 * 1024 * MiB, deliver: "chunks" } }, async ({ client, peer }) => {
      /** Send `size` bytes as one message and count them as they arrive; resolves with the count. */
      const pass = async (size: number): Promise<number> => {
        const sending = peer.send(source(size));
        let received = 0;
        let checked = 0;
        for (let i = 0; i < size; i++) {
          const chunk = await client.receiveChunk({ timeout: 30_000 });
          // Spot-check the bytes: the first of each piece is where it says it is.
          if (chunk.length > 0) {
            assert.equal(chunk.payload[0], piece[received % MiB]);
            checked++;
          }
          received += chunk.length;
          if (chunk.messageEnd) break;
        }
        await sending;
        assert.ok(checked > 0);
        return received;
      };
      // Warm up with 64 MiB (buffers, JIT), then the peak must not move by more than a fraction of 1 GiB.
      assert.equal(await pass(64 * MiB), 64 * MiB);
      const before = process.resourceUsage().maxRSS * 1024;
      assert.equal(await pass(1024 * MiB), 1024 * MiB);
      const growth = process.resourceUsage().maxRSS * 1024 - before;
      assert.ok(growth < 128 * MiB, `peak RSS grew by ${(growth / MiB).toFixed(0)} MiB for a 1 GiB message`);
      assert.equal(client.stats.messagesIn, 2);
    });
  });
});

describe("streamed send", () => {
  /** A source that yields `pieces` one after the other. */
  async function* from(pieces: ReadonlyArray<string | Uint8Array>): AsyncGenerator<string | Uint8Array> {
    for (const piece of pieces) yield piece;
  }

  test("pieces larger than maxFrameSize are split at it (the peer with the same limit accepts them); counted in messagesOut", async () => {
    await withPair({ server: { maxFrameSize: 1024 }, client: { maxFrameSize: 1024 } }, async ({ client, peer }) => {
      peer.setDelivery("frames");
      const payload = pattern(5000);
      await client.send(from([payload.subarray(0, 2000), payload.subarray(2000, 2100), payload.subarray(2100)]));
      const frames = [];
      for (let i = 0; i < 20; i++) {
        const frame = await peer.receiveFrame({ timeout: 3000 });
        frames.push(frame);
        if (frame.fin) break;
      }
      assert.ok(frames.every((frame) => frame.payload.length <= 1024), `frame sizes ${frames.map((frame) => frame.payload.length)}`);
      assert.deepEqual(concat(frames.map((frame) => frame.payload)), payload);
      assert.equal(client.stats.messagesOut, 1);
      assert.equal(client.readyState, "open");
    });
  });

  for (const takeover of [true, false]) {
    test(`compressed piece by piece when permessage-deflate is negotiated (${takeover ? "context takeover" : "no context takeover"})`, async () => {
      const compression = takeover ? true : { clientNoContextTakeover: true, serverNoContextTakeover: true };
      await withPair({ server: { compression }, client: { compression } }, async ({ client, peer }) => {
        assert.match(client.extensions, /permessage-deflate/);
        const line = "a line of text that compresses well, repeated many times over\n";
        const pieces = Array.from({ length: 200 }, () => line);
        const before = client.stats.bytesOut;
        for (let round = 0; round < 2; round++) {
          await client.send(from(pieces));
          const message = await peer.receive({ timeout: 3000 });
          assert.equal(message.text, line.repeat(200));
        }
        const sent = client.stats.bytesOut - before;
        assert.ok(sent < line.length * 200, `${sent} bytes on the wire for two messages of ${line.length * 200}`);
        await client.send(from([]));
        assert.equal((await peer.receive({ timeout: 3000 })).bytes.length, 0, "an empty stream is an empty message");
        await client.send(from([pattern(3000)]), { compress: false });
        assert.deepEqual((await peer.receive({ timeout: 3000 })).bytes, pattern(3000));
        assert.equal(client.stats.messagesOut, 4);
      });
    });
  }

  test("a compressed streamed message over maxFrameSize reaches a ws peer whole", async () => {
    const server = new WsServer({ host: "127.0.0.1", port: 0, perMessageDeflate: true });
    await once(server, "listening");
    const received = new Promise<{ data: Buffer; binary: boolean }[]>((resolve) => {
      server.on("connection", (socket) => {
        const messages: { data: Buffer; binary: boolean }[] = [];
        socket.on("message", (data, binary) => {
          messages.push({ data: data as Buffer, binary });
          if (messages.length === 2) resolve(messages);
        });
      });
    });
    const { port } = server.address() as AddressInfo;
    const client = await connect(`ws://127.0.0.1:${port}`, { compression: true, maxFrameSize: 1024 });
    try {
      assert.match(client.extensions, /permessage-deflate/);
      const random = pattern(10_000).map((byte, i) => (byte * 31 + i * i) & 0xff); // compresses little: several frames
      await client.send(from([random.subarray(0, 6000), random.subarray(6000)]));
      await client.send(from(["text ", "in ", "pieces"]));
      const [binary, text] = await received;
      assert.deepEqual([binary!.binary, new Uint8Array(binary!.data)], [true, random]);
      assert.deepEqual([text!.binary, text!.data.toString()], [false, "text in pieces"]);
      assert.equal(client.stats.messagesOut, 2);
    } finally {
      client.terminate();
      for (const socket of server.clients) socket.terminate();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
