/** Round-trip timing for pings: each ping resolves with its RTT when its pong arrives. */
import { performance } from "node:perf_hooks";
import { TimeoutError } from "../core/index.js";
import { armDeadline, settled } from "./promises.js";

interface PendingPing {
  payload: Uint8Array;
  started: number;
  resolve(rtt: number): void;
  reject(error: Error): void;
}

export class Pings {
  private pending: PendingPing[] = [];
  private counter = 0;

  /** A payload for a ping sent without one: a counter, so each pong can be matched to its ping. */
  nextPayload(): Uint8Array {
    const bytes = new Uint8Array(4);
    new DataView(bytes.buffer).setUint32(0, ++this.counter >>> 0);
    return bytes;
  }

  /**
   * Time a ping just sent with `payload`: resolves with the RTT in ms once
   * its pong arrives, rejects after `timeout` ms (if given).
   */
  track(payload: Uint8Array, timeout: number | undefined): Promise<number> {
    return settled<number>((resolve, reject) => {
      const entry: PendingPing = { payload, started: performance.now(), resolve, reject };
      this.pending.push(entry);
      armDeadline(
        entry,
        timeout,
        () => (this.pending = this.pending.filter((p) => p !== entry)),
        () => new TimeoutError("PING_TIMEOUT", `no pong within ${timeout} ms`),
      );
    });
  }

  /** A pong arrived: it answers the ping with the same payload and, implicitly, every earlier one. */
  answer(payload: Uint8Array): void {
    const index = this.pending.findIndex((p) => sameBytes(p.payload, payload));
    if (index < 0) return;
    const now = performance.now();
    const answered = this.pending.splice(0, index + 1);
    for (const ping of answered) ping.resolve(now - ping.started);
  }

  /** Whether pings wait for their pong (what {@link rejectAll} rejects). */
  get waiting(): boolean {
    return this.pending.length > 0;
  }

  /** The connection closed: no pong will come. */
  rejectAll(error: Error): void {
    for (const ping of this.pending.splice(0)) ping.reject(error);
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
