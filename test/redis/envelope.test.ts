/** The wire format of `wsx/redis` (no Redis needed). */
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  checkEnvelope,
  encodeEnvelope,
  envelopePayload,
  HEADER_LENGTH,
  isBinaryEnvelope,
  isFromNode,
} from "../../src/redis/envelope.js";

const nodeA = Buffer.from("0102030405060708", "hex");
const nodeB = Buffer.from("0102030405060709", "hex");

test("an envelope is version 1, a flags byte, the 8-byte node id, then the payload", () => {
  const envelope = encodeEnvelope(nodeA, Buffer.from("hi"), false);
  assert.deepEqual([...envelope], [1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0x68, 0x69]);
  assert.equal(HEADER_LENGTH, 10);
  assert.equal(encodeEnvelope(nodeA, new Uint8Array([0xff]), true)[1], 1);
});

test("decoding gives back type, sender and payload (a view, not a copy)", () => {
  for (const binary of [false, true]) {
    const payload = new Uint8Array([0, 0xff, 0x80, 42]);
    const envelope = encodeEnvelope(nodeA, payload, binary);
    assert.equal(checkEnvelope(envelope), null);
    assert.equal(isBinaryEnvelope(envelope), binary);
    assert.equal(isFromNode(envelope, nodeA), true);
    assert.equal(isFromNode(envelope, nodeB), false);
    const body = envelopePayload(envelope);
    assert.deepEqual([...body], [...payload]);
    assert.equal(body.buffer, envelope.buffer);
  }
  const empty = encodeEnvelope(nodeB, new Uint8Array(0), false);
  assert.equal(checkEnvelope(empty), null);
  assert.equal(envelopePayload(empty).length, 0);
});

test("malformed envelopes are named, never thrown", () => {
  assert.match(checkEnvelope(Buffer.alloc(0))!, /0 bytes, shorter than/);
  assert.match(checkEnvelope(Buffer.from([1, 0, 1, 2, 3, 4, 5, 6, 7]))!, /9 bytes, shorter than/);
  assert.match(checkEnvelope(Buffer.from([2, 0, 1, 2, 3, 4, 5, 6, 7, 8]))!, /unknown format version 2/);
  assert.match(checkEnvelope(Buffer.from([0, 0, 1, 2, 3, 4, 5, 6, 7, 8]))!, /unknown format version 0/);
  assert.match(checkEnvelope(Buffer.from([1, 2, 1, 2, 3, 4, 5, 6, 7, 8]))!, /unknown flags 0x2/);
  assert.equal(checkEnvelope(Buffer.from([1, 1, 1, 2, 3, 4, 5, 6, 7, 8])), null);
});
