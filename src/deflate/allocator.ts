/**
 * Keeps glibc's malloc from handing the memory of large messages back to the
 * kernel after every garbage collection.
 *
 * Every large message needs fresh memory the application owns (its bytes),
 * and Node reads the socket into fresh 64 KiB buffers; V8 frees those with
 * `free()` in batches, at each GC. glibc returns free memory at the top of
 * its heap to the kernel once it exceeds its trim threshold, and that
 * threshold only grows (to twice the block) when glibc frees a block it had
 * mapped on its own. It starts at 128 KiB and a 1 MiB message raises it to
 * about 2 MiB: far less than one GC frees, so the heap shrinks and grows
 * back at every cycle, and each page touched again costs a page fault (about
 * 40 per 1 MiB message echoed, two thirds of the server's CPU in the kernel).
 *
 * Freeing one 16 MiB block once, at the first large allocation, raises the
 * mapping threshold to 16 MiB and the trim threshold to 32 MiB (glibc's own
 * rule; allocators other than glibc just see one short-lived block): the
 * process then keeps at most 32 MiB of free heap for reuse instead of
 * returning it. The block
 * comes from brotli's window (node:zlib, freed synchronously when the call
 * ends), as JavaScript cannot call `free()` itself.
 */
import zlib from "node:zlib";

/** Allocations from this size on prime the allocator (a message this large is worth it). */
export const PRIME_FROM = 256 * 1024;

/**
 * brotli's window at quality 2 and LGWIN 23 is one block of 16 MiB + 16 KiB:
 * under glibc's 32 MiB cap on the threshold, so the free raises it.
 */
const BROTLI_OPTIONS = {
  params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 2, [zlib.constants.BROTLI_PARAM_LGWIN]: 23 },
};
/** Input just larger than brotli's first block, so the whole window is allocated. */
const PRIME_INPUT = 70 * 1024;

let primed = false;

/** Whether {@link primeAllocator} has run in this process. */
export function allocatorPrimed(): boolean {
  return primed;
}

/** Raise glibc's trim threshold once per process (see the module comment). Costs a few ms, once. */
export function primeAllocator(): void {
  if (primed) return;
  primed = true;
  try {
    zlib.brotliCompressSync(new Uint8Array(PRIME_INPUT), BROTLI_OPTIONS);
  } catch {
    // A runtime without brotli keeps its allocator's defaults: correct, only slower.
  }
}
