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
 *     (local $i i32) (local $end i32) (local $k v128)
 *     $k = i32x4.splat($key); $end = $len & -16
 *     loop while $i < $end: store($i, v128.xor(load($i), $k)); $i += 16))
 * The last len % 16 bytes are left to the caller.
 */
function moduleBytes(): Uint8Array {
  const I32 = 0x7f;
  const V128 = 0x7b;
  const SIMD = 0xfd;
  const body = [
    0x02, 0x02, I32, 0x01, V128, // locals: 2 x i32 ($i, $end), 1 x v128 ($k)
    0x20, 0x01, SIMD, 0x11, 0x21, 0x04, // $k = i32x4.splat(local 1)
    0x20, 0x00, 0x41, 0x70, 0x71, 0x21, 0x03, // $end = $len & -16
    0x02, 0x40, // block
    0x03, 0x40, //   loop
    0x20, 0x02, 0x20, 0x03, 0x4f, 0x0d, 0x01, //     br_if 1 ($i >= $end)
    0x20, 0x02, //     address for the store
    0x20, 0x02, SIMD, 0x00, 0x04, 0x00, //     v128.load align=16
    0x20, 0x04, SIMD, 0x51, //     v128.xor $k
    SIMD, 0x0b, 0x04, 0x00, //     v128.store align=16
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
