import { test, describe } from "node:test";
import assert from "node:assert/strict";
import {
  CloseFrame,
  MAX_CLOSE_REASON_BYTES,
  encodeClosePayload,
  isValidCloseCode,
  parseClosePayload,
} from "../../src/core/close.js";
import { ProtocolError, UsageError } from "../../src/core/errors.js";

const encoder = new TextEncoder();

function payload(code: number, reason: number[] | string = []): Uint8Array {
  const reasonBytes = typeof reason === "string" ? encoder.encode(reason) : Uint8Array.from(reason);
  const out = new Uint8Array(2 + reasonBytes.length);
  out[0] = code >>> 8;
  out[1] = code & 0xff;
  out.set(reasonBytes, 2);
  return out;
}

function assertProtocolError(fn: () => unknown, code: string, closeCode: number): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof ProtocolError, `expected a ProtocolError, got ${String(error)}`);
    assert.equal(error.code, code);
    assert.equal(error.closeCode, closeCode);
    return true;
  });
}

/** Every boundary of the close code ranges, with whether it may go on the wire. */
const CODES: Array<[number, boolean]> = [
  [0, false],
  [1, false],
  [999, false],
  [1000, true],
  [1001, true],
  [1002, true],
  [1003, true],
  [1004, false], // reserved
  [1005, false], // no status: never sent
  [1006, false], // abnormal: never sent
  [1007, true],
  [1008, true],
  [1009, true],
  [1010, true],
  [1011, true],
  [1012, true],
  [1013, true],
  [1014, true],
  [1015, false], // TLS failure: never sent
  [1016, false],
  [1999, false],
  [2000, false],
  [2999, false],
  [3000, true],
  [3999, true],
  [4000, true],
  [4999, true],
  [5000, false],
  [65535, false],
];

describe("isValidCloseCode", () => {
  for (const [code, valid] of CODES) {
    test(`${code} is ${valid ? "valid" : "not valid"} on the wire`, () => {
      assert.equal(isValidCloseCode(code), valid);
    });
  }

  test("non-integers and negative numbers are not codes", () => {
    for (const value of [1000.5, -1000, NaN, Infinity, -Infinity]) assert.equal(isValidCloseCode(value), false, String(value));
  });
});

describe("parseClosePayload", () => {
  test("an empty payload is 'no status' (1005) with no reason", () => {
    const frame = parseClosePayload(new Uint8Array(0));
    assert.ok(frame instanceof CloseFrame);
    assert.equal(frame.code, 1005);
    assert.equal(frame.reason, "");
  });

  test("a 1-byte payload is a protocol error (1002)", () => {
    for (const b of [0x03, 0xe8, 0x00]) assertProtocolError(() => parseClosePayload(Uint8Array.of(b)), "CLOSE_PAYLOAD_LENGTH", 1002);
  });

  for (const [code, valid] of CODES) {
    test(`code ${code} ${valid ? "is accepted" : "is a protocol error (1002)"}`, () => {
      if (valid) {
        const frame = parseClosePayload(payload(code));
        assert.equal(frame.code, code);
        assert.equal(frame.reason, "");
        assert.equal(parseClosePayload(payload(code, "why")).reason, "why");
      } else {
        assertProtocolError(() => parseClosePayload(payload(code)), "INVALID_CLOSE_CODE", 1002);
        assertProtocolError(() => parseClosePayload(payload(code, "why")), "INVALID_CLOSE_CODE", 1002);
      }
    });
  }

  test("the code is big-endian", () => {
    assert.equal(parseClosePayload(Uint8Array.of(0x03, 0xe8)).code, 1000);
    assert.equal(parseClosePayload(Uint8Array.of(0x0f, 0xa0)).code, 4000);
    // Byte-swapped 1000 (0xE803 = 59395) is not a valid code.
    assertProtocolError(() => parseClosePayload(Uint8Array.of(0xe8, 0x03)), "INVALID_CLOSE_CODE", 1002);
  });

  test("a multi-byte UTF-8 reason is decoded", () => {
    const reason = "déjà vu – 😀 κόσμε";
    const frame = parseClosePayload(payload(1001, reason));
    assert.equal(frame.code, 1001);
    assert.equal(frame.reason, reason);
  });

  test("a reason that is not UTF-8 is an invalid-payload error (1007)", () => {
    const bad: number[][] = [
      [0xff],
      [0x80],
      [0xc0, 0x80], // overlong
      [0xed, 0xa0, 0x80], // surrogate
      [0xf4, 0x90, 0x80, 0x80], // above U+10FFFF
      [0x61, 0x62, 0xe2, 0x82], // ends inside a character
      [0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5, 0xf4, 0x90],
    ];
    for (const reason of bad) {
      assertProtocolError(() => parseClosePayload(payload(1000, reason)), "INVALID_CLOSE_REASON", 1007);
    }
  });

  test("an invalid code is reported before an invalid reason", () => {
    assertProtocolError(() => parseClosePayload(payload(1005, [0xff])), "INVALID_CLOSE_CODE", 1002);
  });

  test("the longest legal payload (125 bytes) parses", () => {
    const reason = "r".repeat(MAX_CLOSE_REASON_BYTES);
    const frame = parseClosePayload(payload(3000, reason));
    assert.equal(frame.reason, reason);
  });
});

describe("encodeClosePayload", () => {
  test("no code gives an empty payload; 1005 also gives an empty payload", () => {
    assert.equal(encodeClosePayload().length, 0);
    assert.equal(encodeClosePayload(undefined, "").length, 0);
    assert.equal(encodeClosePayload(1005).length, 0);
  });

  test("a reason without a code is a usage error", () => {
    assert.throws(() => encodeClosePayload(undefined, "why"), UsageError);
    assert.throws(() => encodeClosePayload(1005, "why"), UsageError);
  });

  for (const [code, valid] of CODES) {
    if (code === 1005) continue;
    test(`code ${code} ${valid ? "encodes big-endian" : "is refused (UsageError)"}`, () => {
      if (valid) {
        assert.deepEqual(encodeClosePayload(code), Uint8Array.of(code >>> 8, code & 0xff));
        assert.deepEqual(encodeClosePayload(code, "ok"), payload(code, "ok"));
      } else {
        assert.throws(() => encodeClosePayload(code), (e: unknown) => e instanceof UsageError && e.code === "INVALID_CLOSE_CODE");
      }
    });
  }

  test("1006 is never sent, not even with a reason", () => {
    assert.throws(() => encodeClosePayload(1006), UsageError);
    assert.throws(() => encodeClosePayload(1006, "dropped"), UsageError);
  });

  test("the reason limit is 123 bytes of UTF-8, not 123 characters", () => {
    assert.equal(MAX_CLOSE_REASON_BYTES, 123);
    assert.equal(encodeClosePayload(1000, "a".repeat(123)).length, 125);
    assert.throws(
      () => encodeClosePayload(1000, "a".repeat(124)),
      (e: unknown) => e instanceof UsageError && e.code === "CLOSE_REASON_TOO_LONG",
    );
    // 41 three-byte characters = 123 bytes fit; 42 (126 bytes) do not.
    assert.equal(encodeClosePayload(1000, "€".repeat(41)).length, 125);
    assert.throws(() => encodeClosePayload(1000, "€".repeat(42)), UsageError);
    // 31 four-byte characters = 124 bytes, one too many, although only 62 UTF-16 units.
    assert.throws(() => encodeClosePayload(1000, "😀".repeat(31)), UsageError);
    assert.equal(encodeClosePayload(1000, "😀".repeat(30) + "abc").length, 125);
  });

  test("encode then parse round-trips code and reason", () => {
    const reasons = ["", "bye", "κόσμε", "😀", "x".repeat(123)];
    for (const [code, valid] of CODES) {
      if (!valid) continue;
      for (const reason of reasons) {
        const frame = parseClosePayload(encodeClosePayload(code, reason));
        assert.equal(frame.code, code);
        assert.equal(frame.reason, reason);
      }
    }
  });
});
