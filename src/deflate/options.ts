/**
 * permessage-deflate configuration: what a user may set, the defaults, and
 * the checks that turn a bad value into a UsageError when the extension is
 * configured rather than at the first handshake.
 */
import { UsageError } from "../core/errors.js";
import { OptionTable, checkOptions } from "../core/options.js";

/** Configuration of permessage-deflate, for either role (RFC 7692). */
export interface DeflateOptions {
  /**
   * Client: ask the server not to keep its compression window between
   * messages. Server: do not keep it, and say so in the response. Saves the
   * receiving side nothing in memory but lets it reset its decompressor;
   * costs compression ratio on repetitive traffic. Default false.
   */
  serverNoContextTakeover?: boolean;
  /**
   * Client: do not keep the compression window between messages (announced
   * in the offer). Server: require the client not to keep it. Default false.
   */
  clientNoContextTakeover?: boolean;
  /**
   * Client: ask the server to compress with a window of at most 2^n bytes
   * (8..15). Server: never use more than 2^n, even if the client allows it.
   * Default: not set (15, a 32 KiB window).
   */
  serverMaxWindowBits?: number;
  /**
   * Client: `true` (the default) offers `client_max_window_bits` without a
   * value, so the server may limit the client's window; a number 8..15 also
   * promises to use at most that; `false` leaves the parameter out.
   * Server: a number 8..15 limits the client's window (offers that cannot be
   * limited are declined, RFC 7692 section 7.1.2.2); `true`/`false` or unset
   * set no limit.
   */
  clientMaxWindowBits?: number | boolean;
  /**
   * Messages shorter than this many bytes are sent uncompressed (default
   * 1024): below about a kilobyte the saving rarely pays for the CPU time and
   * the per-message DEFLATE overhead. 0 compresses everything.
   */
  threshold?: number;
  /**
   * Messages this big or bigger are compressed and decompressed on the
   * libuv thread pool instead of on the event loop (default 256 KiB): the
   * compressed payload's size decides for a received message, the plain
   * size for a sent one. Smaller messages keep the synchronous path, which
   * costs less per message. Either way messages keep their order: a
   * received message is delivered, and the input after it read, only once
   * it is inflated; sends made after a large one go out after it. 0 sends
   * everything to the thread pool, Infinity nothing. Ignored where the
   * runtime's zlib cannot be driven asynchronously.
   */
  asyncThreshold?: number;
  /**
   * zlib compression level, 0..9 or -1 for zlib's default (6). Default 1:
   * on typical JSON/text messages it runs several times faster than level 6
   * and its output is only slightly larger.
   */
  level?: number;
  /** zlib memLevel 1..9 (default 8): memory of the compressor's hash tables, 2^(memLevel+9) bytes. */
  memLevel?: number;
}

/** Every option's name, for `checkOptions` (the values are checked below, with their own code). */
const DEFLATE_OPTIONS = new OptionTable<DeflateOptions>({
  serverNoContextTakeover: null,
  clientNoContextTakeover: null,
  serverMaxWindowBits: null,
  clientMaxWindowBits: null,
  threshold: null,
  asyncThreshold: null,
  level: null,
  memLevel: null,
});

/** {@link DeflateOptions} with defaults applied and values checked. */
export interface ResolvedDeflateOptions {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  serverMaxWindowBits: number | undefined;
  clientMaxWindowBits: number | boolean;
  threshold: number;
  asyncThreshold: number;
  level: number;
  memLevel: number;
}

export const DEFAULT_THRESHOLD = 1024;
export const DEFAULT_ASYNC_THRESHOLD = 256 * 1024;
export const DEFAULT_LEVEL = 1;
export const DEFAULT_MEM_LEVEL = 8;

function invalid(message: string): UsageError {
  return new UsageError("INVALID_DEFLATE_OPTION", message);
}

function isIntegerIn(value: unknown, min: number, max: number): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= min && value <= max;
}

function flag(value: unknown, name: string): boolean {
  if (value === undefined) return false;
  if (typeof value !== "boolean") throw invalid(`${name} must be a boolean`);
  return value;
}

/** Checks `options` and fills in the defaults; throws UsageError `INVALID_DEFLATE_OPTION`. */
export function resolveDeflateOptions(options: DeflateOptions = {}): ResolvedDeflateOptions {
  if (typeof options !== "object" || options === null) throw invalid("options must be an object");
  checkOptions(options, DEFLATE_OPTIONS, "permessage-deflate");
  const { serverMaxWindowBits, clientMaxWindowBits, threshold, asyncThreshold, level, memLevel } = options;
  if (serverMaxWindowBits !== undefined && !isIntegerIn(serverMaxWindowBits, 8, 15)) {
    throw invalid(`serverMaxWindowBits must be an integer from 8 to 15, got ${String(serverMaxWindowBits)}`);
  }
  if (clientMaxWindowBits !== undefined && typeof clientMaxWindowBits !== "boolean" && !isIntegerIn(clientMaxWindowBits, 8, 15)) {
    throw invalid(`clientMaxWindowBits must be true, false or an integer from 8 to 15, got ${String(clientMaxWindowBits)}`);
  }
  if (threshold !== undefined && !(isIntegerIn(threshold, 0, Number.MAX_SAFE_INTEGER) || threshold === Infinity)) {
    throw invalid(`threshold must be a non-negative integer, got ${String(threshold)}`);
  }
  if (asyncThreshold !== undefined && !(isIntegerIn(asyncThreshold, 0, Number.MAX_SAFE_INTEGER) || asyncThreshold === Infinity)) {
    throw invalid(`asyncThreshold must be a non-negative integer or Infinity, got ${String(asyncThreshold)}`);
  }
  if (level !== undefined && !isIntegerIn(level, -1, 9)) {
    throw invalid(`level must be an integer from -1 to 9, got ${String(level)}`);
  }
  if (memLevel !== undefined && !isIntegerIn(memLevel, 1, 9)) {
    throw invalid(`memLevel must be an integer from 1 to 9, got ${String(memLevel)}`);
  }
  return {
    serverNoContextTakeover: flag(options.serverNoContextTakeover, "serverNoContextTakeover"),
    clientNoContextTakeover: flag(options.clientNoContextTakeover, "clientNoContextTakeover"),
    serverMaxWindowBits,
    clientMaxWindowBits: clientMaxWindowBits ?? true,
    threshold: threshold ?? DEFAULT_THRESHOLD,
    asyncThreshold: asyncThreshold ?? DEFAULT_ASYNC_THRESHOLD,
    level: level ?? DEFAULT_LEVEL,
    memLevel: memLevel ?? DEFAULT_MEM_LEVEL,
  };
}
