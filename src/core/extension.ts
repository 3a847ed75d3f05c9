/**
 * Extensions (RFC 6455 section 9): negotiated in the opening handshake, then
 * allowed to use RSV bits and to transform whole messages. The core knows no
 * particular extension; permessage-deflate (src/deflate) plugs in here.
 */
import type { ExtensionOffer, ParsedExtension } from "./http.js";

/**
 * One negotiated extension on one connection. Transforms are called in
 * message order, one at a time, so a stateful codec (context takeover) sees
 * messages in the order they travel. They are synchronous; an extension may
 * also offer asynchronous twins for large messages ({@link asyncThreshold}),
 * which the I/O layer runs in the same order without overlapping any other
 * transform in the same direction.
 */
export interface Extension {
  /** The registered name, e.g. "permessage-deflate". */
  readonly name: string;
  /** RSV bits this extension may set ({@link Rsv} values: RSV1 is 4). */
  readonly rsv: number;
  /**
   * Undo the transform on a received message whose first frame carried this
   * extension's RSV bits. Must stop as soon as the output would exceed
   * `maxSize` bytes and throw a `ProtocolError` (`MESSAGE_TOO_BIG`); invalid
   * input throws `ProtocolError` (`INVALID_COMPRESSED_DATA`).
   */
  decode(payload: Uint8Array, maxSize: number): Uint8Array;
  /**
   * Transform an outgoing message, or return null to send it as it is (too
   * small to be worth it, or switched off for this message).
   */
  encode(payload: Uint8Array, options: { compress?: boolean }): Uint8Array | null;
  /**
   * When {@link encode} is a pure function of the payload (no state carried
   * from one message to the next), a key naming its settings: connections
   * whose extensions have equal keys encode a message to the same bytes, so
   * a broadcast encodes it once. Null or absent when output depends on history.
   */
  readonly sharedEncoding?: string | null;
  /**
   * Messages of at least this many bytes (encoded size when received, plain
   * size when sent) are better transformed with {@link decodeAsync} /
   * {@link encodeAsync}, off the caller's thread. Absent or Infinity: never.
   */
  readonly asyncThreshold?: number;
  /** {@link decode}, asynchronously: the same limit, the same errors (as rejections). */
  decodeAsync?(payload: Uint8Array, maxSize: number): Promise<Uint8Array>;
  /** {@link encode}, asynchronously. */
  encodeAsync?(payload: Uint8Array, options: { compress?: boolean }): Promise<Uint8Array | null>;
  /**
   * Start transforming an outgoing message whose payload comes in pieces (a
   * streamed send), or return null to send it as it is. Absent: streamed
   * messages are sent untransformed. Calls follow the message order like
   * {@link encode}: no other message is encoded until this one's encoder ended.
   */
  encodeStream?(options: { compress?: boolean }): StreamEncoder | null;
  /**
   * Release what the extension holds (zlib contexts...) when the connection
   * ends; an asynchronous transform in flight then rejects.
   */
  dispose(): void;
}

/** Transforms one outgoing message given piece by piece (see {@link Extension.encodeStream}). */
export interface StreamEncoder {
  /**
   * The bytes to send for the next piece (`last`: the message's last).
   * Each output is complete in itself (flushed), so it can be framed and
   * sent before the next piece exists; the outputs joined are the message's
   * transformed payload.
   */
  push(piece: Uint8Array, last: boolean): Uint8Array;
  /** Release what it holds: once the message ended, or when it is abandoned. */
  end(): void;
}

/**
 * The negotiation side of an extension, one per endpoint configuration. A
 * client sends {@link offers} and builds its extension from the server's
 * answer; a server picks among the client's offers.
 */
export interface ExtensionFactory {
  readonly name: string;
  /** Client: the offers to send, most preferred first. */
  offers(): ExtensionOffer[];
  /**
   * Client: the server accepted with these parameters. Throws a
   * `HandshakeError` when the answer is not one the client could have
   * asked for (unknown, duplicate or out-of-range parameters).
   */
  accept(response: ParsedExtension): Extension;
  /**
   * Server: pick the first acceptable offer and return the parameters to
   * answer with and the extension for the connection, or null to decline.
   * Never throws on a client's values: unusable offers are skipped.
   */
  negotiate(offers: ParsedExtension[]): { response: ExtensionOffer; extension: Extension } | null;
}
