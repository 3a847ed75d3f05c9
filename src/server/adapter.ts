/**
 * The contract between a server's topics and the other servers sharing
 * them (e.g. through Redis, `wsx/redis`). A server delivers each publish to
 * its own subscribers and hands it to the adapter; the adapter carries it to
 * the other nodes, which deliver it to theirs with {@link AdapterHub.deliverLocal}.
 */

/** What a server offers its adapter. */
export interface AdapterHub {
  /** Deliver a message published on another node to this node's subscribers of `topic`. */
  deliverLocal(topic: string, payload: Uint8Array, binary: boolean): void;
  /** Topics with at least one subscriber on this node (to resubscribe after a reconnect). */
  localTopics(): Iterable<string>;
}

/**
 * Carries publishes between servers. The server calls `attach` once, then
 * `subscribe`/`unsubscribe` as topics gain their first and lose their last
 * local subscriber, `publish` after each local publish, and `close` when the
 * server closes.
 */
export interface PubSubAdapter {
  /** Called once when the server starts: `hub` is how the adapter delivers what other servers publish. */
  attach(hub: AdapterHub): void;
  /** A message published on this node (already delivered here): deliver it on every other node. */
  publish(topic: string, payload: Uint8Array, binary: boolean): void;
  /** `topic` gained its first subscriber on this node. */
  subscribe(topic: string): void;
  /** `topic` lost its last subscriber on this node. */
  unsubscribe(topic: string): void;
  /** Stop: release connections. The server awaits it in `close()`. */
  close(): Promise<void>;
}
