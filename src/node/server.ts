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
  HttpHeadParser,
  buildAcceptResponse,
  buildRejectResponse,
  formatExtensions,
  parseUpgradeRequest,
  resolveLimits,
  selectSubprotocol,
  type HeaderInput,
  type HttpHead,
  type Limits,
  type UpgradeRequest,
} from "../core/index.js";
import { WebSocket, type ConnectionOptions } from "./connection.js";
import { extensionFactories, negotiateExtensions, type CompressionOption } from "./extensions.js";
import { resolveLiveness } from "./heartbeat.js";
import { nativeSha1 } from "./sha1.js";

/** The upgrade request as the application's hooks and handler see it. */
export interface ServerRequest extends UpgradeRequest {
  remoteAddress: string | undefined;
  remotePort: number | undefined;
  /** Whether the connection is TLS. */
  secure: boolean;
  /** Free space for hooks to pass data on to the handler (e.g. the authenticated user). */
  locals: Record<string, unknown>;
}

/** A refusal from {@link ServerOptions.authenticate}. */
export interface Rejection {
  status: number;
  headers?: HeaderInput;
  body?: string;
}

/** What `authenticate` may return: true/undefined accept, false answers 401, a {@link Rejection} answers as given. */
export type AuthResult = boolean | undefined | void | Rejection;

export interface ServerOptions extends ConnectionOptions {
  /** Port to listen on (0 for any free port). Omit when only using {@link WebSocketServer.handleUpgrade}. */
  port?: number;
  /** Address to listen on (default: every interface, as node:net does). */
  host?: string;
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
  /** Time a client has to complete the handshake (request, authentication), in ms (default 10000). */
  handshakeTimeout?: number;
  /** Accept permessage-deflate when clients offer it: true for the defaults, or its options (default: off). */
  compression?: CompressionOption;
}

/** Called for each accepted connection. A rejection closes the connection with 1011. */
export type ConnectionHandler = (ws: WebSocket, request: ServerRequest) => void | Promise<void>;

export interface WebSocketServerEvents {
  connection: [ws: WebSocket, request: ServerRequest];
  /** A handshake was refused (bad request, authentication, path...). */
  rejected: [error: HandshakeError, remoteAddress: string | undefined];
  /** A handler or hook threw. Emitted only when someone listens. */
  error: [error: Error];
  listening: [];
}

const DEFAULT_HANDSHAKE_TIMEOUT = 10_000;

/** A handshake in progress: its deadline, whether it is decided, how to stop reading its request. */
interface Handshake {
  timer: NodeJS.Timeout | undefined;
  over: boolean;
  stopReading: () => void;
}

function noop(): void {}

/** Shared 'error' listener for sockets: no closure per connection. */
function destroySocket(this: Socket): void {
  this.destroy();
}

/** The request handed to hooks and handlers; the peer address is read only when asked for. */
class Request implements ServerRequest {
  declare method: string;
  declare target: string;
  declare path: string;
  declare query: string;
  declare headers: Record<string, string>;
  declare rawHeaders: Array<[string, string]>;
  declare key: string;
  declare protocols: string[];
  declare extensions: UpgradeRequest["extensions"];
  declare origin: string | null;
  declare host: string;
  readonly locals: Record<string, unknown> = {};
  constructor(
    upgrade: UpgradeRequest,
    private readonly socket: Socket,
    readonly secure: boolean,
  ) {
    Object.assign(this, upgrade);
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
export class WebSocketServer extends EventEmitter<WebSocketServerEvents> {
  /** Open connections. */
  readonly clients = new Set<WebSocket>();
  readonly options: ServerOptions;
  private readonly limits: Limits;
  private readonly handler: ConnectionHandler | undefined;
  private readonly extensionFactories: ReturnType<typeof extensionFactories>;
  private listener: NetServer | null = null;
  private closing = false;
  /** Sockets still in the opening handshake, with what gives up on each (close() refuses them at once). */
  private readonly handshakes = new Map<Socket, Handshake>();

  constructor(options: ServerOptions = {}, handler?: ConnectionHandler) {
    super();
    this.options = options;
    this.limits = resolveLimits(options);
    resolveLiveness(options); // bad liveness options fail here, not at each connection
    this.handler = handler;
    this.extensionFactories = extensionFactories(options.compression);
  }

  /** Start listening on `options.port` (standalone mode). */
  listen(): Promise<this> {
    const server = this.options.tls
      ? createTlsServer(this.options.tls, (socket) => this.onRawSocket(socket, true))
      : createNetServer((socket) => this.onRawSocket(socket, false));
    this.listener = server;
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.options.port ?? 0, this.options.host, () => {
        server.removeListener("error", reject);
        this.emit("listening");
        resolve(this);
      });
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
   * `httpServer.on("upgrade", wss.handleUpgrade)`.
   */
  readonly handleUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const raw = socket as Socket;
    raw.setTimeout?.(0);
    raw.on("error", destroySocket);
    const secure = (raw as TLSSocket).encrypted === true;
    if (request.rawHeaders.length / 2 > this.limits.maxHeaderCount) {
      return this.refuse(raw, new HandshakeError("TOO_MANY_HEADERS", "too many header fields", 431));
    }
    const rawHeaders: Array<[string, string]> = [];
    const headers: Record<string, string> = {};
    for (let i = 0; i < request.rawHeaders.length; i += 2) {
      const name = request.rawHeaders[i]!;
      const value = request.rawHeaders[i + 1]!;
      rawHeaders.push([name, value]);
      const lower = name.toLowerCase();
      headers[lower] = headers[lower] === undefined ? value : `${headers[lower]}, ${value}`;
    }
    const httpHead: HttpHead = {
      startLine: [request.method ?? "", request.url ?? "", `HTTP/${request.httpVersion}`],
      headers,
      rawHeaders,
    };
    this.accept(httpHead, raw, head, secure);
  };

  /** A connection on the standalone listener: read the request head with the core parser. */
  private onRawSocket(socket: Socket, secure: boolean): void {
    socket.on("error", destroySocket);
    if (this.closing) {
      socket.destroy();
      return;
    }
    const handshake = this.beginHandshake(socket);
    const parser = new HttpHeadParser("request", this.limits);
    // The only closure holding the parser; it is removed once the head is read, so nothing keeps it.
    const onData = (chunk: Buffer): void => {
      let result;
      try {
        result = parser.push(chunk);
      } catch (error) {
        return this.failHandshake(socket, handshake, error);
      }
      if (result === null) return;
      // No pause here: unless authenticate is async, the connection takes the socket over before any new read.
      handshake.stopReading();
      this.accept(result.head, socket, result.rest, secure, handshake);
    };
    handshake.stopReading = () => socket.removeListener("data", onData);
    socket.on("data", onData);
  }

  /** Start the handshake deadline of a socket (one per handshake, whatever the mode). */
  private beginHandshake(socket: Socket): Handshake {
    const ms = this.options.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT;
    const handshake: Handshake = { timer: undefined, over: false, stopReading: noop };
    handshake.timer = setTimeout(() => {
      this.failHandshake(socket, handshake, new HandshakeError("HANDSHAKE_TIMEOUT", `handshake not completed within ${ms} ms`, 408));
    }, ms);
    this.handshakes.set(socket, handshake);
    return handshake;
  }

  /** The handshake is decided: stop its deadline and its reading. Returns false if it was already over. */
  private endHandshake(socket: Socket, handshake: Handshake): boolean {
    if (handshake.over) return false;
    handshake.over = true;
    clearTimeout(handshake.timer);
    handshake.stopReading();
    this.handshakes.delete(socket);
    return true;
  }

  /** Refuse a handshake with the error's status (500 for anything that is not a HandshakeError). */
  private failHandshake(socket: Socket, handshake: Handshake, error: unknown, body?: string): void {
    if (!this.endHandshake(socket, handshake)) return;
    if (error instanceof HandshakeError) return this.refuse(socket, error, body);
    this.reportError(error as Error);
    this.refuse(socket, new HandshakeError("INTERNAL_ERROR", "server error during the handshake", 500));
  }

  /**
   * The accept pipeline shared by both modes. Synchronous unless
   * `authenticate` returns a promise, so the common case costs no promise.
   */
  private accept(head: HttpHead, socket: Socket, rest: Uint8Array, secure: boolean, handshake?: Handshake): void {
    const pending = handshake ?? this.beginHandshake(socket);
    let request: ServerRequest;
    let verdict: AuthResult | Promise<AuthResult> = true;
    try {
      if (this.closing) throw new HandshakeError("SERVER_CLOSING", "server is shutting down", 503);
      const upgrade = parseUpgradeRequest(head);
      if (!this.pathAllowed(upgrade.path)) throw new HandshakeError("NOT_FOUND", `no WebSocket endpoint at ${upgrade.path}`, 404);
      request = new Request(upgrade, socket, secure);
      if (this.options.authenticate !== undefined) verdict = this.options.authenticate(request);
    } catch (error) {
      return this.failHandshake(socket, pending, error);
    }
    if (verdict instanceof Promise) {
      socket.pause(); // hold reads (early frames) until the verdict
      verdict.then(
        (result) => this.afterAuthentication(socket, pending, request, result, rest),
        (error: unknown) => this.failHandshake(socket, pending, error),
      );
    } else {
      this.afterAuthentication(socket, pending, request, verdict, rest);
    }
  }

  private afterAuthentication(socket: Socket, handshake: Handshake, request: ServerRequest, verdict: AuthResult, rest: Uint8Array): void {
    if (handshake.over) return; // timed out or refused by close() while authenticate ran
    if (verdict === false) {
      return this.failHandshake(socket, handshake, new HandshakeError("UNAUTHORIZED", "authentication failed", 401));
    }
    if (typeof verdict === "object" && verdict !== null) {
      const rejection = new HandshakeError("REJECTED", "request rejected by authenticate", verdict.status, headerRecord(verdict.headers));
      return this.failHandshake(socket, handshake, rejection, verdict.body);
    }
    let protocol: string | null;
    let response: Uint8Array;
    let agreed: ReturnType<typeof negotiateExtensions>;
    try {
      protocol = this.chooseProtocol(request);
      agreed = negotiateExtensions(this.extensionFactories, request.extensions);
      const extra = typeof this.options.headers === "function" ? this.options.headers(request) : this.options.headers;
      response = buildAcceptResponse({ key: request.key, protocol, extensions: agreed.responses, headers: extra, sha1: nativeSha1 });
    } catch (error) {
      return this.failHandshake(socket, handshake, error);
    }
    this.endHandshake(socket, handshake);
    if (socket.destroyed) return;
    socket.write(response);
    const ws = new WebSocket(socket, "server", { protocol, extensions: formatExtensions(agreed.responses), negotiated: agreed.extensions, head: rest }, this.options);
    if (socket.isPaused()) socket.resume();
    this.adopt(ws, request);
  }

  /** Track an accepted connection and run the application's handler on it. */
  private adopt(ws: WebSocket, request: ServerRequest): void {
    this.clients.add(ws);
    ws.registry = this.clients;
    this.emit("connection", ws, request);
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
    if (this.listenerCount("error") > 0) this.emit("error", error);
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
    setTimeout(() => socket.destroy(), 1000).unref();
  }

  /**
   * Stop accepting, close every connection with 1001 and wait until they are
   * gone (each bounded by its closeTimeout).
   */
  async close(): Promise<void> {
    this.closing = true;
    // Refuse handshakes in progress now rather than wait for them (up to handshakeTimeout).
    for (const [socket, handshake] of [...this.handshakes]) {
      this.failHandshake(socket, handshake, new HandshakeError("SERVER_CLOSING", "server is shutting down", 503));
    }
    const listening = this.listener;
    const stopped = listening
      ? new Promise<void>((resolve) => listening.close(() => resolve()))
      : Promise.resolve();
    await Promise.all([...this.clients].map((ws) => ws.close(CloseCode.GOING_AWAY, "server shutting down")));
    await stopped;
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

