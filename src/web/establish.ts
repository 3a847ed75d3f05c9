/**
 * "Establish a WebSocket connection", shared by both constructors: the
 * options checked at once, then `connect()` (or, for one of fetch's bad
 * ports, a failure without dialling).
 */
import { checkConnectOptions, connect, type ConnectOptions } from "../client/index.js";
import type { WebSocket as Connection } from "../node/index.js";
import { isBadPort } from "./url.js";

/**
 * What every facade connection is: the standard queues sends without limit
 * (each stream write waits for the socket anyway), reads whole messages,
 * and answers close frames.
 */
const FACADE_OPTIONS = { maxBackpressure: Infinity, backpressure: "wait", deliver: "messages", autoClose: true } as const;

/** The application's connect() options with the facade's own; throws wsx's UsageError for a bad one. */
export function facadeOptions(options: object | undefined, protocols: string[], signal: AbortSignal): ConnectOptions {
  const merged: ConnectOptions = { ...options, ...FACADE_OPTIONS, protocols, signal };
  checkConnectOptions(merged);
  return merged;
}

/** Connect; `failed` is called (never synchronously) if the connection cannot be established. */
export function establish(url: URL, options: ConnectOptions, established: (connection: Connection) => void, failed: () => void): void {
  if (isBadPort(url)) {
    setImmediate(failed);
    return;
  }
  connect(url, options).then(established, failed);
}
