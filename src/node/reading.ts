/**
 * Pull-style reads that work in every delivery mode: a whole message
 * (assembled from frames or payload pieces when those are delivered, within
 * a per-call size limit) and a payload piece of at most a given size.
 */
import { performance } from "node:perf_hooks";
import { Chunk, Frame, Message, Opcode, SizeLimitError, TimeoutError } from "../core/index.js";
import { joinPieces } from "../core/bytes.js";
import { toChunk, type Inbox, type Item } from "./inbox.js";

/** What `receive()` takes. */
export interface ReceiveOptions {
  /** Reject with TimeoutError `RECEIVE_TIMEOUT` after this many ms; nothing is lost (default: wait). */
  timeout?: number;
  /**
   * Refuse a message larger than this many bytes with {@link SizeLimitError}
   * `RECEIVE_TOO_BIG`: the message is skipped, the connection stays open.
   * With frame or chunk delivery, at most this much is held while a message
   * is assembled (default: the connection's `maxMessageSize`).
   */
  maxSize?: number;
}

/** What `receiveChunk()` takes. */
export interface ReceiveChunkOptions {
  /** Reject with TimeoutError `RECEIVE_TIMEOUT` after this many ms; nothing is lost (default: wait). */
  timeout?: number;
  /** Return at most this many payload bytes; the rest of the piece is returned by the next call (default: as they arrived). */
  maxBytes?: number;
}

/** Milliseconds left until `deadline` (undefined: none). */
function left(deadline: number | undefined): number | undefined {
  return deadline === undefined ? undefined : Math.max(0, deadline - performance.now());
}

/**
 * The next message. A whole message is taken as it is; frames or pieces
 * (frame or chunk delivery) are joined until the one that ends the
 * message, control frames among them being passed over. On a timeout, what
 * was taken goes back to the inbox; past `maxSize` the message is skipped.
 */
export async function readMessage(inbox: Inbox, options: ReceiveOptions): Promise<Message> {
  const { maxSize = Infinity } = options;
  const deadline = options.timeout === undefined ? undefined : performance.now() + options.timeout;
  const taken: Item[] = [];
  const pieces: Uint8Array[] = [];
  let size = 0;
  let type: "text" | "binary" | null = null;
  try {
    for (;;) {
      const item = await inbox.next(left(deadline));
      taken.push(item);
      if (item instanceof Message) {
        // Whole messages come only from before the delivery changed, so never amid another's frames.
        if (item.bytes.length > maxSize) throw new SizeLimitError(item.bytes.length, maxSize);
        return item;
      }
      if (item instanceof Frame && item.opcode >= Opcode.CLOSE) continue; // handled by the connection already
      const piece = item.payload;
      type ??= item instanceof Chunk ? item.messageType : (item.type as "text" | "binary");
      size += piece.length;
      const ends = item instanceof Chunk ? item.messageEnd : item.fin;
      if (size > maxSize) {
        if (!ends) inbox.skipRestOfMessage();
        throw new SizeLimitError(size, maxSize);
      }
      pieces.push(piece);
      if (ends) break;
    }
  } catch (error) {
    // Nothing is lost on a timeout: the next read starts where this one did.
    if (error instanceof TimeoutError) inbox.putBack(taken);
    throw error;
  }
  return new Message(type!, joinPieces(pieces, size));
}

/**
 * The next payload piece (switching to chunk delivery is the caller's):
 * whole messages and frames queued before are pieces too, control frames
 * are passed over; a piece over `maxBytes` is cut, its rest read next.
 */
export async function readChunk(inbox: Inbox, options: ReceiveChunkOptions): Promise<Chunk> {
  const deadline = options.timeout === undefined ? undefined : performance.now() + options.timeout;
  for (;;) {
    const chunk = toChunk(await inbox.next(left(deadline)));
    if (chunk === null) continue;
    const max = options.maxBytes;
    if (max === undefined || chunk.payload.length <= max) return chunk;
    const { messageType, opcode, fin, payload, frameLength, offset } = chunk;
    inbox.putBack([new Chunk(messageType, opcode, fin, payload.subarray(max), frameLength, offset + max)]);
    return new Chunk(messageType, opcode, fin, payload.subarray(0, max), frameLength, offset);
  }
}

