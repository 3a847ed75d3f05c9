/**
 * A connection's options, resolved and checked once per options object.
 * A server hands the same options object to every connection it accepts,
 * so its connections share one resolved copy instead of holding one each.
 */
import { isUtf8 } from "node:buffer";
import { Rules, UsageError, resolveLimits, type Limits, type OptionRules, type ProtocolOptions, type Role } from "../core/index.js";
import { resolveBackpressure, type Backpressure } from "./backpressure.js";
import type { ConnectionOptions } from "./connection.js";
import { resolveLiveness, type Liveness } from "./heartbeat.js";
import { nodeSlab } from "./slab.js";

export interface ConnectionSettings {
  readonly limits: Readonly<Limits>;
  /** The core's options for each role when no extension was negotiated: frozen, shared by the connections, checked once. */
  readonly protocol: Readonly<Record<Role, Readonly<ProtocolOptions>>>;
  readonly backpressure: Backpressure;
  /** Null when neither pings nor an idle timeout are asked for. */
  readonly liveness: Liveness | null;
  /** How long `close()` waits for the peer's close frame and TCP close, in ms. */
  readonly closeTimeout: number;
  /** Received items buffered for `receive()`/iteration before the socket is paused. */
  readonly receiveQueue: number;
}

/**
 * The options every connection takes, and what each accepts; client and
 * server options add theirs to these. Limits, backpressure and liveness are
 * checked by their resolvers.
 */
export const CONNECTION_OPTION_RULES: OptionRules<ConnectionOptions> = {
  maxFrameSize: null,
  maxMessageSize: null,
  maxFragments: null,
  maxHeaderBytes: null,
  maxHeaderCount: null,
  maxBackpressure: null,
  backpressure: null,
  backpressureCloseCode: null,
  autoPong: Rules.boolean,
  autoClose: Rules.boolean,
  closeTimeout: null,
  receiveQueue: null,
  deliver: Rules.oneOf("messages", "frames", "chunks"),
  pingInterval: null,
  pongTimeout: null,
  idleTimeout: null,
};

/** setTimeout takes at most a signed 32-bit delay. */
const MAX_TIMER = 2 ** 31 - 1;

const DEFAULT_CLOSE_TIMEOUT = 5000;
const DEFAULT_RECEIVE_QUEUE = 64;

const resolved = new WeakMap<ConnectionOptions, ConnectionSettings>();

/**
 * The settings for `options`, computed on first use. Throws the option's
 * UsageError for a bad value, so servers and clients call it up front.
 * Options are read once: changing the object afterwards has no effect.
 */
export function connectionSettings(options: ConnectionOptions): ConnectionSettings {
  let settings = resolved.get(options);
  if (settings === undefined) {
    const limits = Object.freeze(resolveLimits(options));
    const protocol = (role: Role): Readonly<ProtocolOptions> =>
      Object.freeze({
        role,
        limits,
        autoPong: options.autoPong,
        autoClose: options.autoClose,
        deliver: options.deliver,
        asyncDecode: true,
        utf8Check: isUtf8,
        slab: nodeSlab(),
      });
    settings = Object.freeze({
      limits,
      protocol: Object.freeze({ client: protocol("client"), server: protocol("server") }),
      backpressure: resolveBackpressure(options),
      liveness: resolveLiveness(options),
      closeTimeout: closeTimeout(options.closeTimeout),
      receiveQueue: receiveQueue(options.receiveQueue),
    });
    resolved.set(options, settings);
  }
  return settings;
}

function closeTimeout(value: unknown): number {
  if (value === undefined) return DEFAULT_CLOSE_TIMEOUT;
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0 || value > MAX_TIMER) {
    throw new UsageError("INVALID_OPTION", `closeTimeout must be a number of ms from 0 to ${MAX_TIMER}, got ${String(value)}`);
  }
  return value;
}

function receiveQueue(value: unknown): number {
  if (value === undefined) return DEFAULT_RECEIVE_QUEUE;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1) {
    throw new UsageError("INVALID_OPTION", `receiveQueue must be an integer >= 1, got ${String(value)}`);
  }
  return value;
}
