/**
 * The options of connect(), and their checks: an unknown name or a bad value
 * is refused with a UsageError before anything is dialed.
 */
import type { LookupFunction } from "node:net";
import type { Duplex } from "node:stream";
import { OptionTable, Rules, UsageError, checkOptions, describeValue, parseProtocolList, type HeaderInput, type HttpHead, type OptionRules } from "../core/index.js";
import { isDuplex, type ConnectionOptions } from "../node/connection.js";
import { extensionFactories, type CompressionOption } from "../node/extensions.js";
import { CONNECTION_OPTION_RULES, connectionSettings } from "../node/settings.js";
import { COOKIE_JAR_RULE, type CookieJarLike } from "./cookies.js";
import { TIMEOUT_RULE, checkTimeouts, type PhaseTimeouts } from "./phases.js";
import { PROXY_RULE, checkProxyOption, type ProxyOption } from "./proxy.js";
import { checkClientTls, type ClientTlsOptions } from "./tls.js";

/** Options of {@link connect}. Limits apply to what the server sends. */
export interface ConnectOptions extends ConnectionOptions {
  /** Subprotocols to offer, in preference order (an array or a comma-separated list). */
  protocols?: string | string[];
  /** Extra request headers. The WebSocket headers wsx sets itself cannot be overridden. */
  headers?: HeaderInput;
  /** Sets the Origin header, as a browser would. */
  origin?: string;
  /** HTTP basic auth, as "user:password" or an object; URL userinfo works too. Sent to the first origin only. */
  auth?: string | { username: string; password: string };
  /** Cookies to send to the first origin, as an object or a ready `Cookie` header value. */
  cookies?: Record<string, string> | string;
  /**
   * A cookie jar (tough-cookie's `CookieJar`, or anything with its
   * `getCookieString(url)` / `setCookie(cookie, url)` shape): read for every
   * request, given every `Set-Cookie` of the handshake and of each redirect.
   */
  cookieJar?: CookieJarLike;
  /** Query parameters appended to the URL's own. */
  params?: Record<string, string | number | boolean> | URLSearchParams | Array<[string, string]>;
  /** Follow 3xx redirects: true for up to 5, or the maximum number (default: do not follow). */
  redirect?: boolean | number;
  /**
   * A proxy URL (`http://`, `https://`, `socks5://`, `socks5h://`, with
   * optional `user:password@`), its `ProxySettings`, or `false` to
   * connect directly whatever the environment says. Default: from
   * `HTTPS_PROXY` (wss:) / `HTTP_PROXY` (ws:) / `ALL_PROXY` and `NO_PROXY`.
   */
  proxy?: ProxyOption;
  /** Connect to this Unix domain socket; the URL still gives the Host header and the path. */
  socketPath?: string;
  /** The whole connect(), every phase and redirect included, in ms (default 30000; Infinity for none). */
  timeout?: number;
  /** Bounds for single phases, in ms: `dns`, `tcp`, `proxy`, `tls`, `handshake`. */
  timeouts?: PhaseTimeouts;
  /** TLS options for wss: (ca, cert, key, servername, rejectUnauthorized...), plus `extraCa`. */
  tls?: ClientTlsOptions;
  /** Abort the connection attempt. */
  signal?: AbortSignal;
  /** Force IPv4 (4) or IPv6 (6) name resolution. */
  family?: 4 | 6;
  /** Local address to connect from. */
  localAddress?: string;
  /** Resolve host names with this instead of `dns.lookup` (same signature). */
  lookup?: LookupFunction;
  /** Offer permessage-deflate: true for the defaults, or its options (default: off). */
  compression?: CompressionOption;
  /**
   * Run the handshake and the connection over this stream instead of
   * dialing (an SSH channel, a tunnel, an HTTP/2 stream, a test pair): the
   * URL still gives the request's Host, path and scheme, no TLS or proxy is
   * added, a redirect is not followed, and a failed handshake destroys it.
   */
  stream?: Duplex;
  /**
   * Called with the head of each HTTP response the handshake gets (a
   * redirect, a refusal, the 101), before it is acted on. For diagnostics and
   * facades: `wsx/ws` gives it to `ws`'s `upgrade` and `unexpected-response` events.
   */
  onResponse?: (response: HttpHead) => void;
  /** Called with the URL a redirect leads to, just before it is followed (see `redirect`). */
  onRedirect?: (url: URL) => void;
}

/** What each option of {@link connect} accepts (see `OptionTable`); nested ones are checked by their own modules. */
export const CONNECT_OPTION_RULES: OptionRules<ConnectOptions> = {
  ...CONNECTION_OPTION_RULES,
  protocols: Rules.either(Rules.string, Rules.arrayOf(Rules.string)),
  headers: Rules.object,
  origin: Rules.string,
  auth: Rules.either(Rules.string, Rules.object),
  cookies: Rules.either(Rules.string, Rules.object),
  cookieJar: COOKIE_JAR_RULE,
  params: Rules.object,
  redirect: Rules.either(Rules.boolean, Rules.count),
  proxy: PROXY_RULE,
  socketPath: Rules.nonEmptyString,
  timeout: TIMEOUT_RULE,
  timeouts: Rules.object,
  tls: Rules.object,
  signal: Rules.object,
  family: Rules.oneOf(4, 6),
  localAddress: Rules.string,
  lookup: Rules.function,
  compression: Rules.either(Rules.boolean, Rules.object),
  onResponse: Rules.function,
  onRedirect: Rules.function,
  stream: Rules.object,
};

const CONNECT_OPTIONS = new OptionTable<ConnectOptions>(CONNECT_OPTION_RULES);

/**
 * Check every option that can be checked before dialing: names and kinds
 * against the table (UNKNOWN_OPTION, INVALID_OPTION), then the nested
 * `timeouts`, `proxy` and `tls.extraCa`, the connection's own settings, the
 * subprotocols and the compression options. Facades (wsx/web) call it from
 * their constructors, which must refuse bad options at once; `where` names
 * the caller in errors.
 */
export function checkConnectOptions<T extends ConnectOptions>(options: T, where = "connect()", table: OptionTable<T> = CONNECT_OPTIONS as OptionTable<T>): void {
  checkOptions(options, table, where);
  if (options === undefined) return;
  connectionSettings(options);
  offeredProtocols(options.protocols);
  extensionFactories(options.compression);
  checkTimeouts(options.timeouts, where);
  checkProxyOption(options.proxy, where);
  checkClientTls(options.tls, where);
  if (options.stream !== undefined && !isDuplex(options.stream)) {
    throw new UsageError("INVALID_OPTION", `${where} option stream must be a Duplex stream, got ${describeValue(options.stream)}`);
  }
}

/** The subprotocols to offer, as a list; a malformed header-style string is INVALID_SUBPROTOCOL. */
export function offeredProtocols(protocols: ConnectOptions["protocols"]): string[] {
  if (protocols === undefined) return [];
  if (Array.isArray(protocols)) return protocols;
  try {
    return parseProtocolList(protocols);
  } catch (error) {
    throw new UsageError("INVALID_SUBPROTOCOL", (error as Error).message);
  }
}
