/**
 * Adapter-level test nodes: a redis adapter attached to a hub that records
 * what it is asked to deliver, standing in for a wsx server.
 */
import type { Redis } from "ioredis";
import { delay } from "../helpers/net.js";
import type { AdapterHub } from "../../src/server/adapter.js";
import { redisAdapter, type RedisAdapter, type RedisAdapterOptions } from "../../src/redis/index.js";
import type { WebSocketError } from "../../src/index.js";

export interface Delivery {
  topic: string;
  payload: Buffer;
  binary: boolean;
}

/** What a server would do: keep its topics and count what it delivers. */
export class RecordingHub implements AdapterHub {
  readonly deliveries: Delivery[] = [];
  readonly topics = new Set<string>();

  deliverLocal(topic: string, payload: Uint8Array, binary: boolean): void {
    // Copy: the adapter hands over a view of Redis' buffer.
    this.deliveries.push({ topic, payload: Buffer.from(payload), binary });
  }

  localTopics(): Iterable<string> {
    return this.topics;
  }

  texts(topic: string): string[] {
    return this.deliveries.filter((d) => d.topic === topic).map((d) => d.payload.toString());
  }
}

/** One "server": an adapter, its hub, and the errors it reported. */
export class TestNode {
  readonly hub = new RecordingHub();
  readonly errors: WebSocketError[] = [];
  readonly adapter: RedisAdapter;

  constructor(options: RedisAdapterOptions) {
    this.adapter = redisAdapter({ ...options, onError: (error) => this.errors.push(error) });
    this.adapter.attach(this.hub);
  }

  subscribe(topic: string): void {
    // The server's refcount: only the first local subscriber reaches the adapter.
    if (this.hub.topics.has(topic)) return;
    this.hub.topics.add(topic);
    this.adapter.subscribe(topic);
  }

  unsubscribe(topic: string): void {
    if (this.hub.topics.delete(topic)) this.adapter.unsubscribe(topic);
  }

  publishText(topic: string, text: string): void {
    this.adapter.publish(topic, Buffer.from(text), false);
  }

  close(): Promise<void> {
    return this.adapter.close();
  }
}

/**
 * Poll an asynchronous condition, bounded: at most `attempts` times,
 * `interval` ms apart. Rejects with `what` if it never holds.
 */
export async function until(check: () => boolean | Promise<boolean>, what: string, attempts = 250, interval = 20): Promise<void> {
  for (let i = 0; i < attempts; i++) {
    if (await check()) return;
    await delay(interval);
  }
  throw new Error(`condition never became true within ${attempts * interval} ms: ${what}`);
}

/** Subscriber connections Redis counts on `channel`. */
export async function subscribersOf(admin: Redis, channel: string): Promise<number> {
  const reply = (await admin.pubsub("NUMSUB", channel)) as unknown[];
  return Number(reply[1]);
}

/** Wait until exactly `count` connections listen to `channel` (so publishes from now on reach them). */
export function waitForSubscribers(admin: Redis, channel: string, count: number, attempts?: number): Promise<void> {
  return until(async () => (await subscribersOf(admin, channel)) === count, `${count} subscribers on ${channel}`, attempts);
}
