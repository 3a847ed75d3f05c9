/**
 * What each kind of send puts on the core: the message type, the bytes and
 * the framing. The queue* functions throw on bad input; the caller turns
 * that into a rejected promise.
 */
import { isUtf8 } from "node:buffer";
import { CloseCode, Message, Opcode, OptionTable, Rules, UsageError, checkFragmentSize, invalidData, type OutgoingMessage, type Protocol } from "../core/index.js";
import type { SendData, SendOptions, WebSocket } from "./connection.js";
import type { Outbox } from "./outbox.js";

const encoder = new TextEncoder();

/** What `send` takes, for its error message. */
export const SENDABLE =
  "a string, an ArrayBuffer or a view of one (Uint8Array, Buffer, DataView...), a Blob, a received Message, or an async iterable (a Readable) of strings or bytes";
/** What a whole message sent at once (sendFragmented, publish) may be. */
export const WHOLE_MESSAGE = "a string, an ArrayBuffer or a view of one (Uint8Array, Buffer, DataView...) or a received Message";

/** An ArrayBuffer, a SharedArrayBuffer or a view of either: bytes as they are. */
export function isBinary(data: unknown): data is ArrayBuffer | ArrayBufferView {
  return ArrayBuffer.isView(data) || data instanceof ArrayBuffer || (typeof SharedArrayBuffer === "function" && data instanceof SharedArrayBuffer);
}

/** A Blob (or File): sent as binary once read, as browsers do. */
export function isBlob(data: unknown): data is Blob {
  return typeof Blob === "function" && data instanceof Blob;
}

/** Bytes of binary data, without copying; UsageError `INVALID_DATA` for anything that is not binary. */
export function toBytes(data: unknown, where = "send()", expected = WHOLE_MESSAGE): Uint8Array {
  if (data instanceof Uint8Array) return data;
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (isBinary(data)) return new Uint8Array(data as ArrayBuffer);
  throw invalidData(where, expected, data);
}

/** The per-message options of `send` and `sendFragmented` (the fragment size is checked by `checkFragmentSize`). */
export const SEND_OPTIONS = new OptionTable<SendOptions & { fragmentSize?: number }>({
  type: Rules.oneOf("text", "binary"),
  compress: Rules.boolean,
  fin: Rules.boolean,
  fragmentSize: null,
});

/** Bytes of a string (as UTF-8) or of bytes as they are. */
export function encode(payload: string | Uint8Array, where = "send()"): Uint8Array {
  return typeof payload === "string" ? encoder.encode(payload) : toBytes(payload, where, "a string or bytes");
}

/** A source to stream as one message (not a {@link Message}, which iterates nothing useful here). */
export function isAsyncIterable(value: unknown): value is AsyncIterable<string | Uint8Array> {
  return typeof value === "object" && value !== null && typeof (value as Partial<AsyncIterable<unknown>>)[Symbol.asyncIterator] === "function" && !(value instanceof Message);
}

/**
 * The type and payload of anything `send` or `publish` accepts: strings are
 * text, bytes binary, a {@link Message} keeps its type, unless `as` says
 * otherwise (bytes sent as text are checked to be UTF-8). A string payload
 * stays a string unless it goes as binary.
 */
export function messageOf(data: SendData, as: "text" | "binary" | undefined, where = "send()"): { type: "text" | "binary"; payload: string | Uint8Array } {
  let type: "text" | "binary";
  let payload: string | Uint8Array;
  if (typeof data === "string") {
    type = "text";
    payload = data;
  } else if (data instanceof Message) {
    type = data.type;
    payload = data.bytes;
  } else {
    type = "binary";
    payload = toBytes(data, where);
  }
  if (as !== undefined && as !== type) {
    if (typeof payload === "string") payload = encoder.encode(payload);
    else if (as === "text" && !isUtf8(payload)) {
      throw new UsageError("INVALID_UTF8", "text message bytes are not valid UTF-8");
    }
    type = as;
  }
  return { type, payload };
}

/**
 * Queue one message for {@link WebSocket.send}: fragmented at maxFrameSize,
 * through the extensions when `extended` (some were negotiated).
 */
export function queueMessage(core: Protocol, data: SendData, options: SendOptions | undefined, extended: boolean): void {
  const { type, payload } = messageOf(data, options?.type);
  const opcode = type === "text" ? Opcode.TEXT : Opcode.BINARY;
  const maxFrameSize = core.limits.maxFrameSize;
  // A string encodes to at most 3 bytes per UTF-16 unit: only a longer one may need fragmenting.
  const big = (typeof payload === "string" ? payload.length * 3 : payload.length) > maxFrameSize;
  const bytesAsText = type === "text" && typeof payload !== "string";
  // With an extension the encoded size is only known once encoded (random bytes grow a little
  // when deflated), so the general path always splits at maxFrameSize.
  if (big || bytesAsText || options?.compress !== undefined || extended) {
    // The general path: extensions, per-message options, frames no larger than maxFrameSize.
    core.sendMessage(opcode, payload, { compress: options?.compress, fragmentSize: maxFrameSize });
  } else if (typeof payload === "string") {
    core.sendText(payload);
  } else {
    core.sendBinary(payload);
  }
}

/** {@link messageOf} as bytes and an opcode: for sends that need the bytes whatever the type. */
export function messageBytes(data: SendData, type: "text" | "binary" | undefined, where = "send()"): { opcode: number; bytes: Uint8Array } {
  const message = messageOf(data, type, where);
  return { opcode: message.type === "text" ? Opcode.TEXT : Opcode.BINARY, bytes: encode(message.payload) };
}

/** Queue one message as fragments of at most `options.fragmentSize` bytes, for {@link WebSocket.sendFragmented}. */
export function queueFragmented(
  core: Protocol,
  data: string | Uint8Array | ArrayBuffer | ArrayBufferView | Message,
  options: { fragmentSize: number; type?: "text" | "binary"; compress?: boolean },
): void {
  const { opcode, bytes } = messageBytes(data, options.type, "sendFragmented()");
  checkFragmentSize(options.fragmentSize);
  core.sendMessage(opcode, bytes, { fragmentSize: options.fragmentSize, compress: options.compress });
}


/** Queue a single frame as given, for {@link WebSocket.sendFrame}. */
export function queueFrame(core: Protocol, opcode: number, payload: string | Uint8Array, fin: boolean): void {
  const bytes = typeof payload === "string" ? encoder.encode(payload) : toBytes(payload, "sendFrame()", "a string or bytes");
  const maxFrameSize = core.limits.maxFrameSize;
  if (bytes.length > maxFrameSize) {
    throw new UsageError("FRAME_TOO_BIG", `frame of ${bytes.length} bytes is over maxFrameSize ${maxFrameSize}`);
  }
  core.sendFrame(opcode, bytes, fin);
}

/**
 * Send the pieces of `source` as one message, each piece queued (framed at
 * the connection's maxFrameSize, compressed when an extension can do so on
 * a stream) and written before the next is read. One piece is held back so
 * that the last carries fin. If the source fails once a frame is out, the
 * message can never be finished and `connection` is closed. Resolves once
 * the message is written; the caller counts it.
 */
export async function streamMessage(
  core: Protocol,
  outbox: Outbox,
  connection: Pick<WebSocket, "close">,
  source: AsyncIterable<string | Uint8Array>,
  options: { compress?: boolean } = {},
): Promise<void> {
  let type: "text" | "binary" | null = null;
  let message: OutgoingMessage | null = null;
  let held: Uint8Array | null = null;
  const write = (piece: Uint8Array, last: boolean): Promise<void> => {
    message ??= core.startMessage(type === "text" ? Opcode.TEXT : Opcode.BINARY, { compress: options.compress, fragmentSize: core.limits.maxFrameSize });
    message.write(piece, last);
    return outbox.schedule();
  };
  try {
    for await (const piece of source) {
      const pieceType = typeof piece === "string" ? "text" : "binary";
      if (type === null) type = pieceType;
      else if (pieceType !== type) throw new UsageError("MIXED_STREAM", "a streamed message mixes strings and bytes");
      if (held !== null) await write(held, false);
      held = typeof piece === "string" ? encoder.encode(piece) : toBytes(piece, "send()", "an async iterable of strings or bytes");
    }
    await write(held ?? new Uint8Array(0), true);
  } catch (error) {
    // Half a message is on the wire and cannot be finished: the connection is unusable.
    const unfinished = message as OutgoingMessage | null;
    if (unfinished !== null && !unfinished.done) {
      unfinished.abandon();
      void connection.close(CloseCode.INTERNAL_ERROR, "message stream failed");
    }
    throw error;
  }
}
