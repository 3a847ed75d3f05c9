/**
 * A {@link PubSubAdapter} over Redis pub/sub, on two ioredis connections:
 * one that publishes (a connection in subscriber mode cannot) and one that
 * listens. See {@link redisAdapter} for the guarantees.
 */
import { randomBytes } from "node:crypto";
import { Redis, type RedisOptions } from "ioredis";
import { UsageError, WebSocketError } from "../core/errors.js";
import type { AdapterHub, PubSubAdapter } from "../node/adapter.js";
import { checkEnvelope, encodeEnvelope, envelopePayload, isBinaryEnvelope, isFromNode, NODE_ID_LENGTH } from "./envelope.js";

/** Options of {@link redisAdapter}. */
export interface RedisAdapterOptions {
  /**
   * Where Redis is, e.g. `"redis://127.0.0.1:6379/0"`. The adapter opens two
   * connections there when the server attaches it and quits them when the
   * server closes. Default: ioredis' default (`127.0.0.1:6379`).
   */
  url?: string;
  /** ioredis options for the two connections the adapter opens (with `url`, or alone). */
  redis?: RedisOptions;
  /**
   * An existing connection to publish on. Give it together with `subscriber`;
   * the adapter never quits connections it was given: their owner does.
   */
  publisher?: Redis;
  /**
   * An existing connection to listen on, used by this adapter only (it enters
   * subscriber mode). Give it together with `publisher`; never quit by the adapter.
   */
  subscriber?: Redis;
  /** Prefix of the Redis channel of each topic (channel = prefix + topic). Default `"wsx:"`. */
  prefix?: string;
  /**
   * Told about what the adapter cannot fix and carries on past: a malformed
   * message on one of its channels (`REDIS_MALFORMED_MESSAGE`), a publish or
   * subscribe Redis refused or that was dropped while disconnected
   * (`REDIS_PUBLISH_FAILED`, `REDIS_SUBSCRIBE_FAILED`), and connection errors
   * of the connections the adapter opened itself (`REDIS_CONNECTION`; ioredis
   * reconnects on its own). Errors are {@link WebSocketError}s with the cause
   * attached. Default: ignore them (they are still counted in `stats`).
   */
  onError?: (error: WebSocketError) => void;
}

/** Counters of one adapter, for monitoring. */
export interface RedisAdapterStats {
  /** Publishes handed to the publishing connection. */
  published: number;
  /** Messages from other nodes handed to this node's subscribers. */
  delivered: number;
  /** This node's own publishes coming back on a channel, skipped (delivered locally already). */
  ownSkipped: number;
  /** Messages on a channel of this adapter that were not a valid envelope, ignored. */
  malformed: number;
  /** Publishes Redis refused or that were dropped while disconnected. */
  publishFailures: number;
}

/** The adapter {@link redisAdapter} returns. */
export interface RedisAdapter extends PubSubAdapter {
  /** This node's random id (hex) as written in every envelope it publishes. */
  readonly nodeId: string;
  /** Live counters. */
  readonly stats: Readonly<RedisAdapterStats>;
}

/** How long `close()` waits for Redis to acknowledge QUIT before dropping a connection. */
const QUIT_TIMEOUT_MS = 2000;

export class RedisPubSubAdapter implements RedisAdapter {
  readonly nodeId: string;
  readonly stats: RedisAdapterStats = { published: 0, delivered: 0, ownSkipped: 0, malformed: 0, publishFailures: 0 };

  private readonly id: Buffer;
  private readonly prefix: string;
  private readonly options: RedisAdapterOptions;
  private readonly owned: boolean;
  /** Topics this node has subscribers for: what the subscriber connection must listen to. */
  private readonly topics = new Set<string>();
  private hub: AdapterHub | null = null;
  private publisher: Redis | null = null;
  private subscriber: Redis | null = null;
  private closed = false;

  constructor(options: RedisAdapterOptions = {}) {
    const { publisher, subscriber } = options;
    if ((publisher === undefined) !== (subscriber === undefined)) {
      throw new UsageError("REDIS_CLIENTS", "give both `publisher` and `subscriber`, or neither");
    }
    if (publisher !== undefined && publisher === subscriber) {
      throw new UsageError("REDIS_CLIENTS", "`publisher` and `subscriber` must be two connections: a subscribed connection cannot publish");
    }
    if (publisher !== undefined && (options.url !== undefined || options.redis !== undefined)) {
      throw new UsageError("REDIS_CLIENTS", "`url`/`redis` configure connections the adapter opens; they do not apply to given clients");
    }
    this.options = options;
    this.owned = publisher === undefined;
    this.prefix = options.prefix ?? "wsx:";
    this.id = randomBytes(NODE_ID_LENGTH);
    this.nodeId = this.id.toString("hex");
  }

  attach(hub: AdapterHub): void {
    if (this.hub !== null) throw new UsageError("ADAPTER_ATTACHED", "this adapter is already attached to a server");
    if (this.closed) throw new UsageError("ADAPTER_CLOSED", "this adapter is closed");
    this.hub = hub;
    if (this.owned) {
      // Connections open here, not in the constructor: an adapter never attached holds nothing open.
      const { url, redis = {} } = this.options;
      // A PUBLISH whose reply was lost in a disconnect may have reached Redis:
      // resending it could deliver it twice, so it is dropped (and reported).
      const publisherOptions: RedisOptions = { autoResendUnfulfilledCommands: false, ...redis };
      // The adapter resubscribes from its own topic set on every `ready` (see onReady).
      const subscriberOptions: RedisOptions = { autoResubscribe: false, ...redis };
      this.publisher = url === undefined ? new Redis(publisherOptions) : new Redis(url, publisherOptions);
      this.subscriber = url === undefined ? new Redis(subscriberOptions) : new Redis(url, subscriberOptions);
      this.publisher.on("error", this.onConnectionError);
      this.subscriber.on("error", this.onConnectionError);
    } else {
      this.publisher = this.options.publisher!;
      this.subscriber = this.options.subscriber!;
    }
    this.subscriber.on("messageBuffer", this.onMessage);
    this.subscriber.on("ready", this.onReady);
  }

  publish(topic: string, payload: Uint8Array, binary: boolean): void {
    if (this.publisher === null) return;
    this.stats.published++;
    this.publisher.publish(this.prefix + topic, encodeEnvelope(this.id, payload, binary)).catch(this.onPublishFailure);
  }

  subscribe(topic: string): void {
    if (this.subscriber === null || this.topics.has(topic)) return;
    this.topics.add(topic);
    this.subscriber.subscribe(this.prefix + topic).catch(this.onSubscribeFailure);
  }

  unsubscribe(topic: string): void {
    if (this.subscriber === null || !this.topics.delete(topic)) return;
    this.subscriber.unsubscribe(this.prefix + topic).catch(this.onSubscribeFailure);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const { publisher, subscriber } = this;
    this.publisher = null;
    this.subscriber = null;
    if (publisher === null || subscriber === null) return;
    subscriber.off("messageBuffer", this.onMessage);
    subscriber.off("ready", this.onReady);
    if (this.owned) {
      await Promise.all([quit(publisher), quit(subscriber)]);
      publisher.off("error", this.onConnectionError);
      subscriber.off("error", this.onConnectionError);
    } else if (this.topics.size > 0) {
      // A borrowed subscriber lives on: stop the traffic of this adapter's channels.
      const channels = [...this.topics].map((topic) => this.prefix + topic);
      await subscriber.unsubscribe(...channels).catch(this.onSubscribeFailure);
    }
    this.topics.clear();
  }

  // Handlers are fields (bound once), so no closure is made per message.

  private readonly onMessage = (channel: Buffer, envelope: Buffer): void => {
    const name = channel.toString();
    // Not this adapter's channel (a borrowed subscriber may carry others), or
    // a message still in flight after unsubscribe: neither is an error.
    if (!name.startsWith(this.prefix)) return;
    const topic = name.slice(this.prefix.length);
    if (!this.topics.has(topic) || this.hub === null) return;
    const problem = checkEnvelope(envelope);
    if (problem !== null) {
      this.stats.malformed++;
      this.report(new WebSocketError("REDIS_MALFORMED_MESSAGE", `ignored a malformed message on channel "${name}": ${problem}`));
      return;
    }
    if (isFromNode(envelope, this.id)) {
      this.stats.ownSkipped++;
      return;
    }
    this.stats.delivered++;
    this.hub.deliverLocal(topic, envelopePayload(envelope), isBinaryEnvelope(envelope));
  };

  /**
   * After every (re)connection, listen to every topic this node has
   * subscribers for. SUBSCRIBE is idempotent, so repeating a subscription a
   * queued command or ioredis' autoResubscribe also makes is harmless.
   */
  private readonly onReady = (): void => {
    if (this.subscriber === null || this.topics.size === 0) return;
    const channels = [...this.topics].map((topic) => this.prefix + topic);
    this.subscriber.subscribe(...channels).catch(this.onSubscribeFailure);
  };

  private readonly onPublishFailure = (error: unknown): void => {
    this.stats.publishFailures++;
    this.report(new WebSocketError("REDIS_PUBLISH_FAILED", `a publish did not reach Redis: ${describe(error)}`, { cause: error }));
  };

  private readonly onSubscribeFailure = (error: unknown): void => {
    this.report(new WebSocketError("REDIS_SUBSCRIBE_FAILED", `a (un)subscribe did not reach Redis: ${describe(error)}`, { cause: error }));
  };

  private readonly onConnectionError = (error: unknown): void => {
    this.report(new WebSocketError("REDIS_CONNECTION", `Redis connection error: ${describe(error)}`, { cause: error }));
  };

  private report(error: WebSocketError): void {
    const onError = this.options.onError;
    if (onError === undefined) return;
    try {
      onError(error);
    } catch {
      // A throwing hook must not break delivery to the other subscribers.
    }
  }
}

/** QUIT (waiting for pending publishes to be written), bounded; drop the connection if Redis does not answer. */
async function quit(client: Redis): Promise<void> {
  if (client.status !== "ready") {
    // Not connected: QUIT would wait in the offline queue for a reconnection.
    client.disconnect();
    return;
  }
  let timer: NodeJS.Timeout | undefined;
  const gaveUp = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, QUIT_TIMEOUT_MS);
  });
  try {
    await Promise.race([client.quit().then(
      () => undefined,
      () => undefined,
    ), gaveUp]);
  } finally {
    clearTimeout(timer);
  }
  // Ends the socket if QUIT timed out; harmless once Redis has closed it.
  client.disconnect();
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
