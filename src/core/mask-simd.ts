/**
 * A WebAssembly SIMD path for masking large payloads: 16 bytes per XOR
 * instead of 4. The module is tiny and assembled here from its instructions
 * (no build step, no binary blob); runtimes without WebAssembly SIMD fall
 * back to the JavaScript loop in mask.ts.
 */

/** Bytes masked per call into the module: its scratch memory. */
export const SIMD_BLOCK = 64 * 1024;

/** LEB128 for the small unsigned sizes a module header needs. */
function leb(value: number): number[] {
  const out: number[] = [];
  do {
    let byte = value & 0x7f;
    value >>>= 7;
    if (value !== 0) byte |= 0x80;
    out.push(byte);
  } while (value !== 0);
  return out;
}

function section(id: number, content: number[]): number[] {
  return [id, ...leb(content.length), ...content];
}

function name(text: string): number[] {
  return [text.length, ...Array.from(text, (c) => c.charCodeAt(0))];
}

/**
 * (module
 *   (memory (export "memory") 2)                      ;; 128 KiB: one 64 KiB block and room
 *   (func (export "xor") (param $len i32) (param $key i32)
 *     (local $i i32) (local $end i32) (local $end64 i32) (local $k v128)
 *     $k = i32x4.splat($key); $end = $len & -16; $end64 = $len & -64
 *     loop while $i < $end64: four times store($i + o, v128.xor(load($i + o), $k)); $i += 64
 *     loop while $i < $end: store($i, v128.xor(load($i), $k)); $i += 16))
 * Four vectors per turn of the first loop: the loop's own instructions cost
 * as much as the XOR, so unrolling makes the pass about twice as fast.
 * The last len % 16 bytes are left to the caller.
 */
function moduleBytes(): Uint8Array {
  const I32 = 0x7f;
  const V128 = 0x7b;
  const SIMD = 0xfd;
  /** store($i + offset, v128.xor(load($i + offset), $k)), 16-byte aligned. */
  const xorAt = (offset: number): number[] => [
    0x20, 0x02, // address for the store
    0x20, 0x02, SIMD, 0x00, 0x04, offset, // v128.load align=16 offset
    0x20, 0x05, SIMD, 0x51, // v128.xor $k
    SIMD, 0x0b, 0x04, offset, // v128.store align=16 offset
  ];
  const body = [
    0x02, 0x03, I32, 0x01, V128, // locals: 3 x i32 ($i, $end, $end64), 1 x v128 ($k)
    0x20, 0x01, SIMD, 0x11, 0x21, 0x05, // $k = i32x4.splat(local 1)
    0x20, 0x00, 0x41, 0x70, 0x71, 0x21, 0x03, // $end = $len & -16
    0x20, 0x00, 0x41, 0x40, 0x71, 0x21, 0x04, // $end64 = $len & -64
    0x02, 0x40, // block
    0x03, 0x40, //   loop
    0x20, 0x02, 0x20, 0x04, 0x4f, 0x0d, 0x01, //     br_if 1 ($i >= $end64)
    ...xorAt(0),
    ...xorAt(16),
    ...xorAt(32),
    ...xorAt(48),
    0x20, 0x02, 0x41, 0xc0, 0x00, 0x6a, 0x21, 0x02, //     $i += 64
    0x0c, 0x00, //     br 0
    0x0b, 0x0b, // end loop, end block
    0x02, 0x40, // block
    0x03, 0x40, //   loop
    0x20, 0x02, 0x20, 0x03, 0x4f, 0x0d, 0x01, //     br_if 1 ($i >= $end)
    ...xorAt(0),
    0x20, 0x02, 0x41, 0x10, 0x6a, 0x21, 0x02, //     $i += 16
    0x0c, 0x00, //     br 0
    0x0b, 0x0b, // end loop, end block
    0x0b, // end function
  ];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // "\0asm", version 1
    ...section(1, [0x01, 0x60, 0x02, I32, I32, 0x00]), // type 0: (i32, i32) -> ()
    ...section(3, [0x01, 0x00]), // function 0 has type 0
    ...section(5, [0x01, 0x00, 0x02]), // one memory, 2 pages
    ...section(7, [0x02, ...name("memory"), 0x02, 0x00, ...name("xor"), 0x00, 0x00]),
    ...section(10, [0x01, ...leb(body.length), ...body]),
  ]);
}

/** The instantiated module: its memory as bytes and the XOR function. */
export interface SimdMasker {
  readonly memory: Uint8Array;
  xor(length: number, key: number): void;
}

/** The part of the WebAssembly API used here, declared locally so the core needs no DOM or Node types. */
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (compiled: object) => { exports: Record<string, unknown> };
}

let instance: SimdMasker | null | undefined;

/** The SIMD masker, or null where WebAssembly SIMD is not available. Instantiated once. */
export function simdMasker(): SimdMasker | null {
  if (instance !== undefined) return instance;
  instance = null;
  try {
    const wasm = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
    const bytes = moduleBytes();
    if (wasm !== undefined && wasm.validate(bytes)) {
      const exports = new wasm.Instance(new wasm.Module(bytes)).exports;
      const memory = exports["memory"] as { buffer: ArrayBuffer };
      instance = { memory: new Uint8Array(memory.buffer), xor: exports["xor"] as SimdMasker["xor"] };
    }
  } catch {
    instance = null; // no WebAssembly, or compiling refused (e.g. a strict content security policy)
  }
  return instance;
}
