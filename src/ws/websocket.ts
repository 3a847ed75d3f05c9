/**
 * `ws`'s WebSocket class over a wsx connection: the client is opened with
 * wsx's `connect()`, the server side is handed a connection by wsx's server.
 * The connection gives its events to this object's sink synchronously, as
 * each read is parsed; they are re-emitted with `ws`'s arguments.
 */
import { isUtf8 } from "node:buffer";
import { EventEmitter } from "node:events";
import { IncomingMessage, type ClientRequest } from "node:http";
import { Socket } from "node:net";
import {
  HandshakeError,
  Opcode,
  ProtocolError,
  UsageError,
  WebSocketError,
  encodeClosePayload,
  isValidCloseCode,
  type HttpHead,
  type Message,
} from "../core/index.js";
import { connect } from "../client/index.js";
import type { CloseInfo, ConnectionSink, SendOptions as ConnectionSendOptions, WebSocket as Connection } from "../node/index.js";
import { addEventListener, getAttribute, removeEventListener, setAttribute, type EventListenerLike } from "./events.js";
import type { CloseEvent, ErrorEvent, Event, MessageEvent } from "./events.js";
import { clientConnectOptions, type ClientOptions } from "./options.js";

/** A received message's data: a Buffer, an ArrayBuffer, Buffer fragments or a Blob, as `binaryType` says. */
export type RawData = Buffer | ArrayBuffer | Buffer[] | Blob;
/** What `send`, `ping` and `pong` accept (numbers are sent as their decimal text, as `ws` does). */
export type Data = string | number | Buffer | ArrayBuffer | ArrayBufferView | Blob | readonly unknown[];
/** How binary messages are given: `nodebuffer` (a Buffer, the default), `arraybuffer`, `fragments` (an array of Buffers) or `blob`. */
export type BinaryType = "nodebuffer" | "arraybuffer" | "fragments" | "blob";
/** The callback of `send`, `ping` and `pong`: an error if the data could not be written. */
export type SendCallback = (error?: Error) => void;

/** Options of {@link WebSocket.send}. */
export interface SendOptions {
  /** Binary or text; default: binary unless `data` is a string. */
  binary?: boolean;
  /** With permessage-deflate negotiated: false sends this message uncompressed (default true). */
  compress?: boolean;
  /** false: a fragment of a message that later sends continue; the send with `fin` true ends it. */
  fin?: boolean;
  /** Only the role's own value: true on a client, false on a server (RFC 6455 section 5.1). */
  mask?: boolean;
}

/** The events and their arguments, as `ws` emits them. */
export interface WebSocketEventMap {
  open: [];
  message: [data: RawData, isBinary: boolean];
  close: [code: number, reason: Buffer];
  error: [error: Error];
  ping: [data: Buffer];
  pong: [data: Buffer];
  upgrade: [response: IncomingMessage];
  "unexpected-response": [request: HandshakeRequest, response: IncomingMessage];
  redirect: [url: string, request: HandshakeRequest];
}

const CONNECTING = 0;
const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;
type ReadyState = 0 | 1 | 2 | 3;
const STATE_NAMES = ["CONNECTING", "OPEN", "CLOSING", "CLOSED"] as const;
const BINARY_TYPES: readonly string[] = ["nodebuffer", "arraybuffer", "fragments", "blob"];
const EMPTY = Buffer.alloc(0);
const CLOSED_BEFORE_OPEN = "WebSocket was closed before the connection was established";

/**
 * The send options handed to the connection, one shared object per
 * combination: a send allocates none. Index: type (0 by data, 1 text,
 * 2 binary) * 4 + (compress false ? 2 : 0) + (fin false ? 1 : 0).
 */
const SEND_OPTIONS: ReadonlyArray<ConnectionSendOptions | undefined> = (() => {
  const table: Array<ConnectionSendOptions | undefined> = [];
  for (const type of [undefined, "text", "binary"] as const) {
    for (const compress of [undefined, false] as const) {
      for (const fin of [undefined, false] as const) {
        const options: ConnectionSendOptions = {};
        if (type !== undefined) options.type = type;
        if (compress !== undefined) options.compress = compress;
        if (fin !== undefined) options.fin = fin;
        // Frozen: the connection checks a frozen options object once, not at every send.
        table.push(type === undefined && compress === undefined && fin === undefined ? undefined : Object.freeze(options));
      }
    }
  }
  return table;
})();

/** A Buffer over the same bytes (no copy). */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** The bytes as an ArrayBuffer of their own: the backing one when they fill it, else a copy. */
function asArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  const buffer = bytes.buffer as ArrayBuffer;
  if (bytes.byteOffset === 0 && bytes.byteLength === buffer.byteLength) return buffer;
  return buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
}

/** `ws`'s accepted data as what the connection sends: strings stay strings, the rest is bytes. */
function sendable(data: unknown): string | Uint8Array | ArrayBuffer | ArrayBufferView {
  if (typeof data === "string" || data instanceof Uint8Array || data instanceof ArrayBuffer || ArrayBuffer.isView(data)) return data;
  if (data === undefined || data === null) return EMPTY;
  try {
    return Buffer.from(data as never);
  } catch {
    throw new UsageError("INVALID_DATA", `cannot send ${Object.prototype.toString.call(data)}: not a string, Buffer, ArrayBuffer, view, Blob or number`);
  }
}

/** Control frame payloads: bytes of anything `ping`/`pong` accept, at most 125 of them. */
function controlPayload(data: unknown): Uint8Array {
  const value = sendable(data);
  const bytes = typeof value === "string" ? Buffer.from(value) : value instanceof Uint8Array ? value : asBytes(value);
  if (bytes.length > 125) throw new UsageError("CONTROL_TOO_LONG", `control payload is ${bytes.length} bytes, at most 125 fit`);
  return bytes;
}

function asBytes(value: ArrayBuffer | ArrayBufferView): Uint8Array {
  return ArrayBuffer.isView(value) ? new Uint8Array(value.buffer, value.byteOffset, value.byteLength) : new Uint8Array(value);
}

function byteLength(data: unknown): number {
  if (data === undefined || data === null || data === "") return 0;
  if (typeof Blob !== "undefined" && data instanceof Blob) return data.size;
  const value = sendable(data);
  return typeof value === "string" ? Buffer.byteLength(value) : value.byteLength;
}

/**
 * The opening request of a client, for the `redirect` and
 * `unexpected-response` events. It is not a node:http ClientRequest (wsx
 * dials and writes the request itself): it describes what was sent.
 */
export class HandshakeRequest {
  readonly method = "GET";
  constructor(
    /** The URL requested. */
    readonly url: string,
  ) {}
  /** The host and port requested, as in the URL (`example.com:8080`). */
  get host(): string {
    return new URL(this.url).host;
  }
  /** The path and query string requested. */
  get path(): string {
    const url = new URL(this.url);
    return `${url.pathname}${url.search}`;
  }
  /** `https:` for a wss: URL, `http:` for ws:, as on the ClientRequest `ws` would have made. */
  get protocol(): string {
    return new URL(this.url).protocol === "wss:" ? "https:" : "http:";
  }
}

/** An http.IncomingMessage for a response head wsx parsed (the body is not read). */
function responseOf(head: HttpHead): IncomingMessage {
  const response = new IncomingMessage(new Socket());
  response.httpVersion = head.startLine[0].replace(/^HTTP\//, "");
  const [major, minor] = response.httpVersion.split(".");
  response.httpVersionMajor = Number(major);
  response.httpVersionMinor = Number(minor ?? 0);
  response.statusCode = Number(head.startLine[1]);
  response.statusMessage = head.startLine[2] ?? "";
  const raw: string[] = [];
  for (const [name, value] of head.rawHeaders) raw.push(name, value);
  response.rawHeaders = raw;
  // node:http's own folding: set-cookie as an array, other repeats joined with ", ".
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of head.rawHeaders) {
    const key = name.toLowerCase();
    const seen = headers[key];
    if (key === "set-cookie") headers[key] = seen === undefined ? [value] : [...(seen as string[]), value];
    else headers[key] = seen === undefined ? value : `${seen as string}, ${value}`;
  }
  response.headers = headers;
  response.push(null);
  return response;
}

/** Receives the connection's events and re-emits them with `ws`'s arguments. */
class Sink implements ConnectionSink {
  constructor(private readonly ws: WebSocket) {}
  message(message: Message): void {
    const ws = this.ws;
    const bytes = message.bytes;
    if (message.type === "text") {
      // ws gives text as a Buffer whatever binaryType says.
      ws.emit("message", asBuffer(bytes), false);
      return;
    }
    const type = ws.binaryType;
    let data: RawData;
    if (type === "nodebuffer") data = asBuffer(bytes);
    else if (type === "arraybuffer") data = asArrayBuffer(bytes);
    else if (type === "fragments") data = [asBuffer(bytes)];
    else data = new Blob([bytes]);
    ws.emit("message", data, true);
  }
  ping(payload: Uint8Array): void {
    this.ws.emit("ping", asBuffer(payload));
  }
  pong(payload: Uint8Array): void {
    this.ws.emit("pong", asBuffer(payload));
  }
  error(error: Error): void {
    // As ws: what the peer did wrong is an "error"; a failing socket only closes the connection.
    if (error instanceof ProtocolError) this.ws[FAIL](error);
  }
  close(info: CloseInfo): void {
    this.ws[CLOSED_WITH](info);
  }
}

/** @internal Methods the sink and the server call, out of the way of `ws`'s names. */
export const FAIL: unique symbol = Symbol("wsx.ws.fail");
/** @internal */
export const CLOSED_WITH: unique symbol = Symbol("wsx.ws.closed");
/** @internal */
export const ATTACH: unique symbol = Symbol("wsx.ws.attach");
/** @internal The server tracking a WebSocket in its `clients`. */
export const OWNER: unique symbol = Symbol("wsx.ws.owner");
/** @internal Told by a tracked WebSocket that it closed, before its "close" event. */
export const FORGET: unique symbol = Symbol("wsx.ws.forget");

/** @internal What tracks a WebSocket (the server's `clients`). */
export interface Tracker {
  [FORGET](ws: WebSocket): void;
}

/**
 * A WebSocket with `ws`'s API, client or server side.
 *
 * @example
 * ```ts
 * import WebSocket from "wsx/ws";
 *
 * const ws = new WebSocket("ws://127.0.0.1:8080/chat", ["chat.v1"]);
 * ws.on("open", () => ws.send("hello"));
 * ws.on("message", (data, isBinary) => console.log(isBinary ? data : data.toString()));
 * ws.on("close", (code, reason) => console.log(code, reason.toString()));
 * ws.on("error", (error) => console.error(error));
 * ```
 */
export class WebSocket extends EventEmitter {
  static readonly CONNECTING = CONNECTING;
  static readonly OPEN = OPEN;
  static readonly CLOSING = CLOSING;
  static readonly CLOSED = CLOSED;
  declare readonly CONNECTING: 0;
  declare readonly OPEN: 1;
  declare readonly CLOSING: 2;
  declare readonly CLOSED: 3;

  private connection: Connection | null = null;
  private state: ReadyState = CONNECTING;
  private type: BinaryType = "nodebuffer";
  private readonly isServer: boolean;
  private ownUrl: string | undefined = undefined;
  private ownProtocol = "";
  private ownExtensions = "";
  private paused = false;
  private errorEmitted = false;
  private clean = false;
  /** Bytes of sends made once closing (ws counts them in bufferedAmount). */
  private bufferedAfterClose = 0;
  /** The client's pending connect(), to abort it. */
  private aborter: AbortController | null = null;
  /** @internal */
  [OWNER]: Tracker | null = null;

  /**
   * A client: connect to `address` (ws:, wss:, http: or https:). `protocols`
   * may be left out, with `options` second. `address` null makes a server
   * side WebSocket, which a WebSocketServer attaches to its connection.
   */
  constructor(address: string | URL | null, protocols?: string | string[] | ClientOptions, options?: ClientOptions) {
    super();
    this.isServer = address === null;
    if (address === null) return;
    let offered: string[];
    if (protocols === undefined) offered = [];
    else if (Array.isArray(protocols)) offered = protocols;
    else if (typeof protocols === "object" && protocols !== null) {
      options = protocols;
      offered = [];
    } else offered = [protocols];
    if (options?.protocols !== undefined && offered.length === 0) {
      offered = Array.isArray(options.protocols) ? options.protocols : [options.protocols];
    }
    this.open(address, offered, options ?? {});
  }

  // ---- state ----

  /** CONNECTING, OPEN, CLOSING or CLOSED (0 to 3). */
  get readyState(): ReadyState {
    if (this.state !== OPEN) return this.state;
    const connection = this.connection!;
    // Messages before a protocol error are delivered with the socket still open, as ws does: the error closes it.
    return connection.readyState === "open" || (connection.failing && !this.errorEmitted) ? OPEN : CLOSING;
  }

  /** How binary messages are given: Buffer (default), ArrayBuffer, an array of Buffers, or a Blob. */
  get binaryType(): BinaryType {
    return this.type;
  }
  /** Set how binary messages are given; a value other than the four is ignored, as `ws` does. */
  set binaryType(type: BinaryType) {
    if (BINARY_TYPES.includes(type)) this.type = type;
  }

  /** Bytes sent and not yet handed to the operating system. */
  get bufferedAmount(): number {
    return (this.connection?.bufferedAmount ?? 0) + this.bufferedAfterClose;
  }

  /** Names of the negotiated extensions ("permessage-deflate" or ""), as `ws` gives them. */
  get extensions(): string {
    return this.ownExtensions;
  }

  /** The negotiated subprotocol, "" for none. */
  get protocol(): string {
    return this.ownProtocol;
  }

  /** The URL of a client (after redirects); undefined on a server. */
  get url(): string {
    return this.ownUrl as string;
  }

  /** Whether {@link pause} stopped reading. */
  get isPaused(): boolean {
    return this.paused;
  }

  /** @internal Both close frames were exchanged (CloseEvent's wasClean). */
  get closedCleanly(): boolean {
    return this.clean;
  }

  // ---- sending ----

  /**
   * Send a message: a string as text, anything else as binary unless
   * `options.binary` says otherwise. `callback` gets an error if it could
   * not be written. Throws when the connection is still opening.
   */
  send(data: Data, callback?: SendCallback): void;
  send(data: Data, options: SendOptions, callback?: SendCallback): void;
  send(data: Data, options?: SendOptions | SendCallback, callback?: SendCallback): void {
    if (this.state === CONNECTING) throw notOpen(CONNECTING);
    if (typeof options === "function") {
      callback = options;
      options = undefined;
    }
    if (typeof data === "number") data = data.toString();
    const connection = this.connection;
    if (connection === null || this.readyState !== OPEN) return this.sendAfterClose(data, callback);
    let index = 0;
    if (options !== undefined) {
      if (options.mask !== undefined && options.mask !== !this.isServer) throw maskRefused(this.isServer);
      if (options.binary !== undefined) index = options.binary ? 8 : 4;
      if (options.compress === false) index += 2;
      if (options.fin === false) index += 1;
    }
    if (typeof Blob !== "undefined" && data instanceof Blob) {
      return this.sendBlob(connection, data, index, callback);
    }
    const payload = sendable(data);
    if (index >= 4 && index < 8 && typeof payload !== "string" && options?.fin !== false && !connection.sendingFragments) {
      // Bytes sent as text are refused now, not after the fact (ws would send them unchecked).
      if (!isUtf8(asBytes(payload))) throw new UsageError("INVALID_UTF8", "text message bytes are not valid UTF-8");
    }
    const sent = connection.send(payload, SEND_OPTIONS[index]);
    if (callback !== undefined) sent.then(callback as () => void, callback);
  }

  /** A Blob is read first; sends made after it wait their turn. */
  private sendBlob(connection: Connection, blob: Blob, index: number, callback: SendCallback | undefined): void {
    const text = index >= 4 && index < 8;
    async function* content(): AsyncGenerator<string | Uint8Array> {
      const bytes = new Uint8Array(await blob.arrayBuffer());
      if (!text) yield bytes;
      else if (isUtf8(bytes)) yield Buffer.from(bytes).toString();
      else throw new UsageError("INVALID_UTF8", "text message bytes are not valid UTF-8");
    }
    const sent = connection.send(content());
    if (callback !== undefined) sent.then(callback as () => void, callback);
  }

  private sendAfterClose(data: unknown, callback: SendCallback | undefined): void {
    this.bufferedAfterClose += byteLength(data);
    if (callback !== undefined) process.nextTick(callback, notOpen(this.readyState));
  }

  /** Send a ping; `callback` runs once it is written. */
  ping(data?: Data | SendCallback, mask?: boolean | SendCallback, callback?: SendCallback): void {
    this.control(Opcode.PING, data, mask, callback);
  }

  /** Send a pong; `callback` runs once it is written. */
  pong(data?: Data | SendCallback, mask?: boolean | SendCallback, callback?: SendCallback): void {
    this.control(Opcode.PONG, data, mask, callback);
  }

  private control(opcode: number, data: unknown, mask: unknown, callback: SendCallback | undefined): void {
    if (this.state === CONNECTING) throw notOpen(CONNECTING);
    if (typeof data === "function") {
      callback = data as SendCallback;
      data = mask = undefined;
    } else if (typeof mask === "function") {
      callback = mask as SendCallback;
      mask = undefined;
    }
    if (typeof data === "number") data = data.toString();
    const connection = this.connection;
    if (connection === null || this.readyState !== OPEN) return this.sendAfterClose(data, callback);
    if (mask !== undefined && mask !== !this.isServer) throw maskRefused(this.isServer);
    const sent = connection.sendFrame(opcode, controlPayload(data));
    if (callback !== undefined) sent.then(callback as () => void, callback);
  }

  // ---- closing ----

  /**
   * Start the closing handshake with `code` and `reason` (at most 123
   * bytes). While still connecting, the attempt is abandoned ("error" then
   * "close", as `ws` does).
   */
  close(code?: number, reason?: string | Buffer): void {
    if (this.state === CLOSED) return;
    if (this.state === CONNECTING) return this.abandon();
    // As ws: a reason without a code is not sent.
    const text = code === undefined ? "" : reasonText(reason);
    if (code !== undefined && !isValidCloseCode(code)) throw new UsageError("INVALID_CLOSE_CODE", `close code ${String(code)} may not be sent`);
    encodeClosePayload(code, text); // a reason too long is refused now
    void this.connection!.close(code, text);
  }

  /** Destroy the connection at once (code 1006); while connecting, abandon the attempt. */
  terminate(): void {
    if (this.state === CLOSED) return;
    if (this.state === CONNECTING) return this.abandon();
    this.state = CLOSING;
    this.connection!.terminate();
  }

  /** Stop reading from the socket; events of what was already read still come. */
  pause(): void {
    if (this.state === CONNECTING || this.state === CLOSED) return;
    this.paused = true;
    this.connection!.pause();
  }

  /** Read again after {@link pause}. */
  resume(): void {
    if (this.state === CONNECTING || this.state === CLOSED) return;
    this.paused = false;
    this.connection!.resume();
  }

  // ---- browser-style listeners ----

  /** Listen for `open` with an {@link Event}; `options.once` removes the listener after one call. */
  addEventListener(type: "open", listener: EventListenerLike<Event>, options?: { once?: boolean }): void;
  /** Listen for `message` with a {@link MessageEvent}: `data` is a string for text, else as {@link binaryType} says. */
  addEventListener(type: "message", listener: EventListenerLike<MessageEvent>, options?: { once?: boolean }): void;
  /** Listen for `close` with a {@link CloseEvent}: `code`, `reason` and `wasClean`. */
  addEventListener(type: "close", listener: EventListenerLike<CloseEvent>, options?: { once?: boolean }): void;
  /** Listen for `error` with an {@link ErrorEvent}: `error` and `message`. */
  addEventListener(type: "error", listener: EventListenerLike<ErrorEvent>, options?: { once?: boolean }): void;
  /** A type as a plain string: `open`, `message`, `close` and `error` as above, others ignored (as `ws` does). The same listener is added once. */
  addEventListener(type: string, listener: EventListenerLike<never>, options?: { once?: boolean }): void;
  addEventListener(type: string, listener: EventListenerLike<never>, options?: { once?: boolean }): void {
    addEventListener(this, type, listener, options);
  }

  /** Remove a listener added with {@link addEventListener} (not one set through an `on<type>` attribute). */
  removeEventListener(type: string, listener: EventListenerLike<never>): void {
    removeEventListener(this, type, listener);
  }

  /** The handler for `open` set through this attribute, or null. */
  get onopen(): ((event: Event) => void) | null {
    return getAttribute(this, "open") as never;
  }
  /** Set the `open` handler (the connection opened), replacing the previous one; null (or any non-function) removes it. */
  set onopen(handler: ((event: Event) => void) | null) {
    setAttribute(this, "open", handler);
  }
  /** The handler for `message` set through this attribute, or null. */
  get onmessage(): ((event: MessageEvent) => void) | null {
    return getAttribute(this, "message") as never;
  }
  /** Set the `message` handler (a message arrived), replacing the previous one; null (or any non-function) removes it. */
  set onmessage(handler: ((event: MessageEvent) => void) | null) {
    setAttribute(this, "message", handler);
  }
  /** The handler for `close` set through this attribute, or null. */
  get onclose(): ((event: CloseEvent) => void) | null {
    return getAttribute(this, "close") as never;
  }
  /** Set the `close` handler (the connection closed), replacing the previous one; null (or any non-function) removes it. */
  set onclose(handler: ((event: CloseEvent) => void) | null) {
    setAttribute(this, "close", handler);
  }
  /** The handler for `error` set through this attribute, or null. */
  get onerror(): ((event: ErrorEvent) => void) | null {
    return getAttribute(this, "error") as never;
  }
  /** Set the `error` handler (an error occurred), replacing the previous one; null (or any non-function) removes it. */
  set onerror(handler: ((event: ErrorEvent) => void) | null) {
    setAttribute(this, "error", handler);
  }

  // ---- typed events ----

  /** Listen for `event`, called with its arguments in {@link WebSocketEventMap} (`message`: data, isBinary; `close`: code, reason). */
  override on<K extends keyof WebSocketEventMap>(event: K, listener: (this: this, ...args: WebSocketEventMap[K]) => void): this;
  /** Listen for any other event (EventEmitter's `on`). */
  override on(event: string | symbol, listener: (this: this, ...args: any[]) => void): this;
  override on(event: string | symbol, listener: (...args: any[]) => void): this {
    return super.on(event, listener);
  }
  /** Listen for the next `event` only, called with its arguments in {@link WebSocketEventMap}. */
  override once<K extends keyof WebSocketEventMap>(event: K, listener: (this: this, ...args: WebSocketEventMap[K]) => void): this;
  /** Listen for the next emission of any other event. */
  override once(event: string | symbol, listener: (this: this, ...args: any[]) => void): this;
  override once(event: string | symbol, listener: (...args: any[]) => void): this {
    return super.once(event, listener);
  }
  /** Remove a listener added with {@link on} or {@link once}. */
  override off<K extends keyof WebSocketEventMap>(event: K, listener: (this: this, ...args: WebSocketEventMap[K]) => void): this;
  /** Remove a listener of any other event. */
  override off(event: string | symbol, listener: (this: this, ...args: any[]) => void): this;
  override off(event: string | symbol, listener: (...args: any[]) => void): this {
    return super.off(event, listener);
  }
  /** Alias of {@link on}: listen for `event`, called with its arguments in {@link WebSocketEventMap}. */
  override addListener<K extends keyof WebSocketEventMap>(event: K, listener: (this: this, ...args: WebSocketEventMap[K]) => void): this;
  /** Alias of {@link on} for any other event. */
  override addListener(event: string | symbol, listener: (this: this, ...args: any[]) => void): this;
  override addListener(event: string | symbol, listener: (...args: any[]) => void): this {
    return super.addListener(event, listener);
  }
  /** Alias of {@link off}: remove a listener of `event`. */
  override removeListener<K extends keyof WebSocketEventMap>(event: K, listener: (this: this, ...args: WebSocketEventMap[K]) => void): this;
  /** Alias of {@link off} for any other event. */
  override removeListener(event: string | symbol, listener: (this: this, ...args: any[]) => void): this;
  override removeListener(event: string | symbol, listener: (...args: any[]) => void): this {
    return super.removeListener(event, listener);
  }

  // ---- life cycle ----

  /** @internal A server hands over the connection it accepted. */
  [ATTACH](connection: Connection): void {
    this.connection = connection;
    this.ownProtocol = connection.protocol ?? "";
    this.ownExtensions = extensionNames(connection.extensions);
    this.state = OPEN;
    connection.setSink(new Sink(this));
  }

  /** @internal A protocol violation by the peer: "error" once, as `ws` does. */
  [FAIL](error: Error): void {
    if (this.errorEmitted) return;
    this.errorEmitted = true;
    this.emitError(error);
  }

  /** @internal The connection closed. */
  [CLOSED_WITH](info: CloseInfo): void {
    this.state = CLOSED;
    this.clean = info.wasClean;
    this[OWNER]?.[FORGET](this);
    this.emit("close", info.code, info.reason === "" ? EMPTY : Buffer.from(info.reason));
  }

  /** "error" for listeners; with none it is dropped rather than thrown (wsx never lets a peer crash the process). */
  private emitError(error: Error): void {
    if (this.listenerCount("error") > 0) this.emit("error", error);
  }

  private open(address: string | URL, protocols: string[], options: ClientOptions): void {
    let url: URL;
    try {
      url = new URL(typeof address === "string" ? address : address.href);
    } catch {
      throw new UsageError("INVALID_URL", `not a valid URL: ${String(address)}`);
    }
    if (url.protocol === "http:" || url.protocol === "https:") url.protocol = url.protocol === "http:" ? "ws:" : "wss:";
    // ws+unix: reaches a Unix socket (ws+unix:///path/to.sock:/request/path), as in ws; connect() reads it.
    if (url.protocol !== "ws:" && url.protocol !== "wss:" && url.protocol !== "ws+unix:") {
      throw new UsageError("INVALID_URL", `the URL's protocol must be ws:, wss:, ws+unix:, http: or https:, got ${url.protocol}`);
    }
    if (url.hash !== "") throw new UsageError("INVALID_URL", "the URL contains a fragment identifier");
    const seen = new Set<string>();
    for (const protocol of protocols) {
      if (typeof protocol !== "string" || seen.has(protocol)) {
        throw new UsageError("INVALID_SUBPROTOCOL", "an invalid or duplicated subprotocol was specified");
      }
      seen.add(protocol);
    }
    const connectOptions = clientConnectOptions(protocols, options);
    this.ownUrl = url.href;
    const aborter = (this.aborter = new AbortController());
    let refusal: HttpHead | null = null;
    connectOptions.signal = aborter.signal;
    connectOptions.onResponse = (head) => {
      if (head.startLine[1] === "101") this.emit("upgrade", responseOf(head));
      else refusal = head;
    };
    connectOptions.onRedirect = (next) => {
      this.ownUrl = next.href;
      if (this.listenerCount("redirect") > 0) this.emit("redirect", next.href, new HandshakeRequest(next.href));
    };
    connect(url, connectOptions).then(
      (connection) => {
        this.aborter = null;
        if (this.state !== CONNECTING) {
          connection.terminate();
          return;
        }
        this[ATTACH](connection);
        this.emit("open");
      },
      (error: unknown) => {
        this.aborter = null;
        if (this.state === CLOSED) return;
        if (this.state === CLOSING) return this.failOpening(new WebSocketError("ABORTED", CLOSED_BEFORE_OPEN, { cause: error }));
        if (error instanceof HandshakeError && error.code === "UNEXPECTED_STATUS" && refusal !== null) {
          const response = refusal;
          refusal = null;
          if (this.emit("unexpected-response", new HandshakeRequest(this.url), responseOf(response))) {
            // ws leaves the attempt to the listener; wsx has closed it already, so it ends here.
            if (this.state === CONNECTING) this.closeBeforeOpen();
            return;
          }
        }
        this.failOpening(openingError(error));
      },
    );
  }

  /** close() or terminate() while connecting: abort, then "error" and "close" (code 1006). */
  private abandon(): void {
    this.state = CLOSING;
    if (this.aborter !== null) this.aborter.abort();
    else process.nextTick(() => this.failOpening(new WebSocketError("ABORTED", CLOSED_BEFORE_OPEN)));
  }

  private failOpening(error: Error): void {
    if (this.state === CLOSED) return;
    this.state = CLOSING;
    this.errorEmitted = true;
    this.emitError(error);
    this.closeBeforeOpen();
  }

  private closeBeforeOpen(): void {
    this.state = CLOSED;
    this.emit("close", 1006, EMPTY);
  }
}

for (const [name, value] of Object.entries({ CONNECTING, OPEN, CLOSING, CLOSED })) {
  Object.defineProperty(WebSocket.prototype, name, { enumerable: true, value });
}

/** @internal The server's side of {@link WebSocket}: attach a connection to an instance made with `address` null. */
export function attachConnection(ws: WebSocket, connection: Connection): void {
  ws[ATTACH](connection);
}

function notOpen(state: number): UsageError {
  return new UsageError("NOT_OPEN", `WebSocket is not open: readyState ${state} (${STATE_NAMES[state]})`);
}

function maskRefused(server: boolean): UsageError {
  return new UsageError(
    "INVALID_MASK",
    server ? "a server must not mask its frames (RFC 6455 section 5.1)" : "a client must mask its frames (RFC 6455 section 5.1)",
  );
}

function reasonText(reason: string | Buffer | undefined): string {
  if (reason === undefined) return "";
  if (typeof reason === "string") return reason;
  if (!isUtf8(reason)) throw new UsageError("INVALID_CLOSE_REASON", "the close reason is not valid UTF-8");
  return reason.toString();
}

/** The extension names of a Sec-WebSocket-Extensions value, comma-separated, as `ws` lists them. */
function extensionNames(value: string): string {
  if (value === "") return "";
  return value
    .split(",")
    .map((extension) => extension.split(";")[0]!.trim())
    .join(",");
}

/** The error `ws` would emit for a failed opening: node's own socket error where there is one. */
function openingError(error: unknown): Error {
  if (error instanceof WebSocketError && error.code === "CONNECT_FAILED" && error.cause instanceof Error) return error.cause;
  if (error instanceof HandshakeError && error.code === "UNEXPECTED_STATUS") {
    return new HandshakeError(error.code, `Unexpected server response: ${error.status}`, error.status, { ...error.headers });
  }
  return error instanceof Error ? error : new Error(String(error));
}

export type { ClientRequest };
