/**
 * `WebSocketStream`: the streams-based WebSocket API as Chromium and undici
 * ship it (the WHATWG draft, https://github.com/whatwg/websockets/pull/48),
 * on wsx's client. Received messages are read from the connection only as
 * the readable is read, so a reader that stops stops the socket (the
 * connection's receive queue fills and pauses it, and TCP pushes back on
 * the server); a write resolves once the socket took the bytes, so a writer
 * that awaits its writes never buffers more than the socket holds.
 */
import type { ConnectOptions } from "../client/index.js";
import type { Message } from "../core/index.js";
import type { CloseInfo, WebSocket as Connection } from "../node/index.js";
import { noop } from "../node/promises.js";
import { checkCloseCode, checkCloseReason, closeFrameCode } from "./close.js";
import { ownArrayBuffer, payloadOf, type BufferSource } from "./data.js";
import { establish, facadeOptions, type FacadeOption } from "./establish.js";
import { checkProtocols, webSocketURL } from "./url.js";
import { domException, enforceUnsignedShort, toDOMString, toSequence } from "./webidl.js";

/** What the readable yields: text messages as strings, binary ones as Uint8Array. */
export type WebSocketStreamChunk = string | Uint8Array;

/** The second constructor argument: the standard's `protocols` and `signal`, plus any `connect()` option. */
export interface WebSocketStreamOptions extends Omit<ConnectOptions, FacadeOption | "protocols" | "signal"> {
  /** Subprotocols to offer. */
  protocols?: Iterable<string>;
  /** Aborts the opening handshake (after it, aborting does nothing). */
  signal?: AbortSignal | null;
}

/** What `opened` resolves with. */
export interface WebSocketOpenInfo {
  readable: ReadableStream<WebSocketStreamChunk>;
  writable: WritableStream<string | BufferSource>;
  /** The subprotocol the server selected, or "". */
  protocol: string;
  /** The server's Sec-WebSocket-Extensions value, or "". */
  extensions: string;
}

/** What `close()` takes and `closed` resolves with. */
export interface WebSocketCloseInfo {
  closeCode?: number;
  reason?: string;
}

/** Set around the construction of a {@link WebSocketError} that reports how a connection ended. */
let ended: { code: number; reason: string } | null = null;

/** The error a WebSocketStream rejects and errors its streams with: a DOMException with a close code and reason. */
export class WebSocketError extends DOMException {
  readonly #closeCode: number | null;
  readonly #reason: string;

  /** Throws like `close()` for a code other than 1000 or 3000-4999, or a reason over 123 bytes. */
  constructor(message = "", init: WebSocketCloseInfo = {}) {
    super(toDOMString(message), "WebSocketError");
    if (ended !== null) {
      // How a connection ended: codes no application may give (1005, 1006...) are kept as they are.
      this.#closeCode = ended.code;
      this.#reason = ended.reason;
      return;
    }
    let code = init.closeCode === undefined ? null : enforceUnsignedShort(init.closeCode);
    const reason = init.reason === undefined ? "" : toDOMString(init.reason);
    if (code !== null) checkCloseCode(code);
    checkCloseReason(reason);
    if (code === null && reason !== "") code = 1000;
    this.#closeCode = code;
    this.#reason = reason;
  }

  /** The close code, or null when none was given. */
  get closeCode(): number | null {
    return this.#closeCode;
  }
  get reason(): string {
    return this.#reason;
  }

  /** @internal An error for how a connection ended, with codes an application could not give (1006...). */
  static closed(message: string, code: number, reason: string): WebSocketError {
    ended = { code, reason };
    try {
      return new WebSocketError(message);
    } finally {
      ended = null;
    }
  }
}

const CONNECTING = 0;
const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;

/**
 * A WebSocket as a pair of web streams.
 *
 * @example
 * ```ts
 * import { serve } from "wsx";
 * import { WebSocketStream } from "wsx/web";
 *
 * const server = await serve({ port: 0, host: "127.0.0.1" }, async (ws) => {
 *   for await (const message of ws) await ws.send(message);
 * });
 * const wss = new WebSocketStream(`ws://127.0.0.1:${server.port}`);
 * const { readable, writable } = await wss.opened;
 * const writer = writable.getWriter();
 * await writer.write("ping");
 * const reader = readable.getReader();
 * console.log((await reader.read()).value); // "ping"
 * wss.close({ closeCode: 1000, reason: "done" });
 * console.log(await wss.closed); // { closeCode: 1000, reason: "done" }
 * await server.close();
 * ```
 */
export class WebSocketStream {
  readonly #url: URL;
  readonly #opened: Promise<WebSocketOpenInfo>;
  readonly #closed: Promise<WebSocketCloseInfo>;
  #resolveOpened!: (info: WebSocketOpenInfo) => void;
  #rejectOpened!: (error: unknown) => void;
  #resolveClosed!: (info: WebSocketCloseInfo) => void;
  #rejectClosed!: (error: unknown) => void;
  #state = CONNECTING;
  #connection: Connection | null = null;
  #abort: AbortController | null = new AbortController();
  #handshakeAborted = false;
  #readable: ReadableStreamDefaultController<WebSocketStreamChunk> | null = null;
  #writable: WritableStreamDefaultController | null = null;

  /** Throws a `SyntaxError` DOMException for a URL or subprotocols the standard refuses, a `UsageError` for a bad option. */
  constructor(url: string | URL, options: WebSocketStreamOptions = {}) {
    if (arguments.length === 0) throw new TypeError("Failed to construct 'WebSocketStream': 1 argument required, but only 0 present.");
    this.#url = webSocketURL(toDOMString(url));
    const { protocols, signal, ...rest } = options ?? {};
    const offered = protocols === undefined ? [] : toSequence(protocols);
    // Web IDL: the dictionary member is an AbortSignal (or null); anything else is a TypeError.
    if (signal != null && !(signal instanceof AbortSignal)) throw new TypeError("signal must be an AbortSignal");
    checkProtocols(offered);
    const connectOptions = facadeOptions(rest, offered, this.#abort!.signal, "new WebSocketStream()");
    // Marked handled: a program that awaits only one of them must not die of the other's rejection.
    this.#opened = new Promise<WebSocketOpenInfo>((resolve, reject) => {
      this.#resolveOpened = resolve;
      this.#rejectOpened = reject;
    });
    this.#closed = new Promise<WebSocketCloseInfo>((resolve, reject) => {
      this.#resolveClosed = resolve;
      this.#rejectClosed = reject;
    });
    this.#opened.catch(noop);
    this.#closed.catch(noop);
    if (signal != null) {
      if (signal.aborted) {
        this.#abort = null;
        this.#state = CLOSED;
        this.#rejectOpened(signal.reason);
        this.#rejectClosed(signal.reason);
        return;
      }
      signal.addEventListener("abort", () => this.#aborted(signal.reason), { once: true });
    }
    establish(
      this.#url,
      connectOptions,
      (connection) => this.#established(connection),
      () => this.#notEstablished(),
    );
  }

  /** The URL, resolved and serialized. */
  get url(): string {
    return this.#url.href;
  }

  /** Resolves with the streams once the handshake succeeded; rejects if it did not. */
  get opened(): Promise<WebSocketOpenInfo> {
    return this.#opened;
  }

  /** Resolves with the close code and reason after a clean close; rejects with a {@link WebSocketError} otherwise. */
  get closed(): Promise<WebSocketCloseInfo> {
    return this.#closed;
  }

  /**
   * Start the closing handshake (or abort the attempt). `closeCode` must be
   * 1000 or 3000-4999, `reason` at most 123 bytes of UTF-8.
   */
  close(closeInfo?: WebSocketCloseInfo): void {
    // A Web IDL dictionary: undefined and null are empty, other non-objects a TypeError.
    if (closeInfo !== undefined && closeInfo !== null && typeof closeInfo !== "object" && typeof closeInfo !== "function") {
      throw new TypeError("close() takes an object with closeCode and reason");
    }
    const code = closeInfo?.closeCode === undefined ? null : enforceUnsignedShort(closeInfo.closeCode);
    const reason = closeInfo?.reason === undefined ? "" : toDOMString(closeInfo.reason);
    this.#close(code, reason);
  }

  /** The standard's "close the WebSocket". */
  #close(code: number | null, reason: string): void {
    if (code !== null) checkCloseCode(code);
    checkCloseReason(reason);
    const state = this.#state;
    if (state === CLOSING || state === CLOSED) return;
    this.#state = CLOSING;
    if (state === CONNECTING) {
      this.#abort?.abort(); // fails the connection: opened and closed reject
      return;
    }
    const connection = this.#connection!;
    if (connection.readyState === "open") void connection.close(closeFrameCode(code, reason), reason);
  }

  /** Close with the code and reason of a WebSocketError given to cancel() or abort(), else with none. */
  #closeUsingReason(reason: unknown): void {
    if (reason instanceof WebSocketError) {
      try {
        this.#close(reason.closeCode, reason.reason);
        return;
      } catch {
        // A code an application may not send (1006 from a closed stream...): close without one.
      }
    }
    this.#close(null, "");
  }

  #aborted(reason: unknown): void {
    if (this.#state !== CONNECTING) return;
    this.#state = CLOSING;
    this.#handshakeAborted = true;
    this.#abort?.abort();
    this.#rejectOpened(reason);
    this.#rejectClosed(reason);
  }

  #notEstablished(): void {
    this.#abort = null;
    const aborted = this.#handshakeAborted;
    this.#state = CLOSED;
    if (aborted) return;
    this.#rejectOpened(new WebSocketError("the WebSocket connection could not be established"));
    this.#rejectClosed(WebSocketError.closed("the WebSocket connection was closed uncleanly", 1006, ""));
  }

  #established(connection: Connection): void {
    this.#abort = null;
    if (this.#state !== CONNECTING) {
      // Aborted or closed after the handshake was answered, before this ran.
      connection.terminate();
      this.#notEstablished();
      return;
    }
    this.#state = OPEN;
    this.#connection = connection;
    const messages = connection[Symbol.asyncIterator]();
    const readable = new ReadableStream<WebSocketStreamChunk>({
      start: (controller) => {
        this.#readable = controller;
      },
      pull: (controller) => messages.next().then((next) => this.#pulled(controller, next)),
      cancel: (reason) => this.#closeUsingReason(reason),
    });
    const writable = new WritableStream<string | BufferSource>({
      start: (controller) => {
        this.#writable = controller;
      },
      write: (chunk) => this.#write(chunk),
      // The writer's close() settles once the closing handshake is over, not when it starts.
      close: () => {
        this.#close(null, "");
        return connection.closed.then(noop);
      },
      abort: (reason) => this.#closeUsingReason(reason),
    });
    void connection.closed.then((info) => this.#onClosed(info));
    this.#resolveOpened({ readable, writable, protocol: connection.protocol ?? "", extensions: connection.extensions });
  }

  #pulled(controller: ReadableStreamDefaultController<WebSocketStreamChunk>, next: IteratorResult<Message>): void {
    if (!next.done) {
      const message = next.value;
      controller.enqueue(message.type === "text" ? message.text : new Uint8Array(ownArrayBuffer(message.bytes)));
      return;
    }
    // Nothing more will arrive: the readable ends once the close turns out clean (else it is errored).
    void this.#connection!.closed.then((info) => {
      if (info.wasClean) closeQuietly(controller);
    });
  }

  #write(chunk: unknown): Promise<void> {
    let payload: string | Uint8Array;
    try {
      payload = payloadOf(chunk);
    } catch (error) {
      return Promise.reject(error);
    }
    const connection = this.#connection!;
    if (this.#state !== OPEN || connection.readyState !== "open") return Promise.resolve();
    // A copy, as the standard sends the bytes as they were written (a compressor may read them later).
    if (typeof payload !== "string" && connection.extensions !== "") payload = payload.slice();
    return connection.send(payload);
  }

  #onClosed(info: CloseInfo): void {
    this.#state = CLOSED;
    if (info.wasClean) {
      this.#writable?.error(domException("InvalidStateError", "a closed WebSocketStream cannot be written to"));
      this.#resolveClosed({ closeCode: info.code, reason: info.reason });
      return;
    }
    const error = WebSocketError.closed("the WebSocket connection was closed uncleanly", info.code, info.reason);
    this.#readable?.error(error);
    this.#writable?.error(error);
    this.#rejectClosed(error);
  }

  get [Symbol.toStringTag](): string {
    return "WebSocketStream";
  }
}

function closeQuietly(controller: ReadableStreamDefaultController<unknown>): void {
  try {
    controller.close();
  } catch {
    // Already closed or errored (cancelled by the reader).
  }
}
