/**
 * Keeps a subscriber connection listening to exactly the channels of the
 * topics that have local subscribers, across reconnections.
 *
 * The topic set is the truth. SUBSCRIBE / UNSUBSCRIBE go out only while the
 * connection is ready; on each `ready` the whole set is subscribed again
 * (SUBSCRIBE is idempotent) and topics dropped while it was down are
 * unsubscribed, after anything ioredis itself resubscribed. Commands are
 * never left in ioredis' offline queue, where SUBSCRIBE and UNSUBSCRIBE can
 * overtake each other (Redis accepts both while loading, so they skip that
 * queue as soon as the socket connects).
 */
import type { Redis } from "ioredis";

export class ChannelSubscriptions {
  /** Topics with local subscribers. */
  readonly topics = new Set<string>();
  /** Topics that lost their last subscriber while the connection was down (a borrowed client may resubscribe them). */
  private readonly leftWhileDown = new Set<string>();

  constructor(
    private readonly client: Redis,
    private readonly prefix: string,
    private readonly failed: (error: unknown) => void,
  ) {}

  add(topic: string): void {
    if (this.topics.has(topic)) return;
    this.topics.add(topic);
    this.leftWhileDown.delete(topic);
    if (this.client.status === "ready") this.client.subscribe(this.prefix + topic).catch(this.failed);
  }

  remove(topic: string): void {
    if (!this.topics.delete(topic)) return;
    if (this.client.status === "ready") this.client.unsubscribe(this.prefix + topic).catch(this.failed);
    else this.leftWhileDown.add(topic);
  }

  /** The connection is ready (again): make Redis' subscriptions match the set. */
  resync(): void {
    if (this.client.status !== "ready") return;
    if (this.topics.size > 0) this.client.subscribe(...this.channels(this.topics)).catch(this.failed);
    if (this.leftWhileDown.size > 0) {
      this.client.unsubscribe(...this.channels(this.leftWhileDown)).catch(this.failed);
      this.leftWhileDown.clear();
    }
  }

  /** Leave every channel of this set (a borrowed connection lives on) and forget the topics. */
  async clear(): Promise<void> {
    const topics = [...this.topics, ...this.leftWhileDown];
    this.topics.clear();
    this.leftWhileDown.clear();
    if (topics.length > 0 && this.client.status === "ready") {
      await this.client.unsubscribe(...this.channels(topics)).catch(this.failed);
    }
  }

  private channels(topics: Iterable<string>): string[] {
    return Array.from(topics, (topic) => this.prefix + topic);
  }
}
