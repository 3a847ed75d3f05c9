/**
 * Hostile input never escapes as an exception: random and mutated byte
 * streams fed to the protocol (both roles, every delivery mode) and to the
 * HTTP head parser either work or end in a typed error, with bounded memory.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Protocol, type Delivery, type Role } from "../../src/core/protocol.js";
import { HttpHeadParser } from "../../src/core/http.js";
import { HandshakeError, ProtocolError } from "../../src/core/errors.js";
import { concat, rng } from "../helpers/bytes.js";

/** A valid conversation from `from`'s role, to mutate. */
function validStream(role: Role, random: () => number): Uint8Array {
  const sender = new Protocol({ role: role === "server" ? "client" : "server" });
  for (let i = 0; i < 6; i++) {
    const size = Math.floor(random() * 300);
    const kind = Math.floor(random() * 4);
    if (kind === 0) sender.sendText("é".repeat(size));
    else if (kind === 1) sender.sendBinary(new Uint8Array(size));
    else if (kind === 2) sender.ping(new Uint8Array(size % 126));
    else {
      sender.sendFrame(1, "ab", false);
      sender.sendFrame(0, "c", true);
    }
  }
  return concat(sender.output());
}

test("random and mutated frames never throw out of Protocol.receive", () => {
  const random = rng(0x5eed).float;
  const modes: Delivery[] = ["messages", "frames", "chunks"];
  for (let round = 0; round < 600; round++) {
    const role: Role = round % 2 === 0 ? "server" : "client";
    const p = new Protocol({ role, deliver: modes[round % 3], maxMessageSize: 4096, maxFrameSize: 2048, maxFragments: 8 });
    let bytes: Uint8Array;
    if (round % 3 === 0) {
      bytes = new Uint8Array(1 + Math.floor(random() * 400));
      for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(random() * 256);
    } else {
      bytes = validStream(role, random);
      const flips = 1 + Math.floor(random() * 4);
      for (let f = 0; f < flips; f++) bytes[Math.floor(random() * bytes.length)] ^= 1 << Math.floor(random() * 8);
    }
    let at = 0;
    while (at < bytes.length) {
      const size = 1 + Math.floor(random() * 64);
      assert.doesNotThrow(() => p.receive(bytes.slice(at, at + size)));
      at += size;
    }
    for (const event of p.events()) {
      if (event.type === "error") assert.ok(event.error instanceof ProtocolError);
    }
    assert.doesNotThrow(() => p.output());
  }
});

test("random HTTP heads end in a head, null (incomplete) or a HandshakeError, never anything else", () => {
  const random = rng(42).float;
  const base = "GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
  for (let round = 0; round < 1000; round++) {
    const bytes = new TextEncoder().encode(base);
    const flips = 1 + Math.floor(random() * 3);
    for (let f = 0; f < flips; f++) bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256);
    const parser = new HttpHeadParser(round % 2 === 0 ? "request" : "response", { maxHeaderBytes: 200, maxHeaderCount: 5 });
    try {
      parser.push(bytes);
    } catch (error) {
      assert.ok(error instanceof HandshakeError, String(error));
    }
  }
});
