/**
 * The server side of the `slow-consumers` scenario: publish messages at a
 * fixed rate for a bounded time through the server's own broadcast, and
 * stop early once a safety cap of bytes has been handed to the library (a
 * server that buffers without bound would otherwise take the machine's
 * memory). Each server process supplies `publish` (its library's idiom)
 * and reports the live {@link FloodProgress} with its own counters.
 */

export interface FloodCommand {
  /** Payload bytes per message. */
  size: number;
  /** Publishes per second. */
  perSecond: number;
  /** How long to publish. */
  ms: number;
  /** Stop once this many payload bytes were accepted for delivery (summed over subscribers). */
  capBytes: number;
}

export interface FloodProgress {
  running: boolean;
  publishes: number;
  /** Payload bytes accepted for delivery: deliveries queued × size. */
  acceptedBytes: number;
  /** Stopped by the cap rather than by the clock. */
  capped: boolean;
  /** When the flood stopped, in ms since it started (0 while running). */
  stoppedAtMs: number;
}

const TICK_MS = 10;
/** Publishes one tick may catch up on when the server fell behind the rate (keeps each tick short). */
const MAX_PER_TICK = 50;

/**
 * Start publishing. `publish(payload)` sends one message to every subscriber
 * and returns how many deliveries it queued.
 */
export function startFlood(command: FloodCommand, publish: (payload: Buffer) => number): FloodProgress {
  const progress: FloodProgress = { running: true, publishes: 0, acceptedBytes: 0, capped: false, stoppedAtMs: 0 };
  const started = Date.now();
  const stop = (capped: boolean): void => {
    clearInterval(timer);
    progress.running = false;
    progress.capped = capped;
    progress.stoppedAtMs = Date.now() - started;
  };
  const timer = setInterval(() => {
    const elapsed = Date.now() - started;
    if (elapsed >= command.ms) return stop(false);
    const due = Math.min(MAX_PER_TICK, Math.floor((elapsed * command.perSecond) / 1000) - progress.publishes);
    for (let i = 0; i < due; i++) {
      progress.publishes++;
      // A new message each time, as an application publishes (ws queues the caller's buffer itself).
      const payload = Buffer.allocUnsafe(command.size).fill(0x61 + (progress.publishes % 26));
      progress.acceptedBytes += publish(payload) * command.size;
      if (progress.acceptedBytes >= command.capBytes) return stop(true);
    }
  }, TICK_MS);
  return progress;
}
