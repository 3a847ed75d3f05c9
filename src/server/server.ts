/**
 * The Node server: a standalone listener that parses handshakes with the
 * core (no node:http in the way), or `handleUpgrade` for any existing
 * node:http / node:https server. Both run the same accept pipeline.
 */
import { EventEmitter } from "node:events";
import type { IncomingMessage } from "node:http";
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from "node:net";
import type { Duplex } from "node:stream";
import { createServer as createTlsServer, type TLSSocket, type TlsOptions } from "node:tls";
import {
  CloseCode,
  HandshakeError,
  Message,
  Opcode,
  OptionTable,
  Rules,
  UsageError,
  checkOptions,
  describeValue,
  formatAcceptResponse,
  buildRejectResponse,
  formatExtensions,
  checkUpgradeRequest,
  selectSubprotocol,
  type HeaderInput,
  type HttpHead,
  type Limits,
  type CheckedUpgrade,
  type UpgradeRequest,
} from "../core/index.js";
import type { AdapterHub, PubSubAdapter } from "./adapter.js";
import { atCapacity, originRefused, resolveAdmission, type Admission, type OriginPolicy } from "./admission.js";
import { WebSocket, checkTopic, isDuplex, type CloseInfo, type ConnectionOptions, type ConnectionOwner } from "../node/connection.js";
import { extensionFactories, negotiateExtensions, type CompressionOption, type ExtensionAgreement } from "../node/extensions.js";
import type { Logger } from "../node/logger.js";
import { messageBytes } from "../node/sending.js";
import { CONNECTION_OPTION_RULES, connectionSettings } from "../node/settings.js";
import { Fanout } from "./fanout.js";
import { PendingHandshakes, resolveHandshakeTimeout, type PendingHandshake } from "./pending.js";
import { nativeAccept } from "../node/sha1.js";
import { Counters, type ServerStats } from "../node/stats.js";
import { Topics } from "../node/topics.js";
import { SocketSet, drain, resolveShutdown, type ShutdownOptions } from "./shutdown.js";

/** The upgrade request as the application's hooks and handler see it. */
export interface ServerRequest extends UpgradeRequest {
  /** The peer's IP address, as the socket reports it. */
  remoteAddress: string | undefined;
  /** The peer's port. */
  remotePort: number | undefined;
  /** Whether the connection is TLS. */
  secure: boolean;
  /** Free space for hooks to pass data on to the handler (e.g. the authenticated user). */
  locals: Record<string, unknown>;
  /** The node:http request, when the upgrade came through {@link WebSocketServer.handleUpgrade}; null standalone. */
  incoming: IncomingMessage | null;
}

/**
 * Per-upgrade callbacks of {@link WebSocketServer.handleUpgrade}, for code
 * that needs one upgrade's outcome rather than the server's events (the
 * `wsx/ws` facade answers `ws`'s `handleUpgrade(request, socket, head, callback)`
 * with them).
 */
export interface UpgradeCallbacks {
  /** The connection is open: called instead of the "connection" event and the server's handler. */
  accepted(ws: WebSocket, request: ServerRequest): void;
  /**
   * The 101 response as its lines (the status line first, no blank line at
   * the end), just before it is written: they may be changed, added or
   * removed. The WebSocket headers must stay valid, or the client will fail.
   */
  response?(lines: string[], request: ServerRequest): void;
}

/** A refusal from {@link ServerOptions.authenticate}. */
export interface Rejection {
  /** The HTTP status to answer with (like 401 or 403). */
  status: number;
  /** Headers of the answer (like `WWW-Authenticate`). */
  headers?: HeaderInput;
  /** Body of the answer (plain text). */
  body?: string;
}

/** What `authenticate` may return: true/undefined accept, false answers 401, a {@link Rejection} answers as given. */
export type AuthResult = boolean | undefined | void | Rejection;

export interface ServerOptions extends ConnectionOptions {
  /** Port to listen on (0 for any free port). Omit when only using {@link WebSocketServer.handleUpgrade}. */
  port?: number;
  /** Address to listen on (default: every interface, as node:net does). */
  host?: string;
  /**
   * Listen on this Unix domain socket instead of a TCP port (clients use
   * `ws+unix:///path/to.sock:/request/path` or connect()'s `socketPath`).
   * The file must not exist yet; it is removed when the server closes.
   */
  socketPath?: string;
  /** TLS options: listen for wss:// instead of ws://. */
  tls?: TlsOptions;
  /** Accept only these paths (exact match), or those a function approves; others get 404. */
  path?: string | string[] | ((path: string) => boolean);
  /** Subprotocols this server speaks, in preference order: the first one the client offers is chosen. */
  protocols?: string[];
  /**
   * Pick the subprotocol from the client's offer (called only when there is one).
   * Return one of `offered`, or null/undefined for none. Overrides `protocols`.
   */
  selectProtocol?: (offered: string[], request: ServerRequest) => string | null | undefined | false;
  /** Decide whether to accept the request; may be async. See {@link AuthResult}. */
  authenticate?: (request: ServerRequest) => AuthResult | Promise<AuthResult>;
  /** Extra response headers for the 101 response, fixed or per request. */
  headers?: HeaderInput | ((request: ServerRequest) => HeaderInput | undefined);
  /**
   * Time a client has to complete the handshake (request, authentication), in ms (default 10000).
   * Beyond it the client gets 408. With `tls`, the TLS handshake before it has the same bound.
   */
  handshakeTimeout?: number;
  /**
   * Browser origins allowed to connect (RFC 6455 section 10.2); others get 403. A list
   * (`["https://app.example"]`, ASCII case ignored) also lets in requests without an
   * Origin header: browsers always send one, other clients can send anything. A
   * function decides itself, `origin` being null when the header is absent.
   * Default: any origin.
   */
  origins?: OriginPolicy;
  /**
   * Most sockets in the opening handshake at once (standalone: connected and not yet
   * answered; attached: waiting for `authenticate`). Beyond it new ones get 503 at once
   * (default 1024; Infinity for no cap).
   */
  maxPendingHandshakes?: number;
  /**
   * Most open connections; beyond it handshakes get 503 with `Retry-After`. A closing
   * connection counts until its socket is closed (default: no cap).
   */
  maxConnections?: number;
  /** Default `timeout` of {@link WebSocketServer.close}, in ms (default 5000). */
  shutdownTimeout?: number;
  /** Accept permessage-deflate when clients offer it: true for the defaults, or its options (default: off). */
  compression?: CompressionOption;
  /** Share topics with other servers (e.g. `redisAdapter()` from `wsx/redis`): a publish on any of them reaches every subscriber. */
  adapter?: PubSubAdapter;
  /** Report connections, refusals, slow consumers and errors here (pino, bunyan, console...). Nothing is logged by default. */
  logger?: Logger;
}

/** Options of {@link WebSocketServer.publish}. */
export interface PublishOptions {
  /** Send bytes as text (checked to be UTF-8) or a string as binary; by default strings are text, bytes binary. */
  type?: "text" | "binary";
  /** With compression negotiated: false sends uncompressed (default: compress above the threshold). */
  compress?: boolean;
  /** A connection not to send to (usually the publisher's own). */
  exclude?: WebSocket | null;
}

/** Called for each accepted connection. A rejection closes the connection with 1011. */
export type ConnectionHandler = (ws: WebSocket, request: ServerRequest) => void | Promise<void>;

export interface WebSocketServerEvents {
  /** A handshake was accepted: the new connection and its upgrade request. */
  connection: [ws: WebSocket, request: ServerRequest];
  /** A handshake was refused (bad request, authentication, path...). */
  rejected: [error: HandshakeError, remoteAddress: string | undefined];
  /** A handler or hook threw. Emitted only when someone listens. */
  error: [error: Error];
  /** The standalone server is listening (its `port` is known). */
  listening: [];
  /** {@link WebSocketServer.close} is done: every connection and socket of the server is closed. */
  close: [];
}

/** What each option of a {@link WebSocketServer} accepts (see `checkOptions`); the resolvers check the rest. */
const SERVER_OPTIONS = new OptionTable<ServerOptions>({
  ...CONNECTION_OPTION_RULES,
  port: Rules.port,
  host: Rules.string,
  socketPath: Rules.nonEmptyString,
  tls: Rules.object,
  path: Rules.either(Rules.string, Rules.arrayOf(Rules.string), Rules.function),
  protocols: Rules.arrayOf(Rules.string),
  selectProtocol: Rules.function,
  authenticate: Rules.function,
  headers: Rules.either(Rules.object, Rules.function),
  handshakeTimeout: null,
  origins: null,
  maxPendingHandshakes: null,
  maxConnections: null,
  shutdownTimeout: null,
  compression: Rules.either(Rules.boolean, Rules.object),
  adapter: Rules.object,
  logger: Rules.object,
});

const STREAM_OPTIONS = new OptionTable<{ secure?: boolean }>({ secure: Rules.boolean });

const PUBLISH_OPTIONS = new OptionTable<PublishOptions>({
  type: Rules.oneOf("text", "binary"),
  compress: Rules.boolean,
  exclude: Rules.either(Rules.object, Rules.oneOf(null)),
});

/** How long a refused client may take to hang up after its HTTP error before its socket is destroyed. */
const REFUSED_LINGER = 1000;

/** Shared 'error' listener for sockets: no closure per connection. */
function destroySocket(this: Socket): void {
  this.destroy();
}

/** node:tls only reports a failed or timed-out TLS handshake; without this the socket would stay open. */
function destroyTlsClient(_error: Error, socket: TLSSocket): void {
  socket.destroy();
}

/** The request handed to hooks and handlers; the peer address and `locals` are made only when asked for. */
class Request implements ServerRequest {
  readonly method: string;
  readonly target: string;
  readonly path: string;
  readonly query: string;
  readonly key: string;
  readonly protocols: string[];
  readonly extensions: UpgradeRequest["extensions"];
  readonly origin: string | null;
  readonly host: string;
  private ownLocals: Record<string, unknown> | null = null;
  constructor(
    upgrade: CheckedUpgrade,
    /** The request's head: its records are made only if the application reads them (see HttpHeadParser.pushDeferred). */
    private readonly head: HttpHead,
    private readonly socket: Socket,
    readonly secure: boolean,
    readonly incoming: IncomingMessage | null,
  ) {
    this.method = upgrade.method;
    this.target = upgrade.target;
    this.path = upgrade.path;
    this.query = upgrade.query;
    this.key = upgrade.key;
    this.protocols = upgrade.protocols;
    this.extensions = upgrade.extensions;
    this.origin = upgrade.origin;
    this.host = upgrade.host;
  }
  /** Made from the head when first read: a handshake whose fields nobody reads makes no record of them. */
  get headers(): Record<string, string> {
    return this.head.headers;
  }
  get rawHeaders(): Array<[string, string]> {
    return this.head.rawHeaders;
  }
  get locals(): Record<string, unknown> {
    return (this.ownLocals ??= {});
  }
  get remoteAddress(): string | undefined {
    return this.socket.remoteAddress;
  }
  get remotePort(): number | undefined {
    return this.socket.remotePort;
  }
}

/**
 * A WebSocket server.
 *
 * @example
 * ```ts
 * const server = await serve({ port: 0, host: "127.0.0.1" }, async (ws) => {
 *   for await (const message of ws) await ws.send(message);
 * });
 * console.log(`echo on ws://127.0.0.1:${server.port}`);
 * await server.close();
 * ```
 */
export class WebSocketServer extends EventEmitter<WebSocketServerEvents> implements ConnectionOwner {
  /** Open connections. */
  readonly clients = new Set<WebSocket>();
  /** The options the server was created with. */
  readonly options: ServerOptions;
  private readonly limits: Readonly<Limits>;
  private readonly handler: ConnectionHandler | undefined;
  private readonly extensionFactories: ReturnType<typeof extensionFactories>;
  private listener: NetServer | null = null;
  private closing = false;
  private shutdown: Promise<void> | null = null;
  /** Sockets still in the opening handshake (close() refuses them at once). */
  private readonly handshakes: PendingHandshakes;
  /** @internal Topic subscriptions of this server's connections. */
  readonly topics = new Topics();
  private readonly fanout: Fanout;
  private readonly adapter: PubSubAdapter | null;
  private readonly logger: Logger | null;
  /** Counters of connections that have closed; live ones are added when stats are read. */
  private readonly closedTotals = new Counters();
  private readonly closedByCode: Record<number, number> = {};
  private acceptedCount = 0;
  private rejectedCount = 0;
  private publishedCount = 0;
  /** Sockets answered with an HTTP error, until they close: close() waits for them too. */
  private readonly refused = new SocketSet();
  /** TCP sockets of the TLS listener (those still negotiating TLS are nowhere else), for close() to destroy. */
  private readonly tlsTransports = new SocketSet();
  private readonly admission: Admission;

  constructor(options: ServerOptions = {}, handler?: ConnectionHandler) {
    super();
    checkOptions(options, SERVER_OPTIONS, "WebSocketServer");
    if (handler !== undefined && typeof handler !== "function") {
      throw new UsageError("INVALID_OPTION", `the connection handler must be a function, got ${describeValue(handler)}`);
    }
    this.options = options;
    if (options.socketPath !== undefined && (options.port !== undefined || options.host !== undefined)) {
      throw new UsageError("INVALID_OPTION", "socketPath cannot be combined with port or host");
    }
    // Bad connection options fail here, not at the first connection; connections share the result.
    this.limits = connectionSettings(options).limits;
    this.fanout = new Fanout(this.topics, this.limits.maxFrameSize);
    this.handler = handler;
    this.extensionFactories = extensionFactories(options.compression);
    this.logger = options.logger ?? null;
    this.adapter = options.adapter ?? null;
    if (this.adapter !== null) {
      this.topics.listener = this.adapter;
      const hub: AdapterHub = {
        deliverLocal: (topic, payload, binary) => {
          this.publishedCount++;
          this.fanout.deliver(topic, payload, binary ? Opcode.BINARY : Opcode.TEXT, undefined, null);
        },
        localTopics: () => this.topics.names(),
      };
      this.adapter.attach(hub);
    }
    this.admission = resolveAdmission(options);
    this.handshakes = new PendingHandshakes(resolveHandshakeTimeout(options.handshakeTimeout), {
      data: (socket, handshake, chunk) => this.onHandshakeData(socket, handshake, chunk),
      timeout: (socket, handshake) => {
        const ms = this.handshakes.timeout;
        this.failHandshake(socket, handshake, new HandshakeError("HANDSHAKE_TIMEOUT", `handshake not completed within ${ms} ms`, 408));
      },
    });
    resolveShutdown({}, options.shutdownTimeout); // a bad shutdownTimeout fails here, not at shutdown
  }

  /** Start listening on `options.port` or `options.socketPath` (standalone mode). */
  listen(): Promise<this> {
    if (this.closing) return Promise.reject(new UsageError("SERVER_CLOSED", "the server was closed"));
    const tls = this.options.tls;
    // A client that never finishes TLS is as slow a handshake as one that never finishes its request.
    const server = tls
      ? createTlsServer({ handshakeTimeout: this.handshakes.timeout, noDelay: true, ...tls }, (socket) =>
          this.onRawSocket(socket, true),
        )
      : // No noDelay here: the connection sets it before its first frame, so one that never
        // sends pays no setsockopt (the 101 is the first segment: Nagle never holds it).
        // TLS keeps it: its handshake flights are several writes that Nagle would delay.
        createNetServer((socket) => this.onRawSocket(socket, false));
    if (tls) {
      server.on("connection", (socket: Socket) => this.tlsTransports.add(socket));
      server.on("tlsClientError", destroyTlsClient);
    }
    this.listener = server;
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      const onListening = (): void => {
        server.removeListener("error", reject);
        this.emit("listening");
        resolve(this);
      };
      if (this.options.socketPath !== undefined) server.listen(this.options.socketPath, onListening);
      else server.listen(this.options.port ?? 0, this.options.host, onListening);
    });
  }

  /** The listening address (standalone mode). */
  address(): AddressInfo | null {
    const address = this.listener?.address();
    return typeof address === "object" && address !== null ? address : null;
  }

  /** The listening port (standalone mode). */
  get port(): number {
    return this.address()?.port ?? 0;
  }

  /**
   * Take over an upgrade request of an existing node:http(s) server:
   * `httpServer.on("upgrade", wss.handleUpgrade)`. With `callbacks`, this
   * upgrade's connection goes to `callbacks.accepted` instead of the
   * "connection" event and the handler (see {@link UpgradeCallbacks}).
   */
  readonly handleUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer, callbacks?: UpgradeCallbacks): void => {
    const raw = socket as Socket;
    raw.setTimeout?.(0);
    raw.on("error", destroySocket);
    const secure = (raw as TLSSocket).encrypted === true;
    const unwelcome = this.cannotTake();
    if (unwelcome !== null) return this.refuse(raw, unwelcome);
    if (request.rawHeaders.length / 2 > this.limits.maxHeaderCount) {
      return this.refuse(raw, new HandshakeError("TOO_MANY_HEADERS", "too many header fields", 431));
    }
    const rawHeaders: Array<[string, string]> = [];
    const headers: Record<string, string> = {};
    // node:http has read the head under its own maxHeaderSize; the size it had on the wire is at
    // least this (values lost their surrounding whitespace), so maxHeaderBytes means the same in both modes.
    let headBytes = (request.method?.length ?? 0) + (request.url?.length ?? 0) + 14;
    for (let i = 0; i < request.rawHeaders.length; i += 2) {
      const name = request.rawHeaders[i]!;
      const value = request.rawHeaders[i + 1]!;
      headBytes += name.length + value.length + 4;
      rawHeaders.push([name, value]);
      const lower = name.toLowerCase();
      headers[lower] = headers[lower] === undefined ? value : `${headers[lower]}, ${value}`;
    }
    if (headBytes > this.limits.maxHeaderBytes) {
      return this.refuse(raw, new HandshakeError("HEADERS_TOO_LARGE", `HTTP head larger than ${this.limits.maxHeaderBytes} bytes`, 431));
    }
    const httpHead: HttpHead = {
      startLine: [request.method ?? "", request.url ?? "", `HTTP/${request.httpVersion}`],
      headers,
      rawHeaders,
    };
    this.accept(httpHead, raw, head, this.handshakes.begin(raw, secure), request, callbacks);
  };

  /**
   * Serve a connection over a stream the caller already has (an SSH
   * channel, a tunnel, an HTTP/2 stream, a test pair): the opening
   * handshake is read from it and answered on it like one on the server's
   * own listener (same admission, timeouts and handler). `secure` says
   * whether the stream is encrypted (for the handler's request; default
   * false). For a stream whose handshake is already done, see
   * `WebSocket.fromStream`.
   *
   * @example
   * ```ts
   * import { duplexPair } from "node:stream";
   * import { WebSocketServer, connect } from "wsx";
   * const wss = new WebSocketServer({}, (ws) => {
   *   ws.on("message", (message) => void ws.send(message));
   * });
   * const [clientSide, serverSide] = duplexPair();
   * wss.handleStream(serverSide);
   * const ws = await connect("ws://in-process/", { stream: clientSide });
   * await ws.send("echo me");
   * console.log((await ws.receive()).text);
   * await ws.close();
   * ```
   */
  handleStream(stream: Duplex, options: { secure?: boolean } = {}): void {
    if (!isDuplex(stream)) throw new UsageError("INVALID_OPTION", `handleStream() takes a Duplex stream, got ${describeValue(stream)}`);
    checkOptions(options, STREAM_OPTIONS, "handleStream()");
    this.onRawSocket(stream as Socket, options.secure ?? false);
  }

  /** A connection on the standalone listener: read the request head with the core parser. */
  private onRawSocket(socket: Socket, secure: boolean): void {
    socket.on("error", destroySocket);
    const unwelcome = this.cannotTake();
    if (unwelcome !== null) return this.refuse(socket, unwelcome);
    this.handshakes.read(socket, this.handshakes.begin(socket, secure), this.limits);
  }

  private onHandshakeData(socket: Socket, handshake: PendingHandshake, chunk: Uint8Array): void {
    let result;
    try {
      result = handshake.parser!.pushDeferred(chunk);
    } catch (error) {
      return this.failHandshake(socket, handshake, error);
    }
    if (result === null) return;
    // No pause here: unless authenticate is async, the connection takes the socket over before any new read.
    this.handshakes.stopReading(socket, handshake);
    this.accept(result.head, socket, result.rest, handshake);
  }

  /** Why a new socket cannot even start a handshake (closing, too many at once), or null. */
  private cannotTake(): HandshakeError | null {
    if (this.closing) return new HandshakeError("SERVER_CLOSING", "server is shutting down", 503);
    const most = this.admission.maxPendingHandshakes;
    if (this.handshakes.size >= most) return atCapacity("TOO_MANY_HANDSHAKES", `more than ${most} handshakes in progress`);
    return null;
  }

  /** Refusal when accepting one more connection would exceed maxConnections, or null. */
  private noRoom(): HandshakeError | null {
    const most = this.admission.maxConnections;
    return this.clients.size >= most ? atCapacity("TOO_MANY_CONNECTIONS", `more than ${most} connections`) : null;
  }

  /** Refuse a handshake with the error's status (500 for anything that is not a HandshakeError). */
  private failHandshake(socket: Socket, handshake: PendingHandshake, error: unknown, body?: string): void {
    if (!this.handshakes.end(socket, handshake)) return;
    if (error instanceof HandshakeError) return this.refuse(socket, error, body);
    this.reportError(error as Error);
    this.refuse(socket, new HandshakeError("INTERNAL_ERROR", "server error during the handshake", 500));
  }

  /**
   * The accept pipeline shared by both modes. Synchronous unless
   * `authenticate` returns a promise, so the common case costs no promise.
   */
  private accept(
    head: HttpHead,
    socket: Socket,
    rest: Uint8Array,
    pending: PendingHandshake,
    incoming: IncomingMessage | null = null,
    callbacks?: UpgradeCallbacks,
  ): void {
    let request: ServerRequest;
    let verdict: AuthResult | Promise<AuthResult> = true;
    try {
      if (this.closing) throw new HandshakeError("SERVER_CLOSING", "server is shutting down", 503);
      const upgrade = checkUpgradeRequest(head);
      if (!this.pathAllowed(upgrade.path)) throw new HandshakeError("NOT_FOUND", `no WebSocket endpoint at ${upgrade.path}`, 404);
      request = new Request(upgrade, head, socket, pending.secure, incoming);
      const originAllowed = this.admission.originAllowed;
      if (originAllowed !== null && !originAllowed(request.origin, request)) throw originRefused(request.origin);
      // Checked again before the 101: this only spares authenticate when the server is already full.
      const full = this.noRoom();
      if (full !== null) throw full;
      if (this.options.authenticate !== undefined) verdict = this.options.authenticate(request);
    } catch (error) {
      return this.failHandshake(socket, pending, error);
    }
    if (verdict instanceof Promise) {
      socket.pause(); // hold reads (early frames) until the verdict
      verdict.then(
        (result) => this.afterAuthentication(socket, pending, request, result, rest, callbacks),
        (error: unknown) => this.failHandshake(socket, pending, error),
      );
    } else {
      this.afterAuthentication(socket, pending, request, verdict, rest, callbacks);
    }
  }

  private afterAuthentication(
    socket: Socket,
    handshake: PendingHandshake,
    request: ServerRequest,
    verdict: AuthResult,
    rest: Uint8Array,
    callbacks: UpgradeCallbacks | undefined,
  ): void {
    if (handshake.over) return; // timed out or refused by close() while authenticate ran
    if (verdict === false) {
      return this.failHandshake(socket, handshake, new HandshakeError("UNAUTHORIZED", "authentication failed", 401));
    }
    if (typeof verdict === "object" && verdict !== null) {
      const rejection = new HandshakeError("REJECTED", "request rejected by authenticate", verdict.status, headerRecord(verdict.headers));
      return this.failHandshake(socket, handshake, rejection, verdict.body);
    }
    let protocol: string | null;
    let response: string;
    let agreed: ExtensionAgreement;
    try {
      const full = this.noRoom(); // others may have been accepted while authenticate ran
      if (full !== null) throw full;
      protocol = this.chooseProtocol(request);
      agreed = negotiateExtensions(this.extensionFactories, request.extensions);
      const extra = typeof this.options.headers === "function" ? this.options.headers(request) : this.options.headers;
      response = formatAcceptResponse({ key: request.key, accept: nativeAccept(request.key), protocol, extensions: agreed.responses, headers: extra });
      if (callbacks?.response !== undefined) {
        const lines = response.slice(0, -4).split("\r\n");
        callbacks.response(lines, request);
        response = `${lines.join("\r\n")}\r\n\r\n`;
      }
    } catch (error) {
      return this.failHandshake(socket, handshake, error);
    }
    this.handshakes.end(socket, handshake);
    if (socket.destroyed) return;
    socket.write(response, "latin1");
    // The connection handles errors from now on. Removed first: a second listener would turn the
    // socket's one-function slot into an array, and removing the first one would shift it back.
    socket.removeListener("error", destroySocket);
    const ws = new WebSocket(socket, "server", { protocol, extensions: formatExtensions(agreed.responses), negotiated: agreed.extensions, head: rest }, this.options);
    if (socket.isPaused()) socket.resume();
    this.adopt(ws, request, callbacks);
  }

  /** Track an accepted connection and run the application's handler on it (or the upgrade's own callback). */
  private adopt(ws: WebSocket, request: ServerRequest, callbacks: UpgradeCallbacks | undefined): void {
    this.clients.add(ws);
    ws.owner = this;
    this.acceptedCount++;
    this.logger?.debug?.({ remoteAddress: request.remoteAddress, path: request.path, protocol: ws.protocol }, "websocket connection accepted");
    if (callbacks !== undefined) {
      try {
        callbacks.accepted(ws, request);
      } catch (error) {
        this.onHandlerError(ws, error);
      }
      return;
    }
    // emit() gathers its arguments into an array even when nobody listens.
    if (this.listenerCount("connection") > 0) this.emit("connection", ws, request);
    if (this.handler === undefined) return;
    try {
      const running = this.handler(ws, request);
      if (running instanceof Promise) running.catch((error: unknown) => this.onHandlerError(ws, error));
    } catch (error) {
      this.onHandlerError(ws, error);
    }
  }

  private onHandlerError(ws: WebSocket, error: unknown): void {
    this.reportError(error instanceof Error ? error : new Error(String(error)));
    if (ws.readyState === "open") void ws.close(CloseCode.INTERNAL_ERROR, "internal error");
  }

  private reportError(error: Error): void {
    this.logger?.error?.({ err: error }, "websocket server error");
    if (this.listenerCount("error") > 0) this.emit("error", error);
  }

  // ---- pub/sub ----

  /**
   * Send a message to every subscriber of `topic` (see
   * {@link WebSocket.subscribe}), and through the adapter to subscribers on
   * other servers. The frame is encoded once for all subscribers that share
   * encoding parameters (compressed once when they negotiated compression
   * without context takeover) and each subscriber's bytes leave in its next
   * batched write. A subscriber past its `maxBackpressure` misses the
   * message (or is closed, with the "close" policy). Returns the number of
   * local subscribers it was queued for. Throws UsageError for a topic that
   * is not a string (`INVALID_TOPIC`), data that is not a message
   * (`INVALID_DATA`) or bad options.
   *
   * @example
   * ```ts
   * const server = await serve({ port: 0, host: "127.0.0.1" }, (ws) => {
   *   ws.subscribe("chat");
   *   ws.on("message", (message) => server.publish("chat", message, { exclude: ws }));
   * });
   * await server.close();
   * ```
   */
  publish(topic: string, data: string | Uint8Array | ArrayBuffer | ArrayBufferView | Message, options?: PublishOptions): number {
    checkTopic(topic);
    if (options !== undefined) checkOptions(options, PUBLISH_OPTIONS, "publish()");
    const { opcode, bytes } = messageBytes(data, options?.type, "publish()");
    this.publishedCount++;
    const delivered = this.fanout.deliver(topic, bytes, opcode, options?.compress, options?.exclude ?? null);
    this.adapter?.publish(topic, bytes, opcode === Opcode.BINARY);
    return delivered;
  }

  /** Subscribers of `topic` on this server. */
  subscriberCount(topic: string): number {
    return this.topics.subscribers(topic)?.size ?? 0;
  }

  // ---- observability ----

  /**
   * Counters since the server started: open and accepted connections,
   * refused handshakes, publishes, and the traffic of every connection
   * (closed ones included), with closed connections by close code.
   */
  get stats(): ServerStats {
    const totals = new Counters();
    totals.add(this.closedTotals);
    for (const ws of this.clients) totals.add(ws.stats);
    return {
      ...totals.snapshot(),
      connections: this.clients.size,
      accepted: this.acceptedCount,
      rejected: this.rejectedCount,
      published: this.publishedCount,
      closedByCode: { ...this.closedByCode },
    };
  }

  /** @internal */
  connectionClosed(ws: WebSocket, info: CloseInfo): void {
    this.clients.delete(ws);
    this.closedTotals.add(ws.stats);
    this.closedByCode[info.code] = (this.closedByCode[info.code] ?? 0) + 1;
    if (this.logger !== null) {
      const fields = {
        remoteAddress: ws.remoteAddress,
        code: info.code,
        reason: info.reason,
        wasClean: info.wasClean,
        error: info.error?.message,
        dropped: ws.stats.dropped,
      };
      if (info.error !== undefined) this.logger.info?.(fields, "websocket connection failed");
      else this.logger.debug?.(fields, "websocket connection closed");
    }
  }

  /** @internal */
  overLimit(ws: WebSocket, action: "dropped" | "closed"): void {
    this.logger?.warn?.(
      { remoteAddress: ws.remoteAddress, buffered: ws.bufferedAmount, maxBackpressure: ws.maxBackpressure, action },
      action === "dropped" ? "slow consumer: dropping messages (each counted in stats.dropped)" : "slow consumer: connection closed",
    );
  }

  private pathAllowed(path: string): boolean {
    const rule = this.options.path;
    if (rule === undefined) return true;
    if (typeof rule === "string") return path === rule;
    if (Array.isArray(rule)) return rule.includes(path);
    return rule(path);
  }

  private chooseProtocol(request: ServerRequest): string | null {
    if (request.protocols.length === 0) return null;
    if (this.options.selectProtocol !== undefined) {
      return selectSubprotocol(request.protocols, this.options.selectProtocol(request.protocols, request));
    }
    const supported = this.options.protocols;
    return supported?.find((name) => request.protocols.includes(name)) ?? null;
  }

  /** Answer with an HTTP error and close. */
  private refuse(socket: Socket, error: HandshakeError, body?: string): void {
    this.rejectedCount++;
    this.logger?.info?.({ remoteAddress: socket.remoteAddress, status: error.status, code: error.code }, "websocket handshake refused");
    this.emit("rejected", error, socket.remoteAddress);
    if (socket.destroyed) return;
    const status = error.status >= 300 && error.status <= 599 ? error.status : 400;
    let response: Uint8Array;
    try {
      response = buildRejectResponse(status, { headers: error.headers, body: body ?? `${error.message}\n` });
    } catch (problem) {
      // A Rejection whose headers cannot be sent (reserved, or not a valid header): a server bug, not the client's.
      this.reportError(problem as Error);
      response = buildRejectResponse(500, { body: "server error during the handshake\n" });
    }
    socket.end(response);
    socket.resume(); // whatever else the client sends is dropped, so its close is not answered with a reset
    this.refused.add(socket, REFUSED_LINGER);
  }

  /**
   * Shut down gracefully: stop accepting (handshakes in progress and new
   * ones get 503), send every connection a close frame (1001 "server
   * shutting down" unless told otherwise), wait for the close handshakes,
   * and destroy whatever is still open after `timeout` ms. Resolves, and
   * emits "close", once every connection and every socket the server
   * answered is closed and, in standalone mode, the listener is closed.
   * Attached with handleUpgrade, the node:http(s) server is left alone: it
   * keeps serving, and its upgrades get 503. Calling again returns the same promise.
   *
   * @example
   * ```ts
   * const server = await serve({ port: 0, host: "127.0.0.1" }, async (ws) => {
   *   for await (const message of ws) await ws.send(message);
   * });
   * // Clients get 1012 and have 10 s to answer it; whatever is left then is cut.
   * await server.close({ code: 1012, reason: "restarting", timeout: 10_000 });
   * ```
   */
  close(options: ShutdownOptions = {}): Promise<void> {
    if (this.shutdown !== null) return this.shutdown;
    let settings: Required<ShutdownOptions>;
    try {
      settings = resolveShutdown(options, this.options.shutdownTimeout);
    } catch (error) {
      return Promise.reject(error);
    }
    this.closing = true;
    // Refuse handshakes in progress now rather than wait for them (up to handshakeTimeout).
    for (const [socket, handshake] of this.handshakes.list()) {
      this.failHandshake(socket, handshake, new HandshakeError("SERVER_CLOSING", "server is shutting down", 503));
    }
    this.handshakes.stop();
    this.shutdown = drain([...this.clients], [this.refused, this.tlsTransports], this.listener, settings)
      .then(() => this.adapter?.close())
      .catch((error: unknown) => this.reportError(error instanceof Error ? error : new Error(String(error))))
      .then(() => {
        this.emit("close");
      });
    return this.shutdown;
  }
}

function headerRecord(headers: HeaderInput | undefined): Record<string, string> {
  if (headers === undefined) return {};
  const record: Record<string, string> = {};
  const pairs = Array.isArray(headers) ? headers : Object.entries(headers);
  for (const [name, value] of pairs) record[name] = Array.isArray(value) ? value.join(", ") : value;
  return record;
}

/**
 * Start a standalone server and call `handler` for each connection.
 *
 * @example
 * ```ts
 * const server = await serve({ port: 8080, protocols: ["chat"] }, async (ws, request) => {
 *   await ws.send(`hello ${request.remoteAddress}`);
 *   for await (const message of ws) await ws.send(message);
 * });
 * ```
 */
export async function serve(options: ServerOptions, handler?: ConnectionHandler): Promise<WebSocketServer> {
  return new WebSocketServer(options, handler).listen();
}

