/**
 * Every size limit in one object, shared by client and server. Defaults let
 * legitimate traffic through (a 16 MiB message in one frame; a 4 MiB message
 * as 65,536 fragments of 64 bytes) while memory per connection stays bounded
 * by bytes: reassembly copies into one growing buffer, so a fragment costs
 * no memory beyond its payload.
 */
import { UsageError } from "./errors.js";

/** What a peer may send before the connection is failed (defaults in {@link DEFAULT_LIMITS}). */
export interface Limits {
  /** Largest data frame payload accepted, in bytes (1009 beyond). */
  maxFrameSize: number;
  /** Largest reassembled message, in bytes (1009 beyond). */
  maxMessageSize: number;
  /** Most frames one message may be split into, empty ones included (1009 beyond). */
  maxFragments: number;
  /** Largest HTTP header block of the opening handshake, in bytes (431 beyond). */
  maxHeaderBytes: number;
  /** Most header fields in the opening handshake (431 beyond). */
  maxHeaderCount: number;
}

const MiB = 1024 * 1024;

/** The defaults: 64 MiB frames and messages, 131,072 fragments, 16 KiB / 100 headers. */
export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  maxFrameSize: 64 * MiB,
  maxMessageSize: 64 * MiB,
  maxFragments: 128 * 1024,
  maxHeaderBytes: 16 * 1024,
  maxHeaderCount: 100,
});

/** Fill in defaults and reject values that are not positive integers. */
export function resolveLimits(partial: Partial<Limits> = {}): Limits {
  const limits: Limits = { ...DEFAULT_LIMITS };
  for (const name of Object.keys(DEFAULT_LIMITS) as Array<keyof Limits>) {
    const value = partial[name];
    if (value === undefined) continue;
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new UsageError("INVALID_LIMIT", `${name} must be a non-negative integer, got ${String(value)}`);
    }
    limits[name] = value;
  }
  return limits;
}
