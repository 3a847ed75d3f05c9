/**
 * Where a connection goes: the URL (ws:, wss:, their http twins, and
 * ws+unix:/wss+unix: for Unix domain sockets, as `ws` writes them) resolved
 * with the `params` and `socketPath` options into host, port, request path
 * and, for a Unix socket, the socket's file path.
 */
import { HandshakeError, UsageError, describeValue } from "../core/index.js";

/** A target resolved from a URL and the options. */
export interface Target {
  /** The URL as the WebSocket reports it (ws:, wss:, ws+unix: or wss+unix:). */
  url: URL;
  secure: boolean;
  /** Host name or IP literal (no brackets); "localhost" for a Unix socket URL. */
  host: string;
  port: number;
  /** Request path and query, as sent in the request line. */
  path: string;
  /** Connect to this Unix domain socket instead of host:port. */
  socketPath: string | undefined;
}

/** What the target takes from the options. */
export interface TargetOptions {
  params?: Record<string, string | number | boolean> | URLSearchParams | Array<[string, string]>;
  socketPath?: string;
}

const SCHEMES: Record<string, { secure: boolean; unix: boolean }> = {
  "ws:": { secure: false, unix: false },
  "wss:": { secure: true, unix: false },
  "http:": { secure: false, unix: false },
  "https:": { secure: true, unix: false },
  "ws+unix:": { secure: false, unix: true },
  "wss+unix:": { secure: true, unix: true },
};

/**
 * Resolve `input` into a target. `wasSecure` is set when following a
 * redirect from a wss: URL: going back to plain text is refused.
 */
export function resolveTarget(input: string | URL, options: TargetOptions, wasSecure = false): Target {
  let url: URL;
  if (typeof input !== "string" && !(input instanceof URL)) throw new UsageError("INVALID_URL", `connect() takes a URL or a string, got ${describeValue(input)}`);
  try {
    url = new URL(typeof input === "string" ? input : input.href);
  } catch {
    throw new UsageError("INVALID_URL", `not a valid URL: ${String(input)}`);
  }
  const scheme = SCHEMES[url.protocol];
  if (scheme === undefined) throw new UsageError("INVALID_URL", `unsupported scheme ${url.protocol} (use ws:, wss: or ws+unix:)`);
  const { secure, unix } = scheme;
  if (wasSecure && !secure) throw new HandshakeError("INSECURE_REDIRECT", `refusing to follow a redirect from wss to ${url.href}`, 0);
  if (url.hash !== "") throw new UsageError("INVALID_URL", "a WebSocket URL must not have a fragment (RFC 6455 section 3)");
  if (!unix) url.protocol = secure ? "wss:" : "ws:";
  appendParams(url, options.params);

  if (unix) {
    // ws+unix:///path/to.sock:/request/path: the socket's path ends at the first ':'.
    const pathname = decodeURIComponent(url.pathname);
    const colon = pathname.indexOf(":");
    const socketPath = colon < 0 ? pathname : pathname.slice(0, colon);
    const requestPath = colon < 0 ? "/" : pathname.slice(colon + 1) || "/";
    if (socketPath === "") throw new UsageError("INVALID_URL", `no socket path in ${url.href} (ws+unix:///path/to.sock:/request/path)`);
    if (options.socketPath !== undefined) throw new UsageError("INVALID_OPTION", "socketPath is given both in the URL and as an option");
    return { url, secure, host: "localhost", port: secure ? 443 : 80, path: `${requestPath}${url.search}`, socketPath };
  }
  const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
  const port = url.port === "" ? (secure ? 443 : 80) : Number(url.port);
  return { url, secure, host, port, path: `${url.pathname || "/"}${url.search}`, socketPath: options.socketPath };
}

function appendParams(url: URL, params: TargetOptions["params"]): void {
  if (params === undefined) return;
  const extra = new URLSearchParams(
    params instanceof URLSearchParams || Array.isArray(params)
      ? params
      : Object.entries(params).map(([k, v]): [string, string] => [k, String(v)]),
  );
  // Append to the query as written: url.searchParams would re-encode the URL's own parameters (a signed URL breaks).
  const appended = extra.toString();
  if (appended !== "") url.search = url.search.length > 1 ? `${url.search}&${appended}` : appended;
}

/** The http(s) twin of a target's URL: what redirects resolve against and cookies are scoped to. */
export function httpUrl(target: Target): URL {
  if (target.socketPath === undefined) return new URL(target.url.href.replace(/^ws/, "http"));
  // A Unix socket has no origin on the network: cookies and relative redirects use localhost.
  return new URL(`${target.secure ? "https" : "http"}://localhost${target.path}`);
}

/** Host and port as a message names them. */
export function describeTarget(target: Target): string {
  return target.socketPath !== undefined ? `unix:${target.socketPath}` : target.url.host;
}
