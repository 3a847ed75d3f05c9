/**
 * Payload masking (RFC 6455 section 5.3). XOR with a 4-byte key, done a 32-bit
 * word at a time over the aligned middle of the buffer: the bytes of a word
 * view are in platform order, so the key word is read through the same kind of
 * view and the result is correct on any endianness.
 */

import { SIMD_BLOCK, simdMasker } from "./mask-simd.js";

/** From this size the WebAssembly SIMD path (two copies, 16 bytes per XOR) beats the word loop. */
const SIMD_THRESHOLD = 2048;

/** Below this size an unrolled byte loop beats allocating word views. */
const WORD_THRESHOLD = 128;

const keyBytes = new Uint8Array(4);
const keyWord = new Uint32Array(keyBytes.buffer);

/**
 * XOR `length` bytes of `source` (from `sourceOffset`) with `key`, writing to
 * `target` at `targetOffset`. `source` and `target` may be the same buffer at
 * the same offset (unmasking in place). `keyPhase` is the index into the key
 * of the first byte, for payloads processed in pieces.
 */
export function applyMask(
  source: Uint8Array,
  sourceOffset: number,
  target: Uint8Array,
  targetOffset: number,
  length: number,
  key: Uint8Array,
  keyPhase = 0,
): void {
  if (length >= SIMD_THRESHOLD) {
    const simd = simdMasker();
    if (simd !== null) return maskSimd(simd.memory, simd.xor, source, sourceOffset, target, targetOffset, length, key, keyPhase);
  }
  let i = 0;
  if (length < WORD_THRESHOLD) {
    // Small payloads (the common case): four bytes per step, no allocation.
    const k0 = key[keyPhase & 3]!;
    const k1 = key[(keyPhase + 1) & 3]!;
    const k2 = key[(keyPhase + 2) & 3]!;
    const k3 = key[(keyPhase + 3) & 3]!;
    for (; i + 4 <= length; i += 4) {
      target[targetOffset + i] = source[sourceOffset + i]! ^ k0;
      target[targetOffset + i + 1] = source[sourceOffset + i + 1]! ^ k1;
      target[targetOffset + i + 2] = source[sourceOffset + i + 2]! ^ k2;
      target[targetOffset + i + 3] = source[sourceOffset + i + 3]! ^ k3;
    }
  } else if (length >= WORD_THRESHOLD && (source.byteOffset + sourceOffset) % 4 === (target.byteOffset + targetOffset) % 4) {
    // Byte loop until the target is word aligned, then whole words.
    const misalign = (target.byteOffset + targetOffset) & 3;
    const head = misalign === 0 ? 0 : 4 - misalign;
    for (; i < head; i++) target[targetOffset + i] = source[sourceOffset + i]! ^ key[(keyPhase + i) & 3]!;
    const words = (length - head) >>> 2;
    if (words > 0) {
      for (let k = 0; k < 4; k++) keyBytes[k] = key[(keyPhase + head + k) & 3]!;
      const word = keyWord[0]!;
      const src = new Uint32Array(source.buffer, source.byteOffset + sourceOffset + head, words);
      const dst = src.buffer === target.buffer && source.byteOffset + sourceOffset === target.byteOffset + targetOffset
        ? src
        : new Uint32Array(target.buffer, target.byteOffset + targetOffset + head, words);
      for (let w = 0; w < words; w++) dst[w] = src[w]! ^ word;
      i = head + words * 4;
    }
  }
  for (; i < length; i++) target[targetOffset + i] = source[sourceOffset + i]! ^ key[(keyPhase + i) & 3]!;
}

/** Copy each block into the module's memory, XOR it there 16 bytes at a time, copy it out. */
function maskSimd(
  memory: Uint8Array,
  xor: (length: number, key: number) => void,
  source: Uint8Array,
  sourceOffset: number,
  target: Uint8Array,
  targetOffset: number,
  length: number,
  key: Uint8Array,
  keyPhase: number,
): void {
  for (let done = 0; done < length; done += SIMD_BLOCK) {
    const n = Math.min(SIMD_BLOCK, length - done);
    memory.set(new Uint8Array(source.buffer, source.byteOffset + sourceOffset + done, n), 0);
    // Blocks are multiples of 4 bytes long, so every block starts at the same key phase.
    const p = keyPhase & 3;
    const k0 = key[p]!;
    const k1 = key[(p + 1) & 3]!;
    const k2 = key[(p + 2) & 3]!;
    const k3 = key[(p + 3) & 3]!;
    xor(n, k0 | (k1 << 8) | (k2 << 16) | (k3 << 24));
    for (let i = n & ~15; i < n; i++) memory[i]! ^= key[(p + i) & 3]!;
    target.set(new Uint8Array(memory.buffer, 0, n), targetOffset + done);
  }
}

/** Unmask `data` in place; `keyPhase` as in {@link applyMask}. */
export function unmaskInPlace(data: Uint8Array, key: Uint8Array, keyPhase = 0): void {
  applyMask(data, 0, data, 0, data.length, key, keyPhase);
}

/** Source of random bytes for masking keys: fills the array it is given. */
export type RandomSource = (target: Uint8Array) => void;

/** Fills from `crypto.getRandomValues`, available in every modern JS runtime. */
export const cryptoRandom: RandomSource = (target) => {
  globalThis.crypto.getRandomValues(target);
};

/**
 * Hands out 4-byte masking keys from a pool refilled in bulk, so a client
 * sending many small frames does not pay one random call per frame.
 */
export class MaskKeyPool {
  private readonly pool = new Uint8Array(1024);
  private offset = this.pool.length;
  constructor(private readonly random: RandomSource = cryptoRandom) {}

  /** Next key as a view valid until the pool is refilled: copy it before keeping it. */
  next(): Uint8Array {
    if (this.offset === this.pool.length) {
      this.random(this.pool);
      this.offset = 0;
    }
    const key = this.pool.subarray(this.offset, this.offset + 4);
    this.offset += 4;
    return key;
  }
}

let sharedPool: MaskKeyPool | undefined;

/**
 * The pool used when no random source is given: one per runtime, shared by
 * every client connection (keys are consumed at once, so sharing is safe and
 * saves each connection its own kilobyte).
 */
export function sharedMaskKeys(): MaskKeyPool {
  return (sharedPool ??= new MaskKeyPool());
}
