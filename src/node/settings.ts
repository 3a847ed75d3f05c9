/**
 * A connection's options, resolved and checked once per options object.
 * A server hands the same options object to every connection it accepts,
 * so its connections share one resolved copy instead of holding one each.
 */
import { resolveLimits, type Limits } from "../core/index.js";
import { resolveBackpressure, type Backpressure } from "./backpressure.js";
import type { ConnectionOptions } from "./connection.js";
import { resolveLiveness, type Liveness } from "./heartbeat.js";

export interface ConnectionSettings {
  readonly limits: Readonly<Limits>;
  readonly backpressure: Backpressure;
  /** Null when neither pings nor an idle timeout are asked for. */
  readonly liveness: Liveness | null;
  /** How long `close()` waits for the peer's close frame and TCP close, in ms. */
  readonly closeTimeout: number;
  /** Received items buffered for `receive()`/iteration before the socket is paused. */
  readonly receiveQueue: number;
}

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
    settings = Object.freeze({
      limits: Object.freeze(resolveLimits(options)),
      backpressure: resolveBackpressure(options),
      liveness: resolveLiveness(options),
      closeTimeout: options.closeTimeout ?? DEFAULT_CLOSE_TIMEOUT,
      receiveQueue: options.receiveQueue ?? DEFAULT_RECEIVE_QUEUE,
    });
    resolved.set(options, settings);
  }
  return settings;
}
