/**
 * Close frames (RFC 6455 section 5.5.1 and 7.4): payload = optional 2-byte
 * code followed by an optional UTF-8 reason, at most 125 bytes in all.
 */
import { CloseCode, ProtocolError, UsageError } from "./errors.js";
import { isValidUtf8 } from "./utf8.js";

/** Maximum bytes of a close reason: 125 payload bytes minus the 2-byte code. */
export const MAX_CLOSE_REASON_BYTES = 123;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A close frame's contents, as received or to send. */
export class CloseFrame {
  constructor(
    /** Close code; 1005 when the frame carried none. */
    readonly code: number = CloseCode.NO_STATUS,
    readonly reason: string = "",
  ) {}
}

/**
 * Whether `code` may appear on the wire (RFC 6455 7.4.1 and the IANA
 * registry): 1000-1003, 1007-1014 and the 3000-4999 application range.
 * 1004, 1005, 1006 and 1015 are reserved and never sent.
 */
export function isValidCloseCode(code: number): boolean {
  return (
    Number.isInteger(code) &&
    ((code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999))
  );
}

/**
 * Parse a received close payload. Throws {@link ProtocolError} for a 1-byte
 * payload or a forbidden code (1002), or a reason that is not UTF-8 (1007).
 */
export function parseClosePayload(payload: Uint8Array): CloseFrame {
  if (payload.length === 0) return new CloseFrame();
  if (payload.length === 1) throw new ProtocolError("CLOSE_PAYLOAD_LENGTH");
  const code = (payload[0]! << 8) | payload[1]!;
  if (!isValidCloseCode(code)) throw new ProtocolError("INVALID_CLOSE_CODE", String(code));
  const reasonBytes = payload.subarray(2);
  if (reasonBytes.length === 0) return new CloseFrame(code, "");
  if (!isValidUtf8(reasonBytes)) throw new ProtocolError("INVALID_CLOSE_REASON");
  return new CloseFrame(code, decoder.decode(reasonBytes));
}

/**
 * Build a close payload. No code (or 1005) gives an empty payload. Throws
 * {@link UsageError} for a code that must not be sent or a reason over 123 bytes.
 */
export function encodeClosePayload(code?: number, reason = ""): Uint8Array {
  if (typeof reason !== "string") throw new UsageError("INVALID_CLOSE", `a close reason must be a string, got ${typeof reason}`);
  if (code === undefined || code === CloseCode.NO_STATUS) {
    if (reason !== "") throw new UsageError("INVALID_CLOSE", "a close reason needs a close code");
    return new Uint8Array(0);
  }
  if (!isValidCloseCode(code)) throw new UsageError("INVALID_CLOSE_CODE", `close code ${code} may not be sent`);
  const reasonBytes = encoder.encode(reason);
  if (reasonBytes.length > MAX_CLOSE_REASON_BYTES) {
    throw new UsageError("CLOSE_REASON_TOO_LONG", `close reason is ${reasonBytes.length} bytes, at most ${MAX_CLOSE_REASON_BYTES} fit`);
  }
  const payload = new Uint8Array(2 + reasonBytes.length);
  payload[0] = code >>> 8;
  payload[1] = code & 0xff;
  payload.set(reasonBytes, 2);
  return payload;
}
