/**
 * Standard base64 (RFC 4648 section 4) for the handshake. The core cannot use
 * `Buffer` or `btoa`, and the server must be able to reject a malformed
 * Sec-WebSocket-Key instead of decoding it leniently, so the decoder is strict.
 */

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/** Character code -> 6-bit value, or -1 for anything outside the alphabet. */
const VALUES = new Int8Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) VALUES[ALPHABET.charCodeAt(i)] = i;

/** Encodes bytes as padded standard base64; what Sec-WebSocket-Key/Accept use. */
export function encodeBase64(bytes: Uint8Array): string {
  let out = "";
  const whole = bytes.length - (bytes.length % 3);
  for (let i = 0; i < whole; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out += ALPHABET[n >>> 18]! + ALPHABET[(n >>> 12) & 63]! + ALPHABET[(n >>> 6) & 63]! + ALPHABET[n & 63]!;
  }
  const left = bytes.length - whole;
  if (left === 1) {
    const n = bytes[whole]! << 16;
    out += ALPHABET[n >>> 18]! + ALPHABET[(n >>> 12) & 63]! + "==";
  } else if (left === 2) {
    const n = (bytes[whole]! << 16) | (bytes[whole + 1]! << 8);
    out += ALPHABET[n >>> 18]! + ALPHABET[(n >>> 12) & 63]! + ALPHABET[(n >>> 6) & 63]! + "=";
  }
  return out;
}

function value(text: string, i: number): number {
  const c = text.charCodeAt(i);
  return c < 128 ? VALUES[c]! : -1;
}

/**
 * Decodes padded standard base64, returning null instead of guessing: no
 * whitespace, no URL-safe alphabet, padding only at the end and required, and
 * the unused bits of the last character must be zero (canonical encoding), so
 * every accepted string has exactly one byte sequence and vice versa.
 */
export function decodeBase64(text: string): Uint8Array | null {
  if (base64Length(text) < 0) return null;
  let pad = 0;
  if (text.endsWith("==")) pad = 2;
  else if (text.endsWith("=")) pad = 1;
  const out = new Uint8Array((text.length / 4) * 3 - pad);
  const full = pad === 0 ? text.length : text.length - 4;
  let o = 0;
  for (let i = 0; i < full; i += 4) {
    const a = value(text, i);
    const b = value(text, i + 1);
    const c = value(text, i + 2);
    const d = value(text, i + 3);
    if ((a | b | c | d) < 0) return null;
    const n = (a << 18) | (b << 12) | (c << 6) | d;
    out[o++] = n >>> 16;
    out[o++] = (n >>> 8) & 255;
    out[o++] = n & 255;
  }
  if (pad === 2) {
    const a = value(text, full);
    const b = value(text, full + 1);
    if ((a | b) < 0 || (b & 15) !== 0) return null;
    out[o] = (a << 2) | (b >>> 4);
  } else if (pad === 1) {
    const a = value(text, full);
    const b = value(text, full + 1);
    const c = value(text, full + 2);
    if ((a | b | c) < 0 || (c & 3) !== 0) return null;
    out[o++] = (a << 2) | (b >>> 4);
    out[o] = ((b & 15) << 4) | (c >>> 2);
  }
  return out;
}

/**
 * How many bytes `text` decodes to by the rules of {@link decodeBase64}, or
 * -1 when it would return null. Allocates nothing: a handshake checks its key
 * this way.
 */
export function base64Length(text: string): number {
  if (text.length % 4 !== 0) return -1;
  const pad = text.endsWith("==") ? 2 : text.endsWith("=") ? 1 : 0;
  const full = pad === 0 ? text.length : text.length - 4;
  for (let i = 0; i < full; i++) if (value(text, i) < 0) return -1;
  if (pad === 2) {
    const a = value(text, full);
    const b = value(text, full + 1);
    if ((a | b) < 0 || (b & 15) !== 0) return -1;
  } else if (pad === 1) {
    const a = value(text, full);
    const b = value(text, full + 1);
    const c = value(text, full + 2);
    if ((a | b | c) < 0 || (c & 3) !== 0) return -1;
  }
  return (text.length / 4) * 3 - pad;
}
