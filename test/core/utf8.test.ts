import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { Utf8Validator, isValidUtf8, type Utf8Check } from "../../src/core/utf8.js";
import { hex, isWellFormedUtf8, rng, utf8, type Rng } from "../helpers/bytes.js";

/** The oracle: WHATWG UTF-8 decoding with errors fatal. */
const oracle = isWellFormedUtf8;

/** The native whole-buffer check the validator may be given. */
const fast: Utf8Check = (b) => oracle(b);

/**
 * Whether `prefix` can still be completed into valid UTF-8. Any open sequence
 * needs at most three more continuation bytes; only the first one has a lead-
 * dependent range (80-8F, 80-9F, 90-BF or A0-BF), and 80, 90 and A0 between
 * them satisfy every such range.
 */
function extendable(prefix: Uint8Array): boolean {
  if (oracle(prefix)) return true;
  for (const first of [0x80, 0x90, 0xa0]) {
    for (let more = 0; more <= 2; more++) {
      const candidate = new Uint8Array(prefix.length + 1 + more);
      candidate.set(prefix);
      candidate.fill(0x80, prefix.length);
      candidate[prefix.length] = first;
      if (oracle(candidate)) return true;
    }
  }
  return false;
}

/** Index of the byte at which the input stops being a prefix of any valid UTF-8, or -1. */
function firstBadByte(bytes: Uint8Array): number {
  if (extendable(bytes)) return -1;
  // Not extendable is monotone in the prefix length: binary search.
  let lo = 0; // prefix of length lo is extendable
  let hi = bytes.length; // prefix of length hi is not
  while (hi - lo > 1) {
    const mid = (lo + hi) >>> 1;
    if (extendable(bytes.subarray(0, mid))) lo = mid;
    else hi = mid;
  }
  return hi - 1;
}

const CODE_POINT_RANGES: Array<[number, number]> = [
  [0x00, 0x7f],
  [0x80, 0x7ff],
  [0x800, 0xd7ff],
  [0xe000, 0xffff],
  [0x10000, 0x10ffff],
];
const EDGE_CODE_POINTS = [0x7f, 0x80, 0x7ff, 0x800, 0xd7ff, 0xe000, 0xfffd, 0xffff, 0x10000, 0x10ffff];
/** Bytes that often break UTF-8: stray continuations, overlong leads, surrogate/too-large leads, F5-FF. */
const NASTY_BYTES = [0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xf8, 0xfe, 0xff];

/** Mostly valid multi-byte text, with random corruption in about half the cases. */
function randomBytes(r: Rng): Uint8Array {
  let text = "";
  const chars = r.int(40);
  for (let i = 0; i < chars; i++) {
    let cp: number;
    if (r.chance(0.15)) {
      cp = EDGE_CODE_POINTS[r.int(EDGE_CODE_POINTS.length)]!;
    } else {
      const [lo, hi] = CODE_POINT_RANGES[r.int(CODE_POINT_RANGES.length)]!;
      cp = lo + r.int(hi - lo + 1);
    }
    text += String.fromCodePoint(cp);
  }
  const bytes = Array.from(utf8(text));
  if (r.chance(0.5)) {
    const edits = 1 + r.int(3);
    for (let e = 0; e < edits; e++) {
      const at = r.int(bytes.length + 1);
      const nasty = NASTY_BYTES[r.int(NASTY_BYTES.length)]!;
      switch (r.int(5)) {
        case 0: // replace a byte with anything
          if (bytes.length > 0) bytes[Math.min(at, bytes.length - 1)] = r.int(256);
          break;
        case 1: // insert a troublesome byte
          bytes.splice(at, 0, nasty);
          break;
        case 2: // delete a byte (often cuts a sequence short)
          bytes.splice(Math.min(at, bytes.length - 1), 1);
          break;
        case 3: // truncate
          bytes.length = at;
          break;
        default: // a lead followed by a random continuation byte
          bytes.splice(at, 0, nasty, 0x80 + r.int(64));
      }
    }
  }
  return Uint8Array.from(bytes);
}

/** Split points: whole, every byte, or random cuts. */
type Split = "whole" | "bytes" | number;

function pieces(bytes: Uint8Array, split: Split, r: Rng): Uint8Array[] {
  if (split === "whole") return [bytes];
  if (split === "bytes") return Array.from(bytes, (_, i) => bytes.subarray(i, i + 1));
  const out: Uint8Array[] = [];
  let at = 0;
  while (at < bytes.length) {
    const take = r.chance(0.2) ? 0 : 1 + r.int(split);
    out.push(bytes.subarray(at, at + take));
    at += take;
  }
  return out;
}

/**
 * Feed the pieces; returns the index of the piece whose push returned false
 * (-1 when none did) and the result of finish() when every push succeeded.
 */
function feed(validator: Utf8Validator, parts: Uint8Array[]): { failedAt: number; finished: boolean | null } {
  for (let i = 0; i < parts.length; i++) {
    if (!validator.push(parts[i]!)) return { failedAt: i, finished: null };
  }
  return { failedAt: -1, finished: validator.finish() };
}

function checkAgainstOracle(bytes: Uint8Array, parts: Uint8Array[], validator: Utf8Validator, label: string): void {
  const valid = oracle(bytes);
  const bad = firstBadByte(bytes);
  const { failedAt, finished } = feed(validator, parts);
  const context = `${label}: ${hex(bytes, " ")} | pieces ${parts.map((p) => p.length).join(",")}`;
  if (bad === -1) {
    assert.equal(failedAt, -1, `push failed on a prefix that can still be valid: ${context}`);
    assert.equal(finished, valid, `finish() disagrees with the oracle: ${context}`);
  } else {
    // Fail fast: the push carrying the first impossible byte is the one that fails.
    let end = 0;
    let expectedPiece = -1;
    for (let i = 0; i < parts.length; i++) {
      end += parts[i]!.length;
      if (end > bad) {
        expectedPiece = i;
        break;
      }
    }
    assert.equal(failedAt, expectedPiece, `expected the piece holding byte ${bad} to fail: ${context}`);
  }
}

describe("Utf8Validator against TextDecoder (fatal) as oracle", () => {
  for (const withFast of [false, true]) {
    const name = withFast ? "with a fast whole-buffer check" : "without a fast check";
    test(`random byte strings, whole / byte by byte / random splits, ${name}`, () => {
      const r = rng(withFast ? 0xfa57 : 0x510e);
      let valid = 0;
      let invalid = 0;
      let truncated = 0;
      for (let run = 0; run < 1000; run++) {
        const bytes = randomBytes(r);
        if (oracle(bytes)) valid++;
        else if (firstBadByte(bytes) === -1) truncated++;
        else invalid++;
        const splits: Split[] = ["whole", "bytes", 3, 20, 40];
        for (const split of splits) {
          const parts = pieces(bytes, split, r);
          checkAgainstOracle(bytes, parts, new Utf8Validator(withFast ? fast : undefined), `run ${run}, split ${split}`);
        }
      }
      // The generator must produce a healthy mix, or the test proves little.
      assert.ok(valid > 200 && invalid > 200 && truncated > 20, `valid ${valid}, invalid ${invalid}, truncated ${truncated}`);
    });
  }

  test("a validator is reusable after finish() (and after reset())", () => {
    const r = rng(1234);
    for (const withFast of [false, true]) {
      const validator = new Utf8Validator(withFast ? fast : undefined);
      for (let run = 0; run < 300; run++) {
        const bytes = randomBytes(r);
        const result = feed(validator, pieces(bytes, 25, r));
        if (result.failedAt !== -1) validator.reset();
        assert.equal(result.finished === true, oracle(bytes), hex(bytes, " "));
      }
    }
  });

  test("isValidUtf8 agrees with the oracle, with and without a fast check", () => {
    const r = rng(77);
    for (let run = 0; run < 500; run++) {
      const bytes = randomBytes(r);
      assert.equal(isValidUtf8(bytes), oracle(bytes), hex(bytes, " "));
      assert.equal(isValidUtf8(bytes, fast), oracle(bytes), hex(bytes, " "));
    }
  });
});

describe("Utf8Validator edge cases", () => {
  const cases: Array<[string, number[], boolean]> = [
    ["empty", [], true],
    ["ASCII", [0x41, 0x00, 0x7f], true],
    ["smallest 2-byte (U+0080)", [0xc2, 0x80], true],
    ["largest 2-byte (U+07FF)", [0xdf, 0xbf], true],
    ["smallest 3-byte (U+0800)", [0xe0, 0xa0, 0x80], true],
    ["U+D7FF, just below the surrogates", [0xed, 0x9f, 0xbf], true],
    ["U+E000, just above the surrogates", [0xee, 0x80, 0x80], true],
    ["U+FFFF", [0xef, 0xbf, 0xbf], true],
    ["smallest 4-byte (U+10000)", [0xf0, 0x90, 0x80, 0x80], true],
    ["U+10FFFF", [0xf4, 0x8f, 0xbf, 0xbf], true],
    ["overlong 2-byte C0 80", [0xc0, 0x80], false],
    ["overlong 2-byte C1 BF", [0xc1, 0xbf], false],
    ["overlong 3-byte E0 80 80", [0xe0, 0x80, 0x80], false],
    ["overlong 3-byte E0 9F BF", [0xe0, 0x9f, 0xbf], false],
    ["overlong 4-byte F0 80 80 80", [0xf0, 0x80, 0x80, 0x80], false],
    ["overlong 4-byte F0 8F BF BF", [0xf0, 0x8f, 0xbf, 0xbf], false],
    ["surrogate ED A0 80 (U+D800)", [0xed, 0xa0, 0x80], false],
    ["surrogate ED BF BF (U+DFFF)", [0xed, 0xbf, 0xbf], false],
    ["surrogate pair encoded as two 3-byte sequences", [0xed, 0xa0, 0x80, 0xed, 0xb0, 0x80], false],
    ["above U+10FFFF: F4 90 80 80", [0xf4, 0x90, 0x80, 0x80], false],
    ["F5 lead", [0xf5, 0x80, 0x80, 0x80], false],
    ["F7 BF BF BF", [0xf7, 0xbf, 0xbf, 0xbf], false],
    ["F8 (5-byte form)", [0xf8, 0x88, 0x80, 0x80, 0x80], false],
    ["FC (6-byte form)", [0xfc, 0x84, 0x80, 0x80, 0x80, 0x80], false],
    ["FE", [0xfe], false],
    ["FF", [0xff], false],
    ["lone continuation byte", [0x80], false],
    ["continuation after a complete character", [0xc2, 0x80, 0x80], false],
    ["lead followed by ASCII", [0xc2, 0x41], false],
    ["3-byte lead followed by a new lead", [0xe2, 0x82, 0xe2, 0x82, 0xac], false],
    ["truncated 2-byte at the end", [0x41, 0xc2], false],
    ["truncated 3-byte at the end (1 of 3)", [0x41, 0xe2], false],
    ["truncated 3-byte at the end (2 of 3)", [0x41, 0xe2, 0x82], false],
    ["truncated 4-byte at the end (3 of 4)", [0xf0, 0x9f, 0x98], false],
  ];

  for (const [name, bytes, valid] of cases) {
    test(`${name}: ${valid ? "valid" : "invalid"}`, () => {
      const data = Uint8Array.from(bytes);
      assert.equal(oracle(data), valid, "the oracle agrees with the table");
      for (const check of [undefined, fast]) {
        // Whole.
        let v = new Utf8Validator(check);
        assert.equal(v.push(data) && v.finish(), valid);
        // Byte by byte.
        v = new Utf8Validator(check);
        let ok = true;
        for (const b of data) ok &&= v.push(Uint8Array.of(b));
        assert.equal(ok && v.finish(), valid);
        // Padded with ASCII so the fast path (16+ byte runs) is taken.
        const padded = Uint8Array.from([...new Array<number>(20).fill(0x61), ...bytes, ...new Array<number>(20).fill(0x62)]);
        v = new Utf8Validator(check);
        assert.equal(v.push(padded) && v.finish(), valid);
      }
    });
  }

  test("truncated sequences pass push() but fail finish()", () => {
    for (const bytes of [[0xc2], [0xe2, 0x82], [0xf0, 0x9f, 0x98], [0x61, 0x62, 0xf4, 0x8f, 0xbf]]) {
      for (const check of [undefined, fast]) {
        const v = new Utf8Validator(check);
        assert.equal(v.push(Uint8Array.from(bytes)), true, hex(Uint8Array.from(bytes), " "));
        assert.equal(v.finish(), false, hex(Uint8Array.from(bytes), " "));
      }
    }
  });

  test("a character split over pieces is valid once its last byte arrives", () => {
    const euro = [0xe2, 0x82, 0xac];
    const emoji = [0xf0, 0x9f, 0x98, 0x80];
    for (const check of [undefined, fast]) {
      const v = new Utf8Validator(check);
      const long = new Array<number>(30).fill(0x41);
      assert.equal(v.push(Uint8Array.from([...long, euro[0]!])), true);
      assert.equal(v.push(Uint8Array.from([euro[1]!])), true);
      assert.equal(v.push(Uint8Array.from([euro[2]!, ...long, emoji[0]!, emoji[1]!])), true);
      assert.equal(v.push(Uint8Array.from([emoji[2]!, emoji[3]!, ...long])), true);
      assert.equal(v.finish(), true);
    }
  });

  test("finish() resets: an unfinished sequence does not leak into the next message", () => {
    const v = new Utf8Validator();
    assert.equal(v.push(Uint8Array.of(0xe2, 0x82)), true);
    assert.equal(v.finish(), false);
    // 0xAC would complete the old sequence; on a fresh message it is a stray continuation.
    assert.equal(v.push(Uint8Array.of(0xac)), false);
    v.reset();
    assert.equal(v.push(Uint8Array.of(0x41)), true);
    assert.equal(v.finish(), true);
  });

  describe("fail fast", () => {
    // "κόσμε" followed by the start of a code point above U+10FFFF.
    const prefix = [0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5];
    const bad = [0xf4, 0x90];

    test("the push that contains F4 90 returns false, before finish()", () => {
      for (const check of [undefined, fast]) {
        const v = new Utf8Validator(check);
        assert.equal(v.push(Uint8Array.from(prefix)), true);
        assert.equal(v.push(Uint8Array.from(bad)), false);
      }
    });

    test("the whole invalid prefix pushed at once returns false", () => {
      for (const check of [undefined, fast]) {
        assert.equal(new Utf8Validator(check).push(Uint8Array.from([...prefix, ...bad])), false);
        // Also through the fast path: a 16+ byte piece ending in the bad prefix.
        const long = Uint8Array.from([...new Array<number>(16).fill(0x20), ...prefix, ...bad]);
        assert.equal(new Utf8Validator(check).push(long), false);
      }
    });

    test("byte by byte, the push of 0x90 fails (F4 alone is still a valid prefix)", () => {
      for (const check of [undefined, fast]) {
        const v = new Utf8Validator(check);
        for (const b of [...prefix, 0xf4]) assert.equal(v.push(Uint8Array.of(b)), true);
        assert.equal(v.push(Uint8Array.of(0x90)), false);
      }
    });

    test("an invalid byte in the middle of a long piece fails that piece", () => {
      for (const check of [undefined, fast]) {
        for (const nasty of [[0xc0, 0x80], [0xed, 0xa0, 0x80], [0xff], [0x80]]) {
          const v = new Utf8Validator(check);
          const piece = Uint8Array.from([...new Array<number>(40).fill(0x41), ...nasty, ...new Array<number>(40).fill(0x42)]);
          assert.equal(v.push(piece), false, hex(Uint8Array.from(nasty), " "));
        }
      }
    });
  });
});
