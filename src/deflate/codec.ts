/**
 * The permessage-deflate transform (RFC 7692 section 7.2) for one
 * connection: compresses outgoing messages, decompresses incoming ones, with
 * or without keeping the LZ77 window between messages.
 */
import { ProtocolError } from "../core/errors.js";
import type { Extension } from "../core/extension.js";
import { Rsv } from "../core/frame.js";
import { EXTENSION_NAME, type AgreedParameters } from "./negotiate.js";
import { DEFAULT_LEVEL, DEFAULT_MEM_LEVEL } from "./options.js";
import { OutputLimitError, SyncZlib, ZlibDataError } from "./zlib.js";

/** The tail a Z_SYNC_FLUSH leaves (an empty stored block), removed by the sender, restored by the receiver. */
const TAIL = Uint8Array.of(0x00, 0x00, 0xff, 0xff);
/** An empty message, compressed (RFC 7692 section 7.2.3.6). */
const EMPTY_COMPRESSED = Uint8Array.of(0x00);

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
  level: number;
  memLevel: number;
}

/** Settings for `role` from what was agreed. */
export function settingsFor(
  role: "client" | "server",
  agreed: AgreedParameters,
  tuning: { threshold: number; level: number; memLevel: number },
): CodecSettings {
  const client = role === "client";
  return {
    deflateWindowBits: client ? agreed.clientMaxWindowBits : agreed.serverMaxWindowBits,
    inflateWindowBits: client ? agreed.serverMaxWindowBits : agreed.clientMaxWindowBits,
    deflateNoContextTakeover: client ? agreed.clientNoContextTakeover : agreed.serverNoContextTakeover,
    inflateNoContextTakeover: client ? agreed.serverNoContextTakeover : agreed.clientNoContextTakeover,
    threshold: tuning.threshold,
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
function deflateMessage(deflater: SyncZlib, payload: Uint8Array): Uint8Array {
  // zlib emits nothing for an empty input right after a flush, so the empty
  // message is written by hand: one empty stored block header.
  if (payload.length === 0) return EMPTY_COMPRESSED.slice();
  const { output } = deflater.process([payload], Infinity);
  return endsWithTail(output) ? output.subarray(0, output.length - 4) : output;
}

/**
 * Decompresses one message with `inflater` (RFC 7692 7.2.2), at most
 * `limit` bytes. Throws ZlibDataError / OutputLimitError from the driver, or
 * ZlibDataError for data after a final block.
 */
function inflateMessage(inflater: SyncZlib, payload: Uint8Array, limit: number): Uint8Array {
  const { output, remaining } = inflater.process([payload, TAIL], limit);
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
 * between messages (no_context_takeover): zlib runs synchronously, so one
 * context per setting serves them all in turn, reset after each message.
 * This is what makes `serverNoContextTakeover` save ~250 KB per connection.
 */
const sharedContexts = new Map<string, SyncZlib>();

function sharedContext(kind: "deflate" | "inflate", windowBits: number, level = 0, memLevel = 0): SyncZlib {
  const key = `${kind}:${windowBits}:${level}:${memLevel}`;
  let context = sharedContexts.get(key);
  if (context === undefined || !context.open) {
    context = kind === "deflate" ? new SyncZlib("deflate", { windowBits, level, memLevel }) : new SyncZlib("inflate", { windowBits });
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
function discardShared(context: SyncZlib): void {
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
 * direction without context takeover uses a process-wide shared context.
 */
export class PerMessageDeflate implements Extension {
  readonly name = EXTENSION_NAME;
  readonly rsv = Rsv.RSV1;
  /** Which end this is. */
  readonly role: "client" | "server";
  /** The parameters both ends agreed on. */
  readonly agreed: Readonly<AgreedParameters>;
  readonly settings: Readonly<CodecSettings>;
  #deflater: SyncZlib | null = null;
  #inflater: SyncZlib | null = null;
  /** The decompressor failed while the peer keeps its window: a new one could not follow. */
  #inflateBroken = false;
  #disposed = false;

  constructor(role: "client" | "server", agreed: AgreedParameters, settings: CodecSettings) {
    this.role = role;
    this.agreed = Object.freeze({ ...agreed });
    this.settings = Object.freeze({ ...settings });
  }

  /** Without context takeover every message is compressed alone: equal settings give equal bytes. */
  get sharedEncoding(): string | null {
    const s = this.settings;
    return s.deflateNoContextTakeover ? `permessage-deflate:${s.deflateWindowBits}:${s.level}:${s.memLevel}:${s.threshold}` : null;
  }

  /** How many zlib contexts this connection holds now (0, 1 or 2). */
  get zlibContexts(): number {
    return (this.#deflater?.open ? 1 : 0) + (this.#inflater?.open ? 1 : 0);
  }

  decode(payload: Uint8Array, maxSize: number): Uint8Array {
    const limit = toLimit(maxSize);
    if (this.#disposed) throw new ProtocolError("INVALID_COMPRESSED_DATA", "the connection's decompressor was released");
    if (this.#inflateBroken) {
      throw new ProtocolError("INVALID_COMPRESSED_DATA", "the decompressor is unusable after an earlier error");
    }
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
    try {
      const inflater = (this.#inflater ??= new SyncZlib("inflate", { windowBits: settings.inflateWindowBits }));
      return inflateMessage(inflater, payload, limit);
    } catch (error) {
      // Never reuse a decompressor that failed half way through a message; the peer's window is lost.
      this.#inflater?.close();
      this.#inflater = null;
      this.#inflateBroken = true;
      throw decodeError(error, limit);
    }
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
    const deflater = (this.#deflater ??= new SyncZlib("deflate", {
      windowBits: settings.deflateWindowBits,
      level: settings.level,
      memLevel: settings.memLevel,
    }));
    let output: Uint8Array;
    try {
      output = deflateMessage(deflater, payload);
    } catch (error) {
      // A fresh compressor is always understood by the peer, window or not.
      deflater.close();
      this.#deflater = null;
      throw error;
    }
    return output;
  }

  dispose(): void {
    this.#disposed = true;
    this.#deflater?.close();
    this.#deflater = null;
    this.#inflater?.close();
    this.#inflater = null;
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
  const deflater = new SyncZlib("deflate", {
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
  let inflater: SyncZlib | null = null;
  try {
    inflater = new SyncZlib("inflate", { windowBits: options.windowBits ?? 15 });
    return inflateMessage(inflater, payload, limit);
  } catch (error) {
    throw decodeError(error, limit);
  } finally {
    inflater?.close();
  }
}
