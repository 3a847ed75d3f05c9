/**
 * The browser's `WebSocket` (https://websockets.spec.whatwg.org/#the-websocket-interface)
 * on wsx's client: `connect()` dials and runs the handshake, the connection
 * moves the frames, and this class only keeps the standard's state and
 * fires its events.
 */
import type { ConnectOptions } from "../client/index.js";
import type { Message } from "../core/index.js";
import type { CloseInfo, WebSocket as Connection } from "../node/index.js";
import { checkCloseCode, checkCloseReason, closeFrameCode } from "./close.js";
import { ownArrayBuffer, payloadOf, payloadSize, type BufferSource } from "./data.js";
import { CloseEvent, EventHandlers, WebSocketMessageEvent, type EventHandler } from "./events.js";
import { establish, facadeOptions, type FacadeOption } from "./establish.js";
import { checkProtocols, webSocketURL } from "./url.js";
import { clampUnsignedShort, domException, toDOMString, toStringList } from "./webidl.js";

/** How binary messages are handed out: `Blob` (the default), `ArrayBuffer`, or a Node `Buffer` (as in `ws`). */
export type BinaryType = "blob" | "arraybuffer" | "nodebuffer";

/**
 * What browsers cannot do, as the third constructor argument: the options
 * of `connect()` (headers, tls, compression, limits, timeouts...).
 * Subprotocols come from the second argument; the connection is aborted
 * with `close()`. Those two, and what the standard fixes (`deliver`,
 * `autoClose`, `backpressure`, `maxBackpressure`), are refused with
 * `UNKNOWN_OPTION` rather than silently overridden.
 */
export type WebSocketOptions = Omit<ConnectOptions, FacadeOption | "protocols" | "signal">;

/** Strings up to this many characters are measured (in UTF-8) only if `bufferedAmount` is read while they wait. */
const LAZY_SIZE_LIMIT = 1024;
/** Written entries at the head of `#sizes` past which it is compacted, if they are at least half of it. */
const COMPACT_FROM = 1024;

const CONNECTING = 0;
const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;
type ReadyState = typeof CONNECTING | typeof OPEN | typeof CLOSING | typeof CLOSED;

/** A message, Blob or close queued behind a Blob that is still being read. */
type Held = string | Uint8Array | Blob | HeldClose;

/** A close() made while Blobs were still being read: it goes out after them. */
class HeldClose {
  constructor(
    readonly code: number | undefined,
    readonly reason: string,
  ) {}
}

/**
 * The WHATWG `WebSocket`, for code written for browsers (or for Node's
 * global WebSocket) to run on wsx unchanged.
 *
 * @example
 * ```ts
 * import { serve } from "wsx";
 * import { WebSocket } from "wsx/web";
 *
 * const server = await serve({ port: 0, host: "127.0.0.1" }, async (ws) => {
 *   for await (const message of ws) await ws.send(message);
 * });
 * const ws = new WebSocket(`ws://127.0.0.1:${server.port}`);
 * ws.onopen = () => ws.send(JSON.stringify({ hello: "world" }));
 * ws.onmessage = (event) => {
 *   console.log(JSON.parse(event.data)); // { hello: "world" }
 *   ws.close(1000, "done");
 * };
 * ws.onclose = (event) => {
 *   console.log(event.code, event.reason, event.wasClean); // 1000 "done" true
 *   void server.close();
 * };
 * ```
 */
export class WebSocket extends EventTarget {
  static readonly CONNECTING = CONNECTING;
  static readonly OPEN = OPEN;
  static readonly CLOSING = CLOSING;
  static readonly CLOSED = CLOSED;
  declare readonly CONNECTING: typeof CONNECTING;
  declare readonly OPEN: typeof OPEN;
  declare readonly CLOSING: typeof CLOSING;
  declare readonly CLOSED: typeof CLOSED;

  readonly #url: URL;
  /** The origin of the URL, for MessageEvent.origin. */
  readonly #origin: string;
  #state: ReadyState = CONNECTING;
  #connection: Connection | null = null;
  /** Aborts the connection attempt (close() while connecting). */
  #abort: AbortController | null = new AbortController();
  #protocol = "";
  #extensions = "";
  #binaryType: BinaryType = "blob";
  #handlers: EventHandlers | null = null;
  /**
   * Application bytes given to send() and not yet written (never reset, as
   * the standard says), except strings still in `#sizes` (see `#unmeasured`).
   */
  #buffered = 0;
  /**
   * The messages handed to the connection and not yet written, oldest at
   * `#sizesHead`: a size counted in `#buffered`, or a string whose UTF-8
   * size is worked out only if `bufferedAmount` is read before it is written.
   */
  #sizes: (number | string)[] = [];
  #sizesHead = 0;
  /** Strings in `#sizes` not yet counted in `#buffered`, none before index `#firstUnmeasured`. */
  #unmeasured = 0;
  #firstUnmeasured = 0;
  /** Messages the connection has reported written (its `stats.messagesOut` at that write). */
  #writtenMessages = 0;
  /** Sends (and a close) waiting behind a Blob being read, in order; null when none is. */
  #held: Held[] | null = null;
  /** True while message events are dispatched: the peer's close frame shows in readyState after them. */
  #delivering = false;

  /**
   * Connect to `url` (ws:, wss:, or http: and https:, which mean ws: and
   * wss:), offering `protocols`. Throws a `SyntaxError` DOMException for a
   * URL or subprotocol the standard refuses, and wsx's `UsageError` for a
   * bad option; every other failure is an `error` then a `close` event.
   */
  constructor(url: string | URL, protocols?: string | string[], options?: WebSocketOptions) {
    super();
    if (arguments.length === 0) throw new TypeError("Failed to construct 'WebSocket': 1 argument required, but only 0 present.");
    this.#url = webSocketURL(toDOMString(url));
    this.#origin = this.#url.origin;
    const offered = protocols === undefined ? [] : toStringList(protocols);
    checkProtocols(offered);
    const connectOptions = facadeOptions(options, offered, this.#abort!.signal, "new WebSocket()");
    establish(
      this.#url,
      connectOptions,
      (connection) => this.#established(connection),
      () => this.#failLater(),
    );
  }

  // ---- attributes ----

  /** The URL, resolved and serialized (http: shown as ws:). */
  get url(): string {
    return this.#url.href;
  }

  /** CONNECTING (0), OPEN (1), CLOSING (2) or CLOSED (3). */
  get readyState(): ReadyState {
    const state = this.#state;
    // The peer's close frame (or a failure) started the closing handshake: CLOSING once the
    // message events before it are over, as the task the standard queues for it would.
    if (state === OPEN && !this.#delivering && this.#connection!.readyState !== "open") return CLOSING;
    return state;
  }

  /** Bytes of application data given to `send()` and not yet handed to the network. */
  get bufferedAmount(): number {
    if (this.#unmeasured > 0) this.#measure();
    return this.#buffered;
  }

  /** The extensions the server accepted (its Sec-WebSocket-Extensions value), "" before open. */
  get extensions(): string {
    return this.#extensions;
  }

  /** The subprotocol the server selected, "" if none (or before open). */
  get protocol(): string {
    return this.#protocol;
  }

  /** How binary messages arrive: "blob" (default), "arraybuffer", or "nodebuffer" (a Buffer, as `ws` has it). */
  get binaryType(): BinaryType {
    return this.#binaryType;
  }
  /** Set how binary messages arrive; other values are ignored, as the standard has it. */
  set binaryType(value: BinaryType) {
    // An enumeration attribute ignores values outside the enumeration.
    if (value === "blob" || value === "arraybuffer" || value === "nodebuffer") this.#binaryType = value;
  }

  /** The `open` event handler (null for none). */
  get onopen(): EventHandler | null {
    return this.#handler("open");
  }
  /** Set the `open` event handler; a value that is not an object or a function clears it. */
  set onopen(value: EventHandler | null) {
    this.#setHandler("open", value);
  }
  /** The `message` event handler (null for none). */
  get onmessage(): EventHandler<MessageEvent> | null {
    return this.#handler("message") as EventHandler<MessageEvent>;
  }
  /** Set the `message` event handler; a value that is not an object or a function clears it. */
  set onmessage(value: EventHandler<MessageEvent> | null) {
    this.#setHandler("message", value);
  }
  /** The `error` event handler (null for none). */
  get onerror(): EventHandler | null {
    return this.#handler("error");
  }
  /** Set the `error` event handler; a value that is not an object or a function clears it. */
  set onerror(value: EventHandler | null) {
    this.#setHandler("error", value);
  }
  /** The `close` event handler (null for none). */
  get onclose(): EventHandler<CloseEvent> | null {
    return this.#handler("close") as EventHandler<CloseEvent>;
  }
  /** Set the `close` event handler; a value that is not an object or a function clears it. */
  set onclose(value: EventHandler<CloseEvent> | null) {
    this.#setHandler("close", value);
  }

  #handler(type: string): EventHandler | null {
    return (this.#handlers?.get(type) ?? null) as EventHandler | null;
  }
  #setHandler(type: string, value: unknown): void {
    (this.#handlers ??= new EventHandlers(this)).set(type, value);
  }

  // ---- methods ----

  /**
   * Send a text (string) or binary (ArrayBuffer, view, Blob) message.
   * Throws `InvalidStateError` while connecting. Once closing, data is not
   * sent but still counted in `bufferedAmount`, as the standard says.
   */
  send(data: string | BufferSource | Blob): void {
    if (arguments.length === 0) throw new TypeError("Failed to execute 'send' on 'WebSocket': 1 argument required, but only 0 present.");
    if (this.#state === CONNECTING) throw domException("InvalidStateError", "Failed to execute 'send' on 'WebSocket': Still in CONNECTING state.");
    if (data instanceof Blob) {
      this.#buffered += data.size;
      if (this.#canSend()) this.#hold(data);
      return;
    }
    const payload = payloadOf(data);
    if (typeof payload === "string" && payload.length <= LAZY_SIZE_LIMIT && this.#held === null && this.#canSend()) {
      // Most pages never read bufferedAmount: a short string's UTF-8 size is found when one does.
      if (this.#unmeasured++ === 0) this.#firstUnmeasured = this.#sizes.length;
      this.#transmit(payload, payload);
      return;
    }
    const size = payloadSize(payload);
    this.#buffered += size;
    if (!this.#canSend()) return;
    // Bytes that are read later (behind a Blob, or by a compressor off the event loop) are
    // copied now: the standard sends the data as it was when send() was called.
    if (this.#held !== null) this.#held.push(typeof payload === "string" ? payload : payload.slice());
    else this.#transmit(payload, size);
  }

  /**
   * Start the closing handshake (or abort the connection attempt). `code`
   * must be 1000 or 3000-4999 (else `InvalidAccessError`), `reason` at most
   * 123 bytes of UTF-8 (else `SyntaxError`).
   */
  close(code?: number, reason?: string): void {
    let closeCode: number | null = null;
    if (code !== undefined) {
      closeCode = clampUnsignedShort(code);
      checkCloseCode(closeCode);
    }
    const closeReason = reason === undefined ? "" : toDOMString(reason);
    checkCloseReason(closeReason);
    const state = this.#state;
    if (state === CLOSING || state === CLOSED) return;
    this.#state = CLOSING;
    if (state === CONNECTING) {
      // Fail the connection: the attempt is aborted, and error and close follow as a task.
      this.#abort?.abort();
      return;
    }
    if (this.#connection!.readyState !== "open") return; // the closing handshake has started already
    const frameCode = closeFrameCode(closeCode, closeReason);
    if (this.#held !== null) this.#held.push(new HeldClose(frameCode, closeReason));
    else void this.#connection!.close(frameCode, closeReason);
  }

  // ---- the connection's side ----

  #established(connection: Connection): void {
    this.#abort = null;
    if (this.#state !== CONNECTING) {
      // close() came after the handshake was answered but before this ran: fail it still.
      connection.terminate();
      this.#failLater();
      return;
    }
    this.#connection = connection;
    this.#protocol = connection.protocol ?? "";
    this.#extensions = connection.extensions;
    connection.on("message", this.#onMessage);
    connection.on("close", this.#onClose);
    connection.onWritten = this.#onWritten;
    this.#state = OPEN;
    this.dispatchEvent(new Event("open"));
  }

  /** The connection could not be established: CLOSED, then error and close 1006, as one task. */
  #failLater(): void {
    this.#abort = null;
    setImmediate(() => {
      if (this.#state === CLOSED) return;
      this.#state = CLOSED;
      this.dispatchEvent(new Event("error"));
      this.dispatchEvent(new CloseEvent("close", { wasClean: false, code: 1006, reason: "" }));
    });
  }

  readonly #onMessage = (message: Message): void => {
    if (this.#state !== OPEN) return; // the standard drops messages once close() was called
    let data: string | Blob | ArrayBuffer | Buffer;
    if (message.type === "text") data = message.text;
    else {
      const bytes = message.bytes;
      const binaryType = this.#binaryType;
      if (binaryType === "blob") data = new Blob([bytes]);
      else if (binaryType === "arraybuffer") data = ownArrayBuffer(bytes);
      else data = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    }
    this.#delivering = true;
    this.dispatchEvent(new WebSocketMessageEvent(data, this.#origin));
    this.#delivering = false;
  };

  readonly #onClose = (info: CloseInfo): void => {
    this.#state = CLOSED;
    this.#held = null;
    // The standard fires error only when the connection was failed: a protocol error, a socket
    // error, a liveness timeout. A TCP close without a close frame is 1006 without error.
    if (info.error !== undefined) this.dispatchEvent(new Event("error"));
    this.dispatchEvent(new CloseEvent("close", { wasClean: info.wasClean, code: info.code, reason: info.reason }));
  };

  readonly #onWritten = (messagesOut: number): void => {
    const sizes = this.#sizes;
    let head = this.#sizesHead;
    let written = this.#writtenMessages;
    while (written < messagesOut && head < sizes.length) {
      const size = sizes[head++]!;
      if (typeof size === "number") this.#buffered -= size;
      else this.#unmeasured--;
      written++;
    }
    this.#writtenMessages = written;
    if (head === sizes.length) {
      sizes.length = 0;
      head = 0;
    } else if (head >= COMPACT_FROM && head * 2 >= sizes.length) {
      // A queue that never empties (steady backpressure) drops what was written now and then.
      sizes.splice(0, head);
      this.#firstUnmeasured = 0;
      head = 0;
    }
    this.#sizesHead = head;
  };

  /** Count the strings still waiting to be written in `#buffered`. */
  #measure(): void {
    const sizes = this.#sizes;
    // From the first string on: a page that reads bufferedAmount after every send measures each once.
    for (let i = Math.max(this.#sizesHead, this.#firstUnmeasured); i < sizes.length; i++) {
      const size = sizes[i]!;
      if (typeof size === "string") {
        const bytes = payloadSize(size);
        sizes[i] = bytes;
        this.#buffered += bytes;
      }
    }
    this.#unmeasured = 0;
  }

  /** Whether data given to send() now goes out: open, and no closing handshake begun. */
  #canSend(): boolean {
    return this.#state === OPEN && this.#connection!.readyState === "open";
  }

  /** Hand one message to the connection; `size` (see `#sizes`) is taken off once it is written. */
  #transmit(payload: string | Uint8Array, size: number | string): void {
    const connection = this.#connection!;
    this.#sizes.push(size);
    if (typeof payload !== "string" && connection.extensions !== "") payload = payload.slice();
    void connection.send(payload);
  }

  /** A Blob is read before it is sent; what is sent after it waits for it. */
  #hold(blob: Blob): void {
    if (this.#held !== null) {
      this.#held.push(blob);
      return;
    }
    this.#held = [blob];
    this.#readHeldBlob(blob);
  }

  #readHeldBlob(blob: Blob): void {
    blob.arrayBuffer().then(
      (buffer) => this.#releaseHeld(new Uint8Array(buffer)),
      () => this.#connection?.terminate(), // the data can never be sent: fail the connection
    );
  }

  /** The Blob at the head is read: send it and what follows, up to the next Blob. */
  #releaseHeld(bytes: Uint8Array): void {
    const held = this.#held;
    if (held === null) return; // closed meanwhile
    held[0] = bytes;
    const connection = this.#connection!;
    while (held.length > 0) {
      const item = held[0]!;
      if (item instanceof Blob) {
        this.#readHeldBlob(item);
        return;
      }
      held.shift();
      if (connection.readyState !== "open") continue; // the peer closed meanwhile
      if (item instanceof HeldClose) void connection.close(item.code, item.reason);
      else this.#transmit(item, payloadSize(item));
    }
    this.#held = null;
  }

  /** "WebSocket", as `Object.prototype.toString` shows it. */
  get [Symbol.toStringTag](): string {
    return "WebSocket";
  }
}

// Web IDL constants live on the interface object and its prototype, read-only and enumerable.
for (const [name, value] of [
  ["CONNECTING", CONNECTING],
  ["OPEN", OPEN],
  ["CLOSING", CLOSING],
  ["CLOSED", CLOSED],
] as const) {
  const descriptor = { value, writable: false, enumerable: true, configurable: false };
  Object.defineProperty(WebSocket, name, descriptor);
  Object.defineProperty(WebSocket.prototype, name, descriptor);
}
