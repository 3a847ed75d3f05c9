import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { Protocol, type ProtocolOptions, type Role } from "../../src/core/protocol.js";
import { Message, type ProtocolEvent } from "../../src/core/message.js";
import { Opcode } from "../../src/core/frame.js";
import { ConnectionClosedError, ProtocolError, UsageError, VIOLATIONS, type ViolationCode } from "../../src/core/errors.js";
import { DEFAULT_LIMITS } from "../../src/core/limits.js";
import { concat, frame, hex, isWellFormedUtf8, rng, utf8, type Rng } from "../helpers/bytes.js";

// ---------------------------------------------------------------- helpers

const other = (role: Role): Role => (role === "client" ? "server" : "client");

function pair(
  clientOptions: Partial<ProtocolOptions> = {},
  serverOptions: Partial<ProtocolOptions> = {},
): { client: Protocol; server: Protocol } {
  return { client: new Protocol({ ...clientOptions, role: "client" }), server: new Protocol({ ...serverOptions, role: "server" }) };
}

/** Move everything `from` has queued into `to` and return `to`'s events. */
function pipe(from: Protocol, to: Protocol): ProtocolEvent[] {
  for (const chunk of from.output()) to.receive(chunk);
  return to.events();
}

/** A comparable description of an event (type plus bytes or text). */
function describeEvent(e: ProtocolEvent): Record<string, unknown> {
  if (e instanceof Message) return { event: "message", type: e.type, hex: hex(e.bytes) };
  switch (e.type) {
    case "frame":
      return {
        event: "frame",
        type: e.frame.type,
        opcode: e.frame.opcode,
        fin: e.frame.fin,
        hex: hex(e.frame.payload),
        text: e.frame.text,
      };
    case "ping":
    case "pong":
      return { event: e.type, hex: hex(e.payload) };
    case "close":
      return { event: "close", code: e.code, reason: e.reason, received: e.received };
    case "error":
      return { event: "error", code: e.error.code, closeCode: e.error.closeCode };
    case "chunk":
      return { event: "chunk", type: e.messageType, opcode: e.opcode, fin: e.fin, frameEnd: e.frameEnd, hex: hex(e.payload) };
    case "decode":
      return { event: "decode", type: e.messageType, hex: hex(e.payload) };
  }
}

const KEY = Uint8Array.of(0x12, 0x34, 0x56, 0x78);
/** A frame as a client sends it (masked). */
const cf = (opcode: number, payload?: Uint8Array | string, fin = true): Uint8Array => frame(opcode, payload, { fin, key: KEY });
/** A frame as a server sends it (unmasked). */
const sf = (opcode: number, payload?: Uint8Array | string, fin = true): Uint8Array => frame(opcode, payload, { fin });

function closePayload(code: number, reason: Uint8Array | string = ""): Uint8Array {
  const r = typeof reason === "string" ? utf8(reason) : reason;
  return concat([Uint8Array.of(code >> 8, code & 0xff), r]);
}

/** Decode what `p` queued by feeding it to a fresh protocol of the other role. */
function decodeOutput(p: Protocol): ProtocolEvent[] {
  return decodeChunks(other(p.role), p.output());
}

/** What a peer playing `role` makes of `chunks`. */
function decodeChunks(role: Role, chunks: Uint8Array[]): ProtocolEvent[] {
  const peer = new Protocol({ role, autoClose: false, autoPong: false });
  for (const chunk of chunks) peer.receive(chunk);
  return peer.events();
}

function outputBytes(p: Protocol): Uint8Array {
  return concat(p.output());
}

// ---------------------------------------------------------------- round trips

describe("round trips", () => {
  for (const [from, to] of [
    ["client", "server"],
    ["server", "client"],
  ] as const) {
    test(`${from} → ${to}: text, binary, empty and boundary sizes`, () => {
      const p = pair();
      const sender = p[from];
      const receiver = p[to];
      const r = rng(from === "client" ? 1 : 2);
      const texts = ["", "Hello", "κόσμε 😀 €", "x".repeat(125), "y".repeat(126), "é".repeat(3000), "z".repeat(65536)];
      const sizes = [0, 1, 125, 126, 127, 4096, 4097, 65535, 65536, 65537, 1 << 20];
      for (const t of texts) sender.sendText(t);
      const blobs = sizes.map((n) => r.bytes(n));
      for (const b of blobs) sender.sendBinary(b);
      const events = pipe(sender, receiver);
      assert.equal(events.length, texts.length + blobs.length);
      texts.forEach((t, i) => {
        const m = events[i]!;
        assert.ok(m instanceof Message);
        assert.equal(m.type, "text");
        assert.equal(m.text, t);
        assert.equal(m.data, t);
        assert.equal(m.partial, false);
      });
      blobs.forEach((b, i) => {
        const m = events[texts.length + i]!;
        assert.ok(m instanceof Message);
        assert.equal(m.type, "binary");
        assert.equal(m.bytes.length, b.length);
        assert.ok(Buffer.from(m.bytes).equals(Buffer.from(b)), `binary of ${b.length} bytes`);
      });
      assert.equal(receiver.state, "open");
      assert.deepEqual(receiver.output(), [], "nothing to answer");
    });
  }

  test("the length encoding on the wire is minimal (125 / 126 / 65535 / 65536)", () => {
    const server = new Protocol({ role: "server" });
    const expectations: Array<[number, number[]]> = [
      [125, [0x82, 125]],
      [126, [0x82, 126, 0x00, 0x7e]],
      [65535, [0x82, 126, 0xff, 0xff]],
      [65536, [0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]],
    ];
    for (const [size, header] of expectations) {
      server.sendBinary(new Uint8Array(size).fill(7));
      const out = outputBytes(server);
      assert.equal(out.length, header.length + size);
      assert.deepEqual(Array.from(out.subarray(0, header.length)), header);
    }
  });

  test("fragmented messages via sendFrame, including a text split inside a multi-byte character", () => {
    const { client, server } = pair();
    const text = "a€b😀c";
    const bytes = utf8(text);
    // Cut inside "€" (bytes 1..3) and inside "😀" (bytes 5..8).
    client.sendFrame(Opcode.TEXT, bytes.subarray(0, 2), false);
    client.sendFrame(Opcode.CONTINUATION, bytes.subarray(2, 7), false);
    client.sendFrame(Opcode.CONTINUATION, new Uint8Array(0), false);
    client.sendFrame(Opcode.CONTINUATION, bytes.subarray(7), true);
    // String fragments and binary fragments.
    client.sendFrame(Opcode.TEXT, "Hel", false);
    client.sendFrame(Opcode.CONTINUATION, "lo", true);
    client.sendFrame(Opcode.BINARY, Uint8Array.of(1, 2), false);
    client.sendFrame(Opcode.CONTINUATION, Uint8Array.of(3), true);
    const events = pipe(client, server).map(describeEvent);
    assert.deepEqual(events, [
      { event: "message", type: "text", hex: hex(bytes) },
      { event: "message", type: "text", hex: hex(utf8("Hello")) },
      { event: "message", type: "binary", hex: "010203" },
    ]);
  });

  test("sendFrame refuses misuse", () => {
    const client = new Protocol({ role: "client" });
    assert.throws(() => client.sendFrame(Opcode.CONTINUATION, "x", true), UsageError);
    client.sendFrame(Opcode.TEXT, "x", false);
    assert.throws(() => client.sendFrame(Opcode.BINARY, "x", true), UsageError);
    assert.throws(() => client.sendText("y"), UsageError);
    assert.throws(() => client.sendBinary(new Uint8Array(1)), UsageError);
    assert.throws(() => client.sendFrame(Opcode.PING, "p", false), UsageError);
    assert.throws(() => client.sendFrame(Opcode.CLOSE, "", true), UsageError);
    assert.throws(() => client.sendFrame(3, "x", true), UsageError);
    // Control frames may be sent in the middle of a fragmented message.
    client.sendFrame(Opcode.PING, "p", true);
    client.sendFrame(Opcode.CONTINUATION, "z", true);
    const server = new Protocol({ role: "server" });
    assert.deepEqual(pipe(client, server).map(describeEvent), [
      { event: "ping", hex: hex(utf8("p")) },
      { event: "message", type: "text", hex: hex(utf8("xz")) },
    ]);
  });

  test("ping / pong with autoPong on: the pong echoes the ping payload", () => {
    const { client, server } = pair();
    client.ping(utf8("are you there"));
    client.ping();
    assert.deepEqual(pipe(client, server).map(describeEvent), [
      { event: "ping", hex: hex(utf8("are you there")) },
      { event: "ping", hex: "" },
    ]);
    assert.deepEqual(pipe(server, client).map(describeEvent), [
      { event: "pong", hex: hex(utf8("are you there")) },
      { event: "pong", hex: "" },
    ]);
    // The client answers pings as well, and nobody answers a pong.
    server.ping(Uint8Array.of(1, 2, 3));
    assert.deepEqual(pipe(server, client).map(describeEvent), [{ event: "ping", hex: "010203" }]);
    assert.deepEqual(pipe(client, server).map(describeEvent), [{ event: "pong", hex: "010203" }]);
    assert.deepEqual(server.output(), []);
    assert.deepEqual(client.output(), []);
  });

  test("ping / pong with autoPong off: the ping is reported and answered by hand", () => {
    const { client, server } = pair({}, { autoPong: false });
    client.ping(utf8("hi"));
    assert.deepEqual(pipe(client, server).map(describeEvent), [{ event: "ping", hex: hex(utf8("hi")) }]);
    assert.deepEqual(server.output(), [], "no automatic pong");
    server.pong(utf8("hi"));
    assert.deepEqual(pipe(server, client).map(describeEvent), [{ event: "pong", hex: hex(utf8("hi")) }]);
    // autoPong can be switched at run time.
    server.autoPong = true;
    client.ping(utf8("again"));
    pipe(client, server);
    assert.deepEqual(pipe(server, client).map(describeEvent), [{ event: "pong", hex: hex(utf8("again")) }]);
  });

  test("a ping split across chunks is reassembled and echoed", () => {
    const server = new Protocol({ role: "server" });
    const bytes = cf(Opcode.PING, "split ping payload");
    for (let i = 0; i < bytes.length; i++) server.receive(bytes.slice(i, i + 1));
    assert.deepEqual(server.events().map(describeEvent), [{ event: "ping", hex: hex(utf8("split ping payload")) }]);
    assert.deepEqual(decodeOutput(server).map(describeEvent), [{ event: "pong", hex: hex(utf8("split ping payload")) }]);
  });

  test("control payloads over 125 bytes cannot be sent", () => {
    const client = new Protocol({ role: "client" });
    client.ping(new Uint8Array(125));
    assert.throws(() => client.ping(new Uint8Array(126)), UsageError);
    assert.throws(() => client.pong(new Uint8Array(126)), UsageError);
  });
});

// ---------------------------------------------------------------- close handshake

describe("close handshake", () => {
  for (const initiator of ["client", "server"] as const) {
    const responder = other(initiator);

    test(`${initiator} initiates, autoClose on: open → closing → closed on both sides`, () => {
      const p = pair();
      const a = p[initiator];
      const b = p[responder];
      assert.equal(a.state, "open");
      assert.equal(a.close(1000, "done"), true);
      assert.equal(a.state, "closing");
      assert.equal(a.closeSent?.code, 1000);
      assert.equal(a.close(1001), false, "only one close frame is sent");

      assert.deepEqual(pipe(a, b).map(describeEvent), [{ event: "close", code: 1000, reason: "done", received: true }]);
      assert.equal(b.state, "closed", "the responder has sent its echo and received the close");
      assert.equal(b.closeCode, 1000);
      assert.equal(b.closeReason, "done");
      assert.equal(b.shouldCloseTransport, true);

      // The echo carries the same code.
      assert.deepEqual(pipe(b, a).map(describeEvent), [{ event: "close", code: 1000, reason: "", received: true }]);
      assert.equal(a.state, "closed");
      assert.equal(a.closeCode, 1000);
      assert.deepEqual(a.output(), [], "no second echo");
    });

    test(`${initiator} initiates, autoClose off: the responder answers by hand`, () => {
      const p = pair({ autoClose: false }, { autoClose: false });
      const a = p[initiator];
      const b = p[responder];
      a.close(4000, "custom");
      assert.deepEqual(pipe(a, b).map(describeEvent), [{ event: "close", code: 4000, reason: "custom", received: true }]);
      assert.equal(b.state, "closing");
      assert.deepEqual(b.output(), [], "no automatic echo");
      // Still allowed to finish sending before answering.
      b.sendText("last words");
      assert.equal(b.close(1001, "bye"), true);
      assert.equal(b.state, "closed");
      assert.deepEqual(pipe(b, a).map(describeEvent), [
        { event: "message", type: "text", hex: hex(utf8("last words")) },
        { event: "close", code: 1001, reason: "bye", received: true },
      ]);
      assert.equal(a.state, "closed");
      assert.equal(a.closeCode, 1001);
    });
  }

  test("nothing can be sent after close (ConnectionClosedError)", () => {
    const client = new Protocol({ role: "client" });
    client.sendFrame(Opcode.TEXT, "part", false);
    client.close(1000);
    const attempts: Array<() => void> = [
      () => client.sendText("x"),
      () => client.sendBinary(new Uint8Array(1)),
      () => client.sendFrame(Opcode.CONTINUATION, "more", true),
      () => client.ping(),
      () => client.pong(),
    ];
    for (const attempt of attempts) {
      assert.throws(attempt, (e: unknown) => e instanceof ConnectionClosedError && e.code === "CONNECTION_CLOSED" && e.closeCode === 1000);
    }
    assert.equal(client.close(), false);
  });

  test("an empty close frame is reported as 1005 and echoed as an empty close frame", () => {
    const { client, server } = pair();
    client.close();
    assert.deepEqual(pipe(client, server).map(describeEvent), [{ event: "close", code: 1005, reason: "", received: true }]);
    assert.equal(server.closeCode, 1005);
    assert.deepEqual(Array.from(outputBytes(server)), [0x88, 0x00]);
  });

  test("close() with 1005 sends an empty frame; 1006 and other unsendable codes are refused", () => {
    const server = new Protocol({ role: "server" });
    assert.throws(() => server.close(1006), UsageError);
    assert.throws(() => server.close(1015), UsageError);
    assert.throws(() => server.close(999), UsageError);
    assert.throws(() => server.close(1000, "x".repeat(124)), UsageError);
    assert.equal(server.state, "open", "a refused close changes nothing");
    assert.equal(server.close(1005), true);
    assert.deepEqual(Array.from(outputBytes(server)), [0x88, 0x00]);
  });

  test("transportClosed without a close frame gives close 1006, received: false", () => {
    const server = new Protocol({ role: "server" });
    server.receive(cf(Opcode.TEXT, "hi"));
    server.transportClosed();
    assert.deepEqual(server.events().map(describeEvent), [
      { event: "message", type: "text", hex: hex(utf8("hi")) },
      { event: "close", code: 1006, reason: "", received: false },
    ]);
    assert.equal(server.state, "closed");
    assert.equal(server.closeCode, 1006);
    assert.throws(() => server.sendText("x"), ConnectionClosedError);
    assert.equal(server.close(1000), false);
    // Bytes arriving afterwards are ignored; a second transportClosed() is a no-op.
    server.receive(cf(Opcode.TEXT, "late"));
    server.transportClosed();
    assert.deepEqual(server.events(), []);
  });

  test("transportClosed after the close handshake adds no event", () => {
    const { client, server } = pair();
    client.close(1000);
    pipe(client, server);
    server.transportClosed();
    assert.deepEqual(server.events(), []);
    assert.equal(server.closeCode, 1000);
  });

  test("frames after a close frame are ignored", () => {
    const server = new Protocol({ role: "server" });
    server.receive(concat([cf(Opcode.CLOSE, closePayload(1000)), cf(Opcode.TEXT, "ignored"), cf(Opcode.PING, "x")]));
    assert.deepEqual(server.events().map(describeEvent), [{ event: "close", code: 1000, reason: "", received: true }]);
    assert.deepEqual(decodeOutput(server).map(describeEvent), [{ event: "close", code: 1000, reason: "", received: true }]);
  });

  test("no automatic pong once our close frame has been sent", () => {
    const server = new Protocol({ role: "server" });
    server.close(1000);
    server.output();
    server.receive(cf(Opcode.PING, "late ping"));
    assert.deepEqual(server.events().map(describeEvent), [{ event: "ping", hex: hex(utf8("late ping")) }]);
    assert.deepEqual(server.output(), []);
  });
});

// ---------------------------------------------------------------- protocol errors

describe("protocol errors", () => {
  interface ErrorCase {
    name: string;
    role?: Role;
    options?: Partial<ProtocolOptions>;
    input: Uint8Array[];
    /** Events expected before the error. */
    before?: Array<Record<string, unknown>>;
    code: ViolationCode;
    closeCode: number;
  }

  const cases: ErrorCase[] = [
    { name: "continuation without a start", input: [cf(Opcode.CONTINUATION, "x")], code: "UNEXPECTED_CONTINUATION", closeCode: 1002 },
    {
      name: "continuation after a complete message",
      input: [cf(Opcode.TEXT, "done"), cf(Opcode.CONTINUATION, "x", false)],
      before: [{ event: "message", type: "text", hex: hex(utf8("done")) }],
      code: "UNEXPECTED_CONTINUATION",
      closeCode: 1002,
    },
    {
      name: "new text frame inside a fragmented message",
      input: [cf(Opcode.TEXT, "a", false), cf(Opcode.TEXT, "b")],
      code: "EXPECTED_CONTINUATION",
      closeCode: 1002,
    },
    {
      name: "new binary frame inside a fragmented message (after a ping)",
      input: [cf(Opcode.BINARY, "a", false), cf(Opcode.PING), cf(Opcode.BINARY, "b", false)],
      before: [{ event: "ping", hex: "" }],
      code: "EXPECTED_CONTINUATION",
      closeCode: 1002,
    },
    { name: "invalid UTF-8 in a single text frame", input: [cf(Opcode.TEXT, Uint8Array.of(0x61, 0xff, 0x62))], code: "INVALID_UTF8", closeCode: 1007 },
    {
      name: "text ending inside a character",
      input: [cf(Opcode.TEXT, Uint8Array.of(0x61, 0xe2, 0x82))],
      code: "INVALID_UTF8",
      closeCode: 1007,
    },
    {
      name: "fragmented text ending inside a character",
      input: [cf(Opcode.TEXT, Uint8Array.of(0xf0, 0x9f), false), cf(Opcode.CONTINUATION, Uint8Array.of(0x98))],
      code: "INVALID_UTF8",
      closeCode: 1007,
    },
    { name: "close payload of length 1", input: [cf(Opcode.CLOSE, Uint8Array.of(0x03))], code: "CLOSE_PAYLOAD_LENGTH", closeCode: 1002 },
    ...[0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000].map(
      (code): ErrorCase => ({
        name: `close code ${code}`,
        input: [cf(Opcode.CLOSE, closePayload(code))],
        code: "INVALID_CLOSE_CODE",
        closeCode: 1002,
      }),
    ),
    {
      name: "close reason that is not UTF-8",
      input: [cf(Opcode.CLOSE, closePayload(1000, Uint8Array.of(0xc0, 0x80)))],
      code: "INVALID_CLOSE_REASON",
      closeCode: 1007,
    },
    {
      name: "single frame over maxMessageSize (header only)",
      options: { maxMessageSize: 100 },
      input: [cf(Opcode.BINARY, new Uint8Array(101)).subarray(0, 8)],
      code: "MESSAGE_TOO_BIG",
      closeCode: 1009,
    },
    {
      name: "message over maxMessageSize across fragments (header only)",
      options: { maxMessageSize: 100 },
      input: [cf(Opcode.BINARY, new Uint8Array(60), false), cf(Opcode.CONTINUATION, new Uint8Array(41)).subarray(0, 6)],
      code: "MESSAGE_TOO_BIG",
      closeCode: 1009,
    },
    {
      name: "frame over maxFrameSize (header only)",
      options: { maxFrameSize: 1000 },
      input: [cf(Opcode.TEXT, new Uint8Array(1001)).subarray(0, 8)],
      code: "FRAME_TOO_BIG",
      closeCode: 1009,
    },
    {
      name: "fragments over maxFragments",
      options: { maxFragments: 3 },
      input: [cf(Opcode.TEXT, "a", false), cf(Opcode.CONTINUATION, "b", false), cf(Opcode.CONTINUATION, "c", false), cf(Opcode.CONTINUATION, "d")],
      code: "TOO_MANY_FRAGMENTS",
      closeCode: 1009,
    },
    {
      name: "empty fragments over maxFragments",
      options: { maxFragments: 3 },
      input: [cf(Opcode.BINARY, "", false), cf(Opcode.CONTINUATION, "", false), cf(Opcode.PONG), cf(Opcode.CONTINUATION, "", false), cf(Opcode.CONTINUATION, "")],
      before: [{ event: "pong", hex: "" }],
      code: "TOO_MANY_FRAGMENTS",
      closeCode: 1009,
    },
    { name: "unmasked client frame", input: [sf(Opcode.TEXT, "x")], code: "UNMASKED_FRAME", closeCode: 1002 },
    { name: "masked server frame", role: "client", input: [cf(Opcode.TEXT, "x")], code: "MASKED_FRAME", closeCode: 1002 },
    { name: "RSV1 without an extension", input: [frame(Opcode.TEXT, "x", { rsv: 4, key: KEY })], code: "RESERVED_BITS", closeCode: 1002 },
    { name: "reserved opcode", input: [frame(0xb, "", { key: KEY })], code: "UNKNOWN_OPCODE", closeCode: 1002 },
    { name: "fragmented ping", input: [cf(Opcode.PING, "", false)], code: "CONTROL_FRAGMENTED", closeCode: 1002 },
    { name: "126-byte ping", input: [cf(Opcode.PING, new Uint8Array(126))], code: "CONTROL_TOO_LONG", closeCode: 1002 },
    {
      name: "invalid UTF-8 in a text frame at the client role",
      role: "client",
      input: [sf(Opcode.TEXT, Uint8Array.of(0xed, 0xa0, 0x80))],
      code: "INVALID_UTF8",
      closeCode: 1007,
    },
  ];

  for (const c of cases) {
    const role = c.role ?? "server";
    test(`${c.name} → ${c.code} / ${c.closeCode} (${role})`, () => {
      assert.equal(VIOLATIONS[c.code].closeCode, c.closeCode);
      // With and without a native whole-buffer UTF-8 check.
      for (const utf8Check of [undefined, isWellFormedUtf8]) {
        const p = new Protocol({ role, ...c.options, utf8Check });
        for (const chunk of c.input) p.receive(chunk.slice());
        const events = p.events();
        assert.deepEqual(events.slice(0, -1).map(describeEvent), c.before ?? []);
        const last = events.at(-1);
        assert.ok(last !== undefined && !(last instanceof Message) && last.type === "error", JSON.stringify(events.map(describeEvent)));
        assert.ok(last.error instanceof ProtocolError);
        assert.equal(last.error.code, c.code);
        assert.equal(last.error.closeCode, c.closeCode);
        assert.equal(p.error, last.error);
        // The close frame waits for the next output(): the application may still answer.
        assert.equal(p.failing, true);
        assert.equal(p.state, "closing");
        assert.equal(p.shouldCloseTransport, false);
        p.sendText("answer");
        // A close frame with the same code follows (after any pong answering an earlier ping, and the answer).
        const bytesBefore = p.outputBytes;
        const output = p.output();
        assert.equal(output.reduce((n, chunk) => n + chunk.length, 0), bytesBefore, "outputBytes counts the close frame");
        const sent = decodeChunks(other(role), output).map(describeEvent);
        assert.deepEqual(sent.at(-1), { event: "close", code: c.closeCode, reason: "", received: true });
        assert.deepEqual(sent.at(-2), { event: "message", type: "text", hex: hex(utf8("answer")) });
        assert.ok(sent.slice(0, -2).every((e) => e.event === "pong"), JSON.stringify(sent));
        assert.equal(p.failing, false);
        assert.equal(p.state, "closed");
        assert.equal(p.shouldCloseTransport, true);
        // No events for input after the error (and nothing more to send).
        const key = role === "server" ? KEY : null;
        p.receive(frame(Opcode.TEXT, "after", { key }));
        p.receive(frame(Opcode.PING, "after", { key }));
        p.receive(frame(Opcode.CLOSE, closePayload(1000), { key }));
        assert.deepEqual(p.events(), []);
        assert.deepEqual(p.output(), []);
        assert.throws(() => p.sendText("x"), ConnectionClosedError);
      }
    });
  }

  test("invalid UTF-8 is detected in the fragment that carries it, before the final fragment", () => {
    const server = new Protocol({ role: "server" });
    server.receive(cf(Opcode.TEXT, "κό", false));
    assert.deepEqual(server.events(), []);
    server.receive(cf(Opcode.CONTINUATION, Uint8Array.of(0xcf, 0x83, 0xf4, 0x90), false));
    const events = server.events().map(describeEvent);
    assert.deepEqual(events, [{ event: "error", code: "INVALID_UTF8", closeCode: 1007 }]);
    server.receive(cf(Opcode.CONTINUATION, Uint8Array.of(0x80, 0x80)));
    assert.deepEqual(server.events(), []);
  });

  test("invalid UTF-8 is detected as soon as the bad bytes arrive, mid-frame", () => {
    const server = new Protocol({ role: "server" });
    const bytes = cf(Opcode.TEXT, concat([utf8("valid text "), Uint8Array.of(0xc0, 0x80), utf8(" and more text that never matters")]));
    // Header (6 bytes) plus the payload up to and including the 0xC0 0x80.
    server.receive(bytes.slice(0, 6 + 11));
    assert.deepEqual(server.events(), []);
    server.receive(bytes.slice(6 + 11, 6 + 13));
    assert.deepEqual(server.events().map(describeEvent), [{ event: "error", code: "INVALID_UTF8", closeCode: 1007 }]);
  });

  test("message limit: exactly maxMessageSize passes, across fragments too", () => {
    const server = new Protocol({ role: "server", maxMessageSize: 100, maxFragments: 3 });
    server.receive(cf(Opcode.BINARY, new Uint8Array(100)));
    server.receive(cf(Opcode.BINARY, new Uint8Array(50), false));
    server.receive(cf(Opcode.CONTINUATION, new Uint8Array(0), false));
    server.receive(cf(Opcode.CONTINUATION, new Uint8Array(50)));
    const events = server.events();
    assert.equal(events.length, 2);
    for (const e of events) assert.ok(e instanceof Message && e.bytes.length === 100);
    // The counters start over with each message.
    server.receive(cf(Opcode.BINARY, new Uint8Array(99), false));
    server.receive(cf(Opcode.CONTINUATION, new Uint8Array(1), false));
    server.receive(cf(Opcode.CONTINUATION, new Uint8Array(0)));
    assert.equal(server.events().length, 1);
    assert.equal(server.error, null);
  });

  test("invalid limits are refused", () => {
    assert.throws(() => new Protocol({ role: "server", maxMessageSize: -1 }), UsageError);
    assert.throws(() => new Protocol({ role: "server", maxFrameSize: 1.5 }), UsageError);
  });
});

// ---------------------------------------------------------------- default limits

describe("default limits let legitimate traffic through", () => {
  test("a 16 MiB single-frame message", () => {
    const { client, server } = pair();
    const data = new Uint8Array(16 * 1024 * 1024);
    for (let i = 0; i < data.length; i += 4096) data[i] = i >>> 12;
    data[data.length - 1] = 0x5a;
    client.sendBinary(data);
    const events = pipe(client, server);
    assert.equal(events.length, 1);
    const m = events[0]!;
    assert.ok(m instanceof Message);
    assert.ok(Buffer.from(m.bytes).equals(Buffer.from(data)));
    assert.equal(server.error, null);
  });

  test("a 4 MiB message sent as 65,536 fragments of 64 bytes", () => {
    assert.ok(DEFAULT_LIMITS.maxFragments >= 65536);
    const { client, server } = pair();
    const fragments = 65536;
    const expected = new Uint8Array(fragments * 64);
    for (let i = 0; i < fragments; i++) {
      const piece = new Uint8Array(64).fill(i & 0xff);
      piece[0] = i >>> 8;
      expected.set(piece, i * 64);
      client.sendFrame(i === 0 ? Opcode.BINARY : Opcode.CONTINUATION, piece, i === fragments - 1);
    }
    const started = performance.now();
    const events = pipe(client, server);
    const elapsed = performance.now() - started;
    assert.equal(server.error, null);
    assert.equal(events.length, 1);
    const m = events[0]!;
    assert.ok(m instanceof Message);
    assert.equal(m.bytes.length, 4 * 1024 * 1024);
    assert.ok(Buffer.from(m.bytes).equals(Buffer.from(expected)));
    // Reassembly must be linear: a copy of everything received per fragment takes minutes.
    assert.ok(elapsed < 3000, `reassembly took ${Math.round(elapsed)} ms`);
  });
});

// ---------------------------------------------------------------- any chunking

interface Conversation {
  bytes: Uint8Array;
  /** Events a receiver in "messages" mode must produce. */
  expected: Array<Record<string, unknown>>;
}

/** A random conversation sent through the public API of a `role` protocol. */
function randomConversation(role: Role, r: Rng): Conversation {
  const sender = new Protocol({ role });
  const expected: Array<Record<string, unknown>> = [];
  const samples = ["", "a", "κόσμε", "€uro", "😀 emoji", "mixed ascii and ünïcödé", "x".repeat(130), "日本語".repeat(50)];
  const randomText = (): string => {
    let s = "";
    const n = r.int(4);
    for (let i = 0; i < n; i++) s += samples[r.int(samples.length)];
    return s;
  };
  const control = (): void => {
    const payload = r.bytes(r.int(126));
    if (r.chance(0.5)) {
      sender.ping(payload);
      expected.push({ event: "ping", hex: hex(payload) });
    } else {
      sender.pong(payload);
      expected.push({ event: "pong", hex: hex(payload) });
    }
  };
  for (let step = 0; step < 60; step++) {
    const kind = r.int(6);
    if (kind === 0) {
      control();
    } else if (kind === 1) {
      const t = randomText();
      sender.sendText(t);
      expected.push({ event: "message", type: "text", hex: hex(utf8(t)) });
    } else if (kind === 2) {
      const b = r.bytes(r.chance(0.1) ? 70000 : r.int(300));
      sender.sendBinary(b);
      expected.push({ event: "message", type: "binary", hex: hex(b) });
    } else {
      // Fragmented, cut at random byte positions (inside characters too), with control frames mixed in.
      const text = r.chance(0.5);
      const payload = text ? utf8(randomText() + randomText()) : r.bytes(r.int(2000));
      const pieces = 1 + r.int(5);
      const cuts = Array.from({ length: pieces - 1 }, () => r.int(payload.length + 1)).sort((a, b) => a - b);
      const bounds = [0, ...cuts, payload.length];
      const controls: Array<Record<string, unknown>> = [];
      for (let i = 0; i < pieces; i++) {
        sender.sendFrame(i === 0 ? (text ? Opcode.TEXT : Opcode.BINARY) : Opcode.CONTINUATION, payload.slice(bounds[i], bounds[i + 1]), i === pieces - 1);
        if (i < pieces - 1 && r.chance(0.4)) {
          const before = expected.length;
          control();
          controls.push(...expected.splice(before));
        }
      }
      expected.push(...controls, { event: "message", type: text ? "text" : "binary", hex: hex(payload) });
    }
  }
  const code = 1000 + r.int(4);
  sender.close(code, "bye");
  expected.push({ event: "close", code, reason: "bye", received: true });
  return { bytes: concat(sender.output()), expected };
}

function randomSplits(bytes: Uint8Array, r: Rng): Uint8Array[] {
  const parts: Uint8Array[] = [];
  let at = 0;
  const max = [3, 16, 200, 5000, 100_000][r.int(5)]!;
  while (at < bytes.length) {
    const take = r.int(max + 1);
    parts.push(bytes.subarray(at, at + take));
    at += take;
  }
  return parts;
}

describe("any chunking gives the same events", () => {
  for (const role of ["client", "server"] as const) {
    for (const deliver of ["messages", "frames"] as const) {
      test(`a random ${role} → ${other(role)} conversation, ${deliver} delivery: whole, byte by byte, random splits`, () => {
        const seed = (role === "client" ? 101 : 202) + (deliver === "frames" ? 1 : 0);
        const r = rng(seed);
        const { bytes, expected } = randomConversation(role, r);
        const run = (parts: (copy: Uint8Array) => Uint8Array[]): { events: unknown[]; output: Array<Record<string, unknown>> } => {
          const receiver = new Protocol({ role: other(role), deliver });
          for (const part of parts(bytes.slice())) receiver.receive(part);
          // What the receiver sends back (pongs, close echo), decoded: client output is masked with random keys.
          return { events: receiver.events().map(describeEvent), output: decodeOutput(receiver).map(describeEvent) };
        };
        const whole = run((b) => [b]);
        if (deliver === "messages") assert.deepEqual(whole.events, expected, `seed ${seed}`);
        else assert.ok(whole.events.some((e) => (e as { event: string }).event === "frame"));
        assert.equal(whole.output.at(-1)?.event, "close", "the close was echoed");
        assert.deepEqual(run((b) => Array.from({ length: b.length }, (_, i) => b.subarray(i, i + 1))), whole, "byte by byte");
        for (let s = 0; s < 20; s++) assert.deepEqual(run((b) => randomSplits(b, r)), whole, `seed ${seed}, splitting ${s}`);
      });
    }
  }
});

// ---------------------------------------------------------------- frame delivery

describe("delivery 'frames'", () => {
  test("one frame event per data frame; continuations carry the message type", () => {
    const server = new Protocol({ role: "server", deliver: "frames" });
    server.receive(
      concat([
        cf(Opcode.BINARY, Uint8Array.of(1, 2), false),
        cf(Opcode.PING, "p"),
        cf(Opcode.CONTINUATION, new Uint8Array(0), false),
        cf(Opcode.CONTINUATION, Uint8Array.of(3)),
        cf(Opcode.TEXT, "whole"),
      ]),
    );
    const events = server.events();
    assert.deepEqual(events.map(describeEvent), [
      { event: "frame", type: "binary", opcode: 2, fin: false, hex: "0102", text: undefined },
      { event: "ping", hex: hex(utf8("p")) },
      { event: "frame", type: "binary", opcode: 0, fin: false, hex: "", text: undefined },
      { event: "frame", type: "binary", opcode: 0, fin: true, hex: "03", text: undefined },
      { event: "frame", type: "text", opcode: 1, fin: true, hex: hex(utf8("whole")), text: "whole" },
    ]);
    const first = events[0]!;
    assert.ok(!(first instanceof Message) && first.type === "frame");
    assert.equal(first.frame.partial, true);
    assert.equal(first.frame.length, 2);
    const last = events[4]!;
    assert.ok(!(last instanceof Message) && last.type === "frame");
    assert.equal(last.frame.partial, false);
    assert.equal(last.frame.data, "whole");
  });

  test("text frames decode characters split across frames", () => {
    const client = new Protocol({ role: "client", deliver: "frames" });
    // "€" = E2 82 AC and "😀" = F0 9F 98 80, cut inside both.
    client.receive(
      concat([
        sf(Opcode.TEXT, Uint8Array.of(0x61, 0xe2), false),
        sf(Opcode.CONTINUATION, Uint8Array.of(0x82), false),
        sf(Opcode.CONTINUATION, Uint8Array.of(0xac, 0xf0, 0x9f, 0x98), false),
        sf(Opcode.CONTINUATION, Uint8Array.of(0x80, 0x62)),
        sf(Opcode.TEXT, "next"),
      ]),
    );
    const texts = client.events().map((e) => {
      assert.ok(!(e instanceof Message) && e.type === "frame");
      assert.equal(e.frame.type, "text");
      return e.frame.text;
    });
    assert.deepEqual(texts, ["a", "", "€", "😀b", "next"]);
  });

  test("a frame arriving in pieces is delivered once, whole", () => {
    const server = new Protocol({ role: "server", deliver: "frames" });
    const payload = rng(5).bytes(10_000);
    const bytes = concat([cf(Opcode.BINARY, payload, false), cf(Opcode.CONTINUATION, payload)]);
    for (let at = 0; at < bytes.length; at += 777) server.receive(bytes.slice(at, at + 777));
    const events = server.events().map(describeEvent);
    assert.deepEqual(events, [
      { event: "frame", type: "binary", opcode: 2, fin: false, hex: hex(payload), text: undefined },
      { event: "frame", type: "binary", opcode: 0, fin: true, hex: hex(payload), text: undefined },
    ]);
  });

  test("frame delivery checks UTF-8 and the limits like message delivery", () => {
    const server = new Protocol({ role: "server", deliver: "frames", maxMessageSize: 10 });
    server.receive(concat([cf(Opcode.TEXT, "12345", false), cf(Opcode.CONTINUATION, "678901")]));
    assert.deepEqual(server.events().map(describeEvent), [
      { event: "frame", type: "text", opcode: 1, fin: false, hex: hex(utf8("12345")), text: "12345" },
      { event: "error", code: "MESSAGE_TOO_BIG", closeCode: 1009 },
    ]);
    const other = new Protocol({ role: "server", deliver: "frames" });
    other.receive(concat([cf(Opcode.TEXT, Uint8Array.of(0xe2), false), cf(Opcode.CONTINUATION, Uint8Array.of(0x41))]));
    assert.deepEqual(other.events().map(describeEvent), [
      { event: "frame", type: "text", opcode: 1, fin: false, hex: "e2", text: "" },
      { event: "error", code: "INVALID_UTF8", closeCode: 1007 },
    ]);
  });
});

// ---------------------------------------------------------------- zero copy

describe("zero copy", () => {
  test("a single-frame message arriving in one chunk is a view of that chunk (server, masked)", () => {
    const server = new Protocol({ role: "server" });
    const chunk = cf(Opcode.BINARY, rng(9).bytes(1000));
    server.receive(chunk);
    const [m] = server.events();
    assert.ok(m instanceof Message);
    assert.equal(m.bytes.buffer, chunk.buffer);
    assert.equal(m.bytes.byteOffset, chunk.byteOffset + 8);
  });

  test("a single-frame message arriving in one chunk is a view of that chunk (client, unmasked, text)", () => {
    const client = new Protocol({ role: "client" });
    const chunk = concat([sf(Opcode.PING), sf(Opcode.TEXT, "zero copy"), sf(Opcode.TEXT, "second")]);
    client.receive(chunk);
    const events = client.events();
    const messages = events.filter((e): e is Message => e instanceof Message);
    assert.equal(messages.length, 2);
    for (const m of messages) assert.equal(m.bytes.buffer, chunk.buffer);
    assert.equal(messages[0]!.text, "zero copy");
    assert.equal(messages[1]!.text, "second");
  });

  test("a fragmented message is copied out of the input (it must outlive it)", () => {
    const server = new Protocol({ role: "server" });
    const chunk = concat([cf(Opcode.TEXT, "ab", false), cf(Opcode.CONTINUATION, "cd")]);
    server.receive(chunk);
    const [m] = server.events();
    assert.ok(m instanceof Message);
    assert.equal(m.text, "abcd");
    assert.notEqual(m.bytes.buffer, chunk.buffer);
  });
});

describe("chunks delivery: payload pieces as they arrive, memory independent of frame size", () => {
  test("a 1 MiB frame fed in 1000-byte pieces comes out as pieces, never assembled", () => {
    const client = new Protocol({ role: "client" });
    const server = new Protocol({ role: "server", deliver: "chunks" });
    const payload = new Uint8Array(1 << 20);
    for (let i = 0; i < payload.length; i++) payload[i] = i * 7;
    client.sendBinary(payload);
    const wire = concat(client.output());
    const received: Uint8Array[] = [];
    let ends = 0;
    for (let at = 0; at < wire.length; at += 1000) {
      server.receive(wire.slice(at, at + 1000));
      for (const e of server.events()) {
        assert.equal(e.type, "chunk");
        if (e.type !== "chunk") continue;
        assert.ok(e.payload.length <= 1000);
        assert.equal(e.messageType, "binary");
        // Each piece says where it is in its frame and how long the frame is.
        assert.equal(e.frameLength, payload.length);
        assert.equal(e.offset, received.reduce((sum, piece) => sum + piece.length, 0));
        received.push(e.payload.slice());
        if (e.frameEnd) ends++;
      }
    }
    assert.equal(ends, 1);
    assert.deepEqual(concat(received), payload);
  });

  test("fragmented text: opcode, fin and frameEnd per piece; empty frames get one event; bad UTF-8 still fails fast", () => {
    const client = new Protocol({ role: "client" });
    const server = new Protocol({ role: "server", deliver: "chunks" });
    client.sendFrame(Opcode.TEXT, "héllo", false);
    client.sendFrame(Opcode.CONTINUATION, new Uint8Array(0), false);
    client.sendFrame(Opcode.CONTINUATION, "!", true);
    const events = pipe(client, server).map(describeEvent);
    assert.deepEqual(
      events.map((e) => [e["opcode"], e["fin"], e["frameEnd"]]),
      [
        [Opcode.TEXT, false, true],
        [Opcode.CONTINUATION, false, true],
        [Opcode.CONTINUATION, true, true],
      ],
    );
    client.sendFrame(Opcode.TEXT, new Uint8Array([0x61, 0xff]), false);
    const bad = pipe(client, server);
    assert.equal(bad.at(-1)?.type, "error");
  });
});

// ---------------------------------------------------------------- reading into place

/**
 * Feed `bytes` the way a driver that reads into buffers of its choosing
 * does: where receiveBuffer() offers a place, up to a random count of the
 * next bytes is written there and that prefix received; elsewhere a random
 * slice is received as a copy. Returns how many reads went into a place.
 */
function feedInPlace(receiver: Protocol, bytes: Uint8Array, r: Rng): number {
  let at = 0;
  let placed = 0;
  for (let turn = 0; at < bytes.length && turn < 1_000_000; turn++) {
    const place = receiver.receiveBuffer();
    const take = Math.min(bytes.length - at, 1 + r.int(place === null ? 70_000 : place.length + 10));
    if (place !== null) {
      const n = Math.min(take, place.length);
      place.set(bytes.subarray(at, at + n));
      receiver.receive(place.subarray(0, n));
      at += n;
      placed++;
    } else {
      receiver.receive(bytes.slice(at, at + take));
      at += take;
    }
  }
  return placed;
}

/** Large messages, some fragmented with pings between, from `role`; the wire bytes and what the peer must see. */
function largeConversation(role: Role, r: Rng): { bytes: Uint8Array; expected: Array<Record<string, unknown>> } {
  const sender = new Protocol({ role });
  const expected: Array<Record<string, unknown>> = [];
  for (let i = 0; i < 8; i++) {
    const size = [0, 100, 16 * 1024 - 1, 16 * 1024, 16 * 1024 + 1, 70_000, 300_000][r.int(7)]!;
    if (r.chance(0.3)) {
      const text = "ü€".repeat(Math.ceil(size / 5));
      if (r.chance(0.5)) {
        sender.sendText(text);
      } else {
        // Fragments cut at byte offsets, through characters: the UTF-8 check spans them.
        const all = utf8(text);
        const cut = r.int(all.length + 1);
        sender.sendFrame(Opcode.TEXT, all.subarray(0, cut), false);
        sender.ping();
        sender.sendFrame(Opcode.CONTINUATION, all.subarray(cut), true);
      }
      expected.push({ event: "message", type: "text", hex: hex(utf8(text)) });
    } else {
      const data = r.bytes(size);
      if (r.chance(0.5)) {
        sender.sendBinary(data);
      } else {
        const cut = r.int(size + 1);
        sender.sendFrame(Opcode.BINARY, data.subarray(0, cut), false);
        sender.sendFrame(Opcode.CONTINUATION, data.subarray(cut), true);
      }
      expected.push({ event: "message", type: "binary", hex: hex(data) });
    }
  }
  sender.close(1000);
  return { bytes: concat(sender.output()), expected };
}

describe("receiveBuffer: reading into the message's own buffer", () => {
  for (const role of ["client", "server"] as const) {
    for (const deliver of ["messages", "frames", "chunks"] as const) {
      test(`${role} → ${other(role)}, ${deliver} delivery: reads into offered places give the events of plain reads`, () => {
        const seed = (role === "client" ? 31 : 32) * 10 + ["messages", "frames", "chunks"].indexOf(deliver);
        const r = rng(seed);
        const { bytes } = largeConversation(role, r);
        const plain = new Protocol({ role: other(role), deliver });
        plain.receive(bytes.slice());
        const expected = plain.events().map(describeEvent);
        for (let run = 0; run < 5; run++) {
          const receiver = new Protocol({ role: other(role), deliver });
          const placed = feedInPlace(receiver, bytes.slice(), r);
          const events = receiver.events().map(describeEvent);
          if (deliver === "chunks") {
            // Pieces are handed out as they come, so they follow the reads: compare the bytes they add up to.
            const joined = (list: Array<Record<string, unknown>>): string => list.map((e) => e.hex ?? `|${String(e.event)}|`).join("");
            assert.equal(joined(events), joined(expected), `seed ${seed}, run ${run}`);
            assert.equal(placed, 0, "nothing is collected in chunks delivery, so no place is offered");
          } else {
            assert.deepEqual(events, expected, `seed ${seed}, run ${run}`);
            assert.ok(placed > 0, "some reads went into place");
          }
        }
      });
    }
  }

  test("messages read into place are the ones sent", () => {
    const r = rng(77);
    const { bytes, expected } = largeConversation("client", r);
    const server = new Protocol({ role: "server" });
    feedInPlace(server, bytes, r);
    const messages = server.events().filter((e) => e instanceof Message).map(describeEvent);
    assert.deepEqual(messages, expected);
  });

  test("no place between frames, for small frames or small remainders, in chunks delivery", () => {
    const client = new Protocol({ role: "client" });
    assert.equal(client.receiveBuffer(), null, "before any input");
    const big = sf(Opcode.BINARY, new Uint8Array(40_000));
    client.receive(big.subarray(0, 4)); // the 4-byte header of a 40,000-byte frame
    const place = client.receiveBuffer();
    assert.equal(place?.length, 40_000, "the whole payload");
    client.receive(big.subarray(4, 4 + 30_000)); // not into the place: the message moves, nothing lost
    assert.equal(client.receiveBuffer(), null, "10,000 bytes left: below the 16 KiB threshold");
    client.receive(big.subarray(4 + 30_000));
    assert.equal(client.receiveBuffer(), null, "between frames");
    client.receive(sf(Opcode.TEXT, "x".repeat(100)).subarray(0, 3));
    assert.equal(client.receiveBuffer(), null, "a small frame");
    const chunks = new Protocol({ role: "client", deliver: "chunks" });
    chunks.receive(big.subarray(0, 4));
    assert.equal(chunks.receiveBuffer(), null, "chunks delivery");
  });

  test("bytes received from elsewhere move the message first: a late write into an older place changes nothing", () => {
    const data = rng(5).bytes(100_000);
    const wire = sf(Opcode.BINARY, data);
    const client = new Protocol({ role: "client" });
    client.receive(wire.slice(0, 10)); // the header (10 bytes: a 64-bit length) and no payload yet
    const stale = client.receiveBuffer()!;
    assert.ok(stale !== null);
    client.receive(wire.slice(10, 50_000)); // a read that did not go into the place
    stale.fill(0xee); // the transport writes into the old place after all
    const place = client.receiveBuffer()!;
    place.set(wire.subarray(50_000, 50_000 + place.length));
    client.receive(place);
    const [m] = client.events();
    assert.ok(m instanceof Message);
    assert.equal(hex(m.bytes), hex(data));
  });

  test("a place holds at most what the assembly rule allows: a header alone does not reserve its announced size", () => {
    const client = new Protocol({ role: "client", maxMessageSize: 64 * 1024 * 1024 });
    // A binary frame header with a 64-bit length of 32 MiB; its payload never comes.
    client.receive(Uint8Array.of(0x82, 127, 0, 0, 0, 0, 0x02, 0, 0, 0));
    const place = client.receiveBuffer()!;
    assert.ok(place.length <= 1024 * 1024, `offered ${place.length} bytes`);
  });

  test("invalid UTF-8 read into place fails the connection with INVALID_UTF8", () => {
    const text = utf8("a".repeat(50_000));
    text[30_000] = 0xff;
    const wire = cf(Opcode.TEXT, text);
    const server = new Protocol({ role: "server" });
    server.receive(wire.slice(0, 14));
    const place = server.receiveBuffer()!;
    place.set(wire.subarray(14, 14 + place.length));
    server.receive(place);
    const errors = server.events().filter((e) => !(e instanceof Message) && e.type === "error");
    assert.equal(errors.length, 1);
    assert.equal((errors[0] as { error: ProtocolError }).error.code, "INVALID_UTF8");
  });
});
