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

/**
 * The application's connect() options with the facade's own; throws wsx's
 * UsageError for a bad one, and UNKNOWN_OPTION for one the facade sets
 * itself (the standard fixes it), rather than silently overriding it.
 */
export function facadeOptions(options: object | undefined, protocols: string[], signal: AbortSignal, where: string): ConnectOptions {
  for (const name of Object.keys(FACADE_OPTIONS)) {
    if (options !== undefined && options !== null && (options as Record<string, unknown>)[name] !== undefined) {
      throw new UsageError("UNKNOWN_OPTION", `${where} has no option "${name}": the WebSocket standard fixes it (wsx/web sets ${name}: ${String(FACADE_OPTIONS[name as keyof typeof FACADE_OPTIONS])})`);
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
