/**
 * The core's extension plumbing (RFC 6455 section 9, RFC 7692 section 6),
 * with a toy extension that reverses payloads: RSV bits only on a message's
 * first frame, decoding before UTF-8 checks and limits, every delivery mode,
 * per-message opt-out, and release on close.
 */
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { Protocol, type ProtocolOptions } from "../../src/core/protocol.js";
import { ProtocolError } from "../../src/core/errors.js";
import type { Extension } from "../../src/core/extension.js";
import { Opcode, Rsv } from "../../src/core/frame.js";
import { Message } from "../../src/core/message.js";
import { concat } from "../helpers/bytes.js";

class Reverse implements Extension {
  readonly name = "x-reverse";
  readonly rsv = Rsv.RSV1;
  disposed = 0;
  decode(payload: Uint8Array, maxSize: number): Uint8Array {
    if (payload.length > maxSize) throw new ProtocolError("MESSAGE_TOO_BIG");
    return payload.slice().reverse();
  }
  encode(payload: Uint8Array, options: { compress?: boolean }): Uint8Array | null {
    return options.compress === false || payload.length === 0 ? null : payload.slice().reverse();
  }
  dispose(): void {
    this.disposed++;
  }
}

function pair(server: Partial<ProtocolOptions> = {}): { client: Protocol; server: Protocol; clientExt: Reverse; serverExt: Reverse } {
  const clientExt = new Reverse();
  const serverExt = new Reverse();
  return {
    client: new Protocol({ role: "client", extensions: [clientExt] }),
    server: new Protocol({ role: "server", extensions: [serverExt], ...server }),
    clientExt,
    serverExt,
  };
}

/** The client's output as one buffer, and the first byte of each frame in it (client frames are masked). */
function wire(p: Protocol): { bytes: Uint8Array; firstBytes: number[] } {
  const bytes = concat(p.output());
  const firstBytes: number[] = [];
  for (let at = 0; at < bytes.length; ) {
    firstBytes.push(bytes[at]!);
    let length = bytes[at + 1]! & 0x7f;
    let header = 2;
    if (length === 126) {
      length = (bytes[at + 2]! << 8) | bytes[at + 3]!;
      header = 4;
    }
    at += header + 4 + length;
  }
  return { bytes, firstBytes };
}

describe("extensions in the core", () => {
  test("an encoded message carries RSV1 on its first frame only and arrives decoded", () => {
    const { client, server } = pair();
    client.sendMessage(Opcode.TEXT, "héllo wörld", { fragmentSize: 4 });
    const { bytes, firstBytes } = wire(client);
    assert.ok(firstBytes.length > 1);
    assert.equal(firstBytes[0]! & 0x40, 0x40, "RSV1 on the first frame");
    for (const b of firstBytes.slice(1)) assert.equal(b & 0x40, 0, "no RSV1 on continuations");
    server.receive(bytes);
    const [message] = server.events();
    assert.ok(message instanceof Message);
    assert.equal(message.text, "héllo wörld");
  });

  test("compress: false sends the message as it is, without RSV1", () => {
    const { client, server } = pair();
    client.sendMessage(Opcode.BINARY, new Uint8Array([1, 2, 3]), { compress: false });
    const { bytes, firstBytes } = wire(client);
    assert.equal(firstBytes[0]! & 0x40, 0);
    server.receive(bytes);
    assert.deepEqual([...(server.events()[0] as Message).bytes], [1, 2, 3]);
  });

  test("UTF-8 is checked on the decoded bytes, not the encoded ones", () => {
    const { client, server } = pair();
    // "é" reversed is 0xa9 0xc3: invalid UTF-8 on the wire, valid once decoded.
    client.sendText("é");
    server.receive(concat(client.output()));
    assert.equal((server.events()[0] as Message).text, "é");
    // Bytes that decode to invalid UTF-8 fail with 1007.
    client.sendMessage(Opcode.TEXT, new Uint8Array([0xa9, 0xc3]));
    server.receive(concat(client.output()));
    const events = server.events();
    assert.equal(events.at(-1)?.type, "error");
    const error = (events.at(-1) as { error: ProtocolError }).error;
    assert.equal(error.code, "INVALID_UTF8");
    assert.equal(error.closeCode, 1007);
  });

  test("RFC 7692 6: RSV1 on a continuation frame or a control frame is a protocol error (1002)", () => {
    for (const build of [
      // fragmented message whose continuation has RSV1
      (p: Protocol) => {
        p.sendFrame(Opcode.BINARY, new Uint8Array([1]), false);
        const out = concat(p.output());
        const extra = concat((() => {
          p.sendFrame(Opcode.CONTINUATION, new Uint8Array([2]), true);
          return p.output();
        })());
        extra[0]! |= 0x40;
        return concat([out, extra]);
      },
      // a ping with RSV1
      (p: Protocol) => {
        p.ping(new Uint8Array([9]));
        const out = concat(p.output());
        out[0]! |= 0x40;
        return out;
      },
    ]) {
      const { client, server } = pair();
      server.receive(build(client));
      const last = server.events().at(-1);
      assert.equal(last?.type, "error");
      const error = (last as { error: ProtocolError }).error;
      assert.equal(error.code, "RESERVED_BITS");
      assert.equal(error.closeCode, 1002);
    }
  });

  test("a decoder's limit error becomes 1009 and stops the connection", () => {
    const { client, server } = pair({ maxMessageSize: 4 });
    client.sendMessage(Opcode.BINARY, new Uint8Array(3));
    client.sendMessage(Opcode.BINARY, new Uint8Array(3));
    server.receive(concat(client.output()));
    assert.equal(server.events().length, 2);
    const toy = new Protocol({ role: "server", maxMessageSize: 4, extensions: [{ ...new Reverse(), name: "x", rsv: Rsv.RSV1, decode: () => { throw new ProtocolError("MESSAGE_TOO_BIG"); }, encode: () => null, dispose: () => {} }] });
    client.sendMessage(Opcode.BINARY, new Uint8Array(2));
    toy.receive(concat(client.output()));
    const [event] = toy.events();
    assert.equal(event?.type, "error");
    assert.equal((event as { error: ProtocolError }).error.closeCode, 1009);
    assert.equal(toy.state, "closing", "its close frame waits for output()");
    assert.equal(toy.output().length, 1);
    assert.equal(toy.state, "closed");
  });

  test("frames and chunks delivery get an encoded message as one decoded final frame", () => {
    for (const deliver of ["frames", "chunks"] as const) {
      const { client, server } = pair({ deliver });
      client.sendMessage(Opcode.TEXT, "abcdef", { fragmentSize: 2 });
      server.receive(concat(client.output()));
      const events = server.events();
      assert.equal(events.length, 1, deliver);
      const event = events[0]!;
      if (event.type === "frame") {
        assert.deepEqual([event.frame.fin, event.frame.opcode, event.frame.text], [true, Opcode.TEXT, "abcdef"]);
      } else {
        assert.equal(event.type, "chunk");
        if (event.type === "chunk") assert.equal(new TextDecoder().decode(event.payload), "abcdef");
      }
    }
  });

  test("extensions are released when the transport closes", () => {
    const { server, serverExt } = pair();
    server.transportClosed();
    assert.equal(serverExt.disposed, 1);
  });

  test("without a negotiated extension RSV1 is still rejected", () => {
    const plain = new Protocol({ role: "server" });
    const { client } = pair();
    client.sendMessage(Opcode.BINARY, new Uint8Array([1, 2]));
    plain.receive(concat(client.output()));
    assert.equal((plain.events()[0] as { error: ProtocolError }).error.code, "RESERVED_BITS");
  });
});
