/**
 * The core's side of asynchronous extension transforms (`asyncDecode`):
 * a large encoded message comes out as a `decode` event, nothing after it
 * is parsed until the driver hands the result back, failures close the
 * connection with the codes the synchronous path uses, and sends whose
 * payload was transformed elsewhere go out with their RSV bits.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { ProtocolError, UsageError } from "../../src/core/errors.js";
import type { Extension } from "../../src/core/extension.js";
import { Opcode, Rsv } from "../../src/core/frame.js";
import { Message, type DecodeEvent, type ProtocolEvent } from "../../src/core/message.js";
import { Protocol, type ProtocolOptions } from "../../src/core/protocol.js";
import { concat, utf8 } from "../helpers/bytes.js";
import { OP, clientFrame, closePayload, parseFrames } from "../helpers/net.js";

/** Reverses payloads; messages of `asyncThreshold` bytes or more should be decoded asynchronously. */
class Reverse implements Extension {
  readonly name = "x-reverse";
  readonly rsv = Rsv.RSV1;
  syncDecodes = 0;
  constructor(readonly asyncThreshold: number) {}
  decode(payload: Uint8Array, maxSize: number): Uint8Array {
    this.syncDecodes++;
    if (payload.length > maxSize) throw new ProtocolError("MESSAGE_TOO_BIG");
    return payload.slice().reverse();
  }
  async decodeAsync(payload: Uint8Array, maxSize: number): Promise<Uint8Array> {
    if (payload.length > maxSize) throw new ProtocolError("MESSAGE_TOO_BIG");
    return payload.slice().reverse();
  }
  encode(payload: Uint8Array): Uint8Array | null {
    return payload.slice().reverse();
  }
  dispose(): void {}
}

const BIG = 100;

function server(options: Partial<ProtocolOptions> = {}): { protocol: Protocol; extension: Reverse } {
  const extension = new Reverse(BIG);
  return { protocol: new Protocol({ role: "server", extensions: [extension], asyncDecode: true, ...options }), extension };
}

/** A masked text frame whose payload is `text` reversed, with RSV1: what the toy extension sends. */
function reversed(text: string): Buffer {
  return clientFrame(OP.TEXT, utf8(text).reverse(), { rsv: 4 });
}

/** A short description of each event, to compare sequences. */
function describeEvents(events: ProtocolEvent[]): string[] {
  return events.map((event) => {
    if (event instanceof Message) return `message:${event.text.length > 20 ? `${event.text.length} chars` : event.text}`;
    switch (event.type) {
      case "ping":
      case "pong":
        return `${event.type}:${new TextDecoder().decode(event.payload)}`;
      case "close":
        return `close:${event.code}`;
      case "error":
        return `error:${event.error.code}`;
      case "decode":
        return `decode:${event.payload.length}`;
      default:
        return event.type;
    }
  });
}

function decodeEventOf(events: ProtocolEvent[]): DecodeEvent {
  const last = events[events.length - 1];
  assert.ok(last !== undefined && !(last instanceof Message) && last.type === "decode", "the last event is a decode event");
  return last;
}

const bigText = "x".repeat(BIG - 1) + "!";

describe("asynchronous decoding in the core", () => {
  test("a large encoded message is handed out, and nothing after it is parsed until it is decoded", async () => {
    const { protocol, extension } = server();
    const input = concat([
      reversed("before"),
      reversed(bigText),
      clientFrame(OP.TEXT, "plain"),
      reversed("small"),
      clientFrame(OP.PING, "p"),
      clientFrame(OP.CLOSE, closePayload(1000)),
    ]);
    protocol.receive(input);
    const first = protocol.events();
    assert.deepEqual(describeEvents(first), ["message:before", `decode:${BIG}`]);
    assert.equal(protocol.decoding, true);
    assert.equal(protocol.output().length, 0, "the ping after it is not answered yet");
    assert.equal(protocol.state, "open", "the close frame after it is not read yet");
    // More input meanwhile is held too.
    protocol.receive(clientFrame(OP.TEXT, "late"));
    assert.equal(protocol.hasEvents, false);

    const event = decodeEventOf(first);
    assert.deepEqual(event.extensions, [extension]);
    assert.equal(event.maxSize, protocol.limits.maxMessageSize);
    protocol.decoded(await extension.decodeAsync(event.payload, event.maxSize));
    assert.equal(protocol.decoding, false);
    assert.deepEqual(describeEvents(protocol.events()), [`message:${BIG} chars`, "message:plain", "message:small", "ping:p", "close:1000"]);
    const answers = parseFrames(Buffer.from(concat(protocol.output())));
    assert.deepEqual(
      answers.map((frame) => frame.opcode),
      [OP.PONG, OP.CLOSE],
      "pong, then the close echo",
    );
    assert.equal(extension.syncDecodes, 2, "small messages were decoded in place");
  });

  test("the same events for every split of the input, down to single bytes", async () => {
    const input = concat([reversed(bigText), reversed("tail"), reversed(bigText), clientFrame(OP.TEXT, "end")]);
    for (const step of [1, 3, 7, 64, input.length]) {
      const { protocol, extension } = server();
      const seen: string[] = [];
      for (let at = 0; at < input.length; at += step) {
        protocol.receive(input.slice(at, at + step));
        for (let events = protocol.events(); events.length > 0; events = protocol.events()) {
          seen.push(...describeEvents(events));
          const last = events[events.length - 1]!;
          if (!(last instanceof Message) && last.type === "decode") protocol.decoded(await extension.decodeAsync(last.payload, last.maxSize));
        }
      }
      assert.deepEqual(seen, [`decode:${BIG}`, `message:${BIG} chars`, "message:tail", `decode:${BIG}`, `message:${BIG} chars`, "message:end"], `split ${step}`);
    }
  });

  test("without asyncDecode, or below the threshold, messages are decoded in receive()", () => {
    const plain = new Protocol({ role: "server", extensions: [new Reverse(BIG)] });
    plain.receive(reversed(bigText));
    assert.deepEqual(describeEvents(plain.events()), [`message:${BIG} chars`]);
    const { protocol } = server();
    protocol.receive(reversed("x".repeat(BIG - 1)));
    assert.deepEqual(describeEvents(protocol.events()), [`message:${BIG - 1} chars`]);
  });

  test("a failed decode fails the connection with the error's code; what followed is never read", () => {
    const cases: Array<[error: unknown, code: string, closeCode: number]> = [
      [new ProtocolError("MESSAGE_TOO_BIG"), "MESSAGE_TOO_BIG", 1009],
      [new ProtocolError("INVALID_COMPRESSED_DATA"), "INVALID_COMPRESSED_DATA", 1007],
      [new Error("zlib: invalid block type"), "INVALID_COMPRESSED_DATA", 1007],
    ];
    for (const [error, code, closeCode] of cases) {
      const { protocol } = server();
      protocol.receive(concat([reversed(bigText), clientFrame(OP.TEXT, "after"), clientFrame(OP.CLOSE, closePayload(1000))]));
      decodeEventOf(protocol.events());
      protocol.decodeFailed(error);
      assert.deepEqual(describeEvents(protocol.events()), [`error:${code}`]);
      const [close] = parseFrames(Buffer.from(concat(protocol.output())));
      assert.equal(close?.opcode, OP.CLOSE);
      assert.equal(close?.payload.readUInt16BE(0), closeCode);
      assert.equal(protocol.state, "closed");
      protocol.receive(clientFrame(OP.TEXT, "later"));
      assert.equal(protocol.hasEvents, false);
    }
  });

  test("decoded text is checked for UTF-8 like any other message", () => {
    const { protocol } = server();
    const bad = new Uint8Array(BIG).fill(0x61);
    bad[50] = 0xff;
    protocol.receive(clientFrame(OP.TEXT, bad.slice().reverse(), { rsv: 4 }));
    decodeEventOf(protocol.events());
    protocol.decoded(bad);
    assert.deepEqual(describeEvents(protocol.events()), ["error:INVALID_UTF8"]);
  });

  test("the result is delivered in the delivery mode current when it arrives", async () => {
    const { protocol, extension } = server();
    protocol.receive(reversed(bigText));
    const event = decodeEventOf(protocol.events());
    protocol.deliver = "frames";
    protocol.decoded(await extension.decodeAsync(event.payload, event.maxSize));
    const [frame] = protocol.events();
    assert.ok(frame !== undefined && !(frame instanceof Message) && frame.type === "frame");
    assert.equal(frame.frame.text, bigText);
    assert.equal(frame.frame.fin, true);
  });

  test("the transport closing while a decode is pending: close 1006 now, the late result is ignored", () => {
    const { protocol } = server();
    protocol.receive(concat([reversed(bigText), clientFrame(OP.TEXT, "after")]));
    decodeEventOf(protocol.events());
    protocol.transportClosed();
    assert.deepEqual(describeEvents(protocol.events()), ["close:1006"]);
    protocol.decoded(utf8(bigText));
    assert.equal(protocol.hasEvents, false);
    assert.equal(protocol.decoding, false);
  });

  test("a result with no decode pending is a UsageError", () => {
    const { protocol } = server();
    const noPending = (error: unknown): boolean => error instanceof UsageError && error.code === "NO_PENDING_DECODE";
    assert.throws(() => protocol.decoded(new Uint8Array(0)), noPending);
    assert.throws(() => protocol.decodeFailed(new Error("x")), noPending);
  });

  test("our own close while a decode is pending: the peer's answer is read after the message", async () => {
    const { protocol, extension } = server();
    protocol.receive(reversed(bigText));
    const event = decodeEventOf(protocol.events());
    assert.equal(protocol.close(1000), true);
    protocol.receive(clientFrame(OP.CLOSE, closePayload(1000)));
    assert.equal(protocol.state, "closing");
    protocol.decoded(await extension.decodeAsync(event.payload, event.maxSize));
    assert.deepEqual(describeEvents(protocol.events()), [`message:${BIG} chars`, "close:1000"]);
    assert.equal(protocol.state, "closed");
  });
});

describe("sending a payload transformed elsewhere", () => {
  test("sendTransformed frames it with its RSV bits on the first frame only", () => {
    const sender = new Protocol({ role: "client", extensions: [new Reverse(BIG)] });
    sender.sendTransformed(Opcode.TEXT, utf8("olleh dlrow"), Rsv.RSV1, { fragmentSize: 4 });
    const frames = parseFrames(Buffer.from(concat(sender.output())));
    assert.deepEqual(
      frames.map((frame) => [frame.opcode, frame.rsv, frame.fin]),
      [
        [OP.TEXT, 4, false],
        [OP.CONTINUATION, 0, false],
        [OP.CONTINUATION, 0, true],
      ],
    );
    const receiver = new Protocol({ role: "server", extensions: [new Reverse(BIG)] });
    receiver.receive(concat(frames.map((frame) => clientFrame(frame.opcode, frame.payload, { rsv: frame.rsv, fin: frame.fin }))));
    assert.deepEqual(describeEvents(receiver.events()), ["message:world hello"]);
  });

  test("RSV bits no extension claims, a control opcode, or a closed connection are refused", () => {
    const sender = new Protocol({ role: "client", extensions: [new Reverse(BIG)] });
    assert.throws(() => sender.sendTransformed(Opcode.BINARY, new Uint8Array(1), Rsv.RSV2), UsageError);
    assert.throws(() => sender.sendTransformed(Opcode.PING, new Uint8Array(1), 0), UsageError);
    sender.close();
    assert.throws(() => sender.sendTransformed(Opcode.BINARY, new Uint8Array(1), Rsv.RSV1), /cannot send after close/);
  });
});
