/**
 * The user-facing connection: a core {@link Protocol} driven over a Node
 * socket. This layer only moves bytes and time; every protocol decision is
 * the core's.
 */
import { isUtf8 } from "node:buffer";
import { EventEmitter } from "node:events";
import type { Socket } from "node:net";
import { performance } from "node:perf_hooks";
import {
  CloseCode,
  ConnectionClosedError,
  Frame,
  Message,
  Opcode,
  Protocol,
  TimeoutError,
  UsageError,
  encodeClosePayload,
  type Delivery,
  type Extension,
  type Limits,
  type ProtocolError,
  type ProtocolEvent,
  type Role,
} from "../core/index.js";
import { nodeSlab } from "./slab.js";

/** Data `send` accepts. Strings go as text, bytes as binary, a {@link Message} keeps its type. */
export type SendData = string | Uint8Array | ArrayBuffer | ArrayBufferView | Message;

/** Per-message options for {@link WebSocket.send}. */
export interface SendOptions {
  /** Send bytes as a text message (they are checked to be UTF-8) or a string as binary. */
  type?: "text" | "binary";
  /** With compression negotiated: false sends this message uncompressed (default: compress above the threshold). */
  compress?: boolean;
}

/** How a connection ended. */
export interface CloseInfo {
  /** RFC 6455 7.1.5: the peer's close code, 1005 if its frame had none, 1006 if none arrived. */
  code: number;
  reason: string;
  /** Both close frames were exchanged before the transport closed. */
  wasClean: boolean;
  /** The error that ended the connection, if one did (a protocol violation, a socket error). */
  error?: Error;
}

/** Options shared by client and server connections. */
export interface ConnectionOptions extends Partial<Limits> {
  /** Answer pings automatically (default true). */
  autoPong?: boolean;
  /** Answer close frames automatically (default true). */
  autoClose?: boolean;
  /** How long `close()` waits for the peer's close frame and TCP close, in ms (default 5000). */
  closeTimeout?: number;
  /** Received items buffered for `receive()`/iteration before the socket is paused (default 64). */
  receiveQueue?: number;
  /** Deliver whole messages (default) or single frames from the start (see {@link WebSocket.frames}). */
  deliver?: "messages" | "frames";
}

/** What the client or server learned during the handshake. */
export interface HandshakeInfo {
  protocol: string | null;
  extensions: string;
  /** Bytes that arrived after the handshake and belong to the frame parser. */
  head?: Uint8Array;
  /** The peer's handshake headers (lower-case names). */
  headers?: Record<string, string>;
  /** Extensions agreed in the handshake, in response order. */
  negotiated?: Extension[];
  url?: string;
}

/** Events emitted for listener-style use. */
export interface WebSocketEvents {
  message: [message: Message];
  frame: [frame: Frame];
  ping: [payload: Uint8Array];
  pong: [payload: Uint8Array];
  close: [info: CloseInfo];
  error: [error: Error];
  drain: [];
  newListener: [event: string | symbol, listener: (...args: never[]) => void];
}

type Item = Message | Frame;
interface Waiter {
  resolve(item: Item): void;
  reject(error: Error): void;
}
interface PendingPing {
  payload: Uint8Array;
  started: number;
  resolve(rtt: number): void;
  reject(error: Error): void;
}

const DEFAULT_CLOSE_TIMEOUT = 5000;
const DEFAULT_RECEIVE_QUEUE = 64;
const encoder = new TextEncoder();
const EMPTY = new Uint8Array(0);

function noop(): void {}

/** A promise that also marks itself handled, so fire-and-forget calls never crash the process. */
function settled<T>(executor: (resolve: (value: T) => void, reject: (error: Error) => void) => void): Promise<T> {
  const promise = new Promise<T>(executor);
  promise.catch(noop);
  return promise;
}

function rejected(error: Error): Promise<never> {
  const promise = Promise.reject(error);
  promise.catch(noop);
  return promise;
}

/** Bytes of anything `send` accepts, without copying. */
export function toBytes(data: Uint8Array | ArrayBuffer | ArrayBufferView): Uint8Array {
  if (data instanceof Uint8Array) return data;
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return new Uint8Array(data);
}

/**
 * A WebSocket connection, client or server side.
 *
 * Read with `receive()`, `for await`, `frames()` or `on("message")`; write
 * with `send()`, `sendFragmented()` or `sendFrame()`. Every write returns a
 * promise that resolves once the bytes are handed to the operating system;
 * writes in the same tick share one socket write.
 *
 * @example
 * ```ts
 * const ws = await connect("ws://127.0.0.1:8080");
 * await ws.send("hello");
 * const reply = await ws.receive({ timeout: 1000 });
 * await ws.close(1000, "done");
 * ```
 */
export class WebSocket extends EventEmitter<WebSocketEvents> {
  /** Negotiated subprotocol, or null. */
  readonly protocol: string | null;
  /** Negotiated extensions, as the Sec-WebSocket-Extensions value ("" for none). */
  readonly extensions: string;
  /** URL the client connected to (after redirects); undefined on the server. */
  readonly url: string | undefined;
  /**
   * On a client, the headers of the server's 101 response (lower-case
   * names). Empty on a server, which does not keep request headers for the
   * connection's lifetime: the handler receives the whole request.
   */
  readonly handshakeHeaders: Readonly<Record<string, string>>;
  /** @internal The server's set of open connections, left when this one closes. */
  registry: Set<WebSocket> | null = null;

  private readonly core: Protocol;
  private readonly socket: Socket;
  private readonly closeTimeout: number;
  private readonly receiveQueueLimit: number;
  private queue: Item[] = [];
  private queueHead = 0;
  private waiters: Waiter[] = [];
  private paused = false;
  private pings: PendingPing[] = [];
  private pingCounter = 0;
  private batch: { promise: Promise<void>; resolve(): void; reject(error: Error): void } | null = null;
  private flushQueued = false;
  private exclusive: Promise<void> | null = null;
  private closeTimer: NodeJS.Timeout | null = null;
  private info: CloseInfo | null = null;
  private failure: Error | undefined;
  private closedPromise: Promise<CloseInfo> | null = null;
  private resolveClosed: ((info: CloseInfo) => void) | null = null;
  /** Frames that came with the handshake, not yet handed to the core. */
  private head: Uint8Array | null = null;

  /** @internal Created by `connect()` and the server, not by users. */
  constructor(socket: Socket, role: Role, handshake: HandshakeInfo, options: ConnectionOptions = {}) {
    super();
    this.socket = socket;
    this.protocol = handshake.protocol;
    this.extensions = handshake.extensions;
    this.url = handshake.url;
    this.handshakeHeaders = handshake.headers ?? {};
    this.closeTimeout = options.closeTimeout ?? DEFAULT_CLOSE_TIMEOUT;
    this.receiveQueueLimit = options.receiveQueue ?? DEFAULT_RECEIVE_QUEUE;
    this.core = new Protocol({
      role,
      maxFrameSize: options.maxFrameSize,
      maxMessageSize: options.maxMessageSize,
      maxFragments: options.maxFragments,
      autoPong: options.autoPong,
      autoClose: options.autoClose,
      deliver: options.deliver,
      extensions: handshake.negotiated,
      utf8Check: isUtf8,
      slab: nodeSlab(),
    });
    socket.setNoDelay(true);
    // Shared listener functions find their connection through the socket: no closures per connection.
    (socket as OwnedSocket)[OWNER] = this;
    socket.on("data", WebSocket.onSocketData);
    socket.on("end", WebSocket.onSocketEnd);
    socket.on("close", WebSocket.onSocketClosed);
    socket.on("error", WebSocket.onSocketErrorEvent);
    socket.on("drain", WebSocket.onSocketDrain);
    this.on("newListener", WebSocket.onNewListener);
    if (handshake.head !== undefined && handshake.head.length > 0) {
      // Frames that arrived with the handshake are handled like any later read: after the
      // code that received this connection has run and attached its listeners.
      // Reads that come sooner (a resumed socket's buffer) are queued behind it by onData.
      this.head = handshake.head;
      setImmediate(() => {
        if (this.head !== null) this.onData(EMPTY);
      });
    }
  }

  private static onSocketData(this: Socket, chunk: Buffer): void {
    (this as OwnedSocket)[OWNER].onData(chunk);
  }
  private static onSocketEnd(this: Socket): void {
    (this as OwnedSocket)[OWNER].onEnd();
  }
  private static onSocketClosed(this: Socket): void {
    (this as OwnedSocket)[OWNER].onSocketClose();
  }
  private static onSocketErrorEvent(this: Socket, error: Error): void {
    (this as OwnedSocket)[OWNER].onSocketError(error);
  }
  private static onSocketDrain(this: Socket): void {
    (this as OwnedSocket)[OWNER].emit("drain");
  }
  /** Items that arrived before the first listener was added are handed to it, not stranded in the queue. */
  private static onNewListener(this: WebSocket, event: string | symbol): void {
    if ((event === "message" || event === "frame") && this.queueHead < this.queue.length) {
      queueMicrotask(() => this.drainToListeners());
    }
  }

  // ---- state ----

  /** Resolves once the connection is fully closed; never rejects. Created on first use. */
  get closed(): Promise<CloseInfo> {
    if (this.closedPromise === null) {
      this.closedPromise =
        this.info !== null
          ? Promise.resolve(this.info)
          : new Promise<CloseInfo>((resolve) => {
              this.resolveClosed = resolve;
            });
    }
    return this.closedPromise;
  }

  /** `open`, `closing` (close frame sent or received) or `closed`. */
  get readyState(): "open" | "closing" | "closed" {
    if (this.info !== null) return "closed";
    const state = this.core.state;
    return state === "closed" ? "closing" : state;
  }

  /** Largest frame accepted from the peer; `send` fragments larger messages to this size. */
  get maxFrameSize(): number {
    return this.core.limits.maxFrameSize;
  }

  /** The limits this connection enforces. */
  get limits(): Readonly<Limits> {
    return this.core.limits;
  }

  /** Bytes accepted by `send` and not yet handed to the operating system. */
  get bufferedAmount(): number {
    return this.core.outputBytes + this.socket.writableLength;
  }

  /** Whether pings are answered automatically. */
  get autoPong(): boolean {
    return this.core.autoPong;
  }
  set autoPong(value: boolean) {
    this.core.autoPong = value;
  }

  /** Whether close frames are answered automatically. */
  get autoClose(): boolean {
    return this.core.autoClose;
  }
  set autoClose(value: boolean) {
    this.core.autoClose = value;
  }

  /**
   * The peer's close frame once it arrived (with autoClose off, answer it
   * with {@link close}), else null.
   */
  get closeReceived(): { code: number; reason: string } | null {
    return this.core.closeReceived;
  }

  /** The close code once closed (see {@link CloseInfo.code}), else undefined. */
  get closeCode(): number | undefined {
    return this.info?.code;
  }

  /** The remote address of the underlying socket. */
  get remoteAddress(): string | undefined {
    return this.socket.remoteAddress;
  }

  // ---- receiving ----

  /**
   * The next message (or frame, after {@link frames} switched delivery).
   * Rejects with {@link TimeoutError} after `timeout` ms (nothing is lost:
   * a later call gets the message) and with {@link ConnectionClosedError}
   * once the connection is closed and nothing is left to read.
   */
  receive(options: { timeout?: number } = {}): Promise<Message> {
    if (this.core.deliver !== "messages") {
      return rejected(new UsageError("FRAME_DELIVERY", "frames are being delivered: use receiveFrame() or frames()"));
    }
    return this.nextItem(options.timeout) as Promise<Message>;
  }

  /**
   * The next frame (switching to frame-by-frame delivery): data frames with
   * `fin`, `opcode` and `payload`, and ping, pong and close frames. Rejects
   * like {@link receive}.
   */
  async receiveFrame(options: { timeout?: number } = {}): Promise<Frame> {
    this.setDelivery("frames");
    return toFrame(await this.nextItem(options.timeout));
  }

  /** Messages until the connection closes; `for await (const m of ws)`. */
  [Symbol.asyncIterator](): AsyncIterableIterator<Message> {
    return this.iterate((item) => {
      if (item instanceof Message) return item;
      throw new UsageError("FRAME_DELIVERY", "frames are being delivered: iterate with frames()");
    });
  }

  /**
   * Switch to frame-by-frame delivery and iterate over every frame received:
   * data frames with `fin`, `opcode` and `payload`, and ping, pong and close
   * frames. Ends when the connection closes.
   */
  frames(): AsyncIterableIterator<Frame> {
    this.setDelivery("frames");
    return this.iterate(toFrame);
  }

  /** Deliver whole messages (default) or single frames, from the next message on. */
  setDelivery(mode: Delivery): void {
    this.core.deliver = mode;
  }

  /**
   * An iterator over received items that ends quietly when the connection
   * closes. Hand-written rather than an async generator: one promise per
   * item instead of a chain of them.
   */
  private iterate<T>(map: (item: Item) => T): AsyncIterableIterator<T> {
    const end: IteratorResult<T> = { value: undefined, done: true };
    let finished = false;
    const iterator: AsyncIterableIterator<T> = {
      next: (): Promise<IteratorResult<T>> => {
        if (finished) return Promise.resolve(end);
        try {
          const item = this.shiftItem();
          if (item !== undefined) return Promise.resolve({ value: map(item), done: false });
        } catch (error) {
          return Promise.reject(error);
        }
        if (this.drained) {
          finished = true;
          return Promise.resolve(end);
        }
        return new Promise<IteratorResult<T>>((resolve, reject) => {
          this.waiters.push({
            resolve: (item) => {
              try {
                resolve({ value: map(item), done: false });
              } catch (error) {
                reject(error);
              }
            },
            reject: (error) => {
              if (!(error instanceof ConnectionClosedError)) return reject(error);
              finished = true;
              resolve(end);
            },
          });
        });
      },
      return: (): Promise<IteratorResult<T>> => {
        finished = true;
        return Promise.resolve(end);
      },
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }

  /** Nothing more will arrive: closed, or a close frame was received. */
  private get drained(): boolean {
    return this.info !== null || this.core.closeReceived !== null;
  }

  /** The oldest queued item, resuming a paused socket once the queue is half empty. */
  private shiftItem(): Item | undefined {
    if (this.queueHead === this.queue.length) return undefined;
    const item = this.queue[this.queueHead]!;
    this.queue[this.queueHead++] = undefined as never;
    if (this.queueHead === this.queue.length) {
      this.queue = [];
      this.queueHead = 0;
    }
    if (this.paused && this.queue.length - this.queueHead < this.receiveQueueLimit / 2) this.resumeReading();
    return item;
  }

  private nextItem(timeout: number | undefined): Promise<Item> {
    const item = this.shiftItem();
    if (item !== undefined) return Promise.resolve(item);
    if (this.drained) return rejected(this.closedError());
    return new Promise<Item>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject };
      if (timeout !== undefined) {
        const timer = setTimeout(() => {
          this.waiters = this.waiters.filter((w) => w !== waiter);
          reject(new TimeoutError("RECEIVE_TIMEOUT", `nothing received within ${timeout} ms`));
        }, timeout);
        waiter.resolve = (item) => {
          clearTimeout(timer);
          resolve(item);
        };
        waiter.reject = (error) => {
          clearTimeout(timer);
          reject(error);
        };
      }
      this.waiters.push(waiter);
    });
  }

  private deliver(item: Item): void {
    const waiter = this.waiters.shift();
    if (waiter !== undefined) return waiter.resolve(item);
    const event = item instanceof Message ? "message" : "frame";
    if (this.listenerCount(event) > 0) {
      if (item instanceof Message) this.emit("message", item);
      else this.emit("frame", item);
      return;
    }
    this.queue.push(item);
    if (!this.paused && this.queue.length - this.queueHead >= this.receiveQueueLimit) {
      // Nobody is reading: stop reading the socket so TCP pushes back on the peer.
      this.paused = true;
      this.socket.pause();
    }
  }

  /** Emit queued items to listeners, in order, stopping at the first kind nobody listens to. */
  private drainToListeners(): void {
    while (this.queueHead < this.queue.length && this.waiters.length === 0) {
      const item = this.queue[this.queueHead]!;
      const event = item instanceof Message ? "message" : "frame";
      if (this.listenerCount(event) === 0) return;
      this.queue[this.queueHead++] = undefined as never;
      if (item instanceof Message) this.emit("message", item);
      else this.emit("frame", item);
    }
    if (this.queueHead === this.queue.length) {
      this.queue = [];
      this.queueHead = 0;
    }
    if (this.paused) this.resumeReading();
  }

  private resumeReading(): void {
    this.paused = false;
    if (this.info === null) this.socket.resume();
  }

  private onData(chunk: Uint8Array): void {
    if (this.head !== null) {
      const head = this.head;
      this.head = null;
      this.core.receive(head);
    }
    this.core.receive(chunk);
    if (this.core.hasEvents) this.dispatch(this.core.events());
    if (this.core.outputBytes > 0) this.flush();
    if (this.core.shouldCloseTransport) this.endTransport();
  }

  private dispatch(events: ProtocolEvent[]): void {
    const framesMode = this.core.deliver === "frames";
    for (const event of events) {
      switch (event.type) {
        case "text":
        case "binary":
          this.deliver(event);
          break;
        case "frame":
          this.deliver(event.frame);
          break;
        case "ping":
          this.emit("ping", event.payload);
          if (framesMode) this.deliver(new Frame("ping", Opcode.PING, true, event.payload));
          break;
        case "pong":
          this.onPong(event.payload);
          this.emit("pong", event.payload);
          if (framesMode) this.deliver(new Frame("pong", Opcode.PONG, true, event.payload));
          break;
        case "close":
          if (framesMode && event.received) {
            // The frame's payload as received: the code (none for 1005) and the reason.
            const payload = encodeClosePayload(event.code === CloseCode.NO_STATUS ? undefined : event.code, event.reason);
            this.deliver(new Frame("close", Opcode.CLOSE, true, payload, event.reason));
          }
          // Nothing follows a close frame: readers waiting for more end now, even with autoClose off.
          if (event.received) this.endWaiters();
          break;
        case "error":
          this.fail(event.error);
          break;
      }
    }
  }

  private fail(error: ProtocolError | Error): void {
    this.failure ??= error;
    if (this.listenerCount("error") > 0) this.emit("error", error);
  }

  // ---- sending ----

  /**
   * Send a message: a string as text, bytes as binary, a received
   * {@link Message} with its own type, or an async iterable (a Readable, a
   * generator) streamed as fragments of one message. Messages larger than
   * {@link maxFrameSize} are fragmented. Resolves once handed to the OS.
   */
  send(data: SendData | AsyncIterable<string | Uint8Array>, options?: SendOptions): Promise<void> {
    if (isAsyncIterable(data)) return this.exclusively(() => this.streamMessage(data));
    if (this.exclusive !== null) return this.exclusively(() => this.sendNow(data, options));
    return this.sendNow(data, options);
  }

  private sendNow(data: SendData, options: SendOptions | undefined): Promise<void> {
    try {
      let type: "text" | "binary";
      let payload: string | Uint8Array;
      if (typeof data === "string") {
        type = "text";
        payload = data;
      } else if (data instanceof Message) {
        type = data.type;
        payload = data.bytes;
      } else {
        type = "binary";
        payload = toBytes(data);
      }
      if (options?.type !== undefined && options.type !== type) {
        if (typeof payload === "string") payload = encoder.encode(payload);
        else if (options.type === "text" && !isUtf8(payload)) {
          throw new UsageError("INVALID_UTF8", "text message bytes are not valid UTF-8");
        }
        type = options.type;
      }
      const opcode = type === "text" ? Opcode.TEXT : Opcode.BINARY;
      // A string encodes to at most 3 bytes per UTF-16 unit: only a longer one may need fragmenting.
      const big = (typeof payload === "string" ? payload.length * 3 : payload.length) > this.maxFrameSize;
      const bytesAsText = type === "text" && typeof payload !== "string";
      // With an extension the encoded size is only known once encoded (random bytes grow a little
      // when deflated), so the general path always splits at maxFrameSize.
      if (big || bytesAsText || options?.compress !== undefined || this.extensions !== "") {
        // The general path: extensions, per-message options, frames no larger than maxFrameSize.
        this.core.sendMessage(opcode, payload, { compress: options?.compress, fragmentSize: this.maxFrameSize });
      } else if (typeof payload === "string") {
        this.core.sendText(payload);
      } else {
        this.core.sendBinary(payload);
      }
      return this.scheduleFlush();
    } catch (error) {
      return rejected(error as Error);
    }
  }

  /**
   * Send one message as fragments of at most `fragmentSize` bytes (all queued
   * at once, so they go out in as few writes as possible).
   */
  sendFragmented(
    data: string | Uint8Array | ArrayBuffer | ArrayBufferView | Message,
    options: { fragmentSize: number; type?: "text" | "binary"; compress?: boolean },
  ): Promise<void> {
    const run = (): Promise<void> => {
      try {
        let type: "text" | "binary" = typeof data === "string" ? "text" : data instanceof Message ? data.type : "binary";
        if (options.type !== undefined) type = options.type;
        const bytes = typeof data === "string" ? encoder.encode(data) : data instanceof Message ? data.bytes : toBytes(data);
        // Strings and received text messages are UTF-8 already; anything else sent as text is checked.
        const knownText = typeof data === "string" || (data instanceof Message && data.type === "text");
        if (type === "text" && !knownText && !isUtf8(bytes)) {
          throw new UsageError("INVALID_UTF8", "text message bytes are not valid UTF-8");
        }
        if (!Number.isInteger(options.fragmentSize) || options.fragmentSize < 1) {
          throw new UsageError("INVALID_FRAGMENT_SIZE", "fragmentSize must be a positive integer");
        }
        const opcode = type === "text" ? Opcode.TEXT : Opcode.BINARY;
        this.core.sendMessage(opcode, bytes, { fragmentSize: options.fragmentSize, compress: options.compress });
        return this.scheduleFlush();
      } catch (error) {
        return rejected(error as Error);
      }
    };
    return this.exclusive !== null ? this.exclusively(run) : run();
  }

  /**
   * Send a single frame: TEXT/BINARY starts a message, CONTINUATION
   * continues it, `fin` ends it; PING and PONG are sent as control frames.
   * Throws when the payload is over {@link maxFrameSize}.
   */
  sendFrame(opcode: number, payload: string | Uint8Array, fin = true): Promise<void> {
    try {
      const bytes = typeof payload === "string" ? encoder.encode(payload) : payload;
      if (bytes.length > this.maxFrameSize) {
        throw new UsageError("FRAME_TOO_BIG", `frame of ${bytes.length} bytes is over maxFrameSize ${this.maxFrameSize}`);
      }
      this.core.sendFrame(opcode, bytes, fin);
      return this.scheduleFlush();
    } catch (error) {
      return rejected(error as Error);
    }
  }

  private async streamMessage(source: AsyncIterable<string | Uint8Array>): Promise<void> {
    let type: "text" | "binary" | null = null;
    let started = false;
    let held: Uint8Array | null = null;
    const write = (chunk: Uint8Array, fin: boolean): Promise<void> => {
      const opcode = started ? Opcode.CONTINUATION : type === "text" ? Opcode.TEXT : Opcode.BINARY;
      started = true;
      this.core.sendFrame(opcode, chunk, fin);
      return this.scheduleFlush();
    };
    try {
      for await (const piece of source) {
        const pieceType = typeof piece === "string" ? "text" : "binary";
        if (type === null) type = pieceType;
        else if (pieceType !== type) throw new UsageError("MIXED_STREAM", "a streamed message mixes strings and bytes");
        // Hold one piece back so that the last one carries fin.
        if (held !== null) await write(held, false);
        held = typeof piece === "string" ? encoder.encode(piece) : toBytes(piece);
      }
    } catch (error) {
      // Half a message is on the wire and cannot be finished: the connection is unusable.
      if (started) void this.close(CloseCode.INTERNAL_ERROR, "message stream failed");
      throw error;
    }
    await write(held ?? new Uint8Array(0), true);
  }

  /** Run `task` after every earlier exclusive task, keeping send order while a stream is in progress. */
  private exclusively(task: () => Promise<void>): Promise<void> {
    const previous = this.exclusive ?? Promise.resolve();
    const run = previous.then(task, task);
    const tail = run.then(noop, noop);
    this.exclusive = tail;
    void tail.then(() => {
      if (this.exclusive === tail) this.exclusive = null;
    });
    run.catch(noop);
    return run;
  }

  /**
   * Send a ping and resolve with the round-trip time in milliseconds when its
   * pong arrives. Rejects on timeout (if given) or when the connection closes.
   */
  ping(payload?: Uint8Array | string, options: { timeout?: number } = {}): Promise<number> {
    let bytes: Uint8Array;
    if (payload === undefined) {
      bytes = new Uint8Array(4);
      new DataView(bytes.buffer).setUint32(0, ++this.pingCounter >>> 0);
    } else {
      bytes = typeof payload === "string" ? encoder.encode(payload) : payload;
    }
    try {
      this.core.ping(bytes);
    } catch (error) {
      return rejected(error as Error);
    }
    void this.scheduleFlush();
    return settled<number>((resolve, reject) => {
      const entry: PendingPing = { payload: bytes, started: performance.now(), resolve, reject };
      this.pings.push(entry);
      if (options.timeout !== undefined) {
        const timer = setTimeout(() => {
          this.pings = this.pings.filter((p) => p !== entry);
          reject(new TimeoutError("PING_TIMEOUT", `no pong within ${options.timeout} ms`));
        }, options.timeout);
        const { resolve: done, reject: fail } = entry;
        entry.resolve = (rtt) => {
          clearTimeout(timer);
          done(rtt);
        };
        entry.reject = (error) => {
          clearTimeout(timer);
          fail(error);
        };
      }
    });
  }

  /** Send a pong (unsolicited, or by hand when autoPong is off). */
  pong(payload: Uint8Array | string = new Uint8Array(0)): Promise<void> {
    try {
      this.core.pong(typeof payload === "string" ? encoder.encode(payload) : payload);
      return this.scheduleFlush();
    } catch (error) {
      return rejected(error as Error);
    }
  }

  private onPong(payload: Uint8Array): void {
    // A pong answers the ping with the same payload and, implicitly, every earlier one.
    const index = this.pings.findIndex((p) => sameBytes(p.payload, payload));
    if (index < 0) return;
    const now = performance.now();
    const answered = this.pings.splice(0, index + 1);
    for (const ping of answered) ping.resolve(now - ping.started);
  }

  /**
   * Close the connection: send a close frame, wait up to `closeTimeout` ms
   * for the peer's close frame and the end of the TCP connection, then
   * destroy the socket if needed. Resolves with how the connection ended.
   */
  close(code?: number, reason?: string): Promise<CloseInfo> {
    if (this.info !== null) return this.closed;
    try {
      if (this.core.close(code, reason)) this.flush();
    } catch (error) {
      return rejected(error as Error);
    }
    // The peer's answer must be read even if nobody is consuming messages.
    if (this.paused) this.resumeReading();
    if (this.core.shouldCloseTransport) this.endTransport();
    else this.armCloseTimer();
    return this.closed;
  }

  /** Destroy the connection at once, without a close handshake (code 1006). */
  terminate(): void {
    this.socket.destroy();
  }

  /**
   * Split into a reading half and a writing half, to hand to different
   * parts of a program. Both act on this connection.
   */
  split(): { reader: WebSocketReader; writer: WebSocketWriter } {
    return { reader: new WebSocketReader(this), writer: new WebSocketWriter(this) };
  }

  private scheduleFlush(): Promise<void> {
    let batch = this.batch;
    if (batch === null) {
      let resolve!: () => void;
      let reject!: (error: Error) => void;
      const promise = settled<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      batch = this.batch = { promise, resolve, reject };
    }
    if (!this.flushQueued) {
      this.flushQueued = true;
      WebSocket.pendingFlush.push(this);
      if (WebSocket.pendingFlush.length === 1) setImmediate(WebSocket.flushPending);
    }
    return batch.promise;
  }

  /**
   * Connections with output waiting. They are written once the current turn
   * of the event loop is over (its callbacks and their promise chains), so
   * everything a handler sends while working through one read — even one
   * `await` per message — leaves in a single socket write.
   */
  private static pendingFlush: WebSocket[] = [];
  private static flushPending(this: void): void {
    const pending = WebSocket.pendingFlush;
    WebSocket.pendingFlush = [];
    for (const ws of pending) if (ws.flushQueued) ws.flush();
  }

  /** Write everything the core has queued in one corked burst; settle the current batch. */
  private flush(): void {
    this.flushQueued = false;
    const batch = this.batch;
    this.batch = null;
    const chunks = this.core.output();
    if (chunks.length === 0) {
      batch?.resolve();
      return;
    }
    const socket = this.socket;
    if (socket.destroyed || !socket.writable) {
      batch?.reject(this.closedError());
      return;
    }
    const done =
      batch === null ? undefined : (error?: Error | null) => (error ? batch.reject(this.closedError()) : batch.resolve());
    if (chunks.length === 1) {
      socket.write(chunks[0]!, done);
      return;
    }
    socket.cork();
    const last = chunks.length - 1;
    for (let i = 0; i < last; i++) socket.write(chunks[i]!);
    socket.write(chunks[last]!, done);
    socket.uncork();
  }

  // ---- closing ----

  /** The close handshake is over or the protocol failed: end TCP (the server goes first). */
  private endTransport(): void {
    if (this.core.outputBytes > 0) this.flush();
    if (this.core.role === "server" || this.core.error !== null) {
      if (!this.socket.writableEnded) this.socket.end();
    }
    this.armCloseTimer();
  }

  private armCloseTimer(): void {
    if (this.closeTimer !== null || this.info !== null) return;
    this.closeTimer = setTimeout(() => this.socket.destroy(), this.closeTimeout);
    this.closeTimer.unref?.();
  }

  private onEnd(): void {
    // The peer will send nothing more; finish our side too.
    if (!this.socket.writableEnded) this.socket.end();
  }

  private onSocketError(error: Error): void {
    if (this.failure === undefined && this.core.state !== "closed") this.fail(error);
  }

  private onSocketClose(): void {
    if (this.closeTimer !== null) clearTimeout(this.closeTimer);
    this.core.transportClosed();
    if (this.core.hasEvents) this.dispatch(this.core.events());
    const sent = this.core.closeSent;
    const received = this.core.closeReceived;
    const info: CloseInfo = {
      code: this.core.closeCode,
      reason: this.core.closeReason,
      wasClean: sent !== null && received !== null && this.core.error === null,
    };
    if (this.failure !== undefined) info.error = this.failure;
    this.info = info;
    const error = this.closedError();
    this.endWaiters();
    for (const ping of this.pings.splice(0)) ping.reject(error);
    this.batch?.reject(error);
    this.batch = null;
    this.resolveClosed?.(info);
    this.registry?.delete(this);
    this.emit("close", info);
  }

  private endWaiters(): void {
    const error = this.closedError();
    for (const waiter of this.waiters.splice(0)) waiter.reject(error);
  }

  private closedError(): ConnectionClosedError {
    const info = this.info;
    if (info !== null) return new ConnectionClosedError(info.code, info.reason);
    const received = this.core.closeReceived;
    if (received !== null) return new ConnectionClosedError(received.code, received.reason);
    return new ConnectionClosedError(this.core.closeSent?.code ?? CloseCode.ABNORMAL, this.core.closeSent?.reason ?? "");
  }
}

/** Items queued before frame delivery began are whole messages: one final frame each. */
function toFrame(item: Item): Frame {
  if (item instanceof Frame) return item;
  const text = item.type === "text";
  return new Frame(item.type, text ? Opcode.TEXT : Opcode.BINARY, true, item.bytes, text ? item.text : undefined);
}

const OWNER = Symbol("wsx.connection");
type OwnedSocket = Socket & { [OWNER]: WebSocket };

function isAsyncIterable(value: unknown): value is AsyncIterable<string | Uint8Array> {
  return typeof value === "object" && value !== null && Symbol.asyncIterator in value && !(value instanceof Message);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The reading half of a {@link WebSocket} (see {@link WebSocket.split}). */
export class WebSocketReader {
  constructor(private readonly ws: WebSocket) {}
  receive(options?: { timeout?: number }): Promise<Message> {
    return this.ws.receive(options);
  }
  receiveFrame(options?: { timeout?: number }): Promise<Frame> {
    return this.ws.receiveFrame(options);
  }
  frames(): AsyncIterableIterator<Frame> {
    return this.ws.frames();
  }
  [Symbol.asyncIterator](): AsyncIterator<Message> {
    return this.ws[Symbol.asyncIterator]();
  }
  get closed(): Promise<CloseInfo> {
    return this.ws.closed;
  }
}

/** The writing half of a {@link WebSocket} (see {@link WebSocket.split}). */
export class WebSocketWriter {
  constructor(private readonly ws: WebSocket) {}
  send(data: SendData | AsyncIterable<string | Uint8Array>, options?: SendOptions): Promise<void> {
    return this.ws.send(data, options);
  }
  sendFragmented(
    data: string | Uint8Array | ArrayBuffer | ArrayBufferView | Message,
    options: { fragmentSize: number; type?: "text" | "binary"; compress?: boolean },
  ): Promise<void> {
    return this.ws.sendFragmented(data, options);
  }
  sendFrame(opcode: number, payload: string | Uint8Array, fin?: boolean): Promise<void> {
    return this.ws.sendFrame(opcode, payload, fin);
  }
  ping(payload?: Uint8Array | string, options?: { timeout?: number }): Promise<number> {
    return this.ws.ping(payload, options);
  }
  pong(payload?: Uint8Array | string): Promise<void> {
    return this.ws.pong(payload);
  }
  close(code?: number, reason?: string): Promise<CloseInfo> {
    return this.ws.close(code, reason);
  }
  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }
}
