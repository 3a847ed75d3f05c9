import { test } from "node:test";
import assert from "node:assert/strict";
import { computeAccept, generateKey } from "../../src/core/handshake.js";
import { nativeAccept } from "../../src/node/sha1.js";

test("nativeAccept agrees with the core's portable computeAccept (RFC 6455 4.2.2)", () => {
  assert.equal(nativeAccept("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  for (let i = 0; i < 200; i++) {
    const key = generateKey();
    assert.equal(nativeAccept(key), computeAccept(key));
  }
});
