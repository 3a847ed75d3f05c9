/**
 * "Establish a WebSocket connection", shared by both constructors: the
 * options checked at once, then `connect()` (or, for one of fetch's bad
 * ports, a failure without dialling).
 */
import { checkConnectOptions, connect, type ConnectOptions } from "../client/index.js";
import { UsageError } from "../core/index.js";
import type { WebSocket as Connection } from "../node/index.js";
import { isBadPort } from "./url.js";

/**
 * What every facade connection is: the standard queues sends without limit
 * (each stream write waits for the socket anyway), reads whole messages,
 * and answers close frames.
 */
const FACADE_OPTIONS = { maxBackpressure: Infinity, backpressure: "wait", deliver: "messages", autoClose: true } as const;

/** The connect() options the facades set themselves, which the application cannot give. */
export type FacadeOption = keyof typeof FACADE_OPTIONS;

/** Why each connect() option the facades set themselves cannot come from the application. */
const NOT_GIVEN: Record<FacadeOption | "protocols" | "signal", string> = {
  maxBackpressure: "the standard queues sends without limit (bufferedAmount shows how much)",
  backpressure: "the standard queues sends without limit (bufferedAmount shows how much)",
  deliver: "the standard delivers whole messages",
  autoClose: "the standard answers close frames",
  protocols: "subprotocols are the constructor's own argument",
  signal: "close() aborts a WebSocket's connection attempt, the signal argument a WebSocketStream's",
};

/**
 * The application's connect() options with the facade's own; throws wsx's
 * UsageError for a bad one, and UNKNOWN_OPTION for one the facade sets
 * itself, rather than silently overriding it.
 */
export function facadeOptions(options: object | undefined | null, protocols: string[], signal: AbortSignal, where: string): ConnectOptions {
  if (options !== undefined && options !== null) {
    for (const [name, why] of Object.entries(NOT_GIVEN)) {
      if ((options as Record<string, unknown>)[name] !== undefined) throw new UsageError("UNKNOWN_OPTION", `${where} has no option "${name}": ${why}`);
    }
  }
  const merged: ConnectOptions = { ...options, ...FACADE_OPTIONS, protocols, signal };
  checkConnectOptions(merged, where);
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
