/**
 * `ws`'s option shapes and their translation to wsx options: the limits
 * with `ws`'s defaults, `perMessageDeflate`, and the client's options.
 * Options wsx cannot honour are refused (those that change where or how
 * the connection is made) or documented as ignored (tuning of `ws`'s own
 * internals), never silently given another meaning.
 */
import type { ClientRequestArgs } from "node:http";
import type { LookupFunction } from "node:net";
import type { ConnectionOptions as TlsConnectionOptions, SecureContextOptions } from "node:tls";
import { UsageError } from "../core/index.js";
import type { ConnectOptions } from "../client/index.js";
import type { DeflateOptions } from "../deflate/index.js";

/** `ws`'s permessage-deflate options (RFC 7692 parameters, zlib tuning). */
export interface PerMessageDeflateOptions {
  serverNoContextTakeover?: boolean;
  clientNoContextTakeover?: boolean;
  serverMaxWindowBits?: number;
  clientMaxWindowBits?: number | boolean;
  /** Level and memLevel are used; the other zlib options are ignored. */
  zlibDeflateOptions?: { level?: number; memLevel?: number; [option: string]: unknown };
  /** Ignored: wsx inflates with its own bounded settings. */
  zlibInflateOptions?: Record<string, unknown>;
  /** Messages shorter than this are sent uncompressed (default 1024), in every mode. */
  threshold?: number;
  /** Ignored: wsx compresses small messages synchronously and large ones on the thread pool. */
  concurrencyLimit?: number;
}

/** Options shared by `ws`'s client and server connections. */
export interface SharedOptions {
  /** Ignored: events are always emitted synchronously, as with `ws`'s default (true). */
  allowSynchronousEvents?: boolean;
  /** Answer pings automatically (default true). */
  autoPong?: boolean;
  /** How long `close()` waits for the close handshake, in ms (default 30000, as `ws`). */
  closeTimeout?: number;
  /** Largest message accepted, in bytes (default 100 MiB, as `ws`; 0 for no limit). */
  maxPayload?: number;
  /** Most frames one message may be split into (default 16384, as `ws`; 0 for no limit). */
  maxFragments?: number;
  /** Ignored: wsx reassembles fragments into one buffer. */
  maxBufferedChunks?: number;
  /** Ignored: wsx answers pings through its send path, under the same backpressure. */
  maxPendingAutoPongs?: number;
  /** Ignored: wsx always validates UTF-8 (natively, at a cost close to none). */
  skipUTF8Validation?: boolean;
}

/** `ws`'s client options: those in this list are honoured, see the migration guide for the rest. */
export interface ClientOptions extends SharedOptions, SecureContextOptions {
  protocols?: string | string[];
  headers?: Record<string, string | string[]>;
  origin?: string;
  /** Time for the whole opening (connection, redirects, response), in ms (default 30000: wsx's connect() timeout). */
  handshakeTimeout?: number;
  followRedirects?: boolean;
  /** Default 10, as `ws`. */
  maxRedirects?: number;
  /** Default true: offered with `ws`'s parameters. */
  perMessageDeflate?: boolean | PerMessageDeflateOptions;
  /** Only 13. */
  protocolVersion?: number;
  family?: number;
  localAddress?: string;
  /** HTTP basic credentials, "user:password". */
  auth?: string;
  servername?: string;
  rejectUnauthorized?: boolean;
  /** Check the server's certificate against the host name: passed to node:tls, as `ws` passes it to https.request. */
  checkServerIdentity?: TlsConnectionOptions["checkServerIdentity"];
  ALPNProtocols?: TlsConnectionOptions["ALPNProtocols"];
  session?: Buffer;
  /** Ignored: masking keys come from wsx's own pool of random bytes. */
  generateMask?: (mask: Buffer) => void;
  /** Refused: wsx dials itself (proxies are its own `connect()` options). */
  agent?: ClientRequestArgs["agent"];
  /** Refused, as `agent`. */
  createConnection?: unknown;
  /** Refused: the request is not a node:http ClientRequest. */
  finishRequest?: unknown;
  /** Refused: `ws` ignores it for `ws:` URLs; a Unix socket is reached with a `ws+unix:` URL, as in `ws`. */
  socketPath?: string;
  /** Resolve the host name with this function instead of `dns.lookup` (same signature). */
  lookup?: LookupFunction;
}

export const MAX_PAYLOAD = 100 * 1024 * 1024;
export const MAX_FRAGMENTS = 16 * 1024;
export const CLOSE_TIMEOUT = 30_000;
const NO_LIMIT = Number.MAX_SAFE_INTEGER;

/** The TLS options passed through to node:tls, as `ws` passes its options to https.request. */
const TLS_KEYS = [
  "ca",
  "cert",
  "key",
  "pfx",
  "passphrase",
  "ciphers",
  "ecdhCurve",
  "honorCipherOrder",
  "minVersion",
  "maxVersion",
  "secureOptions",
  "secureProtocol",
  "sessionIdContext",
  "sigalgs",
  "crl",
  "dhparam",
  "privateKeyEngine",
  "privateKeyIdentifier",
  "clientCertEngine",
  "ticketKeys",
  "sessionTimeout",
  "secureContext",
  "servername",
  "rejectUnauthorized",
  "checkServerIdentity",
  "ALPNProtocols",
  "session",
  "minDHSize",
  "enableTrace",
] as const;

/** Options whose meaning wsx cannot give: refused rather than ignored. */
const REFUSED_CLIENT_KEYS = ["agent", "createConnection", "finishRequest", "socketPath"] as const;

function invalid(message: string): UsageError {
  return new UsageError("INVALID_OPTION", message);
}

/** `ws`'s limit options (0 meaning none) with `ws`'s defaults, as wsx limits. */
export function wsLimits(options: SharedOptions): { maxMessageSize: number; maxFrameSize: number; maxFragments: number } {
  const payload = options.maxPayload ?? MAX_PAYLOAD;
  const fragments = options.maxFragments ?? MAX_FRAGMENTS;
  if (typeof payload !== "number" || !(payload >= 0)) throw invalid(`maxPayload must be a number >= 0, got ${String(payload)}`);
  if (typeof fragments !== "number" || !(fragments >= 0)) throw invalid(`maxFragments must be a number >= 0, got ${String(fragments)}`);
  const size = payload === 0 || payload > NO_LIMIT ? NO_LIMIT : Math.floor(payload);
  return { maxMessageSize: size, maxFrameSize: size, maxFragments: fragments === 0 || fragments > NO_LIMIT ? NO_LIMIT : Math.floor(fragments) };
}

/** `ws`'s `perMessageDeflate` as wsx's `compression` option (false, or the options it maps to). */
export function deflateOption(value: boolean | PerMessageDeflateOptions | undefined): false | DeflateOptions {
  if (value === undefined || value === false || value === null) return false;
  if (value === true) return {};
  if (typeof value !== "object") throw new UsageError("INVALID_DEFLATE_OPTION", "perMessageDeflate must be a boolean or an object");
  const options: DeflateOptions = {};
  if (value.serverNoContextTakeover !== undefined) options.serverNoContextTakeover = value.serverNoContextTakeover;
  if (value.clientNoContextTakeover !== undefined) options.clientNoContextTakeover = value.clientNoContextTakeover;
  if (typeof value.serverMaxWindowBits === "number") options.serverMaxWindowBits = value.serverMaxWindowBits;
  if (value.clientMaxWindowBits !== undefined) options.clientMaxWindowBits = value.clientMaxWindowBits;
  if (value.threshold !== undefined) options.threshold = value.threshold;
  const zlib = value.zlibDeflateOptions;
  if (zlib?.level !== undefined) options.level = zlib.level;
  if (zlib?.memLevel !== undefined) options.memLevel = zlib.memLevel;
  return options;
}

/** Options shared by both roles, as wsx connection options. */
export function connectionOptions(options: SharedOptions): {
  autoPong: boolean;
  closeTimeout: number;
  maxMessageSize: number;
  maxFrameSize: number;
  maxFragments: number;
  maxBackpressure: number;
} {
  const closeTimeout = options.closeTimeout ?? CLOSE_TIMEOUT;
  if (typeof closeTimeout !== "number" || !(closeTimeout >= 0) || !Number.isFinite(closeTimeout)) {
    throw invalid(`closeTimeout must be a finite number >= 0, got ${String(closeTimeout)}`);
  }
  return {
    autoPong: options.autoPong ?? true,
    closeTimeout,
    ...wsLimits(options),
    // ws queues every send in the socket and lets the application watch bufferedAmount: so does the facade.
    maxBackpressure: Infinity,
  };
}

/** A client's `ws` options as `connect()` options (without the callbacks the facade adds). */
export function clientConnectOptions(protocols: string[], options: ClientOptions): ConnectOptions {
  for (const key of REFUSED_CLIENT_KEYS) {
    if (options[key] !== undefined) {
      throw new UsageError("UNSUPPORTED_OPTION", `wsx/ws does not support the ${key} option (see docs/ws-migration.md)`);
    }
  }
  if (options.protocolVersion !== undefined && options.protocolVersion !== 13) {
    throw new UsageError("UNSUPPORTED_OPTION", `unsupported protocol version ${String(options.protocolVersion)} (wsx speaks 13)`);
  }
  const tls: Record<string, unknown> = {};
  let anyTls = false;
  for (const key of TLS_KEYS) {
    const value = (options as Record<string, unknown>)[key];
    if (value !== undefined) {
      tls[key] = value;
      anyTls = true;
    }
  }
  const follow = options.followRedirects === true;
  const maxRedirects = options.maxRedirects ?? 10;
  if (follow && (typeof maxRedirects !== "number" || !(maxRedirects >= 0))) throw invalid(`maxRedirects must be a number >= 0`);
  const connect: ConnectOptions = {
    ...connectionOptions(options),
    protocols,
    compression: deflateOption(options.perMessageDeflate ?? true),
    redirect: follow ? Math.floor(maxRedirects) : false,
  };
  if (options.headers !== undefined) connect.headers = options.headers;
  if (options.origin !== undefined) connect.origin = options.origin;
  if (options.auth !== undefined) connect.auth = options.auth;
  if (options.handshakeTimeout !== undefined) connect.timeout = options.handshakeTimeout;
  if (options.family === 4 || options.family === 6) connect.family = options.family;
  if (options.localAddress !== undefined) connect.localAddress = options.localAddress;
  if (options.lookup !== undefined) connect.lookup = options.lookup;
  if (anyTls) connect.tls = tls as TlsConnectionOptions;
  return connect;
}
