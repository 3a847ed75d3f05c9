/** Native SHA-1 for the handshake's accept value (the core's pure-JS one is the portable fallback). */
import { createHash } from "node:crypto";

export function nativeSha1(data: Uint8Array): Uint8Array {
  return createHash("sha1").update(data).digest();
}
