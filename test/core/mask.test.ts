import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { MaskKeyPool, applyMask, unmaskInPlace } from "../../src/core/mask.js";
import { rng } from "../helpers/bytes.js";

/** The obvious byte-at-a-time definition of RFC 6455 section 5.3. */
function naiveMask(source: Uint8Array, key: Uint8Array, keyPhase: number): Uint8Array {
  const out = new Uint8Array(source.length);
  for (let i = 0; i < source.length; i++) out[i] = source[i]! ^ key[(keyPhase + i) % 4]!;
  return out;
}

/**
 * A view of `length` bytes starting `byteOffset` bytes into a fresh buffer
 * with some slack after it, so the absolute alignment of views can be chosen.
 */
function viewAt(byteOffset: number, length: number, fill: number): Uint8Array {
  const buffer = new ArrayBuffer(byteOffset + length + 16);
  new Uint8Array(buffer).fill(fill);
  return new Uint8Array(buffer, byteOffset, length + 8);
}

describe("applyMask", () => {
  test("matches the naive definition for random lengths, offsets, alignments and key phases", () => {
    const r = rng(0x5eed);
    let wordPathRuns = 0;
    for (let run = 0; run < 3000; run++) {
      const length = r.int(301);
      const key = r.bytes(4);
      const keyPhase = r.int(4);
      const sourceOffset = r.int(9);
      const targetOffset = r.int(9);
      const source = viewAt(r.int(8), sourceOffset + length, 0x11);
      const target = viewAt(r.int(8), targetOffset + length, 0xee);
      source.set(r.bytes(length), sourceOffset);
      const sourceBefore = source.slice();
      const targetBefore = target.slice();

      applyMask(source, sourceOffset, target, targetOffset, length, key, keyPhase);

      const expected = naiveMask(source.subarray(sourceOffset, sourceOffset + length), key, keyPhase);
      const label = `run ${run}: length ${length}, offsets ${sourceOffset}/${targetOffset}, phase ${keyPhase}`;
      assert.deepEqual(target.subarray(targetOffset, targetOffset + length), expected, label);
      // Nothing outside the target range is touched, and the source is left alone.
      assert.deepEqual(target.subarray(0, targetOffset), targetBefore.subarray(0, targetOffset), label);
      assert.deepEqual(target.subarray(targetOffset + length), targetBefore.subarray(targetOffset + length), label);
      assert.deepEqual(source, sourceBefore, label);
      if (length >= 32 && (source.byteOffset + sourceOffset) % 4 === (target.byteOffset + targetOffset) % 4) wordPathRuns++;
    }
    // Make sure the random runs really covered the word-at-a-time path.
    assert.ok(wordPathRuns > 300, `only ${wordPathRuns} runs had matching alignment`);
  });

  test("every pair of source/target alignments around the word threshold", () => {
    const r = rng(42);
    for (const length of [0, 1, 3, 4, 5, 31, 32, 33, 35, 36, 63, 64, 65, 100, 257]) {
      for (let sourceAlign = 0; sourceAlign < 4; sourceAlign++) {
        for (let targetAlign = 0; targetAlign < 4; targetAlign++) {
          for (let keyPhase = 0; keyPhase < 4; keyPhase++) {
            const key = r.bytes(4);
            const source = viewAt(sourceAlign, length, 0);
            const target = viewAt(targetAlign, length, 0);
            source.set(r.bytes(length));
            applyMask(source, 0, target, 0, length, key, keyPhase);
            assert.deepEqual(
              target.subarray(0, length),
              naiveMask(source.subarray(0, length), key, keyPhase),
              `length ${length}, alignments ${sourceAlign}/${targetAlign}, phase ${keyPhase}`,
            );
          }
        }
      }
    }
  });

  test("in place (same buffer, same offset) at every alignment", () => {
    const r = rng(7);
    for (let run = 0; run < 1500; run++) {
      const length = r.int(301);
      const offset = r.int(9);
      const keyPhase = r.int(4);
      const key = r.bytes(4);
      const data = viewAt(r.int(8), offset + length, 0x5a);
      data.set(r.bytes(length), offset);
      const before = data.slice();
      applyMask(data, offset, data, offset, length, key, keyPhase);
      assert.deepEqual(data.subarray(offset, offset + length), naiveMask(before.subarray(offset, offset + length), key, keyPhase));
      assert.deepEqual(data.subarray(0, offset), before.subarray(0, offset));
      assert.deepEqual(data.subarray(offset + length), before.subarray(offset + length));
    }
  });

  test("the default key phase is 0", () => {
    const key = Uint8Array.of(1, 2, 3, 4);
    const source = new Uint8Array(50).fill(0xf0);
    const target = new Uint8Array(50);
    applyMask(source, 0, target, 0, 50, key);
    assert.deepEqual(target, naiveMask(source, key, 0));
  });

  test("a payload masked in pieces with carried key phases equals one masked whole", () => {
    const r = rng(99);
    for (let run = 0; run < 200; run++) {
      const payload = r.bytes(r.int(400));
      const key = r.bytes(4);
      const whole = naiveMask(payload, key, 0);
      const pieces = payload.slice();
      let at = 0;
      while (at < pieces.length) {
        const take = Math.min(pieces.length - at, 1 + r.int(70));
        unmaskInPlace(pieces.subarray(at, at + take), key, at & 3);
        at += take;
      }
      assert.deepEqual(pieces, whole);
    }
  });

  test("unmaskInPlace is its own inverse", () => {
    const r = rng(3);
    const data = r.bytes(1000);
    const original = data.slice();
    const key = r.bytes(4);
    unmaskInPlace(data, key, 2);
    assert.notDeepEqual(data, original);
    unmaskInPlace(data, key, 2);
    assert.deepEqual(data, original);
  });

  test("a zero key leaves the data unchanged and works on Node Buffers from the pool", () => {
    const data = Buffer.from("some text that is longer than thirty-two bytes, at an odd pool offset");
    const copy = Buffer.from(data);
    unmaskInPlace(data, new Uint8Array(4));
    assert.deepEqual(data, copy);
    const key = Uint8Array.of(0xde, 0xad, 0xbe, 0xef);
    unmaskInPlace(data, key, 1);
    assert.deepEqual(new Uint8Array(data), naiveMask(copy, key, 1));
  });
});

describe("MaskKeyPool", () => {
  test("hands out 4-byte keys taken in order from the random source, refilling when used up", () => {
    let calls = 0;
    let counter = 0;
    const pool = new MaskKeyPool((target) => {
      calls++;
      for (let i = 0; i < target.length; i++) target[i] = counter++ & 0xff;
    });
    assert.equal(calls, 0, "no random bytes are drawn before the first key");
    const stream: number[] = [];
    let keys = 0;
    // Enough keys to refill the pool a few times, whatever its size.
    while (calls < 4) {
      const key = pool.next();
      assert.equal(key.length, 4);
      stream.push(...key);
      keys++;
      assert.ok(keys < 1_000_000, "the pool never refills");
    }
    // Every byte the source produced is used once, in order: keys do not repeat or skip.
    for (let i = 0; i < stream.length; i++) assert.equal(stream[i], i & 0xff, `byte ${i}`);
    assert.ok(keys > calls, "one random call serves many keys");
  });

  test("consecutive default keys differ (crypto random source)", () => {
    const pool = new MaskKeyPool();
    const seen = new Set<string>();
    for (let i = 0; i < 600; i++) {
      const key = pool.next();
      assert.equal(key.length, 4);
      seen.add(Array.from(key).join(","));
    }
    // Random 32-bit keys: a collision among 600 is astronomically rare, and
    // a pool that repeats keys or never refills gives far fewer.
    assert.ok(seen.size >= 599, `only ${seen.size} distinct keys out of 600`);
  });
});

describe("the WebAssembly SIMD path for large payloads", () => {
  test("is available on this runtime (so the tests below exercise it)", async () => {
    const { simdMasker } = await import("../../src/core/mask-simd.js");
    assert.notEqual(simdMasker(), null);
  });

  test("matches the naive definition across block boundaries, odd tails, offsets and phases, in place or not", () => {
    const r = rng(0x51d);
    // Around the 16-byte vector, the 64-byte unrolled step and the 64 KiB block.
    const lengths = [2048, 2049, 2063, 2111, 2112, 2113, 2127, 2175, 65535, 65536, 65537, 65536 * 2 + 15, 200_003];
    for (let run = 0; run < 40; run++) {
      const length = run < lengths.length ? lengths[run]! : 2048 + r.int(150_000);
      const key = r.bytes(4);
      const keyPhase = r.int(4);
      const sourceOffset = r.int(9);
      const source = viewAt(r.int(8), sourceOffset + length, 0x11);
      source.set(r.bytes(length), sourceOffset);
      const expected = naiveMask(source.subarray(sourceOffset, sourceOffset + length), key, keyPhase);
      if (run % 2 === 0) {
        const target = viewAt(r.int(8), 3 + length, 0xee);
        applyMask(source, sourceOffset, target, 3, length, key, keyPhase);
        assert.deepEqual(target.subarray(3, 3 + length), expected, `length ${length}`);
        assert.equal(target[3 + length], 0xee, "no byte after the target range is written");
      } else {
        applyMask(source, sourceOffset, source, sourceOffset, length, key, keyPhase);
        assert.deepEqual(source.subarray(sourceOffset, sourceOffset + length), expected, `in place, length ${length}`);
      }
    }
  });
});
