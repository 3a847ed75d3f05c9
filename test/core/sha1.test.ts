import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { sha1 } from "../../src/core/sha1.js";
import { decodeBase64, encodeBase64 } from "../../src/core/base64.js";
import { hex } from "../helpers/bytes.js";

const ascii = (text: string): Uint8Array => new TextEncoder().encode(text);

describe("sha1", () => {
  test("FIPS 180 known vectors", () => {
    assert.equal(hex(sha1(new Uint8Array(0))), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    assert.equal(hex(sha1(ascii("abc"))), "a9993e364706816aba3e25717850c26c9cd0d89d");
    assert.equal(
      hex(sha1(ascii("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"))),
      "84983e441c3bd26ebaae4aa1f95129e5e54670f1",
    );
    assert.equal(
      hex(sha1(ascii("The quick brown fox jumps over the lazy dog"))),
      "2fd4e1c67a2d28fced849ee1bb76e7391b93eb12",
    );
  });

  test("one million 'a'", () => {
    assert.equal(hex(sha1(new Uint8Array(1_000_000).fill(0x61))), "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
  });

  test("RFC 6455 1.3: accept value for the sample nonce", () => {
    const input = ascii("dGhlIHNhbXBsZSBub25jZQ==" + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    assert.equal(encodeBase64(sha1(input)), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert.deepEqual(decodeBase64("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), sha1(input));
  });

  test("matches node:crypto across padding boundaries (lengths 0..200)", () => {
    for (let n = 0; n <= 200; n++) {
      const data = new Uint8Array(n);
      for (let i = 0; i < n; i++) data[i] = (i * 31 + n) & 255;
      assert.equal(hex(sha1(data)), createHash("sha1").update(data).digest("hex"), `length ${n}`);
    }
  });

  test("works on a view into a larger buffer and leaves the input alone", () => {
    const backing = ascii("xxabcxx");
    const view = backing.subarray(2, 5);
    assert.equal(hex(sha1(view)), "a9993e364706816aba3e25717850c26c9cd0d89d");
    assert.deepEqual(backing, ascii("xxabcxx"));
  });

  test("always returns 20 bytes", () => {
    assert.equal(sha1(ascii("x")).length, 20);
  });
});
