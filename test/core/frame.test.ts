import { test, describe } from "node:test";
import assert from "node:assert/strict";
import {
  FrameParser,
  MAX_HEADER_SIZE,
  Opcode,
  Rsv,
  headerSize,
  isControlOpcode,
  writeFrameHeader,
  type FrameSink,
} from "../../src/core/frame.js";
import { ProtocolError, VIOLATIONS, type ViolationCode } from "../../src/core/errors.js";
import { concat, frame as frameBytes, rng, type Rng } from "../helpers/bytes.js";

// ---------------------------------------------------------------- helpers

type Call =
  | { kind: "header"; fin: boolean; rsv: number; opcode: number; length: number }
  | { kind: "payload"; data: Uint8Array }
  | { kind: "end" }
  | { kind: "error"; error: ProtocolError };

/** A sink that records every call, copying payload views. */
function recorder(): { sink: FrameSink; calls: Call[] } {
  const calls: Call[] = [];
  const sink: FrameSink = {
    onFrameHeader: (fin, rsv, opcode, length) => calls.push({ kind: "header", fin, rsv, opcode, length }),
    onFramePayload: (data) => calls.push({ kind: "payload", data: data.slice() }),
    onFrameEnd: () => calls.push({ kind: "end" }),
    onFrameError: (error) => calls.push({ kind: "error", error }),
  };
  return { sink, calls };
}

/** Header and end calls as-is; adjacent payload pieces of one frame merged. */
function normalise(calls: Call[]): Array<Exclude<Call, { kind: "payload" }> | { kind: "payload"; hex: string }> {
  const out: Array<Exclude<Call, { kind: "payload" }> | { kind: "payload"; hex: string }> = [];
  let pending: Uint8Array[] | null = null;
  for (const call of calls) {
    if (call.kind === "payload") {
      pending ??= [];
      pending.push(call.data);
      continue;
    }
    if (pending !== null) {
      out.push({ kind: "payload", hex: Buffer.concat(pending).toString("hex") });
      pending = null;
    }
    out.push(call);
  }
  if (pending !== null) out.push({ kind: "payload", hex: Buffer.concat(pending).toString("hex") });
  return out;
}

interface RawFrame {
  fin?: boolean;
  rsv?: number;
  opcode: number;
  payload?: Uint8Array;
  /** A key masks the frame; `null` sends it unmasked. */
  key?: Uint8Array | null;
}

/** Encode a frame by hand (independently of writeFrameHeader) with the minimal length form. */
function encodeFrame({ opcode, payload, ...bits }: RawFrame): Uint8Array {
  return frameBytes(opcode, payload, bits);
}

/** A header with an explicit (possibly non-minimal) length encoding. */
function rawHeader(b0: number, b1: number, extended: number[] = [], key: number[] = []): Uint8Array {
  return Uint8Array.from([b0, b1, ...extended, ...key]);
}

const KEY = [0x11, 0x22, 0x33, 0x44];

function parse(
  bytes: Uint8Array,
  options: { role?: "client" | "server"; maxFrameSize?: number; allowedRsv?: number } = {},
  split: "whole" | "bytes" = "whole",
): Call[] {
  const { sink, calls } = recorder();
  const parser = new FrameParser(
    { role: options.role ?? "server", maxFrameSize: options.maxFrameSize ?? 1 << 20, allowedRsv: options.allowedRsv },
    sink,
  );
  const input = bytes.slice();
  if (split === "whole") parser.push(input);
  else for (let i = 0; i < input.length; i++) parser.push(input.subarray(i, i + 1));
  return calls;
}

// ---------------------------------------------------------------- writeFrameHeader

describe("writeFrameHeader", () => {
  const cases: Array<[number, number[]]> = [
    [0, [0x00]],
    [1, [0x01]],
    [125, [0x7d]],
    [126, [0x7e, 0x00, 0x7e]],
    [127, [0x7e, 0x00, 0x7f]],
    [65535, [0x7e, 0xff, 0xff]],
    [65536, [0x7f, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00]],
    [0x12345678, [0x7f, 0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78]],
    [2 ** 32 + 5, [0x7f, 0, 0, 0, 0x01, 0, 0, 0, 0x05]],
    [2 ** 53 - 1, [0x7f, 0x00, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]],
  ];

  for (const [length, lengthBytes] of cases) {
    test(`length ${length}, unmasked and masked`, () => {
      // Unmasked binary, fin.
      const target = new Uint8Array(20).fill(0xaa);
      const size = writeFrameHeader(target, 3, true, 0, Opcode.BINARY, length);
      assert.equal(size, 1 + lengthBytes.length);
      assert.equal(size, headerSize(length, false));
      assert.deepEqual(Array.from(target.subarray(3, 3 + size)), [0x82, ...lengthBytes]);
      assert.equal(target[2], 0xaa, "nothing written before the offset");
      assert.equal(target[3 + size], 0xaa, "nothing written after the header");

      // Masked text, not fin: mask bit set on the length byte, key after the length.
      const masked = new Uint8Array(20).fill(0xaa);
      const key = Uint8Array.of(0xde, 0xad, 0xbe, 0xef);
      const maskedSize = writeFrameHeader(masked, 0, false, 0, Opcode.TEXT, length, key);
      assert.equal(maskedSize, size + 4);
      assert.equal(maskedSize, headerSize(length, true));
      assert.ok(maskedSize <= MAX_HEADER_SIZE);
      assert.deepEqual(Array.from(masked.subarray(0, maskedSize)), [
        0x01,
        lengthBytes[0]! | 0x80,
        ...lengthBytes.slice(1),
        0xde,
        0xad,
        0xbe,
        0xef,
      ]);
      assert.equal(masked[maskedSize], 0xaa);
    });
  }

  test("fin, RSV bits and opcode go into the first byte", () => {
    const t = new Uint8Array(14);
    writeFrameHeader(t, 0, true, Rsv.RSV1, Opcode.TEXT, 0);
    assert.equal(t[0], 0xc1);
    writeFrameHeader(t, 0, false, Rsv.RSV2, Opcode.CONTINUATION, 0);
    assert.equal(t[0], 0x20);
    writeFrameHeader(t, 0, true, Rsv.RSV3, Opcode.PONG, 0);
    assert.equal(t[0], 0x9a);
    writeFrameHeader(t, 0, true, Rsv.RSV1 | Rsv.RSV2 | Rsv.RSV3, Opcode.CLOSE, 0);
    assert.equal(t[0], 0xf8);
  });

  test("headers written by writeFrameHeader parse back to the same values", () => {
    for (const length of [0, 125, 126, 65535, 65536, 2 ** 32 + 5]) {
      for (const masked of [false, true]) {
        const t = new Uint8Array(MAX_HEADER_SIZE);
        const size = writeFrameHeader(t, 0, true, 0, Opcode.BINARY, length, masked ? Uint8Array.from(KEY) : undefined);
        const calls = parse(t.subarray(0, size), { role: masked ? "server" : "client", maxFrameSize: 2 ** 33 });
        // An empty frame also ends at once; a longer one now waits for its payload.
        const expected: Call[] = [{ kind: "header", fin: true, rsv: 0, opcode: Opcode.BINARY, length }];
        if (length === 0) expected.push({ kind: "end" });
        assert.deepEqual(calls, expected);
      }
    }
  });
});

describe("isControlOpcode", () => {
  test("close, ping, pong are control; data opcodes are not", () => {
    assert.deepEqual(
      [0, 1, 2, 8, 9, 10].map((op) => isControlOpcode(op)),
      [false, false, false, true, true, true],
    );
  });
});

// ---------------------------------------------------------------- FrameParser: valid input

describe("FrameParser: valid frames", () => {
  test("an unmasked frame at the client role", () => {
    const calls = parse(encodeFrame({ opcode: Opcode.TEXT, payload: new TextEncoder().encode("Hello") }), { role: "client" });
    assert.deepEqual(normalise(calls), [
      { kind: "header", fin: true, rsv: 0, opcode: 1, length: 5 },
      { kind: "payload", hex: Buffer.from("Hello").toString("hex") },
      { kind: "end" },
    ]);
  });

  test("a masked frame at the server role is unmasked in place, as a view of the input", () => {
    const input = encodeFrame({ opcode: Opcode.BINARY, payload: Uint8Array.of(1, 2, 3, 4, 5, 6), key: Uint8Array.from(KEY) });
    const views: Uint8Array[] = [];
    const parser = new FrameParser(
      { role: "server", maxFrameSize: 100 },
      { onFrameHeader() {}, onFramePayload: (d) => views.push(d), onFrameEnd() {}, onFrameError: (e) => assert.fail(e) },
    );
    parser.push(input);
    assert.equal(views.length, 1);
    assert.equal(views[0]!.buffer, input.buffer, "zero copy");
    assert.equal(views[0]!.byteOffset, input.byteOffset + 6);
    assert.deepEqual(Array.from(views[0]!), [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(Array.from(input.subarray(6)), [1, 2, 3, 4, 5, 6], "the input itself was unmasked");
  });

  test("an empty frame gives header then end, with no payload call", () => {
    for (const role of ["client", "server"] as const) {
      const calls = parse(encodeFrame({ opcode: Opcode.PING, key: role === "server" ? Uint8Array.from(KEY) : null }), { role });
      assert.deepEqual(calls, [{ kind: "header", fin: true, rsv: 0, opcode: Opcode.PING, length: 0 }, { kind: "end" }]);
    }
  });

  test("frames of exactly maxFrameSize pass; control frames are not subject to maxFrameSize", () => {
    const key = Uint8Array.from(KEY);
    const calls = parse(
      concat([
        encodeFrame({ opcode: Opcode.BINARY, payload: new Uint8Array(10), key }),
        encodeFrame({ opcode: Opcode.PING, payload: new Uint8Array(100), key }),
      ]),
      { maxFrameSize: 10 },
    );
    assert.ok(calls.every((c) => c.kind !== "error"), JSON.stringify(calls));
    assert.equal(calls.filter((c) => c.kind === "end").length, 2);
  });

  test("allowedRsv lets a negotiated extension's bits through and reports them", () => {
    const frame = encodeFrame({ opcode: Opcode.TEXT, rsv: Rsv.RSV1, payload: Uint8Array.of(0x41), key: Uint8Array.from(KEY) });
    const calls = parse(frame, { allowedRsv: Rsv.RSV1 });
    assert.deepEqual(calls[0], { kind: "header", fin: true, rsv: Rsv.RSV1, opcode: 1, length: 1 });
    // RSV2 is still refused when only RSV1 is allowed.
    const rsv2 = encodeFrame({ opcode: Opcode.TEXT, rsv: Rsv.RSV2, key: Uint8Array.from(KEY) });
    const err = parse(rsv2, { allowedRsv: Rsv.RSV1 });
    assert.equal(err.length, 1);
    assert.equal(err[0]!.kind === "error" && err[0].error.code, "RESERVED_BITS");
  });

  test("stop() ignores all further input", () => {
    const { sink, calls } = recorder();
    const parser = new FrameParser({ role: "client", maxFrameSize: 100 }, sink);
    parser.push(encodeFrame({ opcode: Opcode.TEXT, payload: Uint8Array.of(0x41) }));
    assert.equal(parser.isStopped, false);
    parser.stop();
    assert.equal(parser.isStopped, true);
    parser.push(encodeFrame({ opcode: Opcode.TEXT, payload: Uint8Array.of(0x42) }));
    assert.equal(calls.length, 3);
  });
});

// ---------------------------------------------------------------- FrameParser: errors

describe("FrameParser: structural errors", () => {
  const M = 0x80; // mask bit
  const cases: Array<{
    name: string;
    bytes: Uint8Array;
    role?: "client" | "server";
    maxFrameSize?: number;
    code: ViolationCode;
    closeCode: number;
  }> = [
    { name: "RSV1 set", bytes: rawHeader(0xc1, M | 0, [], KEY), code: "RESERVED_BITS", closeCode: 1002 },
    { name: "RSV2 set", bytes: rawHeader(0xa1, M | 0, [], KEY), code: "RESERVED_BITS", closeCode: 1002 },
    { name: "RSV3 set", bytes: rawHeader(0x91, M | 0, [], KEY), code: "RESERVED_BITS", closeCode: 1002 },
    { name: "RSV bits on a control frame", bytes: rawHeader(0xc9, M | 0, [], KEY), code: "RESERVED_BITS", closeCode: 1002 },
    ...[3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf].map((op) => ({
      name: `reserved opcode 0x${op.toString(16)}`,
      bytes: rawHeader(0x80 | op, M | 0, [], KEY),
      code: "UNKNOWN_OPCODE" as const,
      closeCode: 1002,
    })),
    { name: "fragmented ping", bytes: rawHeader(0x09, M | 0, [], KEY), code: "CONTROL_FRAGMENTED", closeCode: 1002 },
    { name: "fragmented pong", bytes: rawHeader(0x0a, M | 1, [], KEY), code: "CONTROL_FRAGMENTED", closeCode: 1002 },
    { name: "fragmented close", bytes: rawHeader(0x08, M | 2, [], KEY), code: "CONTROL_FRAGMENTED", closeCode: 1002 },
    { name: "control frame of 126 bytes", bytes: rawHeader(0x89, M | 126, [0, 126], KEY), code: "CONTROL_TOO_LONG", closeCode: 1002 },
    { name: "close frame with a 64-bit length", bytes: rawHeader(0x88, M | 127, [0, 0, 0, 0, 0, 1, 0, 0], KEY), code: "CONTROL_TOO_LONG", closeCode: 1002 },
    { name: "unmasked frame at the server role", bytes: rawHeader(0x81, 0), role: "server", code: "UNMASKED_FRAME", closeCode: 1002 },
    { name: "masked frame at the client role", bytes: rawHeader(0x81, M | 0, [], KEY), role: "client", code: "MASKED_FRAME", closeCode: 1002 },
    {
      name: "64-bit length with the top bit set",
      bytes: rawHeader(0x82, M | 127, [0x80, 0, 0, 0, 0, 0, 0, 0], KEY),
      code: "LENGTH_TOP_BIT",
      closeCode: 1002,
    },
    {
      name: "64-bit length 0xFFFFFFFFFFFFFFFF",
      bytes: rawHeader(0x82, M | 127, [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], KEY),
      code: "LENGTH_TOP_BIT",
      closeCode: 1002,
    },
    { name: "16-bit length of 0", bytes: rawHeader(0x82, M | 126, [0, 0], KEY), code: "NON_MINIMAL_LENGTH", closeCode: 1002 },
    { name: "16-bit length of 125", bytes: rawHeader(0x82, M | 126, [0, 125], KEY), code: "NON_MINIMAL_LENGTH", closeCode: 1002 },
    { name: "64-bit length of 126", bytes: rawHeader(0x82, M | 127, [0, 0, 0, 0, 0, 0, 0, 126], KEY), code: "NON_MINIMAL_LENGTH", closeCode: 1002 },
    { name: "64-bit length of 65535", bytes: rawHeader(0x82, M | 127, [0, 0, 0, 0, 0, 0, 0xff, 0xff], KEY), code: "NON_MINIMAL_LENGTH", closeCode: 1002 },
    {
      name: "frame over maxFrameSize (7-bit length), header only",
      bytes: rawHeader(0x82, M | 11, [], KEY),
      maxFrameSize: 10,
      code: "FRAME_TOO_BIG",
      closeCode: 1009,
    },
    {
      name: "frame over maxFrameSize (16-bit length), header only",
      bytes: rawHeader(0x81, M | 126, [0x04, 0x01], KEY),
      maxFrameSize: 1024,
      code: "FRAME_TOO_BIG",
      closeCode: 1009,
    },
    {
      name: "frame of 2^53 bytes, header only",
      bytes: rawHeader(0x02, M | 127, [0x00, 0x20, 0, 0, 0, 0, 0, 0], KEY),
      code: "FRAME_TOO_BIG",
      closeCode: 1009,
    },
    {
      name: "continuation frame over maxFrameSize, header only, at the client role",
      bytes: rawHeader(0x80, 127, [0, 0, 0, 1, 0, 0, 0, 0]),
      role: "client",
      maxFrameSize: 2 ** 31,
      code: "FRAME_TOO_BIG",
      closeCode: 1009,
    },
  ];

  for (const c of cases) {
    test(`${c.name} → ${c.code} (${c.closeCode})`, () => {
      assert.equal(VIOLATIONS[c.code].closeCode, c.closeCode);
      for (const split of ["whole", "bytes"] as const) {
        // Header only: every check must be decided without any payload.
        const calls = parse(c.bytes, { role: c.role ?? "server", maxFrameSize: c.maxFrameSize ?? 1 << 20 }, split);
        assert.equal(calls.length, 1, `${split}: ${JSON.stringify(calls)}`);
        const call = calls[0]!;
        assert.equal(call.kind, "error");
        if (call.kind !== "error") return;
        assert.ok(call.error instanceof ProtocolError);
        assert.equal(call.error.code, c.code);
        assert.equal(call.error.closeCode, c.closeCode);
      }
    });
  }

  test("an error after valid frames: earlier frames are reported, then one error, then nothing", () => {
    const key = Uint8Array.from(KEY);
    const good = encodeFrame({ opcode: Opcode.TEXT, payload: Uint8Array.of(0x61, 0x62), key });
    const bad = rawHeader(0x83, 0x80, [], KEY);
    for (const split of ["whole", "bytes"] as const) {
      const calls = parse(concat([good, bad, good, good]), {}, split);
      const kinds = normalise(calls).map((c) => c.kind);
      assert.deepEqual(kinds, ["header", "payload", "end", "error"]);
    }
  });

  test("the parser reports the error once and stays stopped", () => {
    const { sink, calls } = recorder();
    const parser = new FrameParser({ role: "server", maxFrameSize: 100 }, sink);
    parser.push(rawHeader(0x81, 0x00));
    assert.equal(parser.isStopped, true);
    parser.push(encodeFrame({ opcode: Opcode.TEXT, key: Uint8Array.from(KEY) }));
    parser.push(rawHeader(0x81, 0x00));
    assert.equal(calls.length, 1);
  });

  test("a partial header is not an error yet", () => {
    // The first two bytes of a frame with a 64-bit length: wait for the rest.
    const calls = parse(rawHeader(0x82, 0x80 | 127, [0, 0, 0]));
    assert.deepEqual(calls, []);
  });
});

// ---------------------------------------------------------------- FrameParser: any chunking

interface GeneratedFrame {
  fin: boolean;
  opcode: number;
  payload: Uint8Array;
}

/** A valid stream: data messages (maybe fragmented) with control frames mixed in. */
function randomStream(r: Rng, masked: boolean): { bytes: Uint8Array; frames: GeneratedFrame[] } {
  const sizes = [0, 1, 2, 3, 4, 5, 7, 125, 126, 127, 1000, 65535, 65536, 70000];
  const randomLength = (): number => (r.chance(0.5) ? r.int(40) : sizes[r.int(sizes.length)]!);
  const frames: GeneratedFrame[] = [];
  let inMessage = false;
  let total = 0;
  while (frames.length < 60 || inMessage) {
    let frame: GeneratedFrame;
    if (r.chance(0.25)) {
      const opcode = [Opcode.PING, Opcode.PONG, Opcode.CLOSE][r.int(3)]!;
      frame = { fin: true, opcode, payload: r.bytes(r.chance(0.2) ? 125 : r.int(126)) };
    } else {
      const fin = frames.length >= 60 ? true : r.chance(0.5);
      const opcode = inMessage ? Opcode.CONTINUATION : r.chance(0.5) ? Opcode.TEXT : Opcode.BINARY;
      // Keep the whole stream to a few hundred KiB so byte-at-a-time stays fast.
      let length = randomLength();
      if (total + length > 250_000) length = r.int(130);
      frame = { fin, opcode, payload: r.bytes(length) };
      inMessage = !fin;
    }
    total += frame.payload.length;
    frames.push(frame);
  }
  const encoded = frames.map((f) => encodeFrame({ ...f, key: masked ? r.bytes(4) : null }));
  return { bytes: concat(encoded), frames };
}

function randomSplit(bytes: Uint8Array, r: Rng): Uint8Array[] {
  const parts: Uint8Array[] = [];
  let at = 0;
  const style = r.int(3);
  while (at < bytes.length) {
    // Mix small cuts (inside headers and keys) with large ones; byte by byte covers every cut point.
    const take = style === 0 ? r.int(300) : style === 1 ? (r.chance(0.5) ? r.int(16) : r.int(20_000)) : r.int(100_000);
    parts.push(bytes.subarray(at, at + take));
    at += take;
  }
  return parts;
}

describe("FrameParser: any chunking gives the same result", () => {
  for (const role of ["server", "client"] as const) {
    test(`random valid streams, ${role} role (${role === "server" ? "masked" : "unmasked"}): whole, 50 random splittings, byte by byte`, () => {
      const seed = role === "server" ? 0xc0ffee : 0xbadf00d;
      const r = rng(seed);
      const { bytes, frames } = randomStream(r, role === "server");
      const run = (parts: Uint8Array[]): ReturnType<typeof normalise> => {
        const { sink, calls } = recorder();
        const parser = new FrameParser({ role, maxFrameSize: 1 << 20 }, sink);
        for (const part of parts) parser.push(part);
        assert.equal(parser.isStopped, false);
        return normalise(calls);
      };

      // Pushed whole: exactly the generated frames.
      const whole = run([bytes.slice()]);
      const expected: ReturnType<typeof normalise> = [];
      for (const f of frames) {
        expected.push({ kind: "header", fin: f.fin, rsv: 0, opcode: f.opcode, length: f.payload.length });
        if (f.payload.length > 0) expected.push({ kind: "payload", hex: Buffer.from(f.payload).toString("hex") });
        expected.push({ kind: "end" });
      }
      assert.deepEqual(whole, expected, `seed ${seed}`);
      assert.ok(frames.some((f) => f.payload.length === 65536) || frames.some((f) => f.payload.length > 65535), "a 64-bit length frame");

      for (let s = 0; s < 50; s++) {
        const copy = bytes.slice();
        assert.deepEqual(run(randomSplit(copy, r)), whole, `seed ${seed}, splitting ${s}`);
      }
      const copy = bytes.slice();
      assert.deepEqual(run(Array.from({ length: copy.length }, (_, i) => copy.subarray(i, i + 1))), whole, "byte by byte");
    });
  }

  test("empty chunks are harmless anywhere", () => {
    const key = Uint8Array.from(KEY);
    const bytes = concat([
      encodeFrame({ opcode: Opcode.TEXT, fin: false, payload: Uint8Array.of(1, 2, 3), key }),
      encodeFrame({ opcode: Opcode.CONTINUATION, payload: Uint8Array.of(4), key }),
    ]);
    const expected = normalise(parse(bytes));
    const { sink, calls } = recorder();
    const parser = new FrameParser({ role: "server", maxFrameSize: 100 }, sink);
    const copy = bytes.slice();
    for (let i = 0; i < copy.length; i++) {
      parser.push(new Uint8Array(0));
      parser.push(copy.subarray(i, i + 1));
    }
    assert.deepEqual(normalise(calls), expected);
  });
});

test("unmask: false hands masked pieces with their key and phase, for a sink that unmasks while copying", async () => {
  const { FrameParser } = await import("../../src/core/frame.js");
  const { applyMask } = await import("../../src/core/mask.js");
  const key = new Uint8Array([0x37, 0xfa, 0x21, 0x3d]);
  const payload = new Uint8Array(1000).map((_, i) => (i * 31) & 0xff);
  const wire = frameBytes(Opcode.BINARY, payload, { key });
  const out = new Uint8Array(payload.length);
  let at = 0;
  const parser = new FrameParser(
    { role: "server", maxFrameSize: 1 << 20, unmask: false },
    {
      onFrameHeader() {},
      onFramePayload(piece, pieceKey, phase) {
        assert.ok(pieceKey !== null);
        applyMask(piece, 0, out, at, piece.length, pieceKey, phase);
        at += piece.length;
      },
      onFrameEnd() {},
      onFrameError: (error) => assert.fail(error),
    },
  );
  for (let i = 0; i < wire.length; i += 77) parser.push(wire.slice(i, i + 77));
  assert.deepEqual(out, payload);
});
