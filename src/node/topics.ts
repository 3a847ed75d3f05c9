/**
 * Which connections of a server subscribe to which topic. The server owns
 * one; each connection keeps the names of its own topics so that closing it
 * removes it everywhere without scanning every topic.
 */
import type { WebSocket } from "./connection.js";

/** Told when a topic gains its first subscriber on this server and loses its last (for an adapter). */
export interface TopicListener {
  subscribe(topic: string): void;
  unsubscribe(topic: string): void;
}

export class Topics {
  private readonly byTopic = new Map<string, Set<WebSocket>>();
  /** Bumped by every subscribe and unsubscribe: a fan-out in progress knows its subscribers changed. */
  version = 0;
  /** Set by the server when an adapter carries topics to other servers. */
  listener: TopicListener | null = null;

  /** Add `ws` to `topic`; false if it was there already. */
  add(topic: string, ws: WebSocket): boolean {
    let subscribers = this.byTopic.get(topic);
    if (subscribers === undefined) {
      subscribers = new Set();
      this.byTopic.set(topic, subscribers);
      this.listener?.subscribe(topic);
    } else if (subscribers.has(ws)) {
      return false;
    }
    subscribers.add(ws);
    this.version++;
    return true;
  }

  /** Remove `ws` from `topic`; false if it was not there. An empty topic is forgotten. */
  remove(topic: string, ws: WebSocket): boolean {
    const subscribers = this.byTopic.get(topic);
    if (subscribers === undefined || !subscribers.delete(ws)) return false;
    this.version++;
    if (subscribers.size === 0) {
      this.byTopic.delete(topic);
      this.listener?.unsubscribe(topic);
    }
    return true;
  }

  /** The subscribers of `topic` (do not change the set). */
  subscribers(topic: string): ReadonlySet<WebSocket> | undefined {
    return this.byTopic.get(topic);
  }

  /** Topics with at least one subscriber. */
  names(): IterableIterator<string> {
    return this.byTopic.keys();
  }

  get size(): number {
    return this.byTopic.size;
  }
}
