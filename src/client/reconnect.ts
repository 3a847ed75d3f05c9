/**
 * A client that stays connected: {@link reconnecting} opens a connection
 * with connect() and opens a new one whenever it drops, after a wait chosen
 * by exponential backoff with full jitter, until the application closes it
 * or a rule says reconnecting is pointless (a 4xx refusal, a close code the
 * application listed, too many attempts, a deadline).
 */
import { EventEmitter } from "node:events";
import { ConnectionClosedError, HandshakeError, OptionTable, Rules, UsageError, checkOptions, type Message, type OptionRule } from "../core/index.js";
import type { CloseInfo, SendData, SendOptions, WebSocket } from "../node/connection.js";
import { connect } from "./connect.js";
import { ProxyError, QueueOverflowError } from "./errors.js";
import { CONNECT_OPTION_RULES, checkConnectOptions, type ConnectOptions } from "./options.js";
import { resolveTarget } from "./target.js";

/** When and how often to reconnect. Every duration is in ms. */
export interface ReconnectPolicy {
  /** Upper bound of the first wait (default 500). Each wait is random between 0 and its bound (full jitter). */
  initialDelay?: number;
  /** The bound never grows past this (default 30000). */
  maxDelay?: number;
  /** The bound is multiplied by this after each attempt (default 2). */
  factor?: number;
  /**
   * Give up after this many attempts in a row without a stable connection
   * (default Infinity). The first connection counts as an attempt.
   */
  maxAttempts?: number;
  /** Give up when there has been no connection for this long (default Infinity). */
  deadline?: number;
  /** A connection open at least this long was stable: the attempt count and the backoff start over (default 5000). */
  stableAfter?: number;
  /** Close codes from the server after which not to reconnect, such as an application's "banned" code. */
  stopOnCloseCodes?: number[];
  /**
   * Decide yourself: return true to reconnect, false to stop, undefined to
   * let the rules above decide. Asked after every failed attempt and every
   * disconnection (never after your own close()).
   */
  shouldReconnect?: (event: DisconnectEvent | AttemptFailedEvent) => boolean | undefined;
}

/** The queue of messages sent while disconnected. */
export interface QueuePolicy {
  /** Messages kept (default 1000; 0 keeps none). */
  limit?: number;
  /** When full: "reject" refuses the new message (default), "drop-oldest" drops the oldest waiting one. */
  overflow?: "reject" | "drop-oldest";
}

/** Options of {@link reconnecting}: every connect() option, plus how to reconnect. */
export interface ReconnectingOptions extends ConnectOptions {
  reconnect?: ReconnectPolicy;
  queue?: QueuePolicy;
  /**
   * Runs after every connection opens, before anything queued is sent and
   * before the "open" event: resubscribe, authenticate, replay state on
   * `ws`. If it throws, the connection is closed (1011) and counts as a
   * failed attempt.
   */
  onOpen?: (ws: WebSocket, info: OpenInfo) => void | Promise<void>;
}

export interface OpenInfo {
  /** Which attempt of the current streak opened it (1 for a first try). */
  attempt: number;
  /** False for the very first connection, true for every later one. */
  reconnected: boolean;
}

/** An open connection ended. */
export interface DisconnectEvent extends CloseInfo {
  type: "disconnect";
  /** Whether another connection will be attempted. */
  willReconnect: boolean;
}

/** A connection attempt failed (connect() rejected, or onOpen threw). */
export interface AttemptFailedEvent {
  type: "attempt-failed";
  attempt: number;
  error: Error;
  willReconnect: boolean;
}

/** The wait before the next attempt begins. */
export interface RetryEvent {
  /** The number of the attempt about to be made. */
  attempt: number;
  delay: number;
}

/** Why a {@link ReconnectingWebSocket} stopped for good. */
export interface ReconnectEnd {
  /**
   * `closed` (your close() or signal), `refused` (a 4xx handshake or proxy
   * refusal, or an invalid URL), `close-code` (a code in stopOnCloseCodes),
   * `declined` (shouldReconnect returned false), `max-attempts`, `deadline`.
   */
  cause: "closed" | "refused" | "close-code" | "declined" | "max-attempts" | "deadline";
  /** The last connection's close code and reason, if one was open. */
  code?: number;
  reason?: string;
  /** The error that ended it, if one did. */
  error?: Error;
}

export interface ReconnectingEvents {
  open: [ws: WebSocket, info: OpenInfo];
  disconnect: [event: DisconnectEvent];
  "attempt-failed": [event: AttemptFailedEvent];
  retry: [event: RetryEvent];
  message: [message: Message];
  close: [end: ReconnectEnd];
  newListener: [event: string | symbol, listener: (...args: never[]) => void];
}

interface Queued {
  data: SendData;
  options: SendOptions | undefined;
  resolve(): void;
  reject(error: Error): void;
}

const DEFAULTS = { initialDelay: 500, maxDelay: 30_000, factor: 2, maxAttempts: Infinity, deadline: Infinity, stableAfter: 5000 };

/** A wait in ms that setTimeout can make (0 included). */
const WAIT: OptionRule = { expected: "a number of ms from 0 to 2147483647", test: (value) => typeof value === "number" && value >= 0 && value <= 2 ** 31 - 1 };
/** A limit that may be Infinity (none). */
const LIMIT = (expected: string, test: (value: number) => boolean): OptionRule => ({
  expected: `${expected} (Infinity for none)`,
  test: (value) => typeof value === "number" && (value === Infinity || test(value)),
});

const RECONNECT_POLICY = new OptionTable<ReconnectPolicy>({
  initialDelay: WAIT,
  maxDelay: WAIT,
  factor: { expected: "a finite number >= 1", test: (value) => typeof value === "number" && Number.isFinite(value) && value >= 1 },
  maxAttempts: LIMIT("an integer >= 1", (value) => Number.isSafeInteger(value) && value >= 1),
  deadline: LIMIT("a number of ms > 0", (value) => value > 0),
  stableAfter: WAIT,
  stopOnCloseCodes: Rules.arrayOf({ expected: "a close code (1000 to 4999)", test: (value) => Number.isInteger(value) && (value as number) >= 1000 && (value as number) <= 4999 }),
  shouldReconnect: Rules.function,
});

const QUEUE_POLICY = new OptionTable<QueuePolicy>({
  limit: Rules.count,
  overflow: Rules.oneOf("reject", "drop-oldest"),
});

const RECONNECTING_OPTIONS = new OptionTable<ReconnectingOptions>({
  ...CONNECT_OPTION_RULES,
  reconnect: Rules.object,
  queue: Rules.object,
  onOpen: Rules.function,
});

/** A 4xx refusal will be given again: reconnecting cannot help (408 and 429 can). */
function isRefusal(error: Error): boolean {
  if (error instanceof UsageError) return true;
  const status = error instanceof HandshakeError || error instanceof ProxyError ? error.status : 0;
  return status >= 300 && status < 500 && status !== 408 && status !== 429;
}

/**
 * A connection that reconnects by itself; made by {@link reconnecting}.
 * `send()` works whether or not it is connected; `for await` reads the
 * messages of every connection in turn and ends with close().
 */
export class ReconnectingWebSocket extends EventEmitter<ReconnectingEvents> {
  readonly url: string;
  private readonly connectOptions: ConnectOptions;
  private readonly policy: Required<Omit<ReconnectPolicy, "stopOnCloseCodes" | "shouldReconnect">> & Pick<ReconnectPolicy, "shouldReconnect">;
  private readonly stopCodes: ReadonlySet<number>;
  private readonly queueLimit: number;
  private readonly overflow: "reject" | "drop-oldest";
  private readonly onOpen: ReconnectingOptions["onOpen"];
  private readonly controller = new AbortController();
  private readonly queue: Queued[] = [];
  private current: WebSocket | null = null;
  private opened = false;
  private ending: ReconnectEnd | null = null;
  private waitTimer: NodeJS.Timeout | null = null;
  private wakeWait: (() => void) | null = null;
  private readonly openWaiters: Array<(ws: WebSocket | null) => void> = [];
  private readonly forwarded = new WeakSet<WebSocket>();
  private readonly ended: Promise<ReconnectEnd>;
  private resolveEnded!: (end: ReconnectEnd) => void;

  /** @internal Use {@link reconnecting}. */
  constructor(url: string | URL, options: ReconnectingOptions = {}) {
    super();
    checkConnectOptions(options, "reconnecting()", RECONNECTING_OPTIONS);
    const { reconnect = {}, queue = {}, onOpen, signal, ...connectOptions } = options;
    checkOptions(reconnect, RECONNECT_POLICY, "reconnecting() reconnect");
    checkOptions(queue, QUEUE_POLICY, "reconnecting() queue");
    resolveTarget(url, connectOptions); // a URL that can never work fails here
    this.url = String(url);
    this.connectOptions = { ...connectOptions, signal: this.controller.signal };
    this.policy = {
      initialDelay: reconnect.initialDelay ?? DEFAULTS.initialDelay,
      maxDelay: reconnect.maxDelay ?? DEFAULTS.maxDelay,
      factor: reconnect.factor ?? DEFAULTS.factor,
      maxAttempts: reconnect.maxAttempts ?? DEFAULTS.maxAttempts,
      deadline: reconnect.deadline ?? DEFAULTS.deadline,
      stableAfter: reconnect.stableAfter ?? DEFAULTS.stableAfter,
      shouldReconnect: reconnect.shouldReconnect,
    };
    this.stopCodes = new Set(reconnect.stopOnCloseCodes ?? []);
    this.queueLimit = queue.limit ?? 1000;
    this.overflow = queue.overflow ?? "reject";
    this.onOpen = onOpen;
    this.ended = new Promise((resolve) => (this.resolveEnded = resolve));
    if (signal !== undefined) {
      if (signal.aborted) queueMicrotask(() => void this.close());
      else signal.addEventListener("abort", () => void this.close(), { once: true });
    }
    this.on("newListener", (event) => {
      if (event === "message" && this.current !== null) this.forward(this.current);
    });
    void this.run();
  }

  /** The open connection, or null while connecting or waiting. */
  get ws(): WebSocket | null {
    return this.opened ? this.current : null;
  }

  /** `connecting` (an attempt or onOpen is running), `open`, `waiting` (before the next attempt) or `closed`. */
  get state(): "connecting" | "open" | "waiting" | "closed" {
    if (this.ending !== null) return "closed";
    if (this.opened) return "open";
    return this.waitTimer !== null ? "waiting" : "connecting";
  }

  /** Messages waiting for a connection. */
  get queued(): number {
    return this.queue.length;
  }

  /** Resolves once it has stopped for good, with why. */
  get closed(): Promise<ReconnectEnd> {
    return this.ended;
  }

  /**
   * Send now if connected, else queue the message (see {@link QueuePolicy})
   * and send it, in order, once a connection is open. Resolves when the
   * message is handed to the socket. A message handed to a connection that
   * then drops is not sent again: delivery is at most once.
   */
  send(data: SendData, options?: SendOptions): Promise<void> {
    if (this.ending !== null) return Promise.reject(new ConnectionClosedError(this.ending.code ?? 1000, this.ending.reason ?? "", "the reconnecting connection is closed"));
    const ws = this.current;
    if (this.opened && ws !== null && ws.readyState === "open") return ws.send(data, options);
    if (this.queue.length >= this.queueLimit) {
      if (this.overflow === "reject" || this.queueLimit === 0) return Promise.reject(new QueueOverflowError("QUEUE_FULL", this.queueLimit));
      this.queue.shift()!.reject(new QueueOverflowError("QUEUE_DROPPED", this.queueLimit));
    }
    return new Promise((resolve, reject) => this.queue.push({ data, options, resolve, reject }));
  }

  /**
   * Stop for good: no more attempts, the open connection (if any) closed
   * with `code` and `reason`, queued messages rejected. Resolves with the end.
   */
  async close(code?: number, reason?: string): Promise<ReconnectEnd> {
    if (this.ending === null) {
      const ws = this.current;
      this.finish({ cause: "closed" });
      if (ws !== null && ws.readyState !== "closed") await ws.close(code, reason);
    }
    return this.ended;
  }

  /** Messages of every connection in turn; ends when it stops for good. */
  async *[Symbol.asyncIterator](): AsyncIterableIterator<Message> {
    for (;;) {
      const ws = await this.nextOpen();
      if (ws === null) return;
      // Ends when that connection closes; nextOpen() never returns a closed one.
      for await (const message of ws) yield message;
    }
  }

  private nextOpen(): Promise<WebSocket | null> {
    if (this.ending !== null) return Promise.resolve(null);
    if (this.opened && this.current !== null && this.current.readyState === "open") return Promise.resolve(this.current);
    return new Promise((resolve) => this.openWaiters.push(resolve));
  }

  private forward(ws: WebSocket): void {
    if (this.forwarded.has(ws) || this.listenerCount("message") === 0) return;
    this.forwarded.add(ws);
    ws.on("message", (message) => this.emit("message", message));
  }

  private finish(end: ReconnectEnd): void {
    if (this.ending !== null) return;
    this.ending = end;
    this.opened = false;
    this.controller.abort(new Error("closed"));
    if (this.waitTimer !== null) clearTimeout(this.waitTimer);
    this.waitTimer = null;
    this.wakeWait?.();
    const closed = new ConnectionClosedError(end.code ?? 1000, end.reason ?? "", "the reconnecting connection is closed");
    for (const item of this.queue.splice(0)) item.reject(closed);
    for (const waiter of this.openWaiters.splice(0)) waiter(null);
    // The end is announced once the last connection's close is known.
    const last = this.current;
    void (last?.closed ?? Promise.resolve(null)).then((info) => {
      if (info !== null && end.code === undefined) {
        end.code = info.code;
        end.reason = info.reason;
      }
      this.emit("close", end);
      this.resolveEnded(end);
    });
  }

  /** The connect / wait loop; runs until finish(). */
  private async run(): Promise<void> {
    let attempt = 0;
    let downSince = Date.now();
    let reconnected = false;
    while (this.ending === null) {
      attempt++;
      let ws: WebSocket;
      try {
        ws = await connect(this.url, this.connectOptions);
        this.current = ws;
        if (this.onOpen !== undefined) await this.onOpen(ws, { attempt, reconnected });
      } catch (error) {
        const failed = this.current;
        this.current = null;
        if (failed !== null) void failed.close(1011, "reconnect hook failed").catch(() => {});
        if (this.ending !== null) return;
        const event: AttemptFailedEvent = { type: "attempt-failed", attempt, error: error as Error, willReconnect: false };
        const stop = this.stopAfterFailure(event, attempt);
        event.willReconnect = stop === null;
        this.emit("attempt-failed", event);
        if (stop !== null) return this.finish(stop);
        if (!(await this.wait(attempt, attempt + 1, downSince))) return;
        continue;
      }
      if (this.ending !== null) {
        void ws.close();
        return;
      }
      // Open: what waited goes out in order, after what onOpen sent.
      this.opened = true;
      const openedAt = Date.now();
      this.forward(ws);
      for (const item of this.queue.splice(0)) ws.send(item.data, item.options).then(item.resolve, item.reject);
      this.emit("open", ws, { attempt, reconnected });
      for (const waiter of this.openWaiters.splice(0)) waiter(ws);
      reconnected = true;

      const info = await ws.closed;
      this.opened = false;
      if (this.ending !== null) return;
      this.current = null;
      downSince = Date.now();
      if (downSince - openedAt >= this.policy.stableAfter) attempt = 0;
      const event: DisconnectEvent = { type: "disconnect", ...info, willReconnect: false };
      const stop = this.stopAfterDisconnect(event, attempt);
      event.willReconnect = stop === null;
      this.emit("disconnect", event);
      if (stop !== null) return this.finish(stop);
      if (!(await this.wait(attempt, attempt + 1, downSince))) return;
    }
  }

  private stopAfterFailure(event: AttemptFailedEvent, attempt: number): ReconnectEnd | null {
    const asked = this.policy.shouldReconnect?.(event);
    if (asked === false) return { cause: "declined", error: event.error };
    if (asked === true) return null;
    if (isRefusal(event.error)) return { cause: "refused", error: event.error };
    if (attempt >= this.policy.maxAttempts) return { cause: "max-attempts", error: event.error };
    return null;
  }

  private stopAfterDisconnect(event: DisconnectEvent, attempt: number): ReconnectEnd | null {
    const end = { code: event.code, reason: event.reason, error: event.error };
    const asked = this.policy.shouldReconnect?.(event);
    if (asked === false) return { cause: "declined", ...end };
    if (asked === true) return null;
    if (this.stopCodes.has(event.code)) return { cause: "close-code", ...end };
    if (attempt >= this.policy.maxAttempts) return { cause: "max-attempts", ...end };
    return null;
  }

  /**
   * Wait before attempt `next`: random in [0, min(maxDelay, initialDelay *
   * factor^(done - 1))] (full jitter). False when it ended meanwhile, or the
   * deadline would pass.
   */
  private async wait(done: number, next: number, downSince: number): Promise<boolean> {
    const { initialDelay, maxDelay, factor, deadline } = this.policy;
    const bound = Math.min(maxDelay, initialDelay * factor ** Math.max(0, done - 1));
    const delay = Math.floor(Math.random() * bound);
    if (Date.now() + delay - downSince > deadline) {
      this.finish({ cause: "deadline" });
      return false;
    }
    this.emit("retry", { attempt: next, delay });
    await new Promise<void>((resolve) => {
      this.wakeWait = resolve;
      this.waitTimer = setTimeout(resolve, delay);
    });
    this.waitTimer = null;
    this.wakeWait = null;
    return this.ending === null;
  }
}

/**
 * Connect to `url` and stay connected: every connect() option, plus
 * `reconnect` (backoff and when to give up), `queue` (messages sent while
 * disconnected) and `onOpen` (runs after every (re)connection).
 *
 * @example
 * ```ts
 * import { reconnecting } from "wsx";
 *
 * const feed = reconnecting("ws://127.0.0.1:9000/prices", {
 *   reconnect: { initialDelay: 200, maxDelay: 10_000, stopOnCloseCodes: [4001] },
 *   queue: { limit: 100, overflow: "drop-oldest" },
 *   onOpen: (ws) => ws.send(JSON.stringify({ subscribe: "EURUSD" })),
 * });
 * feed.on("disconnect", ({ code, error, willReconnect }) => console.log("lost", code, error?.message, willReconnect));
 * feed.on("open", (ws, { reconnected }) => console.log(reconnected ? "back" : "connected"));
 * await feed.send("hello"); // queued until the first connection is open
 * for await (const message of feed) {
 *   console.log(message.text);
 *   break;
 * }
 * await feed.close();
 * ```
 */
export function reconnecting(url: string | URL, options: ReconnectingOptions = {}): ReconnectingWebSocket {
  return new ReconnectingWebSocket(url, options);
}

