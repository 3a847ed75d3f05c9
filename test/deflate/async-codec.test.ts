/**
 * permessage-deflate on the libuv thread pool, at the codec level:
 * decodeAsync / encodeAsync share the connection's zlib contexts with the
 * synchronous calls (so context takeover holds across both), keep the
 * synchronous path's limits and errors, and release everything on dispose
 * even with a call in flight.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { deflateRawSync } from "node:zlib";
import { ProtocolError } from "../../src/core/errors.js";
import { asyncZlibSupported, compressMessage, liveZlibContexts, permessageDeflate, sharedZlibContexts } from "../../src/deflate/index.js";
import { jsonLike, pair, utf8 } from "./pair.js";

const KiB = 1024;
const MiB = 1024 * KiB;

function codeOf(code: string, closeCode: number): (error: unknown) => boolean {
  return (error) => error instanceof ProtocolError && error.code === code && error.closeCode === closeCode;
}
const tooBig = codeOf("MESSAGE_TOO_BIG", 1009);
const invalid = codeOf("INVALID_COMPRESSED_DATA", 1007);

function same(actual: Uint8Array, expected: Uint8Array, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  assert.ok(Buffer.from(actual).equals(Buffer.from(expected)), `${what}: bytes`);
}

/** Private contexts open now (shared ones outlive connections by design). */
function privateContexts(): number {
  return liveZlibContexts() - sharedZlibContexts();
}

/** Counts turns of the event loop until stopped. */
function ticker(): { readonly ticks: number; stop(): void } {
  let ticks = 0;
  let running = true;
  const turn = (): void => {
    if (!running) return;
    ticks++;
    setImmediate(turn);
  };
  setImmediate(turn);
  return {
    get ticks() {
      return ticks;
    },
    stop() {
      running = false;
    },
  };
}

describe("permessage-deflate off the event loop: codec", () => {
  test("this runtime supports it, and the factory resolves asyncThreshold", () => {
    assert.equal(asyncZlibSupported(), true);
    assert.equal(permessageDeflate().options.asyncThreshold, 256 * KiB);
    const { client } = pair({ asyncThreshold: 0 });
    assert.equal(client.asyncThreshold, 0);
    assert.equal(pair({ asyncThreshold: Infinity }).client.asyncThreshold, Infinity);
  });

  test("the event loop turns while a large message is inflated", async () => {
    const { client, server } = pair();
    const message = jsonLike(4 * MiB, 7);
    const wire = client.encode(message, {})!;
    const loop = ticker();
    const before = loop.ticks;
    const decoded = await server.decodeAsync(wire, Infinity);
    const during = loop.ticks - before;
    loop.stop();
    same(decoded, message, "inflated");
    assert.ok(during >= 1, `the loop turned ${during} times`);
    client.dispose();
    server.dispose();
  });

  for (const [name, options] of [
    ["with context takeover", {}],
    ["without context takeover", { clientNoContextTakeover: true, serverNoContextTakeover: true }],
    ["with 2^9 windows", { clientMaxWindowBits: 9, serverMaxWindowBits: 9 }],
  ] as const) {
    test(`${name}: synchronous and asynchronous calls interleave on the same contexts, both ways`, async () => {
      const { client, server } = pair({ ...options, threshold: 0 }, { threshold: 0 });
      for (let i = 0; i < 30; i++) {
        // Similar messages, so that each one refers back into the window the previous ones left.
        const big = jsonLike(96 * KiB + i, i % 3);
        const small = jsonLike(600 + i, i % 3);
        for (const [from, to] of [
          [client, server],
          [server, client],
        ] as const) {
          const encodeAsync = (i + (from === client ? 0 : 1)) % 2 === 0;
          const decodeAsync = i % 3 !== 0;
          const wire = encodeAsync ? (await from.encodeAsync(big, {}))! : from.encode(big, {})!;
          same(decodeAsync ? await to.decodeAsync(wire, Infinity) : to.decode(wire, Infinity), big, `big ${i}`);
          const tiny = encodeAsync ? from.encode(small, {})! : (await from.encodeAsync(small, {}))!;
          same(decodeAsync ? to.decode(tiny, Infinity) : await to.decodeAsync(tiny, Infinity), small, `small ${i}`);
        }
      }
      client.dispose();
      server.dispose();
    });
  }

  test("the asynchronous compressor's output is the synchronous one's, byte for byte", async () => {
    const a = pair({ threshold: 0 });
    const b = pair({ threshold: 0 });
    for (let i = 0; i < 5; i++) {
      const message = jsonLike(300 * KiB, i);
      same((await a.client.encodeAsync(message, {}))!, b.client.encode(message, {})!, `message ${i}`);
    }
    for (const { client, server } of [a, b]) {
      client.dispose();
      server.dispose();
    }
  });

  test("threshold, compress: false, empty and incompressible messages behave as in encode()", async () => {
    const { client, server } = pair({ threshold: 100 });
    assert.equal(await client.encodeAsync(new Uint8Array(99), {}), null, "under the threshold");
    assert.equal(await client.encodeAsync(new Uint8Array(1000), { compress: false }), null, "compress: false");
    const noise = randomBytes(2 * MiB);
    same(await server.decodeAsync((await client.encodeAsync(noise, {}))!, Infinity), noise, "random bytes");
    const empty = pair({ threshold: 0 }).client;
    same((await empty.encodeAsync(new Uint8Array(0), {}))!, Uint8Array.of(0), "the empty message");
    same(await server.decodeAsync(new Uint8Array(0), 10), new Uint8Array(0), "an empty payload");
    client.dispose();
    server.dispose();
    empty.dispose();
  });

  test("a message ending with a final block resets the decompressor; anything after that block is invalid", async () => {
    const { server } = pair();
    const first = utf8("first message, ended with BFINAL ".repeat(1000));
    same(await server.decodeAsync(deflateRawSync(first), Infinity), first, "final block");
    const second = utf8("second message, fresh stream ".repeat(1000));
    same(await server.decodeAsync(Buffer.concat([deflateRawSync(second), Buffer.of(0)]), Infinity), second, "final block and one 0x00");
    await assert.rejects(server.decodeAsync(Buffer.concat([deflateRawSync(second), Buffer.of(1, 2)]), Infinity), invalid);
    server.dispose();
  });

  for (const [name, options] of [
    ["with context takeover", {}],
    ["without context takeover", { clientNoContextTakeover: true }],
  ] as const) {
    test(`${name}: a bomb stops at maxSize, allocating no more than that, and releases the context`, async () => {
      const base = privateContexts();
      const bomb = compressMessage(new Uint8Array(64 * MiB), { level: 9 });
      const { server, client } = pair(options, {});
      const limit = MiB;
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
      try {
        await assert.rejects(server.decodeAsync(bomb, limit), tooBig);
      } finally {
        Buffer.allocUnsafe = allocUnsafe;
        Buffer.allocUnsafeSlow = allocUnsafeSlow;
      }
      assert.ok(allocated <= limit + 64 * KiB, `allocated ${allocated} bytes for a limit of ${limit}`);
      assert.equal(server.zlibContexts, 0, "the failed decompressor was released");
      assert.equal(privateContexts(), base, "no context left behind");
      // With context takeover the window is lost: later messages cannot be trusted.
      if (!("clientNoContextTakeover" in options)) await assert.rejects(server.decodeAsync(client.encode(jsonLike(2000), {})!, Infinity), invalid);
      client.dispose();
      server.dispose();
    });
  }

  test("invalid data rejects with INVALID_COMPRESSED_DATA, even deep into a large message", async () => {
    const { server, client } = pair();
    await assert.rejects(server.decodeAsync(Uint8Array.of(0xff, 0xff, 0xff, 0xff), Infinity), invalid);
    const later = pair();
    const wire = later.client.encode(randomBytes(3 * MiB), {})!;
    const broken = Buffer.from(wire);
    for (let i = 2 * MiB; i < 2 * MiB + 4096; i++) broken[i] = 0xff;
    await assert.rejects(later.server.decodeAsync(broken, Infinity), invalid);
    assert.equal(later.server.zlibContexts, 0);
    for (const codec of [server, client, later.server, later.client]) codec.dispose();
  });

  test("overlapping calls on one direction fail cleanly instead of corrupting the context", async () => {
    const { server, client } = pair();
    const wire = client.encode(jsonLike(2 * MiB), {})!;
    const first = server.decodeAsync(wire, Infinity);
    assert.throws(() => server.decode(client.encode(jsonLike(2000), {})!, Infinity), invalid);
    await assert.rejects(first, invalid);
    client.dispose();
    server.dispose();
  });

  test("dispose with calls in flight: they reject, and every context is released", async () => {
    const base = privateContexts();
    for (const options of [{}, { clientNoContextTakeover: true, serverNoContextTakeover: true }]) {
      const { server, client } = pair(options, {});
      const wire = client.encode(jsonLike(4 * MiB), {})!;
      const decoding = server.decodeAsync(wire, Infinity);
      const encoding = server.encodeAsync(jsonLike(4 * MiB, 2), {});
      server.dispose();
      await assert.rejects(decoding, invalid);
      await assert.rejects(encoding);
      await assert.rejects(server.decodeAsync(wire, Infinity), invalid);
      assert.equal(await server.encodeAsync(jsonLike(4 * MiB, 2), {}), null, "nothing is compressed once released");
      client.dispose();
    }
    assert.equal(privateContexts(), base);
  });
});
