/**
 * A {@link PubSubAdapter} over Redis pub/sub, on two ioredis connections:
 * one that publishes (a connection in subscriber mode cannot) and one that
 * listens. See {@link redisAdapter} for the guarantees.
 */
import { randomBytes } from "node:crypto";
import { Redis, type RedisOptions } from "ioredis";
import { UsageError, WebSocketError, type RedisErrorCode } from "../core/errors.js";
import { OptionTable, Rules } from "../core/options.js";
import type { AdapterHub, PubSubAdapter } from "../server/adapter.js";
import { checkEnvelope, encodeEnvelope, envelopePayload, isBinaryEnvelope, isFromNode, NODE_ID_LENGTH } from "./envelope.js";
import { OrderedPublisher } from "./publisher.js";
import { ChannelSubscriptions } from "./subscriptions.js";

/** Options of {@link redisAdapter}. */
/** What the adapter reports to `onError`: a {@link WebSocketError} whose `code` is one of {@link RedisErrorCode}. */
export class RedisAdapterError extends WebSocketError {
  declare readonly code: RedisErrorCode;
  constructor(code: RedisErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

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
   * Bytes of publishes (envelopes) kept, in order, while the publishing
   * connection is not ready (connecting, or reconnecting after Redis went
   * away), sent when it is ready again; publishes past this are dropped.
   * 0 drops every publish made while disconnected. Default 4 MiB.
   */
  maxQueuedBytes?: number;
  /**
   * Told about what the adapter cannot fix and carries on past, as
   * {@link RedisAdapterError}s (with the cause attached):
   * - `REDIS_MALFORMED_MESSAGE`: something on one of its channels that is not a wsx envelope (ignored);
   * - `REDIS_PUBLISH_FAILED`: Redis refused a publish;
   * - `REDIS_PUBLISH_DROPPED`: publishes are being dropped, the queue being full while disconnected (once per outage);
   * - `REDIS_SUBSCRIBE_FAILED`: Redis refused a SUBSCRIBE or UNSUBSCRIBE;
   * - `REDIS_CONNECTION`: an error of a connection the adapter opened itself (ioredis reconnects on its own).
   *
   * Default: ignore them (they are still counted in `stats`).
   */
  onError?: (error: RedisAdapterError) => void;
}

/** Counters of one adapter, for monitoring. */
export interface RedisAdapterStats {
  /** Publishes of this node handed to Redis (or queued for it). */
  published: number;
  /** Messages from other nodes handed to this node's subscribers. */
  delivered: number;
  /** This node's own publishes coming back on a channel, skipped (delivered locally already). */
  ownSkipped: number;
  /** Messages on a channel of this adapter that were not a valid envelope, ignored. */
  malformed: number;
  /** Publishes Redis refused. */
  publishFailures: number;
  /** Publishes dropped: queue full while disconnected, or still queued at close. */
  publishesDropped: number;
}

/** The adapter {@link redisAdapter} returns. */
export interface RedisAdapter extends PubSubAdapter {
  /** This node's random id (hex) as written in every envelope it publishes. */
  readonly nodeId: string;
  /** Live counters. */
  readonly stats: Readonly<RedisAdapterStats>;
}

/** What each option accepts (the connections are checked by the constructor). */
const REDIS_ADAPTER_OPTIONS = new OptionTable<RedisAdapterOptions>({
  url: Rules.string,
  redis: Rules.object,
  publisher: Rules.object,
  subscriber: Rules.object,
  prefix: Rules.string,
  maxQueuedBytes: null,
  onError: Rules.function,
});

const DEFAULT_MAX_QUEUED_BYTES = 4 * 1024 * 1024;
/** How long `close()` waits for Redis to acknowledge QUIT before dropping a connection. */
const QUIT_TIMEOUT_MS = 2000;

/** The two connections, and what keeps each in step with the node. */
interface Connections {
  publisher: Redis;
  subscriber: Redis;
  publishing: OrderedPublisher;
  subscriptions: ChannelSubscriptions;
}

export class RedisPubSubAdapter implements RedisAdapter {
  readonly nodeId: string;
  readonly stats: RedisAdapterStats = { published: 0, delivered: 0, ownSkipped: 0, malformed: 0, publishFailures: 0, publishesDropped: 0 };

  private readonly id: Buffer;
  private readonly prefix: string;
  private readonly options: RedisAdapterOptions;
  private readonly owned: boolean;
  private hub: AdapterHub | null = null;
  private connections: Connections | null = null;
  private closed = false;

  constructor(options: RedisAdapterOptions = {}) {
    REDIS_ADAPTER_OPTIONS.check(options, "redisAdapter()");
    const { publisher, subscriber, maxQueuedBytes } = options;
    if ((publisher === undefined) !== (subscriber === undefined)) {
      throw new UsageError("REDIS_CLIENTS", "give both `publisher` and `subscriber`, or neither");
    }
    if (publisher !== undefined && publisher === subscriber) {
      throw new UsageError("REDIS_CLIENTS", "`publisher` and `subscriber` must be two connections: a subscribed connection cannot publish");
    }
    if (publisher !== undefined && (options.url !== undefined || options.redis !== undefined)) {
      throw new UsageError("REDIS_CLIENTS", "`url`/`redis` configure connections the adapter opens; they do not apply to given clients");
    }
    if (maxQueuedBytes !== undefined && !(typeof maxQueuedBytes === "number" && maxQueuedBytes >= 0)) {
      throw new UsageError("INVALID_OPTION", "`maxQueuedBytes` must be a number >= 0");
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
    let publisher: Redis;
    let subscriber: Redis;
    if (this.owned) {
      // Connections open here, not in the constructor: an adapter never attached holds nothing open.
      const { url, redis = {} } = this.options;
      // A PUBLISH whose reply was lost in a disconnect may have reached Redis:
      // resending it could deliver it twice, so it is not resent.
      const publisherOptions: RedisOptions = { autoResendUnfulfilledCommands: false, ...redis };
      // The adapter resubscribes from its own topic set on every `ready` (ChannelSubscriptions).
      const subscriberOptions: RedisOptions = { autoResubscribe: false, ...redis };
      publisher = url === undefined ? new Redis(publisherOptions) : new Redis(url, publisherOptions);
      subscriber = url === undefined ? new Redis(subscriberOptions) : new Redis(url, subscriberOptions);
      publisher.on("error", this.onConnectionError);
      subscriber.on("error", this.onConnectionError);
    } else {
      publisher = this.options.publisher!;
      subscriber = this.options.subscriber!;
    }
    this.connections = {
      publisher,
      subscriber,
      publishing: new OrderedPublisher(publisher, this.options.maxQueuedBytes ?? DEFAULT_MAX_QUEUED_BYTES, {
        failed: this.onPublishFailure,
        dropping: this.onDropping,
      }),
      subscriptions: new ChannelSubscriptions(subscriber, this.prefix, this.onSubscribeFailure),
    };
    publisher.on("ready", this.onPublisherReady);
    subscriber.on("ready", this.onSubscriberReady);
    subscriber.on("messageBuffer", this.onMessage);
    // The adapter sends nothing to a connection that is not ready, so one made
    // with `lazyConnect` would wait forever: connect it now.
    for (const client of [publisher, subscriber]) {
      if (client.status === "wait") client.connect().catch(this.onConnectionError);
    }
  }

  publish(topic: string, payload: Uint8Array, binary: boolean): void {
    if (this.connections === null) return;
    if (this.connections.publishing.publish(this.prefix + topic, encodeEnvelope(this.id, payload, binary))) this.stats.published++;
    else this.stats.publishesDropped++;
  }

  subscribe(topic: string): void {
    this.connections?.subscriptions.add(topic);
  }

  unsubscribe(topic: string): void {
    this.connections?.subscriptions.remove(topic);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const connections = this.connections;
    this.connections = null;
    if (connections === null) return;
    const { publisher, subscriber, publishing, subscriptions } = connections;
    publisher.off("ready", this.onPublisherReady);
    subscriber.off("ready", this.onSubscriberReady);
    subscriber.off("messageBuffer", this.onMessage);
    publishing.flush(); // anything still queued goes out if it can
    this.stats.publishesDropped += publishing.discard();
    if (this.owned) {
      await Promise.all([quit(publisher), quit(subscriber)]);
      publisher.off("error", this.onConnectionError);
      subscriber.off("error", this.onConnectionError);
    } else {
      // A borrowed subscriber lives on: stop the traffic of this adapter's channels.
      await subscriptions.clear();
    }
  }

  // Handlers are fields (bound once), so no closure is made per message.

  private readonly onMessage = (channel: Buffer, envelope: Buffer): void => {
    const connections = this.connections;
    if (connections === null || this.hub === null) return;
    const name = channel.toString();
    // Not this adapter's channel (a borrowed subscriber may carry others), or
    // a message still in flight after unsubscribe: neither is an error.
    if (!name.startsWith(this.prefix)) return;
    const topic = name.slice(this.prefix.length);
    if (!connections.subscriptions.topics.has(topic)) return;
    const problem = checkEnvelope(envelope);
    if (problem !== null) {
      this.stats.malformed++;
      this.report(new RedisAdapterError("REDIS_MALFORMED_MESSAGE", `ignored a malformed message on channel "${name}": ${problem}`));
      return;
    }
    if (isFromNode(envelope, this.id)) {
      this.stats.ownSkipped++;
      return;
    }
    this.stats.delivered++;
    this.hub.deliverLocal(topic, envelopePayload(envelope), isBinaryEnvelope(envelope));
  };

  private readonly onPublisherReady = (): void => {
    this.connections?.publishing.flush();
  };

  private readonly onSubscriberReady = (): void => {
    this.connections?.subscriptions.resync();
  };

  private readonly onPublishFailure = (error: unknown): void => {
    this.stats.publishFailures++;
    this.report(new RedisAdapterError("REDIS_PUBLISH_FAILED", `Redis did not take a publish: ${describe(error)}`, { cause: error }));
  };

  private readonly onDropping = (queuedBytes: number): void => {
    this.report(
      new RedisAdapterError(
        "REDIS_PUBLISH_DROPPED",
        `the Redis publishing connection is not ready and ${queuedBytes} bytes already wait (maxQueuedBytes): dropping publishes until it is`,
      ),
    );
  };

  private readonly onSubscribeFailure = (error: unknown): void => {
    this.report(new RedisAdapterError("REDIS_SUBSCRIBE_FAILED", `Redis did not take a (un)subscribe: ${describe(error)}`, { cause: error }));
  };

  private readonly onConnectionError = (error: unknown): void => {
    this.report(new RedisAdapterError("REDIS_CONNECTION", `Redis connection error: ${describe(error)}`, { cause: error }));
  };

  private report(error: RedisAdapterError): void {
    const onError = this.options.onError;
    if (onError === undefined) return;
    try {
      onError(error);
    } catch {
      // A throwing hook must not break delivery to the other subscribers.
    }
  }
}

/** QUIT (after pending publishes), bounded; drop the connection if Redis does not answer. */
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
    await Promise.race([
      client.quit().then(
        () => undefined,
        () => undefined,
      ),
      gaveUp,
    ]);
  } finally {
    clearTimeout(timer);
  }
  // Ends the socket if QUIT timed out; harmless once Redis has closed it.
  client.disconnect();
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
