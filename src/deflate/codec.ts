/**
 * The permessage-deflate transform (RFC 7692 section 7.2) for one
 * connection: compresses outgoing messages, decompresses incoming ones, with
 * or without keeping the LZ77 window between messages.
 */
import { ProtocolError } from "../core/errors.js";
import type { Extension, StreamEncoder } from "../core/extension.js";
import { Rsv } from "../core/frame.js";
import { EXTENSION_NAME, type AgreedParameters } from "./negotiate.js";
import { DEFAULT_ASYNC_THRESHOLD, DEFAULT_LEVEL, DEFAULT_MEM_LEVEL } from "./options.js";
import { OutputLimitError, ZlibContext, ZlibDataError, asyncZlibSupported, type ZlibResult } from "./zlib.js";

/** The tail a Z_SYNC_FLUSH leaves (an empty stored block), removed by the sender, restored by the receiver. */
const TAIL = Uint8Array.of(0x00, 0x00, 0xff, 0xff);
/** An empty message, compressed (RFC 7692 section 7.2.3.6). */
const EMPTY_COMPRESSED = Uint8Array.of(0x00);
const EMPTY = new Uint8Array(0);

/** How one side of a connection compresses and decompresses. */
export interface CodecSettings {
  /** Window of our compressor (8..15). */
  deflateWindowBits: number;
  /** Window the peer compresses with, so our decompressor's (8..15). */
  inflateWindowBits: number;
  /** Reset our compressor after each message. */
  deflateNoContextTakeover: boolean;
  /** The peer resets its compressor after each message, so we reset our decompressor. */
  inflateNoContextTakeover: boolean;
  /** Messages shorter than this are not compressed. */
  threshold: number;
  /** Messages of at least this many bytes (compressed when received, plain when sent) are better transformed off the event loop. */
  asyncThreshold: number;
  level: number;
  memLevel: number;
}

/** Settings for `role` from what was agreed. */
export function settingsFor(
  role: "client" | "server",
  agreed: AgreedParameters,
  tuning: { threshold: number; asyncThreshold?: number; level: number; memLevel: number },
): CodecSettings {
  const client = role === "client";
  return {
    deflateWindowBits: client ? agreed.clientMaxWindowBits : agreed.serverMaxWindowBits,
    inflateWindowBits: client ? agreed.serverMaxWindowBits : agreed.clientMaxWindowBits,
    deflateNoContextTakeover: client ? agreed.clientNoContextTakeover : agreed.serverNoContextTakeover,
    inflateNoContextTakeover: client ? agreed.serverNoContextTakeover : agreed.clientNoContextTakeover,
    threshold: tuning.threshold,
    asyncThreshold: tuning.asyncThreshold ?? DEFAULT_ASYNC_THRESHOLD,
    level: tuning.level,
    memLevel: tuning.memLevel,
  };
}

function endsWithTail(bytes: Uint8Array): boolean {
  const n = bytes.length;
  return n >= 4 && bytes[n - 4] === 0x00 && bytes[n - 3] === 0x00 && bytes[n - 2] === 0xff && bytes[n - 1] === 0xff;
}

function toLimit(maxSize: number): number {
  if (Number.isNaN(maxSize)) return Infinity;
  return Math.max(0, maxSize);
}

/**
 * Compresses one message with `deflater` (which keeps or not its window:
 * the caller decides) and removes the sync-flush tail (RFC 7692 7.2.1).
 */
function deflateMessage(deflater: ZlibContext, payload: Uint8Array): Uint8Array {
  // zlib emits nothing for an empty input right after a flush, so the empty
  // message is written by hand: one empty stored block header.
  if (payload.length === 0) return EMPTY_COMPRESSED.slice();
  return withoutTail(deflater.process([payload], Infinity).output);
}

/** {@link deflateMessage} on the thread pool. */
async function deflateMessageAsync(deflater: ZlibContext, payload: Uint8Array): Promise<Uint8Array> {
  if (payload.length === 0) return EMPTY_COMPRESSED.slice();
  return withoutTail((await deflater.processAsync([payload], Infinity)).output);
}

function withoutTail(output: Uint8Array): Uint8Array {
  return endsWithTail(output) ? output.subarray(0, output.length - 4) : output;
}

/**
 * Decompresses one message with `inflater` (RFC 7692 7.2.2), at most
 * `limit` bytes. Throws ZlibDataError / OutputLimitError from the driver, or
 * ZlibDataError for data after a final block.
 */
function inflateMessage(inflater: ZlibContext, payload: Uint8Array, limit: number): Uint8Array {
  return checkEnd(inflater, payload, inflater.process([payload, TAIL], limit));
}

/** {@link inflateMessage} on the thread pool. */
async function inflateMessageAsync(inflater: ZlibContext, payload: Uint8Array, limit: number): Promise<Uint8Array> {
  return checkEnd(inflater, payload, await inflater.processAsync([payload, TAIL], limit));
}

function checkEnd(inflater: ZlibContext, payload: Uint8Array, { output, remaining }: ZlibResult): Uint8Array {
  if (inflater.ended) {
    // A message may end with a BFINAL block (RFC 7692 7.2.3.3), optionally
    // followed by one 0x00 byte; nothing else may follow it.
    const extra = remaining - TAIL.length;
    if (extra > 1 || (extra === 1 && payload[payload.length - 1] !== 0x00)) {
      throw new ZlibDataError("data after the final DEFLATE block");
    }
    // The stream is over: the next message starts a new one.
    inflater.reset();
  }
  return output;
}

/**
 * Contexts shared by every connection whose direction keeps no window
 * between messages (no_context_takeover): synchronous calls never overlap,
 * so one context per setting serves them all in turn, reset after each
 * message. This is what makes `serverNoContextTakeover` save ~250 KB per
 * connection. A message transformed off the event loop gets a context of
 * its own instead, used for it alone and then closed.
 */
const sharedContexts = new Map<string, ZlibContext>();

function sharedContext(kind: "deflate" | "inflate", windowBits: number, level = 0, memLevel = 0): ZlibContext {
  const key = `${kind}:${windowBits}:${level}:${memLevel}`;
  let context = sharedContexts.get(key);
  if (context === undefined || !context.open) {
    context = kind === "deflate" ? new ZlibContext("deflate", { windowBits, level, memLevel }) : new ZlibContext("inflate", { windowBits });
    sharedContexts.set(key, context);
  }
  return context;
}

/** How many shared contexts exist (part of `liveZlibContexts()`, at most one per setting in use). */
export function sharedZlibContexts(): number {
  let open = 0;
  for (const context of sharedContexts.values()) if (context.open) open++;
  return open;
}

/** Drop a shared context that failed: the next message gets a fresh one. */
function discardShared(context: ZlibContext): void {
  context.close();
  for (const [key, value] of sharedContexts) if (value === context) sharedContexts.delete(key);
}

function decodeError(error: unknown, limit: number): ProtocolError {
  if (error instanceof ProtocolError) return error;
  if (error instanceof OutputLimitError) return new ProtocolError("MESSAGE_TOO_BIG", `decompressed message larger than ${limit} bytes`);
  if (error instanceof ZlibDataError) return new ProtocolError("INVALID_COMPRESSED_DATA", error.message);
  return new ProtocolError("INVALID_COMPRESSED_DATA", error instanceof Error ? error.message : String(error));
}

/**
 * permessage-deflate on one connection. zlib contexts are created on first
 * use (an idle connection holds none) and released by {@link dispose}; a
 * direction without context takeover uses a process-wide shared context
 * for synchronous calls, and a private one per asynchronous call.
 */
export class PerMessageDeflate implements Extension {
  readonly name = EXTENSION_NAME;
  readonly rsv = Rsv.RSV1;
  /** Which end this is. */
  readonly role: "client" | "server";
  /** The parameters both ends agreed on. */
  readonly agreed: Readonly<AgreedParameters>;
  readonly settings: Readonly<CodecSettings>;
  #deflater: ZlibContext | null = null;
  #inflater: ZlibContext | null = null;
  /** Without context takeover, the private context of the message being transformed off the loop. */
  #oneShotDeflater: ZlibContext | null = null;
  #oneShotInflater: ZlibContext | null = null;
  /** Without context takeover, the private context of the streamed message being sent. */
  #streamDeflater: ZlibContext | null = null;
  /** The decompressor failed while the peer keeps its window: a new one could not follow. */
  #inflateBroken = false;
  #disposed = false;

  /**
   * Messages of at least this many bytes (compressed size when received,
   * plain size when sent) are better transformed with {@link decodeAsync} /
   * {@link encodeAsync}; Infinity when this runtime's zlib cannot run them.
   */
  readonly asyncThreshold: number;

  constructor(role: "client" | "server", agreed: AgreedParameters, settings: CodecSettings) {
    this.role = role;
    this.agreed = Object.freeze({ ...agreed });
    this.settings = Object.freeze({ ...settings });
    this.asyncThreshold = asyncZlibSupported() ? settings.asyncThreshold : Infinity;
  }

  /** Without context takeover every message is compressed alone: equal settings give equal bytes. */
  get sharedEncoding(): string | null {
    const s = this.settings;
    return s.deflateNoContextTakeover ? `permessage-deflate:${s.deflateWindowBits}:${s.level}:${s.memLevel}:${s.threshold}` : null;
  }

  /** How many zlib contexts this connection holds now: 0 to 2, plus one per call in flight without context takeover. */
  get zlibContexts(): number {
    const contexts = [this.#deflater, this.#inflater, this.#oneShotDeflater, this.#oneShotInflater, this.#streamDeflater];
    return contexts.reduce((open, context) => open + (context?.open ? 1 : 0), 0);
  }

  decode(payload: Uint8Array, maxSize: number): Uint8Array {
    const limit = toLimit(maxSize);
    this.#checkCanDecode();
    // An empty payload is not valid DEFLATE with the tail appended, but it
    // can only mean an empty message; leave the decompressor untouched.
    if (payload.length === 0) return new Uint8Array(0);
    const settings = this.settings;
    if (settings.inflateNoContextTakeover) {
      const shared = sharedContext("inflate", settings.inflateWindowBits);
      try {
        const output = inflateMessage(shared, payload, limit);
        shared.reset();
        return output;
      } catch (error) {
        discardShared(shared);
        throw decodeError(error, limit);
      }
    }
    let inflater: ZlibContext | null = null;
    try {
      inflater = this.#takeoverInflater();
      return inflateMessage(inflater, payload, limit);
    } catch (error) {
      throw this.#inflateFailed(inflater, error, limit);
    }
  }

  /**
   * {@link decode} on the thread pool, with the same limit and errors. Calls
   * must follow the message order and not overlap each other or
   * {@link decode}: with context takeover they share one decompressor.
   */
  async decodeAsync(payload: Uint8Array, maxSize: number): Promise<Uint8Array> {
    const limit = toLimit(maxSize);
    this.#checkCanDecode();
    if (payload.length === 0) return new Uint8Array(0);
    const settings = this.settings;
    if (settings.inflateNoContextTakeover) {
      let own: ZlibContext | null = null;
      try {
        own = this.#oneShotInflater = new ZlibContext("inflate", { windowBits: settings.inflateWindowBits });
        return await inflateMessageAsync(own, payload, limit);
      } catch (error) {
        throw decodeError(error, limit);
      } finally {
        own?.close();
        if (this.#oneShotInflater === own) this.#oneShotInflater = null;
      }
    }
    let inflater: ZlibContext | null = null;
    try {
      inflater = this.#takeoverInflater();
      return await inflateMessageAsync(inflater, payload, limit);
    } catch (error) {
      throw this.#inflateFailed(inflater, error, limit);
    }
  }

  #checkCanDecode(): void {
    if (this.#disposed) throw new ProtocolError("INVALID_COMPRESSED_DATA", "the connection's decompressor was released");
    if (this.#inflateBroken) {
      throw new ProtocolError("INVALID_COMPRESSED_DATA", "the decompressor is unusable after an earlier error");
    }
  }

  #takeoverInflater(): ZlibContext {
    return (this.#inflater ??= new ZlibContext("inflate", { windowBits: this.settings.inflateWindowBits }));
  }

  /** Never reuse a decompressor that failed half way through a message; the peer's window is lost. */
  #inflateFailed(inflater: ZlibContext | null, error: unknown, limit: number): ProtocolError {
    inflater?.close();
    if (this.#inflater === inflater) this.#inflater = null;
    this.#inflateBroken = true;
    return decodeError(error, limit);
  }

  encode(payload: Uint8Array, options: { compress?: boolean }): Uint8Array | null {
    const settings = this.settings;
    if (this.#disposed || options?.compress === false || payload.length < settings.threshold) return null;
    if (payload.length === 0) return EMPTY_COMPRESSED.slice();
    if (settings.deflateNoContextTakeover) {
      const shared = sharedContext("deflate", settings.deflateWindowBits, settings.level, settings.memLevel);
      try {
        const output = deflateMessage(shared, payload);
        shared.reset();
        return output;
      } catch (error) {
        discardShared(shared);
        throw error;
      }
    }
    const deflater = this.#takeoverDeflater();
    try {
      return deflateMessage(deflater, payload);
    } catch (error) {
      this.#deflateFailed(deflater);
      throw error;
    }
  }

  /**
   * {@link encode} on the thread pool. Calls must follow the message order
   * and not overlap each other or {@link encode}: with context takeover
   * they share one compressor.
   */
  async encodeAsync(payload: Uint8Array, options: { compress?: boolean }): Promise<Uint8Array | null> {
    const settings = this.settings;
    if (this.#disposed || options?.compress === false || payload.length < settings.threshold) return null;
    if (payload.length === 0) return EMPTY_COMPRESSED.slice();
    if (settings.deflateNoContextTakeover) {
      const own = new ZlibContext("deflate", { windowBits: settings.deflateWindowBits, level: settings.level, memLevel: settings.memLevel });
      this.#oneShotDeflater = own;
      try {
        return await deflateMessageAsync(own, payload);
      } finally {
        own.close();
        if (this.#oneShotDeflater === own) this.#oneShotDeflater = null;
      }
    }
    const deflater = this.#takeoverDeflater();
    try {
      return await deflateMessageAsync(deflater, payload);
    } catch (error) {
      this.#deflateFailed(deflater);
      throw error;
    }
  }

  #takeoverDeflater(): ZlibContext {
    const settings = this.settings;
    return (this.#deflater ??= new ZlibContext("deflate", {
      windowBits: settings.deflateWindowBits,
      level: settings.level,
      memLevel: settings.memLevel,
    }));
  }

  /** A fresh compressor is always understood by the peer, window or not. */
  #deflateFailed(deflater: ZlibContext): void {
    deflater.close();
    if (this.#deflater === deflater) this.#deflater = null;
  }

  /** Release every context, those of calls in flight too (the calls then reject). */
  /**
   * Compress a streamed message piece by piece (RFC 7692 allows a compressed
   * message in fragments): each piece is sync-flushed so its bytes can leave
   * at once, and the last one loses the flush tail as a whole message does.
   * Without context takeover the message gets a private compressor, as the
   * shared one cannot wait between pieces.
   */
  encodeStream(options: { compress?: boolean }): StreamEncoder | null {
    if (this.#disposed || options?.compress === false) return null;
    const settings = this.settings;
    const own = settings.deflateNoContextTakeover;
    const deflater = own
      ? (this.#streamDeflater = new ZlibContext("deflate", { windowBits: settings.deflateWindowBits, level: settings.level, memLevel: settings.memLevel }))
      : this.#takeoverDeflater();
    let empty = true;
    return {
      push: (piece, last) => {
        try {
          if (piece.length > 0) empty = false;
          if (last && empty) return EMPTY_COMPRESSED.slice();
          if (piece.length === 0) return EMPTY;
          const output = deflater.process([piece], Infinity).output;
          return last ? withoutTail(output) : output;
        } catch (error) {
          if (!own) this.#deflateFailed(deflater);
          throw error;
        }
      },
      end: () => {
        if (!own) return;
        deflater.close();
        if (this.#streamDeflater === deflater) this.#streamDeflater = null;
      },
    };
  }

  dispose(): void {
    this.#disposed = true;
    for (const context of [this.#deflater, this.#inflater, this.#oneShotDeflater, this.#oneShotInflater, this.#streamDeflater]) context?.close();
    this.#deflater = this.#inflater = this.#oneShotDeflater = this.#oneShotInflater = this.#streamDeflater = null;
  }
}

/** Options of {@link compressMessage}. */
export interface CompressMessageOptions {
  /** 8..15 (default 15). */
  windowBits?: number;
  /** zlib level (default 1). */
  level?: number;
  /** zlib memLevel (default 8). */
  memLevel?: number;
}

/**
 * Compresses one message as permessage-deflate would without context
 * takeover (the payload of a frame with RSV1 set). For tests and tools.
 */
export function compressMessage(payload: Uint8Array, options: CompressMessageOptions = {}): Uint8Array {
  const deflater = new ZlibContext("deflate", {
    windowBits: options.windowBits ?? 15,
    level: options.level ?? DEFAULT_LEVEL,
    memLevel: options.memLevel ?? DEFAULT_MEM_LEVEL,
  });
  try {
    return deflateMessage(deflater, payload);
  } finally {
    deflater.close();
  }
}

/** Options of {@link decompressMessage}. */
export interface DecompressMessageOptions {
  /** 8..15 (default 15). */
  windowBits?: number;
  /** Largest output accepted (default unlimited). */
  maxSize?: number;
}

/**
 * Decompresses the payload of one permessage-deflate message that needs no
 * earlier context. Throws ProtocolError `MESSAGE_TOO_BIG` or
 * `INVALID_COMPRESSED_DATA`. For tests and tools.
 */
export function decompressMessage(payload: Uint8Array, options: DecompressMessageOptions = {}): Uint8Array {
  const limit = toLimit(options.maxSize ?? Infinity);
  if (payload.length === 0) return new Uint8Array(0);
  let inflater: ZlibContext | null = null;
  try {
    inflater = new ZlibContext("inflate", { windowBits: options.windowBits ?? 15 });
    return inflateMessage(inflater, payload, limit);
  } catch (error) {
    throw decodeError(error, limit);
  } finally {
    inflater?.close();
  }
}
