/**
 * Publishing in order on one Redis connection, across reconnections.
 *
 * While the connection is not ready, publishes wait in a bounded queue of
 * this module's own and go out oldest first once it is ready again. ioredis'
 * offline queue cannot keep that order: commands that Redis accepts while it
 * loads its data set (PUBLISH among them) skip that queue as soon as the
 * socket connects, overtaking the ones queued before them.
 */
import type { Redis } from "ioredis";

/** What the publisher tells its owner. */
export interface PublisherEvents {
  /** Redis refused a publish, or the connection failed while it was written. */
  failed(error: unknown): void;
  /** The queue is full: this publish and the next ones are dropped until the connection is ready again (told once per outage). */
  dropping(queuedBytes: number): void;
}

export class OrderedPublisher {
  private queue: Array<{ channel: string; envelope: Buffer }> = [];
  private queuedBytes = 0;
  private droppingTold = false;

  constructor(
    private readonly client: Redis,
    private readonly maxQueuedBytes: number,
    private readonly events: PublisherEvents,
  ) {}

  /** Publish now if the connection is ready and nothing waits; else queue. False when dropped (queue full). */
  publish(channel: string, envelope: Buffer): boolean {
    if (this.queue.length === 0 && this.client.status === "ready") {
      this.send(channel, envelope);
      return true;
    }
    if (this.queuedBytes + envelope.length > this.maxQueuedBytes) {
      if (!this.droppingTold) {
        this.droppingTold = true;
        this.events.dropping(this.queuedBytes);
      }
      return false;
    }
    this.queue.push({ channel, envelope });
    this.queuedBytes += envelope.length;
    return true;
  }

  /** Send what waits, oldest first (when the connection has become ready). */
  flush(): void {
    if (this.client.status !== "ready") return;
    const waiting = this.queue;
    this.queue = [];
    this.queuedBytes = 0;
    this.droppingTold = false;
    for (const { channel, envelope } of waiting) this.send(channel, envelope);
  }

  /** Forget what waits; returns how many publishes that was. */
  discard(): number {
    const count = this.queue.length;
    this.queue = [];
    this.queuedBytes = 0;
    return count;
  }

  private send(channel: string, envelope: Buffer): void {
    this.client.publish(channel, envelope).catch(this.events.failed);
  }
}
