/**
 * Test helpers: run a permessage-deflate handshake through real header text
 * (offer formatted, parsed by the server, response formatted, parsed by the
 * client) and return both ends' extensions.
 */
import assert from "node:assert/strict";
import { formatExtensions, parseExtensions } from "../../src/core/http.js";
import { permessageDeflate, type DeflateOptions, type PerMessageDeflate } from "../../src/deflate/index.js";
import { rng } from "../helpers/bytes.js";

export interface Pair {
  client: PerMessageDeflate;
  server: PerMessageDeflate;
  offer: string;
  response: string;
}

/** Negotiates between a client and a server configured with these options; fails if the server declines. */
export function pair(clientOptions: DeflateOptions = {}, serverOptions: DeflateOptions = {}): Pair {
  const offer = formatExtensions(permessageDeflate(clientOptions).offers());
  const answer = permessageDeflate(serverOptions).negotiate(parseExtensions(offer));
  assert.ok(answer, `server declined ${offer}`);
  const response = formatExtensions([answer.response]);
  const parsed = parseExtensions(response);
  assert.equal(parsed.length, 1);
  const client = permessageDeflate(clientOptions).accept(parsed[0]!);
  return { client, server: answer.extension, offer, response };
}

const encoder = new TextEncoder();

export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

/** JSON-like text of about `size` bytes, compressible like real API traffic. */
export function jsonLike(size: number, seed = 1): Uint8Array {
  const r = rng(seed);
  const next = (): number => r.int(0x100000000);
  const names = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"];
  let text = "[";
  for (let i = 0; text.length < size; i++) {
    const name = names[next() % names.length]!;
    text += `${i ? "," : ""}{"id":${i},"user":"${name}${next() % 1000}","active":${next() % 2 === 0},"score":${next() % 100000},"tags":["t${next() % 50}","t${next() % 50}"]}`;
  }
  return encoder.encode(text.slice(0, size));
}

/** Sends `message` from one end to the other and returns what was sent on the wire (null: uncompressed). */
export function send(from: PerMessageDeflate, to: PerMessageDeflate, message: Uint8Array, maxSize = Infinity): Uint8Array | null {
  const wire = from.encode(message, {});
  const received = wire === null ? message : to.decode(wire, maxSize);
  assert.equal(received.length, message.length, "length after a round trip");
  assert.ok(Buffer.from(received.buffer, received.byteOffset, received.length).equals(Buffer.from(message.buffer, message.byteOffset, message.length)), "bytes after a round trip");
  return wire;
}
