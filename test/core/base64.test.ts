import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { base64Length, decodeBase64, encodeBase64 } from "../../src/core/base64.js";
import { rng } from "../helpers/bytes.js";

const ascii = (text: string): Uint8Array => new TextEncoder().encode(text);

describe("base64", () => {
  const vectors: Array<[string, string]> = [
    ["", ""],
    ["f", "Zg=="],
    ["fo", "Zm8="],
    ["foo", "Zm9v"],
    ["foob", "Zm9vYg=="],
    ["fooba", "Zm9vYmE="],
    ["foobar", "Zm9vYmFy"],
  ];

  test("RFC 4648 section 10: test vectors encode", () => {
    for (const [plain, encoded] of vectors) assert.equal(encodeBase64(ascii(plain)), encoded);
  });

  test("RFC 4648 section 10: test vectors decode", () => {
    for (const [plain, encoded] of vectors) assert.deepEqual(decodeBase64(encoded), ascii(plain));
  });

  test("uses '+' and '/' (standard alphabet)", () => {
    assert.equal(encodeBase64(new Uint8Array([0xfb, 0xff, 0xbf])), "+/+/");
    assert.deepEqual(decodeBase64("+/+/"), new Uint8Array([0xfb, 0xff, 0xbf]));
  });

  test("round trips and matches Buffer for every length 0..100", () => {
    const random = rng(42);
    for (let n = 0; n <= 100; n++) {
      const bytes = random.bytes(n);
      const encoded = encodeBase64(bytes);
      assert.equal(encoded, Buffer.from(bytes).toString("base64"));
      assert.deepEqual(decodeBase64(encoded), bytes);
    }
  });

  test("RFC 6455 4.1: a 16-byte key is 24 characters", () => {
    const key = encodeBase64(rng(7).bytes(16));
    assert.equal(key.length, 24);
    assert.equal(decodeBase64(key)?.length, 16);
  });

  test("RFC 4648 3.3 / 3.5: rejects anything that is not canonical padded base64", () => {
    const invalid = [
      "Zg", // missing padding
      "Zg=", // short padding
      "Zm9", // length not a multiple of 4
      "Z===", // too much padding
      "====",
      "=Zg=",
      "Zg==Zg==", // padding in the middle
      "Zm9v=", // padding after a full group
      "Zh==", // non-zero unused bits
      "Zm9=", // non-zero unused bits
      "Zm-_", // URL-safe alphabet
      "Zm9v\n", // whitespace
      " Zm9v",
      "Zm 9v",
      "Zm9\u00e9", // non-ASCII
      "Zm9v\u0100AAA",
    ];
    for (const text of invalid) assert.equal(decodeBase64(text), null, JSON.stringify(text));
    for (const text of invalid) assert.equal(base64Length(text), -1, JSON.stringify(text));
  });

  test("base64Length is the decoded length without decoding", () => {
    const random = rng(11);
    for (let n = 0; n < 40; n++) {
      const text = encodeBase64(random.bytes(n));
      assert.equal(base64Length(text), n);
      assert.equal(decodeBase64(text)?.length, n);
    }
  });
});
