/**
 * Byte-level test utilities for the tests that feed wsx raw bytes: a seeded
 * PRNG so random runs replay, concatenation, hex, UTF-8 encoding, a reference
 * UTF-8 check, and hand-built frames as plain Uint8Arrays (made by
 * encodeFrame of net.ts, independently of wsx).
 */
import { encodeFrame } from "./net.js";

/** A seeded random source; the same seed always gives the same sequence. */
export interface Rng {
  /** An integer in [0, n). */
  int(n: number): number;
  /** True with probability `p`. */
  chance(p: number): boolean;
  /** A number in (0, 1). */
  float(): number;
  /** `n` random bytes. */
  bytes(n: number): Uint8Array;
}

/** Small seeded PRNG (xorshift32) so any failure can be replayed. */
export function rng(seed: number): Rng {
  let s = seed >>> 0 || 1;
  const next = (): number => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
  return {
    int: (n) => next() % n,
    chance: (p) => next() / 0x100000000 < p,
    float: () => next() / 0x100000000,
    bytes: (n) => {
      const out = new Uint8Array(n);
      for (let i = 0; i < n; i++) out[i] = next() & 0xff;
      return out;
    },
  };
}

/** The parts joined into one new Uint8Array. */
export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Lower-case hex of the bytes, two digits each, joined by `separator`. */
export function hex(bytes: Uint8Array, separator = ""): string {
  const digits = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
  return separator === "" ? digits : (digits.match(/../g) ?? []).join(separator);
}

const encoder = new TextEncoder();

/** The UTF-8 encoding of `text`. */
export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

/** Whether `bytes` is well-formed UTF-8, by WHATWG decoding with errors fatal: a reference to check wsx against. */
export function isWellFormedUtf8(bytes: Uint8Array): boolean {
  try {
    new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    return true;
  } catch {
    return false;
  }
}

/** Frame bits for {@link frame}: a `key` masks the frame (as a client sends it); `null` leaves it unmasked. */
export interface FrameBits {
  fin?: boolean;
  rsv?: number;
  key?: Uint8Array | null;
}

/** One frame with the minimal length form, as a plain Uint8Array. */
export function frame(
  opcode: number,
  payload: Uint8Array | string = new Uint8Array(0),
  { fin = true, rsv = 0, key = null }: FrameBits = {},
): Uint8Array {
  const masking = key === null ? { mask: false } : { mask: true, maskKey: key };
  return new Uint8Array(encodeFrame(opcode, payload, { fin, rsv, ...masking }));
}
