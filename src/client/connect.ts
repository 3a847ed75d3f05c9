/**
 * The Node client: resolve the URL, open TCP or TLS, run the core's opening
 * handshake over it, and hand the socket to a {@link WebSocket}.
 */
import { isIP, connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect, type ConnectionOptions as TlsConnectionOptions } from "node:tls";
import {
  HandshakeError,
  HttpHeadParser,
  OptionTable,
  Rules,
  TimeoutError,
  UsageError,
  WebSocketError,
  buildClientRequest,
  checkOptions,
  describeValue,
  encodeBase64,
  parseProtocolList,
  verifyServerResponse,
  type HeaderInput,
  type HttpHead,
} from "../core/index.js";
import { WebSocket, type ConnectionOptions } from "../node/connection.js";
import { acceptExtensions, extensionFactories, type CompressionOption } from "../node/extensions.js";
import { CONNECTION_OPTION_RULES, connectionSettings } from "../node/settings.js";
import { nativeAccept } from "../node/sha1.js";

/** Options of {@link connect}. Limits apply to what the server sends. */
export interface ConnectOptions extends ConnectionOptions {
  /** Subprotocols to offer, in preference order (an array or a comma-separated list). */
  protocols?: string | string[];
  /** Extra request headers. The WebSocket headers wsx sets itself cannot be overridden. */
  headers?: HeaderInput;
  /** Sets the Origin header, as a browser would. */
  origin?: string;
  /** HTTP basic auth, as "user:password" or an object; URL userinfo works too. */
  auth?: string | { username: string; password: string };
  /** Cookies to send, as an object or a ready `Cookie` header value. */
  cookies?: Record<string, string> | string;
  /** Query parameters appended to the URL's own. */
  params?: Record<string, string | number | boolean> | URLSearchParams | Array<[string, string]>;
  /** Follow 3xx redirects: true for up to 5, or the maximum number (default: do not follow). */
  redirect?: boolean | number;
  /** Sets both connectTimeout and handshakeTimeout, in ms. */
  timeout?: number;
  /** Time allowed to open TCP (and TLS), in ms (default 30000). */
  connectTimeout?: number;
  /** Time allowed for the server's handshake response once connected, in ms (default 30000). */
  handshakeTimeout?: number;
  /** TLS options for wss: ca, cert, key, servername, rejectUnauthorized... */
  tls?: TlsConnectionOptions;
  /** Abort the connection attempt. */
  signal?: AbortSignal;
  /** Force IPv4 (4) or IPv6 (6) name resolution. */
  family?: 4 | 6;
  /** Local address to connect from. */
  localAddress?: string;
  /** Offer permessage-deflate: true for the defaults, or its options (default: off). */
  compression?: CompressionOption;
  /**
   * Called with the head of each HTTP response the handshake gets (a
   * redirect, a refusal, the 101), before it is acted on. For diagnostics and
   * facades: `wsx/ws` gives it to `ws`'s `upgrade` and `unexpected-response` events.
   */
  onResponse?: (response: HttpHead) => void;
  /** Called with the URL a redirect leads to, just before it is followed (see `redirect`). */
  onRedirect?: (url: URL) => void;
}

/** What each option of {@link connect} accepts (see `checkOptions`). */
const CONNECT_OPTIONS = new OptionTable<ConnectOptions>({
  ...CONNECTION_OPTION_RULES,
  protocols: Rules.either(Rules.string, Rules.arrayOf(Rules.string)),
  headers: Rules.object,
  origin: Rules.string,
  auth: Rules.either(Rules.string, Rules.object),
  cookies: Rules.either(Rules.string, Rules.object),
  params: Rules.object,
  redirect: Rules.either(Rules.boolean, Rules.count),
  timeout: Rules.delay,
  connectTimeout: Rules.delay,
  handshakeTimeout: Rules.delay,
  tls: Rules.object,
  signal: Rules.object,
  family: Rules.oneOf(4, 6),
  localAddress: Rules.string,
  compression: Rules.either(Rules.boolean, Rules.object),
  onResponse: Rules.function,
  onRedirect: Rules.function,
});

const DEFAULT_TIMEOUT = 30_000;
const DEFAULT_REDIRECTS = 5;

/** A target resolved from a URL and the options. */
interface Target {
  url: URL;
  secure: boolean;
  host: string;
  port: number;
  path: string;
}

/**
 * Open a WebSocket connection to `url` (ws:// or wss://).
 *
 * @example
 * ```ts
 * const ws = await connect("ws://127.0.0.1:9000/chat?room=1", {
 *   protocols: ["chat.v2", "chat.v1"],
 *   headers: { "X-Client": "demo" },
 *   auth: "alice:secret",
 *   timeout: 5000,
 * });
 * console.log(ws.protocol); // the subprotocol the server picked, or null
 * ```
 */
export async function connect(url: string | URL, options: ConnectOptions = {}): Promise<WebSocket> {
  // Bad options fail before any connection is made.
  checkOptions(options, CONNECT_OPTIONS, "connect()");
  connectionSettings(options);
  let target = resolveTarget(url, options);
  const maxRedirects = options.redirect === true ? DEFAULT_REDIRECTS : options.redirect === false ? 0 : (options.redirect ?? 0);
  const origin = target.url.origin;
  for (let redirects = 0; ; redirects++) {
    const sameOrigin = target.url.origin === origin;
    try {
      return await attempt(target, options, sameOrigin);
    } catch (error) {
      const location = redirectLocation(error);
      if (location === null || redirects >= maxRedirects) throw error;
      target = resolveTarget(new URL(location, httpUrl(target.url)), { ...options, params: undefined }, target.secure);
      options.onRedirect?.(target.url);
    }
  }
}

function redirectLocation(error: unknown): string | null {
  if (!(error instanceof HandshakeError)) return null;
  if (![301, 302, 303, 307, 308].includes(error.status)) return null;
  return error.headers["location"] ?? null;
}

/** The http(s) twin of a ws(s) URL, so relative Location values resolve as HTTP would. */
function httpUrl(url: URL): URL {
  return new URL(url.href.replace(/^ws/, "http"));
}

function resolveTarget(input: string | URL, options: ConnectOptions, wasSecure = false): Target {
  let url: URL;
  if (typeof input !== "string" && !(input instanceof URL)) throw new UsageError("INVALID_URL", `connect() takes a URL or a string, got ${describeValue(input)}`);
  try {
    url = new URL(typeof input === "string" ? input : input.href);
  } catch {
    throw new UsageError("INVALID_URL", `not a valid URL: ${String(input)}`);
  }
  const schemes: Record<string, boolean> = { "ws:": false, "wss:": true, "http:": false, "https:": true };
  const secure = schemes[url.protocol];
  if (secure === undefined) throw new UsageError("INVALID_URL", `unsupported scheme ${url.protocol} (use ws: or wss:)`);
  if (wasSecure && !secure) throw new HandshakeError("INSECURE_REDIRECT", `refusing to follow a redirect from wss to ${url.href}`, 0);
  if (url.hash !== "") throw new UsageError("INVALID_URL", "a WebSocket URL must not have a fragment (RFC 6455 section 3)");
  url.protocol = secure ? "wss:" : "ws:";
  if (options.params !== undefined) {
    const extra = new URLSearchParams(
      options.params instanceof URLSearchParams || Array.isArray(options.params)
        ? options.params
        : Object.entries(options.params).map(([k, v]): [string, string] => [k, String(v)]),
    );
    // Append to the query as written: url.searchParams would re-encode the URL's own parameters (a signed URL breaks).
    const appended = extra.toString();
    if (appended !== "") url.search = url.search.length > 1 ? `${url.search}&${appended}` : appended;
  }
  const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
  const port = url.port === "" ? (secure ? 443 : 80) : Number(url.port);
  return { url, secure, host, port, path: `${url.pathname || "/"}${url.search}` };
}

/** Request headers from the options: user headers plus auth, cookies and origin. */
function requestHeaders(target: Target, options: ConnectOptions, sameOrigin: boolean): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  const given = options.headers ?? [];
  if (Array.isArray(given)) pairs.push(...given);
  else for (const [name, value] of Object.entries(given)) for (const v of [value].flat()) pairs.push([name, v]);
  if (!sameOrigin) {
    // Credentials set by hand in `headers` are credentials too: they stay with their origin.
    for (let i = pairs.length - 1; i >= 0; i--) {
      const name = String(pairs[i]![0]).toLowerCase();
      if (name === "authorization" || name === "cookie") pairs.splice(i, 1);
    }
  }
  const has = (name: string): boolean => pairs.some(([n]) => n.toLowerCase() === name);
  const add = (name: string, value: string): void => {
    if (has(name.toLowerCase())) throw new UsageError("DUPLICATE_HEADER", `${name} is set both as an option and in headers`);
    pairs.push([name, value]);
  };
  if (options.origin !== undefined) add("Origin", options.origin);
  // Credentials only go to the origin they were given for.
  if (sameOrigin) {
    const credentials = basicCredentials(target.url, options.auth);
    if (credentials !== null) add("Authorization", `Basic ${credentials}`);
    if (options.cookies !== undefined) {
      const cookie =
        typeof options.cookies === "string"
          ? options.cookies
          : Object.entries(options.cookies)
              .map(([name, value]) => `${name}=${value}`)
              .join("; ");
      if (cookie !== "") add("Cookie", cookie);
    }
  }
  return pairs;
}

function basicCredentials(url: URL, auth: ConnectOptions["auth"]): string | null {
  let pair: string | null = null;
  if (typeof auth === "string") pair = auth;
  else if (auth !== undefined) pair = `${auth.username}:${auth.password}`;
  else if (url.username !== "" || url.password !== "") {
    pair = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
  }
  return pair === null ? null : encodeBase64(new TextEncoder().encode(pair));
}

function offeredProtocols(protocols: ConnectOptions["protocols"]): string[] {
  if (protocols === undefined) return [];
  if (Array.isArray(protocols)) return protocols;
  try {
    return parseProtocolList(protocols);
  } catch (error) {
    throw new UsageError("INVALID_SUBPROTOCOL", (error as Error).message);
  }
}

/** One connection attempt: TCP/TLS, request, response. */
function attempt(target: Target, options: ConnectOptions, sameOrigin: boolean): Promise<WebSocket> {
  const protocols = offeredProtocols(options.protocols);
  const factories = extensionFactories(options.compression);
  const offers = factories.flatMap((factory) => factory.offers());
  const { request, key } = buildClientRequest({
    host: target.host,
    port: target.port,
    secure: target.secure,
    path: target.path,
    protocols,
    extensions: offers,
    headers: requestHeaders(target, options, sameOrigin),
  });
  const limits = connectionSettings(options).limits;
  const connectTimeout = options.connectTimeout ?? options.timeout ?? DEFAULT_TIMEOUT;
  const handshakeTimeout = options.handshakeTimeout ?? options.timeout ?? DEFAULT_TIMEOUT;
  const where = `${target.url.host}`;

  return new Promise<WebSocket>((resolve, reject) => {
    if (options.signal?.aborted) return reject(abortError(options.signal));
    let socket: Socket;
    const base = { host: target.host, port: target.port, family: options.family, localAddress: options.localAddress };
    if (target.secure) {
      socket = tlsConnect({
        ...base,
        servername: isIP(target.host) === 0 ? target.host : undefined,
        ALPNProtocols: ["http/1.1"],
        ...options.tls,
      });
    } else {
      socket = netConnect(base);
    }
    const parser = new HttpHeadParser("response", limits);
    let settled = false;
    let timer: NodeJS.Timeout | undefined = setTimeout(
      () => fail(new TimeoutError("CONNECT_TIMEOUT", `could not connect to ${where} within ${connectTimeout} ms`)),
      connectTimeout,
    );
    const onAbort = (): void => fail(abortError(options.signal!));
    options.signal?.addEventListener("abort", onAbort, { once: true });

    const cleanup = (): void => {
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
      socket.removeListener("data", onData);
      socket.removeListener("error", onError);
      socket.removeListener("close", onClose);
      socket.removeListener(target.secure ? "secureConnect" : "connect", onConnect);
    };
    const fail = (error: Error): void => {
      if (settled) return;
      cleanup();
      socket.on("error", () => {}); // late errors of a discarded socket are not the caller's
      socket.destroy();
      reject(error);
    };
    const onConnect = (): void => {
      clearTimeout(timer);
      timer = setTimeout(
        () => fail(new TimeoutError("HANDSHAKE_TIMEOUT", `no handshake response from ${where} within ${handshakeTimeout} ms`)),
        handshakeTimeout,
      );
      socket.write(request);
    };
    const onData = (chunk: Buffer): void => {
      let result: { head: HttpHead; rest: Uint8Array } | null;
      try {
        result = parser.push(chunk);
        if (result === null) return;
        options.onResponse?.(result.head);
        if (settled) return; // aborted from the callback
        // A redirect fails here too; its error carries the Location that connect() follows.
        const accepted = verifyServerResponse(result.head, key, { protocols, extensions: offers, accept: nativeAccept(key) });
        const extensions = acceptExtensions(factories, accepted.extensions, Number(result.head.startLine[1]));
        cleanup();
        const ws = new WebSocket(
          socket,
          "client",
          {
            protocol: accepted.protocol,
            extensions: result.head.headers["sec-websocket-extensions"] ?? "",
            negotiated: extensions,
            head: result.rest,
            headers: result.head.headers,
            url: target.url.href,
          },
          options,
        );
        resolve(ws);
      } catch (error) {
        fail(error as Error);
      }
    };
    const onError = (error: Error): void => {
      const code = (error as NodeJS.ErrnoException).code;
      fail(new WebSocketError("CONNECT_FAILED", `could not connect to ${where}: ${code ?? error.message}`, { cause: error }));
    };
    const onClose = (): void => fail(new HandshakeError("CONNECTION_CLOSED", `${where} closed the connection during the handshake`, 0));

    socket.on(target.secure ? "secureConnect" : "connect", onConnect);
    socket.on("data", onData);
    socket.on("error", onError);
    socket.on("close", onClose);
  });
}

function abortError(signal: AbortSignal): WebSocketError {
  return new WebSocketError("ABORTED", "the connection attempt was aborted", { cause: signal.reason });
}
