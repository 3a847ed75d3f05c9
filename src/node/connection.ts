/**
 * The user-facing connection: a core {@link Protocol} driven over a Node
 * socket. This layer only moves bytes and time; every protocol decision is
 * the core's. What arrives waits in an {@link Inbox}; what is sent leaves
 * through an {@link Outbox}, one socket write per turn of the event loop.
 */
import { isUtf8 } from "node:buffer";
import { EventEmitter } from "node:events";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import {
  BackpressureError,
  Chunk,
  CloseCode,
  CloseFrame,
  Frame,
  Message,
  Opcode,
  OptionTable,
  Protocol,
  Rules,
  SharedFrames,
  UsageError,
  sealSharedFrames,
  Utf8Validator,
  checkFragmentSize,
  checkOptions,
  describeValue,
  encodeClosePayload,
  invalidData,
  type DecodeEvent,
  type Delivery,
  type Extension,
  type Limits,
  type ProtocolOptions,
  type ProtocolError,
  type ProtocolEvent,
  type TimeoutError,
  type Role,
} from "../core/index.js";
import type { BackpressureOptions } from "./backpressure.js";
import { closedError } from "./closed-error.js";
import { WebSocketReader, WebSocketWriter } from "./halves.js";
import { Heartbeat, type Liveness } from "./heartbeat.js";
import { joinPieces } from "../core/bytes.js";
import { directReads } from "./direct-read.js";
import { Inbox, toChunk, toFrame, toMessage } from "./inbox.js";
import { asyncEncodeThreshold, decodeOffLoop, encodeOffLoop, offloaded, type OffloadedSend } from "./offload.js";
import { Outbox } from "./outbox.js";
import { Pings } from "./pings.js";
import { readChunk, readMessage, type ReceiveChunkOptions, type ReceiveOptions } from "./reading.js";
import { rejected, settled } from "./promises.js";
import { SendOrder } from "./send-order.js";
import {
  SENDABLE,
  SEND_OPTIONS,
  encode,
  isAsyncIterable,
  isBinary,
  isBlob,
  queueFragmented,
  queueFrame,
  queueMessage,
  streamMessage,
  toBytes,
} from "./sending.js";
import { CONNECTION_OPTION_RULES, connectionSettings, type ConnectionSettings } from "./settings.js";
import { Counters, type ConnectionStats } from "./stats.js";
import type { Topics } from "./topics.js";

/** Data `send` accepts. Strings go as text, bytes as binary, a {@link Message} keeps its type. */
export type SendData = string | Uint8Array | ArrayBuffer | ArrayBufferView | Message;

/** Per-message options for {@link WebSocket.send}. */
export interface SendOptions {
  /** Send bytes as a text message (they are checked to be UTF-8) or a string as binary. */
  type?: "text" | "binary";
  /** With compression negotiated: false sends this message uncompressed (default: compress above the threshold). */
  compress?: boolean;
  /**
   * false: this send is one fragment of a message, which later sends
   * continue (whatever their `type`) until one is sent with `fin` true or
   * unset, which ends it (RFC 6455 section 5.4). Fragments go out as they
   * are: uncompressed, one frame each, and no other message can be sent
   * until the last one. Text given as bytes is checked to be UTF-8 across
   * the fragments.
   */
  fin?: boolean;
}

/** A transport failure as Node reported it (`ECONNRESET`, `EPIPE`, a TLS alert...): `code` is Node's. */
export type SocketError = NodeJS.ErrnoException;

/**
 * An error that ends a connection: the peer broke the protocol
 * ({@link ProtocolError}, `code` one of {@link ViolationCode}), a liveness
 * deadline passed ({@link TimeoutError} `PONG_TIMEOUT` or `IDLE_TIMEOUT`),
 * or the socket failed ({@link SocketError}).
 *
 * @example
 * ```ts
 * import { connect, ProtocolError, type ConnectionError } from "wsx";
 *
 * function explain(error: ConnectionError): string {
 *   if (error instanceof ProtocolError) return `peer broke ${error.code}, closed with ${error.closeCode}`;
 *   if (error.code === "PONG_TIMEOUT" || error.code === "IDLE_TIMEOUT") return "peer went quiet";
 *   return `socket failed: ${error.code ?? error.message}`;
 * }
 * const ws = await connect("ws://127.0.0.1:8080/");
 * ws.on("error", (error) => console.log(explain(error)));
 * await ws.close();
 * ```
 */
export type ConnectionError = ProtocolError | TimeoutError | SocketError;

/** How a connection ended. */
export interface CloseInfo {
  /** RFC 6455 7.1.5: the peer's close code, 1005 if its frame had none, 1006 if none arrived. */
  code: number;
  /** The peer's close reason ("" if none). */
  reason: string;
  /** Both close frames were exchanged before the transport closed. */
  wasClean: boolean;
  /**
   * The error that ended the connection, if one did: a protocol violation, a
   * socket error, or a `TimeoutError` from the liveness options
   * (`PONG_TIMEOUT`, `IDLE_TIMEOUT`).
   */
  error?: ConnectionError;
}

/** Options shared by client and server connections. */
export interface ConnectionOptions extends Partial<Limits>, BackpressureOptions {
  /** Answer pings automatically (default true). */
  autoPong?: boolean;
  /** Answer close frames automatically (default true). */
  autoClose?: boolean;
  /** How long `close()` waits for the peer's close frame and TCP close, in ms (default 5000). */
  closeTimeout?: number;
  /** Received items buffered for `receive()`/iteration before the socket is paused (default 64). */
  receiveQueue?: number;
  /**
   * Deliver whole messages (default), single frames (see {@link WebSocket.frames})
   * or payload pieces as they arrive (see {@link WebSocket.chunks}) from the start.
   */
  deliver?: Delivery;
  /**
   * Ping the peer (empty payload) once nothing at all has been received from
   * it for this many ms (default 0: off). A peer that is sending is never
   * pinged. Liveness deadlines pause while reading is paused because
   * received messages wait unread (see `receiveQueue`), and end once the
   * close handshake has begun (`closeTimeout` bounds it).
   */
  pingInterval?: number;
  /**
   * With `pingInterval`: when nothing at all arrives within this many ms of
   * such a ping, the peer is dead and the connection is dropped at once
   * (code 1006, error `TimeoutError` `PONG_TIMEOUT`, also emitted as
   * "error"), at most `pingInterval + pongTimeout` ms after the last byte
   * received. Default: `pingInterval`; ignored without it.
   */
  pongTimeout?: number;
  /**
   * Close the connection with 1001 "idle timeout" (error `TimeoutError`
   * `IDLE_TIMEOUT`, also emitted as "error") when no data message has been
   * received for this many ms (default 0: off). Pings, pongs and messages
   * sent do not count; a message still arriving does.
   */
  idleTimeout?: number;
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
  negotiated?: readonly Extension[];
  url?: string;
}

/** What {@link WebSocket.fromStream} takes: which end this is, and the connection's options. */
export interface StreamConnectionOptions extends ConnectionOptions {
  /** This end of the connection: "client" masks its frames, "server" requires masked ones. */
  role: Role;
  /** The subprotocol agreed on, if any (what {@link WebSocket.protocol} says; default null). */
  protocol?: string | null;
  /** Bytes already read from the stream after the handshake: the first frames. */
  head?: Uint8Array;
}

/** Events emitted for listener-style use. */
export interface WebSocketEvents {
  /** A whole message arrived. */
  message: [message: Message];
  /** A frame arrived, while frames are read one by one (see {@link WebSocket.frames}). */
  frame: [frame: Frame];
  /** A payload piece, in chunk delivery (see {@link WebSocket.chunks}). */
  chunk: [chunk: Chunk];
  /** A ping arrived (answered already when `autoPong` is on). */
  ping: [payload: Uint8Array];
  /** A pong arrived. */
  pong: [payload: Uint8Array];
  /** The connection is closed. */
  close: [info: CloseInfo];
  /** What ends the connection: a protocol violation, a socket error, a timeout (emitted only when someone listens). */
  error: [error: ConnectionError];
  /** The socket's write buffer has emptied. */
  drain: [];
  /** A listener is being added (Node's EventEmitter event). */
  newListener: [event: string | symbol, listener: (...args: never[]) => void];
}

/**
 * Takes a connection's events synchronously, as each read is parsed, in
 * place of the receive queue and the EventEmitter events (see
 * {@link WebSocket.setSink}): the seam for a facade that gives them
 * another shape, such as `wsx/ws`.
 */
export interface ConnectionSink {
  /** A whole message; its bytes are the sink's to keep. */
  message(message: Message): void;
  /** A ping (already answered when autoPong is on). */
  ping(payload: Uint8Array): void;
  /** A pong arrived (an answer to a ping, or unsolicited). */
  pong(payload: Uint8Array): void;
  /** The peer broke the protocol, the socket failed or a liveness deadline passed; `close` follows. */
  error(error: Error): void;
  /** The connection is closed; nothing follows. */
  close(info: CloseInfo): void;
}

/** @internal What a server provides to the connections it accepted. */
export interface ConnectionOwner {
  readonly topics: Topics;
  /** The connection is gone (called once, after its `closed` settles). */
  connectionClosed(ws: WebSocket, info: CloseInfo): void;
  /** The connection's first message was dropped, or it was closed, because it was over its `maxBackpressure`. */
  overLimit(ws: WebSocket, action: "dropped" | "closed"): void;
}

const EMPTY = new Uint8Array(0);
/** The listener table every connection starts with (see {@link ConnectionEmitter}); never changed, not frozen (copying a frozen object is 4x slower). */
const LISTENER_TABLE = { message: undefined, close: undefined, error: undefined };

/**
 * WebSocket's base: EventEmitter's methods, without EventEmitter's
 * constructor, which makes a dictionary-mode listener table that the
 * connection would replace at once (a throwaway allocation of ~200 bytes per
 * connection). It sets the fields that constructor sets (`captureRejections`
 * stays the prototype's: off), the way node's streams start theirs: a
 * fast-mode table whose keys are the usual events
 * (~130 bytes less per connection than a dictionary). The table is copied
 * from a template rather than written as a literal: V8 tracks a literal's
 * objects, and once enough of them outlive a GC it deoptimizes the function
 * to allocate them elsewhere, then compiles it again (tens of ms, on a busy
 * server's first thousands of connections).
 */
function ConnectionEmitter(this: { _events: object; _eventsCount: number; _maxListeners: number | undefined }): void {
  this._events = { ...LISTENER_TABLE };
  this._eventsCount = 0;
  this._maxListeners = undefined;
}
ConnectionEmitter.prototype = EventEmitter.prototype;
Object.setPrototypeOf(ConnectionEmitter, EventEmitter); // EventEmitter's static members too
const ConnectionEmitterBase = ConnectionEmitter as unknown as new () => EventEmitter<WebSocketEvents>;
/** What `handshakeHeaders` is on a server: shared, not one empty object per connection. */
const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({});

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
export class WebSocket extends ConnectionEmitterBase {
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
  /** @internal The server that accepted this connection (null for a client). */
  owner: ConnectionOwner | null = null;

  /**
   * The protocol engine, made on first use (see {@link core}): a connection
   * that has not read, written or closed yet (an idle one) keeps none, nor
   * pays for its ~40 fields at every GC.
   */
  private ownCore: Protocol | null = null;
  /** What the engine is made with; null once it is. */
  private coreOptions: ProtocolOptions | null;
  private readonly socket: Socket;
  /** Resolved once per options object and shared by the connections that use it. */
  private readonly settings: ConnectionSettings;
  /** Created with the first message received or the first read: idle connections have none. */
  private inbox: Inbox | null = null;
  /** Created with the first write. */
  private outbox: Outbox | null = null;
  private readonly counters = new Counters();
  /** Sends waiting for the buffer to drain below the limit (the "wait" policy), resolved by {@link checkRoom}. */
  private room: { promise: Promise<void>; resolve(): void; reject(error: Error): void } | null = null;
  /** Topics this connection subscribes to (server connections only). */
  private subscriptions: Set<string> | null = null;
  /** Created on first use: most connections never ping or stream. */
  private pings: Pings | null = null;
  private sendOrder: SendOrder | null = null;
  private closeTimer: NodeJS.Timeout | null = null;
  /** Only with pingInterval or idleTimeout set: reads then also stamp it. */
  private heartbeat: Heartbeat | null = null;
  private info: CloseInfo | null = null;
  private failure: ConnectionError | undefined;
  private closedPromise: Promise<CloseInfo> | null = null;
  private resolveClosed: ((info: CloseInfo) => void) | null = null;
  /** Frames that came with the handshake, not yet handed to the core. */
  private head: Uint8Array | null = null;
  /** Where events go instead of the inbox and the EventEmitter, once set. */
  private sink: ConnectionSink | null = null;
  /** Text given as bytes for a fragmented message being sent, checked across its fragments. */
  private fragmentText: Utf8Validator | null = null;

  /** @internal Created by `connect()` and the server, not by users. */
  constructor(socket: Socket, role: Role, handshake: HandshakeInfo, options: ConnectionOptions = {}) {
    super();
    if (typeof socket !== "object" || socket === null || typeof socket.write !== "function" || typeof socket.on !== "function") {
      throw new UsageError(
        "USE_CONNECT",
        `new WebSocket(${describeValue(socket)}) does not open a connection: use \`await connect(url)\` from "wsx" ` +
          `(or WebSocket.fromStream for a stream you already have); the browser-style \`new WebSocket(url)\` is in "wsx/web"`,
      );
    }
    this.socket = socket;
    this.protocol = handshake.protocol;
    this.extensions = handshake.extensions;
    this.url = handshake.url;
    this.handshakeHeaders = handshake.headers ?? NO_HEADERS;
    const settings = connectionSettings(options);
    this.settings = settings;
    const negotiated = handshake.negotiated;
    const shared = settings.protocol[role];
    this.coreOptions = negotiated === undefined || negotiated.length === 0 ? shared : { ...shared, extensions: negotiated };
    // Shared listener functions find their connection through the socket: no closures per connection.
    (socket as OwnedSocket)[OWNER] = this;
    let head = handshake.head;
    const buffered = WebSocket.readDirectly(socket);
    if (buffered === false) socket.on("data", WebSocket.onSocketData);
    else if (buffered !== null) head = head === undefined || head.length === 0 ? buffered : joinPieces([head, buffered], head.length + buffered.length);
    // Without half-open support node:net ends our side itself when the peer ends its.
    if (socket.allowHalfOpen) socket.on("end", WebSocket.onSocketEnd);
    socket.on("close", WebSocket.onSocketClosed);
    socket.on("error", WebSocket.onSocketErrorEvent);
    if (settings.liveness !== null) this.heartbeat = this.startHeartbeat(settings.liveness);
    if (head !== undefined && head.length > 0) {
      // Frames that arrived with the handshake are handled like any later read: after the
      // code that received this connection has run and attached its listeners.
      // Reads that come sooner (a resumed socket's buffer) are queued behind it by onData.
      this.head = head;
      setImmediate(() => {
        if (this.head !== null) this.onData(EMPTY);
      });
    }
  }

  /**
   * Run a WebSocket over a stream whose opening handshake is already done
   * (by the caller, or by a protocol that needs none: a test pair, an SSH
   * channel, an HTTP/2 stream). `role` says which end this is: a client
   * masks what it sends and a server requires masked frames. No extension
   * is in use. To include the handshake, use `connect(url, { stream })` or
   * the server's `handleStream(stream)`.
   *
   * @example
   * ```ts
   * import { duplexPair } from "node:stream";
   * import { WebSocket } from "wsx";
   * const [left, right] = duplexPair();
   * const client = WebSocket.fromStream(left, { role: "client" });
   * const server = WebSocket.fromStream(right, { role: "server" });
   * await client.send("over a stream");
   * console.log((await server.receive()).text);
   * await client.close();
   * ```
   */
  static fromStream(stream: Duplex, options: StreamConnectionOptions): WebSocket {
    checkOptions(options, STREAM_OPTIONS, "WebSocket.fromStream()");
    if (options.role === undefined) throw new UsageError("INVALID_OPTION", 'WebSocket.fromStream() needs role: "client" or "server"');
    if (!isDuplex(stream)) throw new UsageError("INVALID_OPTION", `WebSocket.fromStream() takes a Duplex stream, got ${describeValue(stream)}`);
    const { role, protocol = null, head, ...connection } = options;
    return new WebSocket(stream as Socket, role, { protocol, extensions: "", head }, connection);
  }

  /** The protocol engine, made now if this is its first use. */
  private get core(): Protocol {
    return this.ownCore ?? this.makeCore();
  }

  private makeCore(): Protocol {
    const core = new Protocol(this.coreOptions!);
    this.ownCore = core;
    this.coreOptions = null;
    return core;
  }

  /** Sends encoded off the loop are queued or running: close and publish wait behind them. */
  private get encodesPending(): boolean {
    return this.sendOrder !== null && this.sendOrder.offloaded > 0;
  }

  /** Whether a send of `data` is big enough to be encoded off the event loop by the negotiated extensions. */
  private encodesOffLoop(data: SendData, compress: boolean | undefined): boolean {
    const threshold = asyncEncodeThreshold(this.core.negotiatedExtensions);
    return threshold !== Infinity && offloaded(data, compress, threshold);
  }

  /** The receive side, opened on first use. */
  private openInbox(): Inbox {
    if (this.inbox === null) {
      this.inbox = new Inbox(this, this.core, this.socket, this.settings.receiveQueue);
      if (this.info !== null) this.inbox.close();
    }
    return this.inbox;
  }

  /** The write side, opened on first use. */
  private openOutbox(): Outbox {
    if (this.outbox === null) {
      // Frames leave at once (no Nagle delay), set with the first frame: a connection that never
      // sends (most idle ones) spares the system call, and the handshake before it is one segment.
      // A stream given to fromStream() or connect({ stream }) may be no TCP socket.
      (this.socket as Partial<Socket>).setNoDelay?.(true);
      this.outbox = new Outbox(this.core, this.socket, this.counters);
      this.outbox.onFull = WebSocket.listenForDrain;
      if (this.info !== null) this.outbox.close();
    }
    return this.outbox;
  }

  /** The events listened to (the listener table keeps unused keys, see the constructor). */
  override eventNames(): Array<keyof WebSocketEvents> {
    return super.eventNames().filter((name) => this.listenerCount(name) > 0);
  }

  private static onSocketData(this: Socket, chunk: Buffer): void {
    (this as OwnedSocket)[OWNER].onData(chunk);
  }
  /** Reads straight into the message being collected where node allows it (see direct-read.ts). */
  private static readonly readDirectly = directReads({
    target(socket) {
      const connection = (socket as OwnedSocket)[OWNER];
      // Bytes from the handshake go first, through onData: no place is offered before them.
      // Without an engine yet nothing has been received, so no message wants a place.
      const core = connection.ownCore;
      return connection.head === null && core !== null ? core.receiveBuffer() : null;
    },
    read(socket, bytes) {
      (socket as OwnedSocket)[OWNER].onData(bytes);
    },
  });
  private static onSocketEnd(this: Socket): void {
    (this as OwnedSocket)[OWNER].onEnd();
  }
  private static onSocketClosed(this: Socket): void {
    (this as OwnedSocket)[OWNER].onSocketClose();
  }
  private static onSocketErrorEvent(this: Socket, error: Error): void {
    (this as OwnedSocket)[OWNER].onSocketError(error);
  }
  /** 'drain' comes only after a write found the socket full: listened for from the first such write on (see Outbox.onFull). */
  private static listenForDrain(socket: Socket): void {
    socket.on("drain", WebSocket.onSocketDrain);
  }
  private static onSocketDrain(this: Socket): void {
    const connection = (this as OwnedSocket)[OWNER];
    if (connection.room !== null) connection.checkRoom();
    connection.emit("drain");
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

  /**
   * The peer broke the protocol and the close frame answering it is not
   * written yet: messages that came before the bad frame are being
   * delivered, and sends made until the end of this turn still go out
   * before the close. `readyState` is already "closing"; a facade whose
   * API says "open" until the error (as `ws` does) reads this.
   */
  get failing(): boolean {
    return this.info === null && this.core.failing;
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
  /** Turn automatic pongs on or off (a boolean, else `UsageError` `INVALID_OPTION`). */
  set autoPong(value: boolean) {
    if (typeof value !== "boolean") throw new UsageError("INVALID_OPTION", `autoPong must be true or false, got ${describeValue(value)}`);
    this.core.autoPong = value;
  }

  /** Whether close frames are answered automatically. */
  get autoClose(): boolean {
    return this.core.autoClose;
  }
  /** Turn automatic close replies on or off (a boolean, else `UsageError` `INVALID_OPTION`). */
  set autoClose(value: boolean) {
    if (typeof value !== "boolean") throw new UsageError("INVALID_OPTION", `autoClose must be true or false, got ${describeValue(value)}`);
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

  /** Traffic counters since the connection opened (live; read, do not change). */
  get stats(): Readonly<ConnectionStats> {
    return this.counters;
  }

  /**
   * A hook for facades that account for sent data themselves (`wsx/web`
   * keeps `bufferedAmount` in application bytes): called synchronously each
   * time a socket write completes, with {@link stats}`.messagesOut` as it was
   * when that write was made, so every message counted up to that number has
   * now been handed to the operating system. Null (the default) costs nothing;
   * it is kept by the write side, so setting it opens that side.
   */
  get onWritten(): ((messagesOut: number) => void) | null {
    return this.outbox?.written ?? null;
  }
  /** Set or clear the hook (see the getter). */
  set onWritten(hook: ((messagesOut: number) => void) | null) {
    if (hook !== null || this.outbox !== null) this.openOutbox().written = hook;
  }

  /** Bytes that may wait for the socket before the backpressure policy applies. */
  get maxBackpressure(): number {
    return this.settings.backpressure.limit;
  }

  // ---- receiving ----

  /**
   * The next whole message, whatever the delivery: with frames or payload
   * pieces being delivered (after {@link frames} or {@link chunks}), it
   * joins those of the next message (control frames among them are passed
   * over), so single frames and whole messages can be read in turn.
   * Rejects with `TimeoutError` `RECEIVE_TIMEOUT` after `timeout` ms
   * (nothing is lost: a later call gets the message), with
   * {@link SizeLimitError} `RECEIVE_TOO_BIG` for a message over `maxSize`
   * bytes (it is skipped; the connection stays open) and with
   * {@link ConnectionClosedError} once the connection is closed and nothing
   * is left to read.
   *
   * @example
   * ```ts
   * import { SizeLimitError, connect } from "wsx";
   * const ws = await connect("ws://127.0.0.1:8080");
   * await ws.send("hello");
   * try {
   *   const reply = await ws.receive({ timeout: 1000, maxSize: 64 * 1024 });
   *   console.log(reply.text);
   * } catch (error) {
   *   if (error instanceof SizeLimitError) console.log(`skipped a ${error.size}-byte message`);
   *   else throw error;
   * }
   * await ws.close();
   * ```
   */
  receive(options: ReceiveOptions = {}): Promise<Message> {
    const refused = refusal(() => checkOptions(options, RECEIVE_OPTIONS, "receive()"));
    if (refused !== null) return rejected(refused);
    const inbox = this.openInbox();
    if (this.core.deliver === "messages") return readMessage(inbox, options);
    return inbox.serially(() => readMessage(inbox, options));
  }

  /**
   * The next payload piece, switching to chunk delivery: data arrives as it
   * comes off the network, whatever the frame or message size, each piece
   * with its frame's `opcode`, `fin` and declared `frameLength` and its
   * `offset` in the frame. With `maxBytes` a longer piece is cut and its
   * rest is returned by the next call. Control frames are handled by the
   * connection (events "ping", "pong", "close") and not returned. Rejects
   * like {@link receive}.
   *
   * @example
   * ```ts
   * import { connect } from "wsx";
   * const ws = await connect("ws://127.0.0.1:8080", { deliver: "chunks" });
   * await ws.send("a message read in pieces of at most 4 bytes");
   * let text = "";
   * for (;;) {
   *   const piece = await ws.receiveChunk({ maxBytes: 4, timeout: 1000 });
   *   text += new TextDecoder().decode(piece.payload); // ASCII: no character is split
   *   if (piece.messageEnd) break;
   * }
   * console.log(text);
   * await ws.close();
   * ```
   */
  receiveChunk(options: ReceiveChunkOptions = {}): Promise<Chunk> {
    const refused = refusal(() => checkOptions(options, CHUNK_OPTIONS, "receiveChunk()"));
    if (refused !== null) return rejected(refused);
    this.setDelivery("chunks");
    const inbox = this.openInbox();
    return inbox.serially(() => readChunk(inbox, options));
  }

  /**
   * Switch to chunk delivery and iterate over the payload pieces received,
   * as they come off the network (see {@link receiveChunk}): a message of
   * any size passes through in constant memory. Ends when the connection
   * closes. Messages negotiated with compression come whole, as one piece.
   */
  chunks(): AsyncIterableIterator<Chunk> {
    this.setDelivery("chunks");
    return this.openInbox().iterate(toChunk);
  }

  /**
   * The next frame (switching to frame-by-frame delivery): data frames with
   * `fin`, `opcode` and `payload`, and ping, pong and close frames. Rejects
   * like {@link receive}.
   */
  async receiveFrame(options: { timeout?: number } = {}): Promise<Frame> {
    checkOptions(options, RECEIVE_OPTIONS, "receiveFrame()");
    this.setDelivery("frames");
    return toFrame(await this.openInbox().next(options.timeout));
  }

  /** Messages until the connection closes; `for await (const m of ws)`. */
  [Symbol.asyncIterator](): AsyncIterableIterator<Message> {
    return this.openInbox().iterate(toMessage);
  }

  /**
   * Switch to frame-by-frame delivery and iterate over every frame received:
   * data frames with `fin`, `opcode` and `payload`, and ping, pong and close
   * frames. Ends when the connection closes.
   */
  frames(): AsyncIterableIterator<Frame> {
    this.setDelivery("frames");
    return this.openInbox().iterate(toFrame);
  }

  /** Deliver whole messages (default), single frames or payload pieces, from the next message on. */
  setDelivery(mode: Delivery): void {
    if (mode !== "messages" && mode !== "frames" && mode !== "chunks") {
      throw new UsageError("INVALID_OPTION", `setDelivery() takes "messages", "frames" or "chunks", got ${describeValue(mode)}`);
    }
    this.core.deliver = mode;
  }

  /**
   * Hand every event to `sink`, synchronously and in order, instead of to
   * `receive()`, iteration and the EventEmitter events: messages as they are
   * parsed, pings, pongs, errors and the close. For facades that re-shape
   * events (`wsx/ws` gives them `ws`'s arguments) without a listener per
   * event or a queue in between. Messages already queued are handed over
   * at once. Set it once, right after the connection is made.
   */
  setSink(sink: ConnectionSink): void {
    if (this.sink !== null) throw new UsageError("SINK_SET", "the connection already has a sink");
    if (this.core.deliver !== "messages") throw new UsageError("FRAME_DELIVERY", "a sink takes whole messages, not frames");
    this.sink = sink;
    const inbox = this.inbox;
    if (inbox !== null) for (let item = inbox.take(); item !== undefined; item = inbox.take()) sink.message(item as Message);
  }

  /**
   * Stop reading from the socket until {@link resume}: TCP then pushes back
   * on the peer. Events from bytes already read still arrive.
   */
  pause(): void {
    if (this.info === null) this.openInbox().pauseReading();
  }

  /** Read from the socket again after {@link pause}. */
  resume(): void {
    this.inbox?.resumeReading();
  }

  /** A message sent in fragments (`fin: false`) is unfinished: the next send continues it. */
  get sendingFragments(): boolean {
    return this.core.sendingFragments;
  }

  /** Whether reading is paused by {@link pause}. */
  get isPaused(): boolean {
    return this.inbox?.pausedByApplication === true;
  }

  private onData(chunk: Uint8Array): void {
    this.counters.bytesIn += chunk.length;
    if (this.head !== null) {
      const head = this.head;
      this.head = null;
      this.counters.bytesIn += head.length;
      this.core.receive(head);
    }
    this.core.receive(chunk);
    if (this.heartbeat !== null) this.heartbeat.read(this.core.dataActivity);
    if (this.core.hasEvents) this.dispatch(this.core.events());
    this.writeAnswers();
  }

  /** After input was handled: write what the core answered (pongs, close frames), end TCP when it is over. */
  private writeAnswers(): void {
    if (this.core.failing) return this.failAtEndOfTurn();
    if (this.core.outputBytes > 0) this.openOutbox().flush();
    if (this.core.shouldCloseTransport) this.endTransport();
  }

  /**
   * The peer broke the protocol after sending messages that were delivered
   * just now. Whatever the application sends in this turn of the event loop
   * (a listener's send, a `for await` body up to its next await) goes out
   * first; the close frame follows at the turn's end, after sends still
   * being compressed off the loop. (Reads in the same turn schedule it
   * again: the core ignores them, and finishing twice changes nothing.)
   */
  private failAtEndOfTurn(): void {
    this.armCloseTimer();
    setImmediate(() => {
      if (this.info !== null) return;
      if (!this.encodesPending) return this.finishFailure();
      void this.sendOrder!.after(() => {
        this.finishFailure();
        return Promise.resolve();
      });
    });
  }

  private finishFailure(): void {
    if (this.info !== null) return;
    // The core adds the close frame behind everything queued (unless a flush in this turn already did).
    if (this.core.failing) this.openOutbox().flush();
    if (this.core.shouldCloseTransport) this.endTransport();
  }

  private dispatch(events: ProtocolEvent[]): void {
    const framesMode = this.core.deliver === "frames";
    for (const event of events) {
      switch (event.type) {
        case "text":
        case "binary":
          this.counters.messagesIn++;
          if (this.sink !== null) this.sink.message(event);
          else this.openInbox().deliver(event);
          break;
        case "frame":
          if (event.frame.fin) this.counters.messagesIn++;
          this.openInbox().deliver(event.frame);
          break;
        case "chunk":
          if (event.messageEnd) this.counters.messagesIn++;
          this.openInbox().deliver(event);
          break;
        case "ping":
          if (this.sink !== null) this.sink.ping(event.payload);
          else this.emit("ping", event.payload);
          if (framesMode) this.openInbox().deliver(new Frame("ping", Opcode.PING, true, event.payload));
          break;
        case "pong":
          this.pings?.answer(event.payload);
          if (this.sink !== null) this.sink.pong(event.payload);
          else this.emit("pong", event.payload);
          if (framesMode) this.openInbox().deliver(new Frame("pong", Opcode.PONG, true, event.payload));
          break;
        case "close":
          if (framesMode && event.received) {
            // The frame's payload as received: the code (none for 1005) and the reason.
            const payload = encodeClosePayload(event.code === CloseCode.NO_STATUS ? undefined : event.code, event.reason);
            this.openInbox().deliver(new Frame("close", Opcode.CLOSE, true, payload, event.reason));
          }
          // Nothing follows a close frame: readers waiting for more end now, even with autoClose off.
          if (event.received) this.inbox?.endWaiters();
          break;
        case "error":
          this.fail(event.error);
          break;
        case "decode":
          this.decodeOffLoop(event);
          break;
      }
    }
  }

  /**
   * A large received message is decoded on the thread pool. The core reads
   * nothing after it meanwhile, and the socket is paused so what follows
   * waits in the kernel instead of in memory.
   */
  private decodeOffLoop(event: DecodeEvent): void {
    this.openInbox().hold();
    decodeOffLoop(event).then(
      (payload) => this.afterDecode(payload, undefined),
      (error: unknown) => this.afterDecode(null, error),
    );
  }

  private afterDecode(payload: Uint8Array | null, error: unknown): void {
    // Released first: the core may hand out the next large message and hold again.
    this.openInbox().release();
    if (payload !== null) this.core.decoded(payload);
    else this.core.decodeFailed(error);
    if (this.info !== null) return; // closed meanwhile: nothing to deliver or write
    if (this.core.hasEvents) this.dispatch(this.core.events());
    this.writeAnswers();
  }

  private fail(error: ConnectionError): void {
    this.failure ??= error;
    if (this.sink !== null) this.sink.error(error);
    else if (this.listenerCount("error") > 0) this.emit("error", error);
  }

  // ---- sending ----

  /**
   * Send a message: a string as text, bytes (an ArrayBuffer or any view of
   * one) or a Blob as binary, a received {@link Message} with its own type,
   * or an async iterable (a Readable, a generator) streamed as fragments of
   * one message (each piece sent before the next is read, split at
   * {@link maxFrameSize}, compressed piece by piece when permessage-deflate
   * was negotiated). Messages larger than {@link maxFrameSize} are fragmented.
   * Resolves once handed to the OS. Anything else (a number, null, a plain
   * object...) is refused: the promise rejects with UsageError
   * `INVALID_DATA` and nothing is sent; unknown or bad options reject with
   * `UNKNOWN_OPTION` / `INVALID_OPTION`.
   */
  send(data: SendData | Blob | AsyncIterable<string | Uint8Array>, options?: SendOptions): Promise<void> {
    if (options !== undefined) {
      const refused = refusal(() => checkOptions(options, SEND_OPTIONS, "send()"));
      if (refused !== null) return rejected(refused);
    }
    if (typeof data !== "string" && !(data instanceof Uint8Array) && !(data instanceof Message) && !isBinary(data)) {
      if (isAsyncIterable(data)) {
        return (this.sendOrder ??= new SendOrder()).after(() => this.sendStream(data, options));
      }
      if (isBlob(data)) return this.sendBlob(data, options);
      return rejected(invalidData("send()", SENDABLE, data));
    }
    if (this.extensions !== "" && options?.fin !== false && !this.core.sendingFragments && this.encodesOffLoop(data, options?.compress)) {
      return this.sendOffLoop(data, { type: options?.type, compress: options?.compress });
    }
    if (this.sendOrder?.busy) return this.sendOrder.after(() => this.sendInTurn(data, options));
    if (this.bufferedAmount >= this.settings.backpressure.limit) return this.sendOverLimit(() => this.sendNow(data, options));
    return this.sendNow(data, options);
  }

  /** A streamed message, in its turn: framed at maxFrameSize and compressed as it goes, counted once written. */
  private async sendStream(source: AsyncIterable<string | Uint8Array>, options: SendOptions | undefined): Promise<void> {
    await streamMessage(this.core, this.openOutbox(), this, source, { compress: options?.compress });
    this.counters.messagesOut++;
  }

  /** A Blob is read, then sent as binary in its turn: later sends wait for it, as browsers do. */
  private sendBlob(blob: Blob, options: SendOptions | undefined): Promise<void> {
    return (this.sendOrder ??= new SendOrder()).after(() =>
      blob.arrayBuffer().then((buffer) => this.sendWhenAdmitted(() => this.sendNow(new Uint8Array(buffer), options))),
    );
  }

  private sendNow(data: SendData, options: SendOptions | undefined): Promise<void> {
    try {
      if (options?.fin === false || this.core.sendingFragments) {
        if (this.queueFragment(data, options)) this.counters.messagesOut++;
      } else {
        queueMessage(this.core, data, options, this.extensions !== "");
        this.counters.messagesOut++;
      }
      return this.openOutbox().schedule();
    } catch (error) {
      return rejected(error as Error);
    }
  }

  /**
   * One fragment of a message (see {@link SendOptions.fin}); the first gives
   * the message its type. Returns whether it ended the message.
   */
  private queueFragment(data: SendData, options: SendOptions | undefined): boolean {
    const core = this.core;
    const fin = options?.fin !== false;
    let opcode: number = Opcode.CONTINUATION;
    if (!core.sendingFragments) {
      const type = options?.type ?? (data instanceof Message ? data.type : typeof data === "string" ? "text" : "binary");
      opcode = type === "text" ? Opcode.TEXT : Opcode.BINARY;
      // Strings always encode to whole characters; bytes sent as text are checked across fragments.
      this.fragmentText = type === "text" ? new Utf8Validator(isUtf8) : null;
    }
    let payload: string | Uint8Array = data instanceof Message ? data.bytes : typeof data === "string" ? data : toBytes(data);
    const text = this.fragmentText;
    if (text !== null) {
      const bytes = encode(payload);
      if (!text.push(bytes) || (fin && !text.finish())) {
        throw new UsageError("INVALID_UTF8", "the fragments of a text message are not valid UTF-8");
      }
      payload = bytes;
    }
    core.sendFrame(opcode, payload, fin);
    if (fin) this.fragmentText = null;
    return fin;
  }

  /**
   * A large message, encoded off the event loop in its turn of the send
   * order: later sends queue behind it, so they go out after it.
   */
  private sendOffLoop(data: SendData, options: OffloadedSend): Promise<void> {
    const order = (this.sendOrder ??= new SendOrder());
    order.offloaded++;
    // Publishes from now on wait behind this send: none may join frames shared before it.
    sealSharedFrames();
    const send = (): Promise<void> => {
      // Closing already: do not compress for nothing.
      if (this.info !== null || this.core.closeSent !== null) return rejected(closedError(this.core, this.info !== null));
      return encodeOffLoop(this.core, this.core.negotiatedExtensions, data, options).then(
        () => {
          this.counters.messagesOut++;
          return this.openOutbox().schedule();
        },
        (error: unknown) => {
          // The connection ended under the encoder (its context was released): report that.
          throw this.info !== null ? closedError(this.core, true) : error;
        },
      );
    };
    const sent = order.after(() => this.sendWhenAdmitted(send));
    const settle = (): void => {
      order.offloaded--;
    };
    void sent.then(settle, settle);
    return sent;
  }

  /** A send whose turn came in the send order: the limit is checked now, not when it was called. */
  private sendInTurn(data: SendData, options: SendOptions | undefined): Promise<void> {
    return this.sendWhenAdmitted(() => this.sendNow(data, options));
  }

  /** Inside the send order: send now if under the limit, else as the policy says. */
  private sendWhenAdmitted(send: () => Promise<void>): Promise<void> {
    return this.bufferedAmount < this.settings.backpressure.limit ? send() : this.overLimitInOrder(send);
  }

  /** A send past `maxBackpressure`, outside the send order: the policy decides. */
  private sendOverLimit(send: () => Promise<void>): Promise<void> {
    if (this.settings.backpressure.policy !== "wait") return this.refuseOverLimit();
    // Waiting sends keep their order, and later sends queue behind them.
    return (this.sendOrder ??= new SendOrder()).after(() => this.overLimitInOrder(send));
  }

  /** Inside the send order and past the limit. */
  private overLimitInOrder(send: () => Promise<void>): Promise<void> {
    if (this.settings.backpressure.policy !== "wait") return this.refuseOverLimit();
    return this.waitForRoom().then(send);
  }

  /** The "drop" or "close" policy for a message past the limit. */
  private refuseOverLimit(): Promise<never> {
    const buffered = this.bufferedAmount;
    this.shedOverLimit();
    if (this.settings.backpressure.policy === "close") return rejected(closedError(this.core, this.info !== null));
    return rejected(new BackpressureError(buffered, this.settings.backpressure.limit));
  }

  /** A message past the limit is not sent: close the slow consumer ("close" policy), else count it as dropped. */
  private shedOverLimit(): void {
    if (this.settings.backpressure.policy === "close") return this.closeSlowConsumer();
    // Reported once per connection (a stalled subscriber may miss millions); stats count every one.
    if (++this.counters.dropped === 1) this.owner?.overLimit(this, "dropped");
  }

  private closeSlowConsumer(): void {
    if (this.core.closeSent !== null || this.info !== null) return;
    this.owner?.overLimit(this, "closed");
    void this.close(this.settings.backpressure.closeCode, "slow consumer: too much data buffered");
  }

  /** Resolves once the bytes waiting for the socket are under the limit; rejects when the connection closes. */
  private waitForRoom(): Promise<void> {
    if (this.info !== null) return rejected(closedError(this.core, true));
    if (this.bufferedAmount < this.settings.backpressure.limit) return Promise.resolve();
    if (this.room === null) {
      let resolve!: () => void;
      let reject!: (error: Error) => void;
      const promise = settled<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      this.room = { promise, resolve, reject };
      // Made only when a send has to wait: most connections never do.
      this.openOutbox().afterWrite = () => this.checkRoom();
    }
    return this.room.promise;
  }

  /** Wake waiting sends if the buffer is under the limit again (after a write or a drain). */
  private checkRoom(): void {
    const room = this.room;
    if (room === null || this.bufferedAmount >= this.settings.backpressure.limit) return;
    this.room = null;
    if (this.outbox !== null) this.outbox.afterWrite = null;
    room.resolve();
  }

  /**
   * @internal A published message for this connection: pre-encoded `frames`
   * (shared with other subscribers, possibly {@link SharedFrames} that grow
   * with later publishes of the same turn), or null to encode `payload` here.
   * Returns whether it was queued; past the limit it is dropped (or, with
   * the "close" policy, the connection is closed), since publish cannot wait.
   */
  deliverPublished(frames: Uint8Array | SharedFrames | null, opcode: number, payload: Uint8Array, compress: boolean | undefined): boolean {
    if (this.info !== null || this.core.closeSent !== null) return false;
    if (this.bufferedAmount >= this.settings.backpressure.limit) {
      // Later publishes must be checked against the limit one by one again.
      if (frames instanceof SharedFrames) frames.seal();
      this.shedOverLimit(); // a publish cannot wait, whatever the policy
      return false;
    }
    if (this.encodesPending) {
      // A large send is being compressed off the loop: the published message goes after it.
      let bytes = frames;
      if (bytes instanceof SharedFrames) {
        bytes.seal();
        bytes = bytes.bytes();
      }
      void this.sendOrder!.after(() => {
        this.queuePublished(bytes, opcode, payload, compress);
        return Promise.resolve();
      });
      return true;
    }
    return this.queuePublished(frames, opcode, payload, compress);
  }

  private queuePublished(frames: Uint8Array | SharedFrames | null, opcode: number, payload: Uint8Array, compress: boolean | undefined): boolean {
    try {
      if (frames instanceof SharedFrames) this.core.sendShared(frames);
      else if (frames !== null) this.core.sendEncoded(frames);
      else this.core.sendMessage(opcode, payload, { compress, fragmentSize: this.core.limits.maxFrameSize });
    } catch {
      return false; // closing meanwhile; nothing was queued
    }
    this.counters.messagesOut++;
    this.openOutbox().touch();
    return true;
  }

  /** @internal Bytes this connection can still take before a publish would be over its limit. */
  get publishRoom(): number {
    return this.settings.backpressure.limit - this.bufferedAmount;
  }

  /** @internal One more message was appended to shared frames this connection has queued. */
  countSharedMessage(): void {
    this.counters.messagesOut++;
  }

  /** @internal How this connection encodes a message (see `Protocol.encodingKey`). */
  get encodingKey(): string | null {
    return this.core.encodingKey;
  }

  /** @internal Encode a message for every connection with the same {@link encodingKey}. */
  encodeMessage(opcode: number, payload: Uint8Array, compress: boolean | undefined): Uint8Array {
    return this.core.encodeMessage(opcode, payload, { compress });
  }

  // ---- topics ----

  /**
   * Receive what the server publishes to `topic` (see
   * `WebSocketServer.publish`). Returns false if already subscribed or
   * closed. Subscriptions end when the connection closes.
   *
   * @example
   * ```ts
   * const server = await serve({ port: 0, host: "127.0.0.1" }, (ws) => ws.subscribe("news"));
   * const client = await connect(`ws://127.0.0.1:${server.port}`);
   * await new Promise((resolve) => setTimeout(resolve, 20)); // the handler has run
   * server.publish("news", "hello");
   * console.log((await client.receive()).text); // "hello"
   * await client.close();
   * await server.close();
   * ```
   */
  subscribe(topic: string): boolean {
    checkTopic(topic);
    const topics = this.topicsOrThrow();
    if (this.info !== null) return false;
    if (!topics.add(topic, this)) return false;
    (this.subscriptions ??= new Set()).add(topic);
    return true;
  }

  /** Stop receiving `topic`; false if not subscribed. */
  unsubscribe(topic: string): boolean {
    checkTopic(topic);
    const topics = this.topicsOrThrow();
    if (this.subscriptions?.delete(topic) !== true) return false;
    topics.remove(topic, this);
    return true;
  }

  /** Whether this connection subscribes to `topic`. */
  isSubscribed(topic: string): boolean {
    return this.subscriptions?.has(topic) === true;
  }

  /** The topics this connection subscribes to. */
  get topics(): string[] {
    return this.subscriptions === null ? [] : [...this.subscriptions];
  }

  private topicsOrThrow(): Topics {
    if (this.owner === null) throw new UsageError("NOT_ON_SERVER", "topics exist only on connections a server accepted");
    return this.owner.topics;
  }

  /**
   * Send one message as fragments of at most `fragmentSize` bytes (all queued
   * at once, so they go out in as few writes as possible).
   */
  sendFragmented(
    data: string | Uint8Array | ArrayBuffer | ArrayBufferView | Message,
    options: { fragmentSize: number; type?: "text" | "binary"; compress?: boolean },
  ): Promise<void> {
    const refused = refusal(() => {
      if (typeof options !== "object" || options === null) throw new UsageError("INVALID_FRAGMENT_SIZE", "sendFragmented() needs { fragmentSize }");
      checkOptions(options, SEND_OPTIONS, "sendFragmented()");
      checkFragmentSize(options.fragmentSize);
      if (typeof data !== "string" && !(data instanceof Message)) toBytes(data, "sendFragmented()");
    });
    if (refused !== null) return rejected(refused);
    if (this.extensions !== "" && this.encodesOffLoop(data, options.compress)) return this.sendOffLoop(data, options);
    const run = (): Promise<void> => {
      try {
        queueFragmented(this.core, data, options);
        this.counters.messagesOut++;
        return this.openOutbox().schedule();
      } catch (error) {
        return rejected(error as Error);
      }
    };
    if (this.sendOrder?.busy) return this.sendOrder.after(() => this.sendWhenAdmitted(run));
    return this.bufferedAmount < this.settings.backpressure.limit ? run() : this.sendOverLimit(run);
  }

  /**
   * Send a single frame: TEXT/BINARY starts a message, CONTINUATION
   * continues it, `fin` ends it; PING and PONG are sent as control frames.
   * Throws when the payload is over {@link maxFrameSize}.
   */
  sendFrame(opcode: number, payload: string | Uint8Array, fin = true): Promise<void> {
    try {
      queueFrame(this.core, opcode, payload, fin);
      if (fin && opcode < Opcode.CLOSE) this.counters.messagesOut++;
      return this.openOutbox().schedule();
    } catch (error) {
      return rejected(error as Error);
    }
  }

  /**
   * Send a ping and resolve with the round-trip time in milliseconds when its
   * pong arrives. Rejects on timeout (if given) or when the connection closes.
   */
  ping(payload?: Uint8Array | string, options: { timeout?: number } = {}): Promise<number> {
    const pings = (this.pings ??= new Pings());
    let bytes: Uint8Array;
    try {
      checkOptions(options, PING_OPTIONS, "ping()");
      bytes = payload === undefined ? pings.nextPayload() : encode(payload, "ping()");
      this.core.ping(bytes);
    } catch (error) {
      return rejected(error as Error);
    }
    void this.openOutbox().schedule();
    return pings.track(bytes, options.timeout);
  }

  /** Send a pong (unsolicited, or by hand when autoPong is off). */
  pong(payload: Uint8Array | string = new Uint8Array(0)): Promise<void> {
    try {
      this.core.pong(encode(payload, "pong()"));
      return this.openOutbox().schedule();
    } catch (error) {
      return rejected(error as Error);
    }
  }

  /**
   * Close the connection: send a close frame, wait up to `closeTimeout` ms
   * for the peer's close frame and the end of the TCP connection, then
   * destroy the socket if needed. Resolves with how the connection ended.
   * Takes a code and a reason, or a {@link CloseFrame} (one received from
   * the peer, to answer it as it was, with autoClose off). A code that may
   * not be sent or a reason over 123 UTF-8 bytes rejects with a UsageError
   * and sends nothing.
   */
  close(code?: number | CloseFrame, reason?: string): Promise<CloseInfo> {
    if (code instanceof CloseFrame) {
      if (reason !== undefined) return rejected(new UsageError("INVALID_CLOSE", "give the reason in the CloseFrame, not beside it"));
      reason = code.reason;
      code = code.code === CloseCode.NO_STATUS ? undefined : code.code;
    }
    if (this.info !== null) return this.closed;
    if (this.encodesPending) return this.closeAfterSends(code, reason);
    return this.closeNow(code, reason);
  }

  /**
   * Large sends are still being compressed: the close frame follows them, as
   * it would have followed them synchronously. The close timer starts now,
   * so a send that never finishes cannot hold the connection open.
   */
  private closeAfterSends(code: number | undefined, reason: string | undefined): Promise<CloseInfo> {
    try {
      encodeClosePayload(code, reason); // a bad code or reason is refused now, not later
    } catch (error) {
      return rejected(error as Error);
    }
    void this.sendOrder!.after(() => {
      void this.closeNow(code, reason);
      return Promise.resolve();
    });
    this.armCloseTimer();
    return this.closed;
  }

  private closeNow(code: number | undefined, reason: string | undefined): Promise<CloseInfo> {
    if (this.info !== null) return this.closed;
    try {
      if (this.core.close(code, reason)) this.openOutbox().flush();
    } catch (error) {
      return rejected(error as Error);
    }
    // The peer's answer must be read even if nobody is consuming messages.
    this.inbox?.resume();
    if (this.core.shouldCloseTransport) this.endTransport();
    else this.armCloseTimer();
    return this.closed;
  }

  /**
   * Destroy the connection at once, without a close handshake (code 1006).
   * What was sent before is handed to the socket first, as far as it takes
   * it without waiting.
   */
  terminate(): void {
    if (this.info === null && this.core.outputBytes > 0 && this.outbox !== null) this.outbox.flush();
    this.socket.destroy();
  }

  /**
   * Split into a reading half and a writing half, to hand to different
   * parts of a program. Both act on this connection.
   */
  split(): { reader: WebSocketReader; writer: WebSocketWriter } {
    return { reader: new WebSocketReader(this), writer: new WebSocketWriter(this) };
  }

  // ---- liveness ----

  private startHeartbeat(liveness: Liveness): Heartbeat {
    return new Heartbeat(
      {
        isOpen: () => this.core.state === "open" && !this.socket.destroyed,
        isReadingPaused: () => this.inbox !== null && (this.inbox.readingPaused || this.inbox.pausedByApplication),
        sendPing: () => {
          this.core.ping();
          this.openOutbox().flush();
        },
        onDead: (error) => this.dropDeadPeer(error),
        onIdle: (error) => {
          this.fail(error);
          void this.close(CloseCode.GOING_AWAY, "idle timeout");
        },
      },
      liveness,
    );
  }

  /**
   * The peer stopped answering: waiting for a close handshake would only
   * wait on it again. A close frame goes out if the socket takes it at once
   * (a peer that is merely slow learns why), then the socket is destroyed.
   */
  private dropDeadPeer(error: TimeoutError): void {
    this.fail(error);
    if (this.core.close(CloseCode.INTERNAL_ERROR, "pong timeout")) this.openOutbox().flush();
    this.socket.destroy();
  }

  // ---- closing ----

  /** The close handshake is over or the protocol failed: end TCP (the server goes first). */
  private endTransport(): void {
    if (this.core.outputBytes > 0) this.openOutbox().flush();
    if (this.core.role === "server" || this.core.error !== null) {
      if (!this.socket.writableEnded) this.socket.end();
    }
    this.armCloseTimer();
  }

  private armCloseTimer(): void {
    if (this.closeTimer !== null || this.info !== null) return;
    this.closeTimer = setTimeout(() => this.socket.destroy(), this.settings.closeTimeout);
    this.closeTimer.unref?.();
  }

  private onEnd(): void {
    // The peer will send nothing more; finish our side too.
    if (!this.socket.writableEnded) this.socket.end();
  }

  private onSocketError(error: SocketError): void {
    if (this.failure === undefined && this.core.state !== "closed") this.fail(error);
  }

  private onSocketClose(): void {
    if (this.closeTimer !== null) clearTimeout(this.closeTimer);
    this.heartbeat?.stop();
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
    this.inbox?.close();
    // The error's stack trace is most of what a close costs: built only when something waits for it.
    if (this.room !== null || this.pings?.waiting === true || this.outbox?.waiting === true) {
      const error = closedError(this.core, true);
      this.pings?.rejectAll(error);
      this.outbox?.close(error);
      if (this.room !== null) {
        this.room.reject(error);
        this.room = null;
      }
    } else this.outbox?.close();
    if (this.subscriptions !== null && this.owner !== null) {
      for (const topic of this.subscriptions) this.owner.topics.remove(topic, this);
      this.subscriptions = null;
    }
    this.resolveClosed?.(info);
    this.owner?.connectionClosed(this, info);
    if (this.sink !== null) this.sink.close(info);
    else this.emit("close", info);
  }
}

const OWNER = Symbol("wsx.connection");

const STREAM_OPTIONS = new OptionTable<StreamConnectionOptions>({
  ...CONNECTION_OPTION_RULES,
  role: Rules.oneOf("client", "server"),
  protocol: Rules.either(Rules.string, Rules.oneOf(null)),
  head: Rules.object,
});

/** A readable and writable stream (what a connection runs over). */
export function isDuplex(value: unknown): value is Duplex {
  const stream = value as Partial<Duplex> | null;
  return typeof stream === "object" && stream !== null && typeof stream.write === "function" && typeof stream.on === "function" && typeof stream.pause === "function" && typeof stream.resume === "function";
}

const RECEIVE_OPTIONS = new OptionTable<ReceiveOptions>({ timeout: Rules.milliseconds, maxSize: Rules.positiveInteger });
const CHUNK_OPTIONS = new OptionTable<ReceiveChunkOptions>({ timeout: Rules.milliseconds, maxBytes: Rules.positiveInteger });
const PING_OPTIONS = new OptionTable<{ timeout?: number }>({ timeout: Rules.milliseconds });

/** The error `check` throws, or null: for methods that report bad arguments through their promise. */
function refusal(check: () => void): Error | null {
  try {
    check();
    return null;
  } catch (error) {
    return error as Error;
  }
}

/** Topics are strings (UsageError `INVALID_TOPIC`). */
export function checkTopic(topic: unknown): void {
  if (typeof topic !== "string") throw new UsageError("INVALID_TOPIC", `a topic is a string, got ${describeValue(topic)}`);
}
type OwnedSocket = Socket & { [OWNER]: WebSocket };
