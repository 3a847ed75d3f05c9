/**
 * connect(): resolve the URL, dial (DNS, TCP or Unix socket, proxy, TLS),
 * run the core's opening handshake, follow redirects, and hand the socket to
 * a {@link WebSocket}. Each step lives in its own module; this one puts them
 * in order and keeps the redirect loop.
 */
import type { Socket } from "node:net";
import {
  HandshakeError,
  UsageError,
  WebSocketError,
  buildClientRequest,
  encodeBase64,
  verifyServerResponse,
} from "../core/index.js";
import { WebSocket } from "../node/connection.js";
import { acceptExtensions, extensionFactories } from "../node/extensions.js";
import { connectionSettings } from "../node/settings.js";
import { nativeAccept } from "../node/sha1.js";
import { fixedCookies, jarCookies, storeCookies } from "./cookies.js";
import { Dial } from "./dial.js";
import { exchangeHandshake } from "./handshake.js";
import { checkConnectOptions, offeredProtocols, type ConnectOptions } from "./options.js";
import { PhaseClock } from "./phases.js";
import { proxyFor } from "./proxy.js";
import { describeTarget, httpUrl, resolveTarget, type Target } from "./target.js";

const DEFAULT_REDIRECTS = 5;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/**
 * Open a WebSocket connection to `url` (ws://, wss://, or ws+unix:///path/to.sock:/request/path).
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
  checkConnectOptions(options); // bad options fail before any connection is made
  let target = resolveTarget(url, options);
  // A given stream carries one attempt: a redirect cannot be followed on it.
  const maxRedirects = options.stream !== undefined ? 0 : options.redirect === true ? DEFAULT_REDIRECTS : options.redirect === false ? 0 : (options.redirect ?? 0);
  const origin = originOf(target);
  const clock = new PhaseClock(options.timeout, options.timeouts);
  const abort = abortion(options.signal);
  try {
    for (let redirects = 0; ; redirects++) {
      try {
        return await attempt(target, options, originOf(target) === origin, clock, abort.promise);
      } catch (error) {
        const location = redirectLocation(error);
        if (location === null || redirects >= maxRedirects) throw error;
        target = redirectTarget(target, location, options);
        options.onRedirect?.(target.url);
      }
    }
  } finally {
    clock.stop();
    abort.dispose();
  }
}

/** Credentials stay with their origin; a Unix socket is an origin of its own. */
function originOf(target: Target): string {
  return target.socketPath !== undefined ? `unix:${target.socketPath}` : target.url.origin;
}

function redirectLocation(error: unknown): string | null {
  if (!(error instanceof HandshakeError) || !REDIRECTS.has(error.status)) return null;
  return error.headers["location"] ?? null;
}

/** Where a Location leads. A relative one from a Unix socket stays on that socket. */
function redirectTarget(from: Target, location: string, options: ConnectOptions): Target {
  const next = { ...options, params: undefined, socketPath: undefined };
  if (from.socketPath !== undefined && !/^[a-z][a-z0-9+.-]*:/i.test(location)) {
    const resolved = new URL(location, httpUrl(from));
    const unixUrl = `${from.secure ? "wss" : "ws"}+unix://${from.socketPath}:${resolved.pathname}${resolved.search}`;
    return resolveTarget(unixUrl, next, from.secure);
  }
  return resolveTarget(new URL(location, httpUrl(from)), next, from.secure);
}

/** The signal as a promise that rejects on abort, and a way to stop listening. */
function abortion(signal: AbortSignal | undefined): { promise: Promise<never>; dispose(): void } {
  let dispose = (): void => {};
  const promise = new Promise<never>((_, reject) => {
    if (signal === undefined) return;
    const onAbort = (): void => reject(new WebSocketError("ABORTED", "the connection attempt was aborted", { cause: signal.reason }));
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    dispose = () => signal.removeEventListener("abort", onAbort);
  });
  promise.catch(() => {}); // observed through races
  return { promise, dispose: () => dispose() };
}

/** Request headers from the options: user headers plus auth, cookies and origin. */
async function requestHeaders(target: Target, options: ConnectOptions, sameOrigin: boolean): Promise<Array<[string, string]>> {
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
  // Credentials only go to the origin they were given for; the jar decides for its own cookies.
  if (sameOrigin) {
    const credentials = basicCredentials(target.url, options.auth);
    if (credentials !== null) add("Authorization", `Basic ${credentials}`);
  }
  if (options.cookieJar !== undefined && has("cookie")) {
    throw new UsageError("DUPLICATE_HEADER", "Cookie is set both in headers and through cookieJar");
  }
  const fixed = sameOrigin && options.cookies !== undefined ? fixedCookies(options.cookies) : "";
  const fromJar = options.cookieJar !== undefined ? await jarCookies(options.cookieJar, httpUrl(target)) : "";
  const cookie = fixed !== "" && fromJar !== "" ? `${fromJar}; ${fixed}` : fixed || fromJar;
  if (cookie !== "") add("Cookie", cookie);
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


/** One connection attempt: dial, request, response. A refusal (redirects too) throws its HandshakeError. */
async function attempt(target: Target, options: ConnectOptions, sameOrigin: boolean, clock: PhaseClock, aborted: Promise<never>): Promise<WebSocket> {
  const protocols = offeredProtocols(options.protocols);
  const factories = extensionFactories(options.compression);
  const offers = factories.flatMap((factory) => factory.offers());
  const dial = new Dial(clock, aborted);
  const { request, key } = buildClientRequest({
    host: target.host,
    port: target.port,
    secure: target.secure,
    path: target.path,
    protocols,
    extensions: offers,
    headers: await dial.race(requestHeaders(target, options, sameOrigin)),
  });
  const limits = connectionSettings(options).limits;
  const where = describeTarget(target);
  try {
    const socket = options.stream !== undefined ? (options.stream as Socket) : await dial.open(target, proxyFor(target, options.proxy), options, limits);
    clock.enter("HANDSHAKE", where);
    const { head, rest } = await dial.race(exchangeHandshake(socket, request, limits, where));
    options.onResponse?.(head);
    if (options.signal?.aborted === true) throw new WebSocketError("ABORTED", "the connection attempt was aborted", { cause: options.signal.reason });
    if (options.cookieJar !== undefined) await dial.race(storeCookies(options.cookieJar, httpUrl(target), head.rawHeaders));
    // A redirect fails here too; its error carries the Location that connect() follows.
    const accepted = verifyServerResponse(head, key, { protocols, extensions: offers, accept: nativeAccept(key) });
    const extensions = acceptExtensions(factories, accepted.extensions, Number(head.startLine[1]));
    clock.stop();
    const ws = new WebSocket(
      socket,
      "client",
      {
        protocol: accepted.protocol,
        extensions: head.headers["sec-websocket-extensions"] ?? "",
        negotiated: extensions,
        head: rest,
        headers: head.headers,
        url: target.url.href,
      },
      options,
    );
    socket.resume();
    return ws;
  } catch (error) {
    dial.destroy();
    options.stream?.destroy();
    throw error;
  }
}
