/**
 * `wsx/redis`: several wsx servers (processes or machines) share topics
 * through Redis pub/sub. Needs the `ioredis` package, which wsx lists as an
 * optional peer dependency: only this entry point loads it.
 */
import { RedisPubSubAdapter, type RedisAdapter, type RedisAdapterOptions } from "./adapter.js";

export { RedisAdapterError, type RedisAdapter, type RedisAdapterOptions, type RedisAdapterStats } from "./adapter.js";
export type { AdapterHub, PubSubAdapter } from "../server/adapter.js";

/**
 * A pub/sub adapter that carries each server's publishes to every other
 * server using the same Redis (and prefix), so a publish on any node reaches
 * the subscribers of every node.
 *
 * ```ts
 * import { serve } from "wsx";
 * import { redisAdapter } from "wsx/redis";
 *
 * const server = await serve({ port: 8080, adapter: redisAdapter({ url: "redis://127.0.0.1:6379" }) }, (ws) => {
 *   ws.subscribe("news");
 * });
 * server.publish("news", "hello, every node");
 * ```
 *
 * Each topic is the Redis channel `prefix + topic`. A node listens to a
 * channel only while it has local subscribers of the topic. Every message
 * travels as a small binary envelope (format version, text/binary flag, the
 * publishing node's random id, the payload), so binary payloads arrive intact
 * and a node skips its own publishes, which it delivered locally already.
 *
 * Guarantees, while the connections to Redis stay up:
 * - exactly once: every subscriber on every other node gets each publish once
 *   (one Redis subscription per topic per node; own publishes skipped);
 * - in order per topic from one publisher: a node publishes on a single
 *   connection and Redis keeps the order of each connection, so all nodes see
 *   one node's publishes on a topic in the order they were made. Publishes of
 *   different nodes have no common order.
 * - a new subscription takes effect for publishes from other nodes once Redis
 *   has processed the SUBSCRIBE (one round trip); earlier ones do not reach it.
 *
 * When a connection drops (Redis restarts, the network fails) delivery is
 * at most once, never twice: Redis pub/sub stores nothing.
 * - Messages published while a node's listening connection is down are lost
 *   for that node. ioredis reconnects with backoff and the adapter subscribes
 *   again to every topic that has local subscribers, then messages flow again.
 * - Publishes made while the publishing connection is not ready (before it
 *   first connects, or while it reconnects) wait in the adapter's queue, in
 *   order, up to `maxQueuedBytes` (default 4 MiB; past it they are dropped,
 *   counted, and reported once per outage as `REDIS_PUBLISH_DROPPED`), and
 *   go out oldest first once it is ready. Nodes that have not resubscribed
 *   by then miss them. `maxQueuedBytes: 0` drops them instead.
 * - A publish already written when the connection dropped is lost: it may
 *   have reached Redis, and resending it could deliver it twice (the adapter
 *   opens its publishing connection with `autoResendUnfulfilledCommands: false`).
 * - Publishes still queued when the adapter closes are dropped (counted).
 *
 * Ownership: with `url` and/or `redis` (or nothing: 127.0.0.1:6379) the
 * adapter opens its two connections when the server attaches it, reports
 * their errors to `onError` and quits them when the server closes. With
 * `publisher` and `subscriber` it uses those and never quits them (on close
 * it unsubscribes its channels and removes its listeners); set
 * `autoResendUnfulfilledCommands: false` on that publisher for the
 * never-twice guarantee, and listen to their `error` events yourself.
 */
export function redisAdapter(options: RedisAdapterOptions = {}): RedisAdapter {
  return new RedisPubSubAdapter(options);
}
