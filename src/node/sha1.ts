/** Native SHA-1 for the handshake's accept value (the core's pure-JS one is the portable fallback). */
import { hash } from "node:crypto";
import { WEBSOCKET_GUID } from "../core/index.js";

/**
 * Sec-WebSocket-Accept for a key (RFC 6455 section 4.2.2), computed natively. The one-shot
 * `crypto.hash` (every Node wsx supports has it) skips the Hash object: less than half the cost.
 */
export function nativeAccept(key: string): string {
  return hash("sha1", key + WEBSOCKET_GUID, "base64");
}
