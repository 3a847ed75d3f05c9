/**
 * Extension transforms off the event loop: large messages are inflated and
 * deflated on the libuv thread pool (see `Extension.asyncThreshold`) while
 * the connection keeps every message in its place. The core hands a large
 * received message out as a `decode` event and parses nothing after it
 * until it gets the result; large sends run inside the connection's
 * {@link SendOrder}, so later sends wait for them.
 */
import { Message, checkFragmentSize, type DecodeEvent, type Extension, type Protocol } from "../core/index.js";
import type { SendData } from "./connection.js";
import { messageBytes } from "./sending.js";

/** The smallest message worth encoding off the loop with these extensions; Infinity when none can. */
export function asyncEncodeThreshold(extensions: readonly Extension[] | undefined): number {
  let threshold = Infinity;
  if (extensions === undefined) return threshold;
  for (const extension of extensions) {
    if (extension.encodeAsync !== undefined && extension.asyncThreshold !== undefined) {
      threshold = Math.min(threshold, extension.asyncThreshold);
    }
  }
  return threshold;
}

/**
 * Whether `send` should encode `data` off the loop: at least `threshold`
 * bytes (a string's length in UTF-16 units is a lower bound of its UTF-8
 * size) and compression not switched off for it.
 */
export function offloaded(data: SendData, compress: boolean | undefined, threshold: number): boolean {
  if (compress === false) return false;
  const size = typeof data === "string" ? data.length : data instanceof Message ? data.bytes.length : data.byteLength;
  return size >= threshold;
}

/** Undo the extensions of a received message, asynchronously where they can. */
export async function decodeOffLoop(event: DecodeEvent): Promise<Uint8Array> {
  let payload = event.payload;
  for (const extension of event.extensions) {
    payload = extension.decodeAsync !== undefined ? await extension.decodeAsync(payload, event.maxSize) : extension.decode(payload, event.maxSize);
  }
  return payload;
}

/** How a message encoded off the loop is sent. */
export interface OffloadedSend {
  type?: "text" | "binary";
  compress?: boolean;
  /** Split into frames of this many bytes (default: the connection's maxFrameSize). */
  fragmentSize?: number;
}

/**
 * Encode a whole message through the extensions, asynchronously where they
 * can, and queue it on `core` with the RSV bits they set. The caller makes
 * sure nothing else encodes on this connection meanwhile (the send order).
 */
export async function encodeOffLoop(core: Protocol, extensions: readonly Extension[], data: SendData, options: OffloadedSend): Promise<void> {
  const { opcode, bytes } = messageBytes(data, options.type);
  const fragmentSize = options.fragmentSize ?? core.limits.maxFrameSize;
  checkFragmentSize(fragmentSize);
  const transform = { compress: options.compress };
  let payload = bytes;
  let rsv = 0;
  for (const extension of extensions) {
    const encoded = extension.encodeAsync !== undefined ? await extension.encodeAsync(payload, transform) : extension.encode(payload, transform);
    if (encoded !== null) {
      payload = encoded;
      rsv |= extension.rsv;
    }
  }
  core.sendTransformed(opcode, payload, rsv, { fragmentSize });
}
