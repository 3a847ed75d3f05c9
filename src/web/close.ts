/**
 * What the standard's "close the WebSocket" algorithm checks before it acts,
 * shared by `WebSocket.close()`, `WebSocketStream.close()` and
 * `new WebSocketError()`.
 */
import { MAX_CLOSE_REASON_BYTES } from "../core/index.js";
import { domException } from "./webidl.js";

/** A close code an application may send: 1000 or 3000-4999. */
export function checkCloseCode(code: number): void {
  if (code !== 1000 && (code < 3000 || code > 4999)) {
    throw domException("InvalidAccessError", `the close code must be either 1000, or between 3000 and 4999; ${code} is neither`);
  }
}

/** A close reason that fits a close frame: at most 123 bytes of UTF-8. */
export function checkCloseReason(reason: string): void {
  const length = Buffer.byteLength(reason);
  if (length > MAX_CLOSE_REASON_BYTES) {
    throw domException("SyntaxError", `the close reason must not be longer than ${MAX_CLOSE_REASON_BYTES} UTF-8 bytes (it is ${length})`);
  }
}

/**
 * The code to put in the close frame: none when neither a code nor a
 * reason was given, 1000 when only a reason was.
 */
export function closeFrameCode(code: number | null, reason: string): number | undefined {
  if (code !== null) return code;
  return reason === "" ? undefined : 1000;
}
