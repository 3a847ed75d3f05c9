import { describe, test } from "node:test";
import assert from "node:assert/strict";
import zlib from "node:zlib";
import { ProtocolError, UsageError } from "../../src/core/errors.js";
import { Opcode } from "../../src/core/frame.js";
import type { Message } from "../../src/core/message.js";
import { Protocol } from "../../src/core/protocol.js";
import { compressMessage, decompressMessage, type DeflateOptions } from "../../src/deflate/index.js";
import { concat as concatBytes, rng } from "../helpers/bytes.js";
import { jsonLike, pair, send, utf8 } from "./pair.js";

const HELLO = Uint8Array.of(0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00);
const TAIL = Uint8Array.of(0x00, 0x00, 0xff, 0xff);
const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);

function isProtocolError(code: string): (error: unknown) => boolean {
  return (error: unknown) => error instanceof ProtocolError && error.code === code;
}

/** Independent check: zlib's one-shot inflate with a window of exactly 2^bits bytes. */
function referenceInflate(payload: Uint8Array, windowBits = 15): Buffer {
  return zlib.inflateRawSync(Buffer.concat([payload, TAIL]), {
    windowBits,
    // A tiny output buffer: back references cannot be served from it, only from the window.
    chunkSize: 64,
    finishFlush: zlib.constants.Z_SYNC_FLUSH,
  });
}

const takeoverCases: Array<[string, DeflateOptions]> = [
  ["context takeover both ways", {}],
  ["client no_context_takeover", { clientNoContextTakeover: true }],
  ["server no_context_takeover", { serverNoContextTakeover: true }],
  ["no context takeover at all", { clientNoContextTakeover: true, serverNoContextTakeover: true }],
];

describe("permessage-deflate RFC 7692 examples", () => {
  test("7.2.3.1: 'Hello' compressed, and a client encodes it the same way", () => {
    const { client, server } = pair({ threshold: 0 }, { threshold: 0 });
    assert.equal(text(server.decode(HELLO, 100)), "Hello");
    assert.deepEqual([...client.encode(utf8("Hello"), {})!], [...HELLO]);
    assert.equal(text(decompressMessage(HELLO)), "Hello");
    assert.deepEqual([...compressMessage(utf8("Hello"))], [...HELLO]);
  });

  test("7.2.3.2: sharing the window between messages", () => {
    const { client, server } = pair({ threshold: 0 }, { threshold: 0 });
    assert.equal(text(client.decode(HELLO, 100)), "Hello");
    assert.equal(text(client.decode(Uint8Array.of(0xf2, 0x00, 0x11, 0x00, 0x00), 100)), "Hello");
    // And our compressor does share it: the second message is a back reference.
    const first = client.encode(utf8("Hello"), {})!;
    const second = client.encode(utf8("Hello"), {})!;
    assert.ok(second.length < first.length, `${second.length} < ${first.length}`);
    assert.equal(text(server.decode(first, 100)), "Hello");
    assert.equal(text(server.decode(second, 100)), "Hello");
  });

  test("7.2.3.2 without context takeover: the back reference has nothing to point to", () => {
    const { client } = pair({ serverNoContextTakeover: true }, {});
    assert.equal(text(client.decode(HELLO, 100)), "Hello");
    assert.throws(() => client.decode(Uint8Array.of(0xf2, 0x00, 0x11, 0x00, 0x00), 100), isProtocolError("INVALID_COMPRESSED_DATA"));
  });

  test("7.2.3.3: a block with BFINAL set, then a new stream", () => {
    const { server } = pair();
    const final = Uint8Array.of(0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00);
    assert.equal(text(server.decode(final, 100)), "Hello");
    assert.equal(text(server.decode(final.subarray(0, 7), 100)), "Hello");
    assert.equal(text(server.decode(HELLO, 100)), "Hello");
    assert.equal(text(decompressMessage(final)), "Hello");
  });

  test("7.2.3.4 and 7.2.3.5: two blocks in one message, stored block", () => {
    const { server } = pair();
    const twoBlocks = Uint8Array.of(0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00);
    assert.equal(text(server.decode(twoBlocks, 100)), "Hello");
    const stored = Uint8Array.of(0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00);
    assert.equal(text(server.decode(stored, 100)), "Hello");
  });

  test("7.2.3.6: the empty message is a single 0x00, both ways", () => {
    for (const [name, options] of takeoverCases) {
      const { client, server } = pair({ ...options, threshold: 0 }, { threshold: 0 });
      for (let i = 0; i < 3; i++) {
        // Empty messages between real ones, where zlib alone would emit nothing.
        const empty = client.encode(new Uint8Array(0), {});
        assert.deepEqual(empty && [...empty], [0x00], name);
        assert.equal(server.decode(empty!, 100).length, 0, name);
        send(client, server, utf8(`message ${i}`));
        send(server, client, new Uint8Array(0));
        send(server, client, utf8(`reply ${i}`));
      }
      // A peer that sends an empty payload with RSV1 means an empty message too.
      assert.equal(server.decode(new Uint8Array(0), 0).length, 0);
      send(client, server, utf8("still in sync"));
      assert.deepEqual([...compressMessage(new Uint8Array(0))], [0x00]);
      assert.equal(decompressMessage(Uint8Array.of(0)).length, 0);
      client.dispose();
      server.dispose();
    }
  });
});

describe("permessage-deflate round trips", () => {
  for (const [name, options] of takeoverCases) {
    test(`${name}: empty, small, 64 KiB JSON-like, repeated`, () => {
      const { client, server } = pair({ ...options, threshold: 0 }, { threshold: 0 });
      const messages = [new Uint8Array(0), utf8("Hello"), utf8("héllo wörld ✓"), jsonLike(64 * 1024, 1), jsonLike(64 * 1024, 2), jsonLike(64 * 1024, 1)];
      for (let round = 0; round < 2; round++) {
        for (const message of messages) {
          send(client, server, message);
          send(server, client, message);
        }
      }
      client.dispose();
      server.dispose();
    });
  }

  for (const [name, options] of [takeoverCases[0]!, takeoverCases[3]!]) {
    test(`${name}: 10 MB random and 10 MB of zeros`, () => {
      const { client, server } = pair(options, {});
      const random = rng(7).bytes(10_000_000);
      const zeros = new Uint8Array(10_000_000);
      const wireRandom = send(client, server, random)!;
      // Incompressible data barely grows (Node's zlib falls back to stored blocks: +0.03%).
      assert.ok(wireRandom.length < random.length * 1.1, `random: ${wireRandom.length}`);
      const wireZeros = send(server, client, zeros)!;
      assert.ok(wireZeros.length < 100_000, `zeros: ${wireZeros.length}`);
      send(client, server, zeros);
      send(server, client, random);
      // Our output is standard DEFLATE: zlib reads it back on its own.
      assert.equal(referenceInflate(wireZeros).length, zeros.length);
      client.dispose();
      server.dispose();
    });
  }

  test("context takeover makes a repeated message much smaller; without it, nothing is shared", () => {
    const message = jsonLike(4096, 9);
    const sizes = (options: DeflateOptions): [number, number] => {
      const { client, server } = pair(options, {});
      const first = send(client, server, message)!;
      const second = send(client, server, message)!;
      client.dispose();
      server.dispose();
      return [first.length, second.length];
    };
    const [withFirst, withSecond] = sizes({});
    assert.ok(withSecond * 4 < withFirst, `with takeover: ${withFirst} then ${withSecond}`);
    const [withoutFirst, withoutSecond] = sizes({ clientNoContextTakeover: true });
    assert.equal(withoutFirst, withFirst);
    assert.equal(withoutSecond, withoutFirst);
  });

  test("window bits 8..15: each side compresses within the agreed window", () => {
    const random = rng(99);
    // Repeats at many distances, from a few bytes to beyond 32 KiB.
    // Letters from a 16-symbol alphabet, so Huffman coding pays off at any window.
    const letters = (n: number): Uint8Array => random.bytes(n).map((b) => 0x61 + (b & 15));
    const block = letters(300);
    const parts: Uint8Array[] = [];
    for (let i = 0; i < 120; i++) {
      parts.push(block.subarray(random.int(100), 100 + random.int(200)));
      parts.push(letters(random.int(600)));
    }
    const message = Buffer.concat(parts);
    for (let bits = 8; bits <= 15; bits++) {
      const { client, server, response } = pair({ serverMaxWindowBits: bits, clientMaxWindowBits: bits, threshold: 0 }, {});
      assert.equal(response, `permessage-deflate; server_max_window_bits=${bits}; client_max_window_bits=${bits}`);
      for (let n = 0; n < 2; n++) {
        const fromClient = send(client, server, message)!;
        const fromServer = send(server, client, message)!;
        if (n === 0) {
          // Decodable with a window of exactly 2^bits bytes, by zlib itself.
          assert.equal(referenceInflate(fromClient, bits).length, message.length, `client, ${bits} bits`);
          assert.equal(referenceInflate(fromServer, bits).length, message.length, `server, ${bits} bits`);
          assert.ok(fromClient.length < message.length, `compressed with ${bits} bits`);
        }
      }
      client.dispose();
      server.dispose();
    }
  });

  test("views into larger buffers are read from their offset", () => {
    const { client, server } = pair({ threshold: 0 }, {});
    const message = jsonLike(3000, 5);
    const host = new Uint8Array(message.length + 200).fill(0xee);
    host.set(message, 100);
    const wire = client.encode(host.subarray(100, 100 + message.length), {})!;
    const framed = new Uint8Array(wire.length + 50).fill(0xee);
    framed.set(wire, 17);
    const received = server.decode(framed.subarray(17, 17 + wire.length), Infinity);
    assert.ok(Buffer.from(received).equals(Buffer.from(message)));
    assert.equal(received.byteOffset, 0);
    assert.equal(received.buffer.byteLength, received.length, "the result owns exactly its bytes");
    client.dispose();
    server.dispose();
  });

  test("interoperates with zlib's own sync-flushed raw DEFLATE", () => {
    const { server } = pair();
    const message = jsonLike(20_000, 3);
    const flushed = zlib.deflateRawSync(message, { finishFlush: zlib.constants.Z_SYNC_FLUSH, level: 9 });
    assert.deepEqual([...flushed.subarray(-4)], [...TAIL]);
    assert.ok(Buffer.from(server.decode(flushed.subarray(0, -4), Infinity)).equals(Buffer.from(message)));
    // Also with the tail left in (an extra empty block) and as a finished stream.
    assert.ok(Buffer.from(server.decode(flushed, Infinity)).equals(Buffer.from(message)));
    assert.ok(Buffer.from(decompressMessage(zlib.deflateRawSync(message))).equals(Buffer.from(message)));
  });
});

describe("permessage-deflate encode options", () => {
  test("threshold: shorter messages go uncompressed", () => {
    const { client } = pair();
    assert.equal(client.encode(new Uint8Array(1023), {}), null);
    assert.equal(client.encode(new Uint8Array(0), {}), null);
    assert.ok(client.encode(new Uint8Array(1024), {}));
    const custom = pair({ threshold: 10 }).client;
    assert.equal(custom.encode(new Uint8Array(9), {}), null);
    assert.ok(custom.encode(new Uint8Array(10), {}));
    client.dispose();
    custom.dispose();
  });

  test("compress: false sends the message as it is; true still honours the threshold", () => {
    const { client } = pair({ threshold: 0 });
    assert.equal(client.encode(new Uint8Array(5000), { compress: false }), null);
    assert.equal(client.zlibContexts, 0);
    assert.ok(client.encode(new Uint8Array(5000), { compress: true }));
    assert.equal(pair().client.encode(new Uint8Array(10), { compress: true }), null);
    client.dispose();
  });
});

describe("permessage-deflate bad input", () => {
  test("garbage is INVALID_COMPRESSED_DATA, never another kind of error", () => {
    const invalid = [
      Uint8Array.of(0xff),
      Uint8Array.of(0xff, 0xff, 0xff, 0xff),
      Uint8Array.of(0x07, 0x00), // BTYPE 11, reserved
      Uint8Array.of(0x00, 0x05, 0x00, 0x00, 0x00, 0x48), // stored block with LEN/NLEN mismatch
      Uint8Array.of(0xf2, 0x00, 0x11, 0x00, 0x00), // distance before the start
      Uint8Array.of(0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x61, 0x62), // BFINAL block, then more data
      Uint8Array.of(0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00, 0x00),
    ];
    for (const [name, options] of takeoverCases) {
      for (const payload of invalid) {
        const { server, client } = pair(options, {});
        assert.throws(() => server.decode(payload, 1 << 20), isProtocolError("INVALID_COMPRESSED_DATA"), `${name}: ${[...payload]}`);
        assert.equal(server.zlibContexts, 0, "a failed decompressor is released");
        assert.throws(() => decompressMessage(payload), isProtocolError("INVALID_COMPRESSED_DATA"));
        client.dispose();
      }
    }
  });

  test("random bytes: a ProtocolError or a result, nothing else", () => {
    const random = rng(1234);
    let failures = 0;
    for (let i = 0; i < 2000; i++) {
      const { server } = pair(i % 2 ? {} : { clientNoContextTakeover: true }, {});
      try {
        for (let m = 0; m < 3; m++) server.decode(random.bytes(1 + random.int(300)), 64 * 1024);
      } catch (error) {
        assert.ok(error instanceof ProtocolError, String(error));
        assert.ok(error.code === "INVALID_COMPRESSED_DATA" || error.code === "MESSAGE_TOO_BIG", error.code);
        failures++;
      }
      server.dispose();
    }
    assert.ok(failures > 1000, `${failures} failures`);
  });

  test("after an error: unusable with context takeover, fresh without", () => {
    const keep = pair({ threshold: 0 }, {});
    assert.throws(() => keep.server.decode(Uint8Array.of(0xff), 100), isProtocolError("INVALID_COMPRESSED_DATA"));
    const next = keep.client.encode(utf8("next"), {})!;
    assert.throws(() => keep.server.decode(next, 100), isProtocolError("INVALID_COMPRESSED_DATA"));

    const reset = pair({ threshold: 0, clientNoContextTakeover: true }, {});
    assert.throws(() => reset.server.decode(Uint8Array.of(0xff), 100), isProtocolError("INVALID_COMPRESSED_DATA"));
    assert.equal(text(reset.server.decode(reset.client.encode(utf8("next"), {})!, 100)), "next");
    // Same after a message that was too big.
    assert.throws(() => reset.server.decode(reset.client.encode(new Uint8Array(1000), {})!, 999), isProtocolError("MESSAGE_TOO_BIG"));
    assert.equal(text(reset.server.decode(reset.client.encode(utf8("again"), {})!, 100)), "again");
    for (const { client, server } of [keep, reset]) {
      client.dispose();
      server.dispose();
    }
  });

  test("maxSize: exactly maxSize bytes pass, one more is MESSAGE_TOO_BIG", () => {
    const { client, server } = pair({ clientNoContextTakeover: true, threshold: 0 }, {});
    for (const size of [1, 1000, 65536, 65537, 300_000]) {
      const wire = client.encode(jsonLike(size, size), {})!;
      assert.equal(server.decode(wire, size).length, size);
      assert.throws(() => server.decode(wire, size - 1), isProtocolError("MESSAGE_TOO_BIG"));
    }
    assert.throws(() => decompressMessage(client.encode(utf8("Hello"), {})!, { maxSize: 4 }), isProtocolError("MESSAGE_TOO_BIG"));
    assert.throws(() => server.decode(client.encode(utf8("Hello"), {})!, 0), isProtocolError("MESSAGE_TOO_BIG"));
    client.dispose();
    server.dispose();
  });

  test("dispose: idempotent, later calls fail quietly", () => {
    const { client, server } = pair({ threshold: 0 });
    const wire = client.encode(utf8("Hello"), {})!;
    server.dispose();
    server.dispose();
    assert.throws(() => server.decode(wire, 100), isProtocolError("INVALID_COMPRESSED_DATA"));
    assert.equal(server.encode(utf8("Hello"), {}), null);
    assert.equal(server.zlibContexts, 0);
    client.dispose();
  });
});

describe("streamed messages (encodeStream, Protocol.startMessage)", () => {
  for (const takeover of [true, false]) {
    test(`pieces compressed one by one decode as one message, and the next message still decodes (${takeover ? "context takeover" : "no context takeover"})`, () => {
      const options = takeover ? {} : { clientNoContextTakeover: true };
      const { client, server } = pair(options, options);
      const sender = new Protocol({ role: "client", extensions: [client] });
      const receiver = new Protocol({ role: "server", extensions: [server] });
      const json = jsonLike(30_000);
      for (let round = 0; round < 2; round++) {
        const message = sender.startMessage(Opcode.BINARY, { fragmentSize: 1000 });
        for (let at = 0; at < json.length; at += 7000) message.write(json.subarray(at, at + 7000), at + 7000 >= json.length);
        const wire = concatBytes(sender.output());
        assert.ok(wire.length < json.length / 2, `${wire.length} bytes on the wire for ${json.length}`);
        receiver.receive(wire);
        const events = [...receiver.events()];
        assert.deepEqual(events.map((event) => event.type), ["binary"]);
        assert.ok(Buffer.from((events[0] as Message).bytes).equals(Buffer.from(json)));
      }
      // Between pieces no other data message may go: it would land inside the compressed message.
      const open = sender.startMessage(Opcode.TEXT);
      assert.throws(() => sender.sendText("in between"), (error: Error) => error instanceof UsageError && error.code === "FRAGMENTED_MESSAGE_IN_PROGRESS");
      open.write(utf8("last"), true);
      sender.sendText("after");
      receiver.receive(concatBytes(sender.output()));
      assert.deepEqual([...receiver.events()].map((event) => (event as { text?: string }).text), ["last", "after"]);
      assert.equal(client.zlibContexts, takeover ? 1 : 0, "a private compressor is released with its message");
    });
  }
});
