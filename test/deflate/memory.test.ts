import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { ProtocolError } from "../../src/core/errors.js";
import { compressMessage, decompressMessage, liveZlibContexts, permessageDeflate, sharedZlibContexts } from "../../src/deflate/index.js";
import { jsonLike, pair } from "./pair.js";

/** A full garbage collection, so memory readings are not yesterday's garbage. */
function collect(): void {
  try {
    setFlagsFromString("--expose-gc");
    (runInNewContext("gc") as () => void)();
  } catch {
    // Not V8 (Bun): readings then include some garbage, which only makes the check stricter.
  }
}

const MiB = 1024 * 1024;

function tooBig(error: unknown): boolean {
  return error instanceof ProtocolError && error.code === "MESSAGE_TOO_BIG" && error.closeCode === 1009;
}

describe("permessage-deflate memory", () => {
  test("decompression bomb: 16 MiB of zeros is refused at maxSize without being inflated", () => {
    // Level 9 gets DEFLATE's best ratio, about 1000:1, as an attacker would.
    const bomb = compressMessage(new Uint8Array(16 * MiB), { level: 9 });
    assert.ok(bomb.length < 32 * 1024, `the bomb is ${bomb.length} bytes`);
    assert.equal(decompressMessage(bomb).length, 16 * MiB, "the bomb is real");
    for (const options of [{}, { clientNoContextTakeover: true }]) {
      const { server, client } = pair(options, {});
      collect();
      const before = process.memoryUsage();
      const started = performance.now();
      assert.throws(() => server.decode(bomb, MiB), tooBig);
      const elapsed = performance.now() - started;
      const after = process.memoryUsage();
      const growth = Math.max(after.arrayBuffers - before.arrayBuffers, after.external - before.external);
      assert.ok(growth < 8 * MiB, `memory grew by ${(growth / MiB).toFixed(1)} MiB`);
      assert.ok(elapsed < 1000, `took ${elapsed.toFixed(0)} ms`);
      assert.equal(server.zlibContexts, 0, "the decompressor was released");
      client.dispose();
      server.dispose();
    }
    assert.throws(() => decompressMessage(bomb, { maxSize: MiB }), tooBig);
  });

  test("output stops at maxSize with no allocation beyond it", () => {
    const { server, client } = pair({ clientNoContextTakeover: true }, {});
    const wire = client.encode(new Uint8Array(4 * MiB), {})!;
    const allocate = Buffer.allocUnsafeSlow;
    let allocated = 0;
    Buffer.allocUnsafeSlow = (size: number) => {
      allocated += size;
      return allocate(size);
    };
    try {
      assert.throws(() => server.decode(wire, 100_000), tooBig);
    } finally {
      Buffer.allocUnsafeSlow = allocate;
    }
    assert.ok(allocated <= 100_001, `allocated ${allocated} bytes`);
    client.dispose();
    server.dispose();
  });

  test("zlib contexts are created on first use and released by dispose", () => {
    const base = liveZlibContexts();
    const { client, server } = pair();
    assert.equal(liveZlibContexts(), base, "negotiation creates no context");
    assert.equal(client.zlibContexts + server.zlibContexts, 0);

    assert.equal(client.encode(new Uint8Array(10), {}), null);
    assert.equal(client.zlibContexts, 0, "a message under the threshold needs no compressor");

    const wire = client.encode(jsonLike(4096), {})!;
    assert.equal(client.zlibContexts, 1);
    server.decode(wire, Infinity);
    assert.equal(server.zlibContexts, 1);
    client.decode(server.encode(jsonLike(4096), {})!, Infinity);
    assert.equal(client.zlibContexts, 2);
    assert.equal(server.zlibContexts, 2);
    assert.equal(liveZlibContexts(), base + 4);

    client.dispose();
    server.dispose();
    assert.equal(client.zlibContexts + server.zlibContexts, 0);
    assert.equal(liveZlibContexts(), base);
  });

  test("no context leaks: idle connections, declined offers, one-shot helpers, failures", () => {
    const base = liveZlibContexts();
    const idle = Array.from({ length: 500 }, () => pair());
    assert.equal(liveZlibContexts(), base);
    for (const { client, server } of idle) {
      client.dispose();
      server.dispose();
    }
    assert.equal(permessageDeflate({ clientMaxWindowBits: 10 }).negotiate([{ name: "permessage-deflate", params: {}, paramList: [] }]), null);
    compressMessage(jsonLike(5000));
    decompressMessage(compressMessage(jsonLike(5000)));
    assert.throws(() => decompressMessage(Uint8Array.of(0xff)));
    assert.throws(() => decompressMessage(compressMessage(jsonLike(5000)), { maxSize: 10 }));
    const { server } = pair();
    assert.throws(() => server.decode(Uint8Array.of(0xff), 100));
    assert.equal(server.zlibContexts, 0);
    server.dispose();
    assert.equal(liveZlibContexts(), base);
  });

  test("with no_context_takeover connections share one context per setting instead of holding their own", () => {
    const base = liveZlibContexts();
    const pairs = [0, 1, 2].map(() => pair({ clientNoContextTakeover: true, serverNoContextTakeover: true }, {}));
    for (const { client, server } of pairs) {
      for (let i = 0; i < 20; i++) {
        assert.equal(new TextDecoder().decode(server.decode(client.encode(jsonLike(2000, i), {})!, Infinity)), new TextDecoder().decode(jsonLike(2000, i)));
        client.decode(server.encode(jsonLike(2000, i), {})!, Infinity);
      }
      assert.equal(client.zlibContexts + server.zlibContexts, 0, "no private context");
    }
    // One compressor and one decompressor serve all three connections, both ways.
    assert.ok(liveZlibContexts() - base <= 2, `${liveZlibContexts() - base} contexts for 3 connections`);
    assert.ok(sharedZlibContexts() >= 1);
    const live = liveZlibContexts();
    for (const { client, server } of pairs) {
      client.dispose();
      server.dispose();
    }
    assert.equal(liveZlibContexts(), live, "shared contexts outlive connections (bounded by settings, not connections)");
  });
});
