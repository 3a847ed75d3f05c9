/** The Node slab: output blocks from Buffer.allocUnsafeSlow, skipping the zero fill. */
import { Slab } from "../core/index.js";
import { PRIME_FROM, primeAllocator } from "../deflate/allocator.js";

let slab: Slab | undefined;

/** Fresh memory, without the zero fill; the first large block primes the allocator (allocator.ts). */
function allocate(size: number): Uint8Array {
  if (size >= PRIME_FROM) primeAllocator();
  return Buffer.allocUnsafeSlow(size);
}

/** One slab for every connection in the process (regions are never reused, so sharing is safe). */
export function nodeSlab(): Slab {
  return (slab ??= new Slab(allocate));
}
