/**
 * What a connection does with a message when the peer reads slower than it
 * is sent to: the bytes waiting for the socket are bounded by
 * `maxBackpressure`, and past it the policy decides.
 */
import { UsageError } from "../core/index.js";

/**
 * - `wait`: `send()` holds the message (unencoded) until the buffer drains
 *   below the limit; its promise settles when it is written. `publish()`
 *   cannot wait, so a subscriber past the limit misses the message (counted
 *   as dropped).
 * - `drop`: the message is not sent; `send()` rejects with a
 *   `BackpressureError` (code `SEND_DROPPED`), and it is counted as dropped.
 * - `close`: the slow consumer is closed with `backpressureCloseCode`.
 */
export type BackpressurePolicy = "wait" | "drop" | "close";

export interface BackpressureOptions {
  /** Bytes waiting for the socket past which `backpressure` applies (default 1 MiB). A message is always accepted while the buffer is below it. */
  maxBackpressure?: number;
  /** What to do past `maxBackpressure` (default `"wait"`). */
  backpressure?: BackpressurePolicy;
  /** Close code for the `"close"` policy: 1008 (policy violation, default) or 1013 (try again later). */
  backpressureCloseCode?: 1008 | 1013;
}

export const DEFAULT_MAX_BACKPRESSURE = 1024 * 1024;

export interface Backpressure {
  limit: number;
  policy: BackpressurePolicy;
  closeCode: number;
}

/** Check and fill in the options; throws a UsageError for values that cannot work. */
export function resolveBackpressure(options: BackpressureOptions): Backpressure {
  const limit = options.maxBackpressure ?? DEFAULT_MAX_BACKPRESSURE;
  if (typeof limit !== "number" || !(limit > 0)) throw new UsageError("INVALID_OPTION", `maxBackpressure must be a positive number, got ${String(limit)}`);
  const policy = options.backpressure ?? "wait";
  if (policy !== "wait" && policy !== "drop" && policy !== "close") {
    throw new UsageError("INVALID_OPTION", `backpressure must be "wait", "drop" or "close", got ${String(policy)}`);
  }
  const closeCode = options.backpressureCloseCode ?? 1008;
  if (closeCode !== 1008 && closeCode !== 1013) {
    throw new UsageError("INVALID_OPTION", `backpressureCloseCode must be 1008 or 1013, got ${String(closeCode)}`);
  }
  return { limit, policy, closeCode };
}
