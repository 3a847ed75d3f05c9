/**
 * Data crossing the facade: what `send()` and a writable stream accept,
 * turned into what the connection sends, and received payloads turned into
 * what the application gets.
 */
import { toDOMString } from "./webidl.js";

/** What `WebSocket.send()` accepts (Blob aside) and a WebSocketStream's writable takes. */
export type BufferSource = ArrayBuffer | ArrayBufferView;

/**
 * A string or a BufferSource as the connection sends it: strings as they
 * are (text), bytes as a Uint8Array over the same memory (binary). Anything
 * else is converted to a string, as Web IDL converts it to USVString;
 * shared memory is refused with a TypeError, as Web IDL refuses it.
 */
export function payloadOf(data: unknown): string | Uint8Array {
  if (typeof data === "string") return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) {
    if (!(data.buffer instanceof ArrayBuffer)) throw new TypeError("a view over shared memory cannot be sent");
    return data instanceof Uint8Array ? data : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  }
  if (data instanceof SharedArrayBuffer) throw new TypeError("a SharedArrayBuffer cannot be sent");
  return toDOMString(data);
}

/** Bytes a payload puts on the wire as application data (strings as UTF-8). */
export function payloadSize(payload: string | Uint8Array): number {
  return typeof payload === "string" ? Buffer.byteLength(payload) : payload.byteLength;
}

/**
 * The received bytes as an ArrayBuffer of their own (the standard hands
 * out a new ArrayBuffer per message). No copy when the payload fills its
 * buffer: wsx then made that buffer for this message alone (a message
 * assembled from several reads into a buffer of its exact size, inflated
 * output, or a read that held just this payload), and nothing else keeps
 * it. Otherwise the payload is a view into a read shared with other frames
 * and is copied: exposing that buffer would show, and keep alive, bytes that
 * are not the message.
 */
export function ownArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  const buffer = bytes.buffer;
  if (bytes.byteOffset === 0 && bytes.byteLength === buffer.byteLength && buffer instanceof ArrayBuffer) return buffer;
  // Measured against new ArrayBuffer + set and ArrayBuffer#slice: this was the cheapest.
  return bytes.slice().buffer;
}
