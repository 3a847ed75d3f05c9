/**
 * Conformance with the framing and closing rules of RFC 6455, written from the
 * text of the RFC. Each test name starts with the section it checks. Only the
 * sans-IO core Protocol is used: bytes in, events and bytes out.
 */
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { Protocol, type ProtocolOptions, type Role } from "../../src/core/protocol.js";
import { Message, type ProtocolEvent } from "../../src/core/message.js";
import { Opcode } from "../../src/core/frame.js";
import { ConnectionClosedError, UsageError } from "../../src/core/errors.js";
import { concat, frame, utf8 } from "../helpers/bytes.js";

// ---------------------------------------------------------------- helpers

const bytes = (...b: number[]): Uint8Array => Uint8Array.from(b);

const make = (role: Role, options: Partial<ProtocolOptions> = {}): Protocol => new Protocol({ ...options, role });

/** Everything a protocol has queued to send, as one byte string. */
const wire = (p: Protocol): Uint8Array => concat(p.output());

/** A random source that always yields the RFC 5.7 example key 37 fa 21 3d. */
const rfcKey = (target: Uint8Array): void => {
  for (let i = 0; i < target.length; i++) target[i] = [0x37, 0xfa, 0x21, 0x3d][i % 4]!;
};

interface WireFrame {
  fin: boolean;
  rsv: number;
  opcode: number;
  masked: boolean;
  key: Uint8Array | null;
  /** Payload after unmasking. */
  payload: Uint8Array;
  /** Number of bytes used by the length (1, 3 or 9). */
  lengthBytes: number;
}

/** Split a byte string into frames by reading RFC 6455 section 5.2 headers directly. */
function readFrames(data: Uint8Array): WireFrame[] {
  const frames: WireFrame[] = [];
  let at = 0;
  while (at < data.length) {
    const b0 = data[at]!;
    const b1 = data[at + 1]!;
    let length = b1 & 0x7f;
    let pos = at + 2;
    let lengthBytes = 1;
    if (length === 126) {
      length = (data[pos]! << 8) | data[pos + 1]!;
      pos += 2;
      lengthBytes = 3;
    } else if (length === 127) {
      length = 0;
      for (let i = 0; i < 8; i++) length = length * 256 + data[pos + i]!;
      pos += 8;
      lengthBytes = 9;
    }
    const masked = (b1 & 0x80) !== 0;
    let key: Uint8Array | null = null;
    if (masked) {
      key = data.slice(pos, pos + 4);
      pos += 4;
    }
    const payload = data.slice(pos, pos + length);
    if (key) for (let i = 0; i < payload.length; i++) payload[i] = payload[i]! ^ key[i % 4]!;
    frames.push({ fin: (b0 & 0x80) !== 0, rsv: (b0 >> 4) & 7, opcode: b0 & 0xf, masked, key, payload, lengthBytes });
    at = pos + length;
  }
  assert.equal(at, data.length, "output ends on a frame boundary");
  return frames;
}

const KEY = bytes(0xa1, 0xb2, 0xc3, 0xd4);
/** A frame as a client would send it (masked). */
const fromClient = (opcode: number, payload?: Uint8Array | string, fin = true, rsv = 0): Uint8Array =>
  frame(opcode, payload, { fin, rsv, key: KEY });
/** A frame as a server would send it (unmasked). */
const fromServer = (opcode: number, payload?: Uint8Array | string, fin = true, rsv = 0): Uint8Array => frame(opcode, payload, { fin, rsv });
/** A frame as the peer of `role` would send it. */
const fromPeerOf = (role: Role, opcode: number, payload?: Uint8Array | string, fin = true, rsv = 0): Uint8Array =>
  role === "server" ? fromClient(opcode, payload, fin, rsv) : fromServer(opcode, payload, fin, rsv);

const closeBody = (code: number, reason: Uint8Array | string = ""): Uint8Array =>
  concat([bytes(code >> 8, code & 0xff), typeof reason === "string" ? utf8(reason) : reason]);

/** Feed `input` to a fresh protocol and return its events. */
function feed(p: Protocol, ...input: Uint8Array[]): ProtocolEvent[] {
  for (const chunk of input) p.receive(chunk);
  return p.events();
}

/** Close code of the single close frame `p` queued, read from the wire. */
function sentCloseCode(p: Protocol): number | null {
  const closes = readFrames(wire(p)).filter((f) => f.opcode === Opcode.CLOSE);
  assert.equal(closes.length, 1, "exactly one close frame was sent");
  const body = closes[0]!.payload;
  return body.length === 0 ? null : (body[0]! << 8) | body[1]!;
}

/**
 * Assert `p` failed the connection (RFC 6455 7.1.7): an error event with
 * `code`, a close frame carrying it, and no reaction to anything afterwards.
 */
function assertFailed(p: Protocol, events: ProtocolEvent[], code: number): void {
  const last = events.at(-1);
  assert.ok(last !== undefined && !(last instanceof Message) && last.type === "error", `expected an error, got ${events.length} events`);
  assert.equal(last.error.closeCode, code);
  assert.equal(sentCloseCode(p), code);
  assert.equal(p.state, "closed");
  assert.equal(p.shouldCloseTransport, true);
  assert.deepEqual(feed(p, fromPeerOf(p.role, Opcode.TEXT, "more"), fromPeerOf(p.role, Opcode.PING, "x")), []);
  assert.deepEqual(p.output(), []);
}

const textOf = (e: ProtocolEvent | undefined): string => {
  assert.ok(e instanceof Message && e.type === "text", "a text message");
  return e.text;
};

// ---------------------------------------------------------------- 5.1 overview

describe("RFC 6455 section 5.1: masking direction", () => {
  test("5.1: a client masks every frame that it sends to the server", () => {
    const client = make("client");
    client.sendText("text");
    client.sendBinary(new Uint8Array(5000));
    client.sendFrame(Opcode.TEXT, "frag", false);
    client.ping(utf8("ping"));
    client.sendFrame(Opcode.CONTINUATION, "ment", true);
    client.pong();
    client.close(1000, "bye");
    const frames = readFrames(wire(client));
    assert.equal(frames.length, 7);
    for (const f of frames) assert.equal(f.masked, true, `opcode ${f.opcode}`);
  });

  test("5.1: a server MUST NOT mask any frames that it sends to the client", () => {
    const server = make("server");
    server.sendText("text");
    server.sendBinary(new Uint8Array(70000));
    server.ping();
    server.close(1001);
    const frames = readFrames(wire(server));
    assert.equal(frames.length, 4);
    for (const f of frames) assert.equal(f.masked, false, `opcode ${f.opcode}`);
  });

  test("5.1: a server closes the connection on an unmasked client frame (1002)", () => {
    const server = make("server");
    assertFailed(server, feed(server, fromServer(Opcode.TEXT, "not masked")), 1002);
  });

  test("5.1: a client closes the connection on a masked server frame (1002)", () => {
    const client = make("client");
    assertFailed(client, feed(client, fromClient(Opcode.TEXT, "masked")), 1002);
  });
});

// ---------------------------------------------------------------- 5.2 base framing

describe("RFC 6455 section 5.2: base framing protocol", () => {
  for (const [name, rsv] of [
    ["RSV1", 4],
    ["RSV2", 2],
    ["RSV3", 1],
  ] as const) {
    test(`5.2: RSV bits without an extension fail the connection (${name})`, () => {
      for (const role of ["server", "client"] as const) {
        const p = make(role);
        assertFailed(p, feed(p, fromPeerOf(role, Opcode.TEXT, "x", true, rsv)), 1002);
      }
    });
  }

  test("5.2: a reserved opcode (0x3-0x7, 0xB-0xF) fails the connection", () => {
    for (const opcode of [0x3, 0x4, 0x5, 0x6, 0x7, 0xb, 0xc, 0xd, 0xe, 0xf]) {
      const p = make("server");
      assertFailed(p, feed(p, fromClient(opcode, "")), 1002);
    }
  });

  test("5.2: the payload length uses the minimal number of bytes (7-bit, 16-bit, 64-bit)", () => {
    const server = make("server");
    const client = make("client");
    const sizes: Array<[number, number]> = [
      [0, 1],
      [125, 1],
      [126, 3],
      [65535, 3],
      [65536, 9],
    ];
    for (const [size, lengthBytes] of sizes) {
      for (const p of [server, client]) {
        p.sendBinary(new Uint8Array(size));
        const [f] = readFrames(wire(p));
        assert.equal(f!.payload.length, size);
        assert.equal(f!.lengthBytes, lengthBytes, `${p.role}, ${size} bytes`);
      }
    }
  });

  test("5.2: a length not encoded in the minimal number of bytes fails the connection", () => {
    const server = make("server");
    // 5 bytes announced with the 16-bit form.
    assertFailed(server, feed(server, bytes(0x82, 0x80 | 126, 0x00, 0x05, ...KEY, 1, 2, 3, 4, 5)), 1002);
    const client = make("client");
    // 200 bytes announced with the 64-bit form.
    assertFailed(client, feed(client, bytes(0x82, 127, 0, 0, 0, 0, 0, 0, 0, 200)), 1002);
  });

  test("5.2: the most significant bit of a 64-bit length MUST be 0", () => {
    const client = make("client");
    assertFailed(client, feed(client, bytes(0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 1)), 1002);
  });

  test("5.2: a frame's payload may arrive in any number of TCP segments", () => {
    const server = make("server");
    const data = concat([fromClient(Opcode.TEXT, "split everywhere"), fromClient(Opcode.BINARY, new Uint8Array(300).fill(9))]);
    for (let i = 0; i < data.length; i++) server.receive(data.slice(i, i + 1));
    const events = server.events();
    assert.equal(textOf(events[0]), "split everywhere");
    assert.ok(events[1] instanceof Message && events[1].bytes.length === 300 && events[1].bytes.every((b) => b === 9));
  });
});

// ---------------------------------------------------------------- 5.3 masking

describe("RFC 6455 section 5.3: client-to-server masking", () => {
  test("5.3: octet i of the masked data is octet i of the payload XOR octet i MOD 4 of the key", () => {
    const key = bytes(0x01, 0x80, 0xff, 0x5a);
    const client = make("client", { random: (t) => t.forEach((_, i) => (t[i] = key[i % 4]!)) });
    const payload = Uint8Array.from({ length: 300 }, (_, i) => (i * 7) & 0xff);
    client.sendBinary(payload);
    const out = wire(client);
    assert.deepEqual(Array.from(out.subarray(0, 8)), [0x82, 0x80 | 126, 0x01, 0x2c, ...key]);
    for (let i = 0; i < payload.length; i++) assert.equal(out[8 + i], payload[i]! ^ key[i % 4]!, `octet ${i}`);
  });

  test("5.3: the server unmasks client payloads", () => {
    const server = make("server");
    for (const key of [bytes(0, 0, 0, 0), bytes(0xff, 0xff, 0xff, 0xff), bytes(1, 2, 3, 4)]) {
      const events = feed(server, frame(Opcode.TEXT, "mask me", { key }));
      assert.equal(textOf(events[0]), "mask me");
    }
  });
});

// ---------------------------------------------------------------- 5.4 fragmentation

describe("RFC 6455 section 5.4: fragmentation", () => {
  test("5.4: an unfragmented message is a single frame with FIN set and an opcode other than 0", () => {
    const server = make("server");
    server.sendText("one");
    server.sendBinary(bytes(1, 2));
    const frames = readFrames(wire(server));
    assert.deepEqual(
      frames.map((f) => [f.fin, f.opcode]),
      [
        [true, Opcode.TEXT],
        [true, Opcode.BINARY],
      ],
    );
  });

  test("5.4: a fragmented message is a first frame with FIN clear and an opcode, continuations with opcode 0, FIN on the last", () => {
    const server = make("server");
    server.sendFrame(Opcode.BINARY, bytes(1), false);
    server.sendFrame(Opcode.CONTINUATION, bytes(2), false);
    server.sendFrame(Opcode.CONTINUATION, bytes(3), true);
    const frames = readFrames(wire(server));
    assert.deepEqual(
      frames.map((f) => [f.fin, f.opcode, Array.from(f.payload)]),
      [
        [false, Opcode.BINARY, [1]],
        [false, Opcode.CONTINUATION, [2]],
        [true, Opcode.CONTINUATION, [3]],
      ],
    );
    // ...and the receiver reassembles it in order.
    const client = make("client");
    const events = feed(client, concat(frames.map((f) => fromServer(f.opcode, f.payload, f.fin))));
    assert.ok(events.length === 1 && events[0] instanceof Message);
    assert.deepEqual(Array.from(events[0].bytes), [1, 2, 3]);
  });

  test("5.4: control frames may be injected in the middle of a fragmented message", () => {
    const server = make("server");
    const events = feed(
      server,
      fromClient(Opcode.TEXT, "Hel", false),
      fromClient(Opcode.PING, "in between"),
      fromClient(Opcode.CONTINUATION, "l", false),
      fromClient(Opcode.PONG, "unsolicited"),
      fromClient(Opcode.CONTINUATION, "o", true),
    );
    assert.equal(events.length, 3);
    assert.ok(!(events[0] instanceof Message) && events[0]!.type === "ping");
    assert.ok(!(events[1] instanceof Message) && events[1]!.type === "pong");
    assert.equal(textOf(events[2]), "Hello");
    // The ping is answered at once, not after the message.
    const answer = readFrames(wire(server));
    assert.deepEqual(
      answer.map((f) => [f.opcode, new TextDecoder().decode(f.payload)]),
      [[Opcode.PONG, "in between"]],
    );
  });

  test("5.4: an endpoint may inject control frames while sending a fragmented message", () => {
    const client = make("client");
    client.sendFrame(Opcode.TEXT, "a", false);
    client.ping();
    client.sendFrame(Opcode.CONTINUATION, "b", true);
    const server = make("server");
    const events = feed(server, ...client.output());
    assert.equal(events.length, 2);
    assert.equal(textOf(events[1]), "ab");
  });

  test("5.4: fragments may be of any size, including empty", () => {
    const server = make("server");
    const events = feed(
      server,
      fromClient(Opcode.TEXT, "", false),
      fromClient(Opcode.CONTINUATION, "", false),
      fromClient(Opcode.CONTINUATION, "x".repeat(70000), false),
      fromClient(Opcode.CONTINUATION, "", true),
    );
    assert.equal(textOf(events[0]), "x".repeat(70000));
  });

  test("5.4: a continuation frame with no message in progress fails the connection", () => {
    const server = make("server");
    assertFailed(server, feed(server, fromClient(Opcode.CONTINUATION, "orphan")), 1002);
  });

  test("5.4: the fragments of one message MUST NOT be interleaved with those of another", () => {
    const client = make("client");
    assertFailed(client, feed(client, fromServer(Opcode.TEXT, "first", false), fromServer(Opcode.BINARY, "second")), 1002);
  });
});

// ---------------------------------------------------------------- 5.5 control frames

describe("RFC 6455 section 5.5: control frames", () => {
  test("5.5: all control frames MUST have a payload length of 125 bytes or less and MUST NOT be fragmented", () => {
    // Receiving.
    for (const opcode of [Opcode.PING, Opcode.PONG, Opcode.CLOSE]) {
      const tooLong = make("server");
      const body = opcode === Opcode.CLOSE ? closeBody(1000, "r".repeat(124)) : new Uint8Array(126);
      assertFailed(tooLong, feed(tooLong, fromClient(opcode, body)), 1002);
      const fragmented = make("server");
      assertFailed(fragmented, feed(fragmented, fromClient(opcode, opcode === Opcode.CLOSE ? closeBody(1000) : "", false)), 1002);
    }
    // 125 bytes is fine.
    const ok = make("server");
    const events = feed(ok, fromClient(Opcode.PING, new Uint8Array(125)));
    assert.ok(!(events[0] instanceof Message) && events[0]!.type === "ping" && events[0].payload.length === 125);
    // Sending.
    const client = make("client");
    assert.throws(() => client.ping(new Uint8Array(126)), UsageError);
    assert.throws(() => client.pong(new Uint8Array(126)), UsageError);
    assert.throws(() => client.sendFrame(Opcode.PING, "x", false), UsageError);
    assert.throws(() => client.close(1000, "r".repeat(124)), UsageError);
    client.ping(new Uint8Array(125));
    client.close(1000, "r".repeat(123));
    const sent = readFrames(wire(client));
    assert.deepEqual(
      sent.map((f) => [f.opcode, f.fin, f.payload.length]),
      [
        [Opcode.PING, true, 125],
        [Opcode.CLOSE, true, 125],
      ],
    );
  });

  test("5.5.1: a close body is a 2-byte big-endian status code followed by a UTF-8 reason", () => {
    const server = make("server");
    server.close(1001, "going ✈");
    const [f] = readFrames(wire(server));
    assert.equal(f!.opcode, Opcode.CLOSE);
    assert.deepEqual(Array.from(f!.payload.subarray(0, 2)), [0x03, 0xe9]);
    assert.equal(new TextDecoder().decode(f!.payload.subarray(2)), "going ✈");
    const client = make("client");
    const events = feed(client, fromServer(Opcode.CLOSE, f!.payload));
    assert.deepEqual(events, [{ type: "close", code: 1001, reason: "going ✈", received: true }]);
  });

  test("5.5.1: an endpoint that receives a close frame sends a close frame in response, echoing the code", () => {
    for (const role of ["server", "client"] as const) {
      const p = make(role);
      feed(p, fromPeerOf(role, Opcode.CLOSE, closeBody(4321, "why")));
      assert.equal(sentCloseCode(p), 4321);
      assert.equal(p.state, "closed");
    }
  });

  test("5.5.1: after sending a close frame the endpoint MUST NOT send any more data frames", () => {
    const client = make("client");
    client.close(1000);
    assert.throws(() => client.sendText("late"), ConnectionClosedError);
    assert.throws(() => client.sendBinary(bytes(1)), ConnectionClosedError);
    assert.throws(() => client.sendFrame(Opcode.TEXT, "late", true), ConnectionClosedError);
    assert.equal(client.close(1000), false);
    const frames = readFrames(wire(client));
    assert.deepEqual(
      frames.map((f) => f.opcode),
      [Opcode.CLOSE],
    );
    // Nor after answering one.
    const server = make("server");
    feed(server, fromClient(Opcode.CLOSE, closeBody(1000)));
    assert.throws(() => server.sendText("late"), ConnectionClosedError);
  });

  test("5.5.1: an endpoint that has received a close frame may finish sending before answering", () => {
    const server = make("server", { autoClose: false });
    feed(server, fromClient(Opcode.TEXT, "part", false), fromClient(Opcode.CLOSE, closeBody(1000)));
    assert.equal(server.state, "closing");
    server.sendText("final reply");
    server.close(1000);
    assert.deepEqual(
      readFrames(wire(server)).map((f) => f.opcode),
      [Opcode.TEXT, Opcode.CLOSE],
    );
  });

  test("5.5.1: nothing received after a close frame is processed", () => {
    const server = make("server");
    const events = feed(server, concat([fromClient(Opcode.CLOSE, closeBody(1000)), fromClient(Opcode.TEXT, "after"), fromClient(Opcode.PING)]));
    assert.deepEqual(events, [{ type: "close", code: 1000, reason: "", received: true }]);
    assert.deepEqual(
      readFrames(wire(server)).map((f) => f.opcode),
      [Opcode.CLOSE],
    );
  });

  test("5.5.2/5.5.3: a pong carries the ping's application data", () => {
    for (const role of ["server", "client"] as const) {
      const p = make(role);
      const data = Uint8Array.from({ length: 125 }, (_, i) => 255 - i);
      const events = feed(p, fromPeerOf(role, Opcode.PING, data));
      assert.ok(!(events[0] instanceof Message) && events[0]!.type === "ping");
      assert.deepEqual(events[0].payload, data);
      const [pong] = readFrames(wire(p));
      assert.equal(pong!.opcode, Opcode.PONG);
      assert.deepEqual(pong!.payload, data);
    }
  });

  test("5.5.3: a pong may be sent unsolicited and is not answered", () => {
    const client = make("client");
    const events = feed(client, fromServer(Opcode.PONG, "heartbeat"));
    assert.ok(!(events[0] instanceof Message) && events[0]!.type === "pong");
    assert.deepEqual(client.output(), []);
  });
});

// ---------------------------------------------------------------- 5.6 data frames

describe("RFC 6455 section 5.6: data frames", () => {
  test("5.6: text payload must be valid UTF-8 (1007)", () => {
    for (const bad of [bytes(0xff), bytes(0xc0, 0xaf), bytes(0xed, 0xa0, 0x80), bytes(0xf4, 0x90, 0x80, 0x80), bytes(0x61, 0xe2, 0x82)]) {
      for (const role of ["server", "client"] as const) {
        const p = make(role);
        assertFailed(p, feed(p, fromPeerOf(role, Opcode.TEXT, bad)), 1007);
      }
    }
  });

  test("5.6: a text message may split a character between frames; the whole message must be UTF-8", () => {
    const server = make("server");
    const euro = utf8("€");
    const events = feed(server, fromClient(Opcode.TEXT, euro.subarray(0, 1), false), fromClient(Opcode.CONTINUATION, euro.subarray(1), true));
    assert.equal(textOf(events[0]), "€");
  });

  test("5.6: binary payload is not interpreted", () => {
    const server = make("server");
    const events = feed(server, fromClient(Opcode.BINARY, bytes(0xff, 0xc0, 0xed, 0xa0, 0x80)));
    assert.ok(events[0] instanceof Message);
    assert.deepEqual(Array.from(events[0].bytes), [0xff, 0xc0, 0xed, 0xa0, 0x80]);
  });
});

// ---------------------------------------------------------------- 5.7 examples

describe("RFC 6455 section 5.7 examples", () => {
  test("5.7: a single-frame unmasked text message (0x81 0x05 'Hello')", () => {
    const server = make("server");
    server.sendText("Hello");
    assert.deepEqual(Array.from(wire(server)), [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
    const client = make("client");
    assert.equal(textOf(feed(client, bytes(0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f))[0]), "Hello");
  });

  test("5.7: a single-frame masked text message (0x81 0x85 0x37 0xfa 0x21 0x3d ...)", () => {
    const example = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
    const client = make("client", { random: rfcKey });
    client.sendText("Hello");
    assert.deepEqual(Array.from(wire(client)), example);
    const server = make("server");
    assert.equal(textOf(feed(server, Uint8Array.from(example))[0]), "Hello");
  });

  test("5.7: a fragmented unmasked text message (0x01 0x03 'Hel', 0x80 0x02 'lo')", () => {
    const first = [0x01, 0x03, 0x48, 0x65, 0x6c];
    const second = [0x80, 0x02, 0x6c, 0x6f];
    const server = make("server");
    server.sendFrame(Opcode.TEXT, "Hel", false);
    server.sendFrame(Opcode.CONTINUATION, "lo", true);
    assert.deepEqual(Array.from(wire(server)), [...first, ...second]);
    const client = make("client");
    assert.deepEqual(feed(client, Uint8Array.from(first)), []);
    assert.equal(textOf(feed(client, Uint8Array.from(second))[0]), "Hello");
  });

  test("5.7: an unmasked ping (0x89 0x05 'Hello') and the masked pong answering it (0x8a 0x85 ...)", () => {
    const ping = [0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
    const pong = [0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
    const server = make("server");
    server.ping(utf8("Hello"));
    assert.deepEqual(Array.from(wire(server)), ping);
    const client = make("client", { random: rfcKey });
    const events = feed(client, Uint8Array.from(ping));
    assert.ok(!(events[0] instanceof Message) && events[0]!.type === "ping");
    assert.deepEqual(Array.from(wire(client)), pong, "the automatic pong is the RFC's example byte for byte");
    const events2 = feed(server, Uint8Array.from(pong));
    assert.ok(!(events2[0] instanceof Message) && events2[0]!.type === "pong");
    assert.equal(new TextDecoder().decode(events2[0].payload), "Hello");
  });

  test("5.7: 256 bytes of binary in a single unmasked frame (0x82 0x7E 0x0100)", () => {
    const payload = Uint8Array.from({ length: 256 }, (_, i) => i);
    const server = make("server");
    server.sendBinary(payload);
    const out = wire(server);
    assert.equal(out.length, 4 + 256);
    assert.deepEqual(Array.from(out.subarray(0, 4)), [0x82, 0x7e, 0x01, 0x00]);
    assert.deepEqual(out.subarray(4), payload);
    const client = make("client");
    const [m] = feed(client, out.slice());
    assert.ok(m instanceof Message && m.type === "binary");
    assert.deepEqual(m.bytes, payload);
  });

  test("5.7: 64 KiB of binary in a single unmasked frame (0x82 0x7F 0x0000000000010000)", () => {
    const payload = Uint8Array.from({ length: 65536 }, (_, i) => (i * 31) & 0xff);
    const server = make("server");
    server.sendBinary(payload);
    const out = wire(server);
    assert.equal(out.length, 10 + 65536);
    assert.deepEqual(Array.from(out.subarray(0, 10)), [0x82, 0x7f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00]);
    assert.deepEqual(out.subarray(10), payload);
    const client = make("client");
    const [m] = feed(client, out.slice());
    assert.ok(m instanceof Message && m.type === "binary");
    assert.deepEqual(m.bytes, payload);
  });
});

// ---------------------------------------------------------------- 7 closing

describe("RFC 6455 section 7: closing the connection", () => {
  test("7.1.5/7.1.6: close code is 1005 when the close frame had no code, 1006 when none arrived", () => {
    const a = make("server");
    assert.deepEqual(feed(a, fromClient(Opcode.CLOSE)), [{ type: "close", code: 1005, reason: "", received: true }]);
    assert.equal(a.closeCode, 1005);
    assert.equal(a.closeReason, "");

    const b = make("client");
    b.transportClosed();
    assert.deepEqual(b.events(), [{ type: "close", code: 1006, reason: "", received: false }]);
    assert.equal(b.closeCode, 1006);

    // Before anything happened, the close code is 1006 too (no close frame received).
    assert.equal(make("server").closeCode, 1006);
    // 1006 also when we sent a close frame but the transport dropped before the answer.
    const c = make("client");
    c.close(1000);
    c.transportClosed();
    assert.deepEqual(c.events(), [{ type: "close", code: 1006, reason: "", received: false }]);
  });

  test("7.1.6: the close reason is the UTF-8 data after the code", () => {
    const server = make("server");
    feed(server, fromClient(Opcode.CLOSE, closeBody(1000, "κόσμε")));
    assert.equal(server.closeCode, 1000);
    assert.equal(server.closeReason, "κόσμε");
  });

  test("7.1.7: failing the connection sends a close frame with the error's code and stops processing", () => {
    const server = make("server");
    const events = feed(server, fromClient(Opcode.TEXT, "ok"), fromClient(Opcode.CONTINUATION, "bad"), fromClient(Opcode.TEXT, "ignored"));
    assert.equal(textOf(events[0]), "ok");
    assertFailed(server, events, 1002);
  });

  test("7.4.1: 1005 and 1006 are never sent", () => {
    for (const role of ["server", "client"] as const) {
      // 1006 (and 1015) cannot be sent at all.
      const p = make(role);
      assert.throws(() => p.close(1006), UsageError);
      assert.throws(() => p.close(1015), UsageError);
      // Asking for 1005 sends a close frame without a code.
      p.close(1005);
      assert.equal(sentCloseCode(p), null);
      // Answering an empty close frame does not invent 1005 either.
      const q = make(role);
      feed(q, fromPeerOf(role, Opcode.CLOSE));
      assert.equal(sentCloseCode(q), null);
      // A dropped transport sends nothing.
      const r = make(role);
      r.transportClosed();
      assert.deepEqual(r.output(), []);
    }
  });

  test("7.4.1: a close frame carrying 1005, 1006 or 1015 fails the connection (1002)", () => {
    for (const code of [1005, 1006, 1015]) {
      const server = make("server");
      assertFailed(server, feed(server, fromClient(Opcode.CLOSE, closeBody(code))), 1002);
    }
  });

  test("7.4.2: codes below 1000 are not used; 3000-4999 are accepted", () => {
    for (const code of [0, 500, 999]) {
      const server = make("server");
      assertFailed(server, feed(server, fromClient(Opcode.CLOSE, closeBody(code))), 1002);
    }
    for (const code of [3000, 4999]) {
      const server = make("server");
      assert.deepEqual(feed(server, fromClient(Opcode.CLOSE, closeBody(code))), [{ type: "close", code, reason: "", received: true }]);
    }
  });

  test("5.5.1/7.1.6: a close frame with a 1-byte body fails the connection (1002)", () => {
    const server = make("server");
    assertFailed(server, feed(server, fromClient(Opcode.CLOSE, bytes(0x03))), 1002);
  });

  test("7.4.1/8.1: a close reason that is not UTF-8 fails the connection (1007)", () => {
    const server = make("server");
    assertFailed(server, feed(server, fromClient(Opcode.CLOSE, closeBody(1000, bytes(0xce, 0xba, 0xf4, 0x90)))), 1007);
  });

  test("7.4.1: a message too big to process fails the connection (1009)", () => {
    const server = make("server", { maxMessageSize: 1024 });
    assertFailed(server, feed(server, fromClient(Opcode.BINARY, new Uint8Array(1025)).subarray(0, 8)), 1009);
  });
});

// ---------------------------------------------------------------- 8.1, 10.x

describe("RFC 6455 sections 8 and 10", () => {
  test("8.1: invalid UTF-8 fails the connection as soon as it is seen, before the message ends", () => {
    const server = make("server");
    assert.deepEqual(feed(server, fromClient(Opcode.TEXT, "fine so far", false)), []);
    const events = feed(server, fromClient(Opcode.CONTINUATION, bytes(0x20, 0xf8), false));
    assertFailed(server, events, 1007);
  });

  test("10.3: each client frame uses a new masking key", () => {
    const client = make("client");
    for (let i = 0; i < 150; i++) client.sendText(`message ${i}`);
    for (let i = 0; i < 150; i++) client.ping(utf8(`ping ${i}`));
    const frames = readFrames(wire(client));
    assert.equal(frames.length, 300);
    const keys = new Set(frames.map((f) => Array.from(f.key!).join(".")));
    // Random 32-bit keys: a repeat among 300 is a 1-in-100,000 event; a fixed or recycled key repeats at once.
    assert.ok(keys.size >= 299, `${keys.size} distinct keys for 300 frames`);
    // And the payloads still decode.
    assert.equal(new TextDecoder().decode(frames[149]!.payload), "message 149");
  });

  test("10.3: masking keys come from the configured random source, never reused", () => {
    let n = 0;
    const client = make("client", { random: (t) => t.forEach((_, i) => (t[i] = (n++ * 13) & 0xff)) });
    for (let i = 0; i < 10; i++) client.sendBinary(bytes(i));
    const keys = readFrames(wire(client)).map((f) => Array.from(f.key!).join("."));
    assert.equal(new Set(keys).size, 10);
  });

  test("10.4: frames and messages over the implementation's limits fail the connection (1009)", () => {
    const frameLimit = make("server", { maxFrameSize: 100 });
    assertFailed(frameLimit, feed(frameLimit, fromClient(Opcode.BINARY, new Uint8Array(101))), 1009);
    const messageLimit = make("server", { maxMessageSize: 100 });
    assertFailed(
      messageLimit,
      feed(messageLimit, fromClient(Opcode.BINARY, new Uint8Array(60), false), fromClient(Opcode.CONTINUATION, new Uint8Array(60))),
      1009,
    );
    const fragmentLimit = make("server", { maxFragments: 2 });
    assertFailed(
      fragmentLimit,
      feed(fragmentLimit, fromClient(Opcode.BINARY, "", false), fromClient(Opcode.CONTINUATION, "", false), fromClient(Opcode.CONTINUATION, "")),
      1009,
    );
  });
});
