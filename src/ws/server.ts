/**
 * `ws`'s WebSocketServer over wsx's server. Upgrades are read by node:http
 * (its own server in `port` mode, as `ws` does, or the application's), checked
 * in `ws`'s order with `ws`'s answers, then accepted by a wsx server attached
 * with `handleUpgrade`: it negotiates, writes the 101 (after the `headers`
 * event) and runs the connection, which is handed to `ws`'s callback.
 */
import { EventEmitter } from "node:events";
import { STATUS_CODES, createServer, type IncomingMessage, type OutgoingHttpHeaders, type Server as HttpServer } from "node:http";
import type { Server as HttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { UsageError, buildRejectResponse, parseExtensions, parseProtocolList } from "../core/index.js";
import { WebSocketServer as Engine, type AuthResult, type Rejection, type ServerRequest } from "../server/index.js";
import type { WebSocket as Connection } from "../node/index.js";
import { connectionOptions, deflateOption, type PerMessageDeflateOptions, type SharedOptions } from "./options.js";
import { ATTACH, FORGET, OWNER, WebSocket, type Tracker } from "./websocket.js";

/** What `verifyClient` is told about a request. */
export interface VerifyClientInfo {
  /** The Origin header (undefined when absent). */
  origin: string | undefined;
  /** Whether the connection is TLS. */
  secure: boolean;
  req: IncomingMessage;
}

/** A synchronous `verifyClient`: return true to accept the request, false to refuse it with 401. */
export type VerifyClientCallbackSync = (info: VerifyClientInfo) => boolean;
/**
 * An asynchronous `verifyClient` (told apart by its second parameter): call
 * `callback(true)` to accept, or `callback(false, code, message, headers)` to
 * refuse with that HTTP status (default 401), body and headers.
 */
export type VerifyClientCallbackAsync = (
  info: VerifyClientInfo,
  callback: (verified: boolean, code?: number, message?: string, headers?: OutgoingHttpHeaders) => void,
) => void;

/** `ws`'s server options. One of `port`, `server` and `noServer`. */
export interface ServerOptions extends SharedOptions {
  /** Listen on this port with a node:http server of its own (non-upgrade requests get 426). */
  port?: number;
  host?: string;
  backlog?: number;
  /** Take the upgrades of this node:http(s) server. */
  server?: HttpServer | HttpsServer;
  /** Neither: the application calls {@link WebSocketServer.handleUpgrade}. */
  noServer?: boolean;
  /** Accept only this path (others get 400, see {@link WebSocketServer.shouldHandle}). */
  path?: string;
  /** Accept or refuse each request: sync (return a boolean) or async (a callback as second parameter). */
  verifyClient?: VerifyClientCallbackSync | VerifyClientCallbackAsync | null;
  /** Pick the subprotocol among those offered; default: the first. Read at each handshake. */
  handleProtocols?: ((protocols: Set<string>, request: IncomingMessage) => string | false) | null;
  /** Keep the open connections in `clients` (default true). */
  clientTracking?: boolean;
  /** Accept permessage-deflate (default false). */
  perMessageDeflate?: boolean | PerMessageDeflateOptions;
  /** The class of the server's WebSockets: this module's WebSocket or a subclass of it. */
  WebSocket?: typeof WebSocket;
}

/** The events and their arguments, as `ws` emits them. */
export interface WebSocketServerEventMap {
  connection: [socket: WebSocket, request: IncomingMessage];
  headers: [headers: string[], request: IncomingMessage];
  listening: [];
  error: [error: Error];
  wsClientError: [error: Error, socket: Duplex, request: IncomingMessage];
  close: [];
}

/** The callback of {@link WebSocketServer.handleUpgrade}: given the open WebSocket and the upgrade request. */
export type UpgradeCallback = (socket: WebSocket, request: IncomingMessage) => void;

const RUNNING = 0;
const CLOSING = 1;
const CLOSED = 2;
const KEY = /^[+/0-9A-Za-z]{22}==$/;
/** node:http has read the head under its own limits: wsx does not count it again. */
const NO_LIMIT = Number.MAX_SAFE_INTEGER;

function destroyOnError(this: Duplex): void {
  this.destroy();
}

/** Answer an upgrade with an HTTP error and close, as `ws` does. */
function abortHandshake(socket: Duplex, code: number, message?: string, headers?: OutgoingHttpHeaders): void {
  const rejection = rejectionOf(code, message, headers);
  socket.once("finish", socket.destroy);
  socket.end(buildRejectResponse(rejection.status, rejection));
}

/** `ws`'s refusal (status, body, headers) as a wsx rejection; node:http's status text by default, as HTML. */
function rejectionOf(code: number, message?: string, headers?: OutgoingHttpHeaders): Rejection {
  const status = Number.isInteger(code) && code >= 300 && code <= 599 ? code : 400;
  const fields: Record<string, string | string[]> = { "Content-Type": "text/html" };
  for (const [name, value] of Object.entries(headers ?? {})) {
    const lower = name.toLowerCase();
    // wsx writes these itself (the connection is closed after the answer).
    if (value === undefined || lower === "connection" || lower === "content-length" || lower === "transfer-encoding") continue;
    fields[name] = Array.isArray(value) ? value.map(String) : String(value);
  }
  return { status, headers: fields, body: message || STATUS_CODES[status] || "" };
}

/**
 * A WebSocket server with `ws`'s API.
 *
 * @example
 * ```ts
 * import { WebSocketServer } from "wsx/ws";
 *
 * const wss = new WebSocketServer({ port: 8080 });
 * wss.on("connection", (ws, request) => {
 *   ws.on("message", (data, isBinary) => {
 *     for (const client of wss.clients) if (client.readyState === 1) client.send(data, { binary: isBinary });
 *   });
 * });
 * ```
 */
export class WebSocketServer extends EventEmitter implements Tracker {
  /** The options, `ws`'s defaults filled in; `verifyClient` and `handleProtocols` are read at each handshake. */
  readonly options: ServerOptions & { clientTracking: boolean; perMessageDeflate: boolean | PerMessageDeflateOptions };
  /** Open connections (with `clientTracking`, the default). */
  clients!: Set<WebSocket>;
  private server: HttpServer | HttpsServer | null = null;
  private removeListeners: (() => void) | null = null;
  private state = RUNNING;
  private shouldEmitClose = false;
  private readonly engine: Engine;

  constructor(options: ServerOptions = {}, callback?: () => void) {
    super();
    const settings = {
      maxPayload: 100 * 1024 * 1024,
      perMessageDeflate: false as boolean | PerMessageDeflateOptions,
      handleProtocols: null,
      clientTracking: true,
      verifyClient: null,
      noServer: false,
      ...options,
    };
    const modes = Number(settings.port != null) + Number(settings.server != null) + Number(settings.noServer === true);
    if (modes !== 1) {
      throw new UsageError("INVALID_OPTION", 'one and only one of the "port", "server", or "noServer" options must be specified');
    }
    if (settings.perMessageDeflate === true) settings.perMessageDeflate = {};
    this.engine = new Engine({
      ...connectionOptions(settings),
      compression: deflateOption(settings.perMessageDeflate),
      maxHeaderBytes: NO_LIMIT,
      maxHeaderCount: NO_LIMIT,
      selectProtocol: (offered, request) => this.selectProtocol(offered, request),
      authenticate: (request) => this.verify(request),
    });
    this.engine.on("error", (error) => this.engineError(error));
    this.options = settings;
    if (settings.clientTracking) this.clients = new Set();

    if (settings.port != null) {
      const server = createServer((_request, response) => {
        const body = STATUS_CODES[426]!;
        response.writeHead(426, { "Content-Length": body.length, "Content-Type": "text/plain" });
        response.end(body);
      });
      this.server = server;
      server.listen(settings.port, settings.host, settings.backlog ?? undefined, callback);
    } else if (settings.server != null) {
      this.server = settings.server;
    }
    if (this.server !== null) this.attach(this.server);
  }

  private attach(server: HttpServer | HttpsServer): void {
    const listening = (): void => {
      this.emit("listening");
    };
    const error = (problem: Error): void => {
      this.emit("error", problem);
    };
    const emitConnection: UpgradeCallback = (ws, request) => {
      this.emit("connection", ws, request);
    };
    const upgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
      this.handleUpgrade(request, socket, head, emitConnection);
    };
    server.on("listening", listening);
    server.on("error", error);
    server.on("upgrade", upgrade);
    this.removeListeners = () => {
      server.removeListener("listening", listening);
      server.removeListener("error", error);
      server.removeListener("upgrade", upgrade);
    };
  }

  /** The listening address (null before listening); throws in `noServer` mode. */
  address(): AddressInfo | string | null {
    if (this.options.noServer) throw new UsageError("NO_SERVER", 'the server is operating in "noServer" mode');
    return this.server?.address() ?? null;
  }

  /**
   * Stop accepting connections; "close" is emitted (and `callback` called)
   * once every tracked connection has closed and, in `port` mode, the HTTP
   * server too. Open connections are left to the application, as in `ws`.
   */
  close(callback?: (error?: Error) => void): void {
    if (this.state === CLOSED) {
      if (callback !== undefined) this.once("close", () => callback(new UsageError("NOT_RUNNING", "the server is not running")));
      process.nextTick(() => this.emitClose());
      return;
    }
    if (callback !== undefined) this.once("close", callback);
    if (this.state === CLOSING) return;
    this.state = CLOSING;
    const server = this.server;
    this.removeListeners?.();
    this.removeListeners = null;
    this.server = null;
    if (this.options.port != null && server !== null) {
      server.close(() => this.emitClose());
    } else if (this.clients !== undefined && this.clients.size > 0) {
      this.shouldEmitClose = true;
    } else {
      process.nextTick(() => this.emitClose());
    }
  }

  /** Whether this server takes `request`: with `path`, only that path. Override to decide otherwise. */
  shouldHandle(request: IncomingMessage): boolean | Promise<boolean> {
    const path = this.options.path;
    if (!path) return true;
    const url = request.url ?? "";
    const query = url.indexOf("?");
    return (query === -1 ? url : url.slice(0, query)) === path;
  }

  /**
   * Complete an upgrade request of a node:http(s) server: `callback(ws, request)`
   * gets the open WebSocket. Refusals get `ws`'s HTTP answers; malformed
   * requests go to "wsClientError" listeners instead when there are some.
   */
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer, callback: UpgradeCallback): void {
    socket.on("error", destroyOnError);
    const headers = request.headers;
    const key = headers["sec-websocket-key"];
    const upgrade = headers.upgrade;
    if (request.method !== "GET") return this.clientError(request, socket, 405, "Invalid HTTP method");
    if (upgrade === undefined || upgrade.toLowerCase() !== "websocket") return this.clientError(request, socket, 400, "Invalid Upgrade header");
    if (key === undefined || !KEY.test(key)) return this.clientError(request, socket, 400, "Missing or invalid Sec-WebSocket-Key header");
    if (headers["sec-websocket-version"] !== "13") {
      return this.clientError(request, socket, 400, "Missing or invalid Sec-WebSocket-Version header", { "Sec-WebSocket-Version": "13" });
    }
    if (!this.shouldHandle(request)) return abortHandshake(socket, 400);
    const protocols = headers["sec-websocket-protocol"];
    if (protocols !== undefined && !validProtocols(protocols)) {
      return this.clientError(request, socket, 400, "Invalid Sec-WebSocket-Protocol header");
    }
    const extensions = headers["sec-websocket-extensions"];
    if (this.options.perMessageDeflate && extensions !== undefined && !validExtensions(extensions)) {
      return this.clientError(request, socket, 400, "Invalid or unacceptable Sec-WebSocket-Extensions header");
    }
    socket.removeListener("error", destroyOnError); // wsx's server takes the socket's errors from here
    const emitHeaders = this.listenerCount("headers") > 0;
    this.engine.handleUpgrade(request, socket, head, {
      accepted: (connection) => this.completeUpgrade(connection, request, callback),
      response: emitHeaders ? (lines) => this.emit("headers", lines, request) : undefined,
    });
  }

  private completeUpgrade(connection: Connection, request: IncomingMessage, callback: UpgradeCallback): void {
    const Class = this.options.WebSocket ?? WebSocket;
    const ws = new Class(null, undefined, this.options as never);
    ws[ATTACH](connection);
    if (this.clients !== undefined) {
      this.clients.add(ws);
      ws[OWNER] = this;
    }
    callback(ws, request);
  }

  /** @internal A tracked connection closed (called before its "close" event, as `ws` removes it first). */
  [FORGET](ws: WebSocket): void {
    this.clients.delete(ws);
    if (this.shouldEmitClose && this.clients.size === 0) process.nextTick(() => this.emitClose());
  }

  /** A malformed request: to "wsClientError" listeners when there are some, else answered. */
  private clientError(request: IncomingMessage, socket: Duplex, code: number, message: string, headers?: OutgoingHttpHeaders): void {
    if (this.listenerCount("wsClientError") > 0) this.emit("wsClientError", new UsageError("INVALID_UPGRADE_REQUEST", message), socket, request);
    else abortHandshake(socket, code, message, headers);
  }

  /** verifyClient, read at each handshake; a server closing meanwhile answers 503, as `ws` does. */
  private verify(request: ServerRequest): AuthResult | Promise<AuthResult> {
    const verifyClient = this.options.verifyClient;
    if (!verifyClient) return this.running();
    const req = request.incoming!;
    const socket = req.socket as IncomingMessage["socket"] & { authorized?: boolean; encrypted?: boolean };
    const info: VerifyClientInfo = { origin: req.headers.origin, secure: socket.authorized === true || socket.encrypted === true, req };
    if (verifyClient.length === 2) {
      return new Promise<AuthResult>((resolve) => {
        (verifyClient as VerifyClientCallbackAsync)(info, (verified, code, message, headers) => {
          resolve(verified ? this.running() : rejectionOf(code || 401, message, headers));
        });
      });
    }
    return (verifyClient as VerifyClientCallbackSync)(info) ? this.running() : rejectionOf(401);
  }

  private running(): AuthResult {
    return this.state === RUNNING ? true : rejectionOf(503);
  }

  /** handleProtocols, read at each handshake; without it the first offered subprotocol, as `ws` does. */
  private selectProtocol(offered: string[], request: ServerRequest): string | false {
    const handleProtocols = this.options.handleProtocols;
    if (!handleProtocols) return offered[0]!;
    return handleProtocols(new Set(offered), request.incoming!);
  }

  /** A callback or hook threw inside wsx's server: "error" listeners hear of it, else it is thrown as `ws` would have. */
  private engineError(error: Error): void {
    if (this.listenerCount("error") > 0) this.emit("error", error);
    else
      process.nextTick(() => {
        throw error;
      });
  }

  private emitClose(): void {
    this.state = CLOSED;
    this.emit("close");
  }

  // ---- typed events ----

  /** Listen for `event`, called with its arguments in {@link WebSocketServerEventMap} (`connection`: ws, request). */
  override on<K extends keyof WebSocketServerEventMap>(event: K, listener: (this: this, ...args: WebSocketServerEventMap[K]) => void): this;
  /** Listen for any other event (EventEmitter's `on`). */
  override on(event: string | symbol, listener: (this: this, ...args: any[]) => void): this;
  override on(event: string | symbol, listener: (...args: any[]) => void): this {
    return super.on(event, listener);
  }
  /** Listen for the next `event` only, called with its arguments in {@link WebSocketServerEventMap}. */
  override once<K extends keyof WebSocketServerEventMap>(event: K, listener: (this: this, ...args: WebSocketServerEventMap[K]) => void): this;
  /** Listen for the next emission of any other event. */
  override once(event: string | symbol, listener: (this: this, ...args: any[]) => void): this;
  override once(event: string | symbol, listener: (...args: any[]) => void): this {
    return super.once(event, listener);
  }
  /** Remove a listener added with {@link on} or {@link once}. */
  override off<K extends keyof WebSocketServerEventMap>(event: K, listener: (this: this, ...args: WebSocketServerEventMap[K]) => void): this;
  /** Remove a listener of any other event. */
  override off(event: string | symbol, listener: (this: this, ...args: any[]) => void): this;
  override off(event: string | symbol, listener: (...args: any[]) => void): this {
    return super.off(event, listener);
  }
  /** Alias of {@link on}: listen for `event`, called with its arguments in {@link WebSocketServerEventMap}. */
  override addListener<K extends keyof WebSocketServerEventMap>(
    event: K,
    listener: (this: this, ...args: WebSocketServerEventMap[K]) => void,
  ): this;
  /** Alias of {@link on} for any other event. */
  override addListener(event: string | symbol, listener: (this: this, ...args: any[]) => void): this;
  override addListener(event: string | symbol, listener: (...args: any[]) => void): this {
    return super.addListener(event, listener);
  }
  /** Alias of {@link off}: remove a listener of `event`. */
  override removeListener<K extends keyof WebSocketServerEventMap>(
    event: K,
    listener: (this: this, ...args: WebSocketServerEventMap[K]) => void,
  ): this;
  /** Alias of {@link off} for any other event. */
  override removeListener(event: string | symbol, listener: (this: this, ...args: any[]) => void): this;
  override removeListener(event: string | symbol, listener: (...args: any[]) => void): this {
    return super.removeListener(event, listener);
  }
}

/** A Sec-WebSocket-Protocol value `ws` accepts: tokens, none repeated. */
function validProtocols(value: string): boolean {
  let names: string[];
  try {
    names = parseProtocolList(value);
  } catch {
    return false;
  }
  return names.length > 0 && new Set(names).size === names.length;
}

function validExtensions(value: string): boolean {
  try {
    parseExtensions(value);
    return true;
  } catch {
    return false;
  }
}
