/** The Node slab: output blocks from Buffer.allocUnsafeSlow, skipping the zero fill. */
import { Slab } from "../core/index.js";

let slab: Slab | undefined;

/** One slab for every connection in the process (regions are never reused, so sharing is safe). */
export function nodeSlab(): Slab {
  return (slab ??= new Slab((size) => Buffer.allocUnsafeSlow(size)));
}
