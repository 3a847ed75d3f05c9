/** Native SHA-1 for the handshake's accept value (the core's pure-JS one is the portable fallback). */
import * as crypto from "node:crypto";
import { WEBSOCKET_GUID } from "../core/index.js";

/** The one-shot `crypto.hash` (Node 20.12+) skips the Hash object: less than half the cost per handshake. */
const oneShot = (crypto as { hash?: (algorithm: string, data: string, encoding: "base64") => string }).hash;

/** Sec-WebSocket-Accept for a key (RFC 6455 section 4.2.2), computed natively. */
export function nativeAccept(key: string): string {
  const data = key + WEBSOCKET_GUID;
  return oneShot !== undefined ? oneShot("sha1", data, "base64") : crypto.createHash("sha1").update(data).digest("base64");
}
