/**
 * Who the server lets in, decided before a connection costs anything: which
 * browser origins may open a WebSocket, and how many handshakes and
 * connections it carries at once. Refusals are HandshakeErrors carrying the
 * HTTP status they earn, so the server answers them like any other.
 */
import { HandshakeError, UsageError } from "../core/index.js";
import type { ServerRequest } from "./server.js";

/**
 * Browser origins allowed to connect: a list of origins (`"https://app.example"`,
 * compared ignoring ASCII case), or a function deciding for each request.
 * A list lets requests without an Origin header through; a function is asked
 * with `origin` null and decides.
 */
export type OriginPolicy = readonly string[] | ((origin: string | null, request: ServerRequest) => boolean);

/** The checks and caps of one server, resolved from its options. */
export interface Admission {
  /** null when any origin may connect. */
  originAllowed: ((origin: string | null, request: ServerRequest) => boolean) | null;
  maxPendingHandshakes: number;
  maxConnections: number;
}

/** Enough for bursts of reconnecting clients, small enough to bound the memory of idle half-sent requests. */
export const DEFAULT_MAX_PENDING_HANDSHAKES = 1024;

/** Seconds a client is told to wait (Retry-After) when the server is at capacity: the state is momentary. */
const RETRY_AFTER_SECONDS = "1";

/** Check the admission options once, when the server is created. Throws UsageError. */
export function resolveAdmission(options: {
  origins?: OriginPolicy | undefined;
  maxPendingHandshakes?: number | undefined;
  maxConnections?: number | undefined;
}): Admission {
  return {
    originAllowed: originRule(options.origins),
    maxPendingHandshakes: capacity("maxPendingHandshakes", options.maxPendingHandshakes, DEFAULT_MAX_PENDING_HANDSHAKES),
    maxConnections: capacity("maxConnections", options.maxConnections, Infinity),
  };
}

/** A 503 for a server at capacity, with a Retry-After hint. */
export function atCapacity(code: "TOO_MANY_HANDSHAKES" | "TOO_MANY_CONNECTIONS", message: string): HandshakeError {
  return new HandshakeError(code, message, 503, { "Retry-After": RETRY_AFTER_SECONDS });
}

/** The 403 for a request from an origin the policy does not allow. */
export function originRefused(origin: string | null): HandshakeError {
  return new HandshakeError("ORIGIN_NOT_ALLOWED", `origin ${origin ?? "(none)"} is not allowed`, 403);
}

function capacity(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (value === Infinity || (Number.isSafeInteger(value) && value >= 0)) return value;
  throw new UsageError("INVALID_OPTION", `${name} must be a non-negative integer or Infinity, got ${String(value)}`);
}

function originRule(policy: OriginPolicy | undefined): Admission["originAllowed"] {
  if (policy === undefined) return null;
  if (typeof policy === "function") return policy;
  if (!Array.isArray(policy)) throw new UsageError("INVALID_OPTION", "origins must be an array of origins or a function");
  const allowed = new Set<string>();
  for (const entry of policy as readonly unknown[]) allowed.add(checkOrigin(entry));
  // Scheme and host are case-insensitive; browsers send them lower-case, other clients may not.
  return (origin) => origin === null || allowed.has(origin.toLowerCase());
}

/**
 * An entry must be an origin as browsers serialize it (scheme://host[:port],
 * no path, no default port) or "null": anything else could never match,
 * and a silently dead entry locks out the very site it was meant for.
 */
function checkOrigin(entry: unknown): string {
  if (typeof entry !== "string") throw new UsageError("INVALID_ORIGIN", `origins must be strings, got ${String(entry)}`);
  const lower = entry.toLowerCase();
  if (lower === "null") return lower;
  let serialized: string;
  try {
    serialized = new URL(entry).origin;
  } catch {
    throw new UsageError("INVALID_ORIGIN", `not an origin: ${entry}`);
  }
  if (serialized === "null") throw new UsageError("INVALID_ORIGIN", `not an origin: ${entry}`);
  if (serialized !== lower) {
    throw new UsageError("INVALID_ORIGIN", `not an origin as browsers send it: ${entry} (did you mean ${serialized}?)`);
  }
  return lower;
}
