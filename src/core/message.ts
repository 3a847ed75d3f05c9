/**
 * What the protocol hands to its user: whole messages, single frames, and
 * control events. Text is kept as bytes and decoded only when asked for, so
 * echoing a text message never decodes and re-encodes it.
 */
import type { ProtocolError } from "./errors.js";
import type { Extension } from "./extension.js";
import { CloseFrame, parseClosePayload } from "./close.js";
import { Opcode } from "./frame.js";

const decoder = new TextDecoder();

/** Type of a data message. */
export type MessageType = "text" | "binary";

/** A complete data message (every fragment reassembled). */
export class Message {
  private decoded: string | undefined;
  constructor(
    readonly type: MessageType,
    /** The payload; for text, UTF-8 that has already been validated. */
    readonly bytes: Uint8Array,
  ) {}

  /** Never partial: a {@link Message} is always complete. Mirrors {@link Frame.partial}. */
  get partial(): false {
    return false;
  }

  /** A string for text messages, the bytes for binary ones. */
  get data(): string | Uint8Array {
    return this.type === "text" ? this.text : this.bytes;
  }

  /** The payload decoded as UTF-8 (decoded once, then cached). */
  get text(): string {
    if (this.decoded === undefined) this.decoded = decoder.decode(this.bytes);
    return this.decoded;
  }
}

/** Frame kinds by opcode, for {@link Frame.type}. */
export type FrameType = "text" | "binary" | "ping" | "pong" | "close";

/**
 * One frame as received, for frame-by-frame reading. Continuation frames
 * carry the type of the message they continue; `opcode` is the raw value.
 */
export class Frame {
  constructor(
    readonly type: FrameType,
    readonly opcode: number,
    readonly fin: boolean,
    readonly payload: Uint8Array,
    /**
     * For text frames: the characters completed by this frame (a character
     * split across frames appears in the frame that ends it).
     */
    readonly text?: string,
  ) {}

  /** True when more frames of the same message follow (`!fin`). */
  get partial(): boolean {
    return !this.fin;
  }

  /** Payload length in bytes. */
  get length(): number {
    return this.payload.length;
  }

  /** A string for text frames, the bytes otherwise. */
  get data(): string | Uint8Array {
    return this.text ?? this.payload;
  }

  /**
   * For a close frame: its code (1005 when it carried none) and reason, as
   * parsed from the payload (already checked when it was received); null
   * for other frames.
   */
  get close(): CloseFrame | null {
    return this.type === "close" ? parseClosePayload(this.payload) : null;
  }
}

/** Frame type for an opcode (continuations take the message's type). */
export function frameTypeOf(opcode: number, messageType: MessageType): FrameType {
  switch (opcode) {
    case Opcode.TEXT:
      return "text";
    case Opcode.BINARY:
      return "binary";
    case Opcode.CLOSE:
      return "close";
    case Opcode.PING:
      return "ping";
    case Opcode.PONG:
      return "pong";
    default:
      return messageType;
  }
}

/** A data frame, in frame delivery mode. */
export interface FrameEvent {
  readonly type: "frame";
  readonly frame: Frame;
}
/**
 * A piece of a data frame's payload, in `chunks` delivery: pieces come as
 * they arrive, so memory stays constant whatever the frame or message size.
 * `offset` is where the piece starts in its frame's payload and
 * `frameLength` the payload length the frame header declared; `fin` says
 * whether the frame is the message's last. `payload` is a view of the
 * input given to `Protocol.receive()` (the Node connection never reuses
 * its input, so there it stays valid; a driver that reuses its read buffer
 * must use or copy it before the next `receive()`).
 */
export class Chunk {
  constructor(
    /** The message's type. */
    readonly messageType: MessageType,
    /** Opcode of the frame: TEXT/BINARY for a message's first frame, CONTINUATION after. */
    readonly opcode: number,
    /** Whether this frame is the message's last. */
    readonly fin: boolean,
    readonly payload: Uint8Array,
    /** Payload length the frame's header declared. */
    readonly frameLength: number,
    /** Where this piece starts within the frame's payload. */
    readonly offset: number,
  ) {}

  /** Always "chunk" (the event kind). */
  get type(): "chunk" {
    return "chunk";
  }

  /** Bytes in this piece. */
  get length(): number {
    return this.payload.length;
  }

  /** This piece ends its frame. */
  get frameEnd(): boolean {
    return this.offset + this.payload.length === this.frameLength;
  }

  /** This piece ends the message (`fin` and `frameEnd`). */
  get messageEnd(): boolean {
    return this.fin && this.offset + this.payload.length === this.frameLength;
  }
}

/** A piece of a data frame's payload, in `chunks` delivery (see {@link Chunk}). */
export type ChunkEvent = Chunk;
/** A ping arrived (already answered when autoPong is on). */
export interface PingEvent {
  readonly type: "ping";
  readonly payload: Uint8Array;
}
/** A pong arrived. */
export interface PongEvent {
  readonly type: "pong";
  readonly payload: Uint8Array;
}
/**
 * The connection's closing: a close frame arrived (`received` true), or the
 * transport ended without one (code 1006, `received` false).
 */
export interface CloseEvent {
  readonly type: "close";
  readonly code: number;
  readonly reason: string;
  readonly received: boolean;
}
/** The peer broke the protocol; a close frame with `error.closeCode` was queued. */
export interface ErrorEvent {
  readonly type: "error";
  readonly error: ProtocolError;
}

/**
 * A received message to decode off the caller's thread (only with the
 * protocol's `asyncDecode` option): undo `extensions` in the order given
 * (`decodeAsync` where they have it, else `decode`, with `maxSize`), then
 * hand the result to `Protocol.decoded` or the error to
 * `Protocol.decodeFailed`. Until then the protocol reads no further input,
 * so nothing that arrived after the message overtakes it.
 */
export interface DecodeEvent {
  readonly type: "decode";
  readonly messageType: MessageType;
  /** The payload as received (extension-encoded, all fragments joined). */
  readonly payload: Uint8Array;
  readonly extensions: readonly Extension[];
  /** The protocol's `maxMessageSize`: the decoded size must stay within it. */
  readonly maxSize: number;
}

/** Everything {@link Protocol.events} can return. */
export type ProtocolEvent = Message | FrameEvent | ChunkEvent | PingEvent | PongEvent | CloseEvent | ErrorEvent | DecodeEvent;
