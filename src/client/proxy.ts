/**
 * Proxies: which one a connection goes through (the `proxy` option, else
 * the environment), and the tunnel through it: HTTP CONNECT over plain TCP
 * or TLS (an https: proxy), or SOCKS5 through the optional `socks` package.
 */
import { lookup as dnsLookup } from "node:dns";
import { isIP, type LookupFunction, type Socket } from "node:net";
import { connect as tlsConnect, type ConnectionOptions as TlsConnectionOptions } from "node:tls";
import {
  HandshakeError,
  HttpHeadParser,
  OptionTable,
  Rules,
  UsageError,
  buildConnectRequest,
  checkOptions,
  encodeBase64,
  type HeaderInput,
  type HttpLimits,
  type OptionRule,
} from "../core/index.js";
import { ProxyError } from "./errors.js";
import { proxyFromEnv } from "./proxy-env.js";
import type { Target } from "./target.js";

/** A proxy with more than a URL. */
export interface ProxySettings {
  /** `http://`, `https://` (TLS to the proxy), `socks5://` (names resolved here) or `socks5h://` (resolved by the proxy). */
  url: string | URL;
  /** Proxy credentials, as "user:password" or an object; the URL's userinfo works too. */
  auth?: string | { username: string; password: string };
  /** Extra headers for the CONNECT request (HTTP proxies). */
  headers?: HeaderInput;
  /** TLS options for the connection to an https: proxy (its CA, client certificate...). */
  tls?: TlsConnectionOptions;
}

/** The `proxy` option: a proxy URL, its settings, or `false` to ignore the environment. */
export type ProxyOption = string | URL | false | ProxySettings;

/** A proxy resolved for one connection. */
export interface Proxy {
  kind: "http" | "https" | "socks5" | "socks5h";
  host: string;
  port: number;
  username: string | null;
  password: string | null;
  headers: HeaderInput | undefined;
  tls: TlsConnectionOptions | undefined;
  /** The URL without credentials, for messages and errors. */
  display: string;
}

/** curl's default ports: 1080 for every proxy but https: (443). */
const PROXY_SCHEMES: Record<string, { kind: Proxy["kind"]; port: number }> = {
  "http:": { kind: "http", port: 1080 },
  "https:": { kind: "https", port: 443 },
  "socks5:": { kind: "socks5", port: 1080 },
  "socks5h:": { kind: "socks5h", port: 1080 },
};

/** Parse the `proxy` option (or a URL from the environment); a bad one is a UsageError. */
export function parseProxy(option: string | URL | ProxySettings): Proxy {
  const settings: ProxySettings = typeof option === "string" || option instanceof URL ? { url: option } : option;
  if (typeof settings !== "object" || settings === null || settings.url === undefined) {
    throw new UsageError("INVALID_PROXY", "proxy must be a URL, an object with a url, or false");
  }
  let url: URL;
  try {
    url = new URL(String(settings.url));
  } catch {
    throw new UsageError("INVALID_PROXY", `not a valid proxy URL: ${String(settings.url)}`);
  }
  const scheme = PROXY_SCHEMES[url.protocol];
  if (scheme === undefined) {
    throw new UsageError("INVALID_PROXY", `unsupported proxy scheme ${url.protocol} (use http:, https:, socks5: or socks5h:)`);
  }
  let username: string | null = null;
  let password: string | null = null;
  if (settings.auth !== undefined) {
    if (typeof settings.auth === "string") {
      const colon = settings.auth.indexOf(":");
      username = colon < 0 ? settings.auth : settings.auth.slice(0, colon);
      password = colon < 0 ? "" : settings.auth.slice(colon + 1);
    } else {
      username = settings.auth.username;
      password = settings.auth.password;
    }
  } else if (url.username !== "" || url.password !== "") {
    username = decodeURIComponent(url.username);
    password = decodeURIComponent(url.password);
  }
  const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
  if (host === "") throw new UsageError("INVALID_PROXY", `no host in proxy URL ${url.protocol}//`);
  const port = url.port === "" ? scheme.port : Number(url.port);
  const display = `${url.protocol}//${url.host}`;
  return { kind: scheme.kind, host, port, username, password, headers: settings.headers, tls: settings.tls, display };
}

/** The `proxy` option's kind; the URL itself is checked by {@link checkProxyOption}. */
export const PROXY_RULE: OptionRule = {
  expected: "a proxy URL, an object with a url, or false",
  test: (value) => value === false || typeof value === "string" || (typeof value === "object" && value !== null),
};

const PROXY_SETTINGS = new OptionTable<ProxySettings>({
  url: Rules.either(Rules.string, Rules.object),
  auth: Rules.either(Rules.string, Rules.object),
  headers: Rules.object,
  tls: Rules.object,
});

/** Checks the option up front, so a bad proxy fails before anything is dialed (INVALID_PROXY for a URL that cannot be one). */
export function checkProxyOption(option: ProxyOption | undefined, where: string): void {
  if (option === undefined || option === false) return;
  if (typeof option === "object" && !(option instanceof URL)) checkOptions(option, PROXY_SETTINGS, `${where} proxy`);
  parseProxy(option);
}

/** The proxy to use for `target`: none for a Unix socket or with `proxy: false`, the option's, else the environment's. */
export function proxyFor(target: Target, option: ProxyOption | undefined): Proxy | null {
  if (target.socketPath !== undefined || option === false) return null;
  if (option !== undefined) return parseProxy(option);
  const fromEnv = proxyFromEnv(target.host, target.port, target.secure);
  return fromEnv === null ? null : parseProxy(fromEnv);
}

/** What opening a tunnel needs besides the proxy and the target. */
export interface TunnelContext {
  limits: HttpLimits;
  lookup: LookupFunction | undefined;
  family: 4 | 6 | undefined;
  /** Called with the TLS socket to an https: proxy, so the caller can destroy it on failure. */
  onSocket(socket: Socket): void;
}

/**
 * Ask the proxy, connected on `socket`, for a tunnel to `target`. Resolves
 * with the socket that carries the tunnel (for an https: proxy, the TLS
 * socket to the proxy), paused, once the proxy has agreed.
 */
export async function openTunnel(socket: Socket, proxy: Proxy, target: Target, context: TunnelContext): Promise<Socket> {
  if (proxy.kind === "socks5" || proxy.kind === "socks5h") return socksTunnel(socket, proxy, target, context);
  let carrier = socket;
  if (proxy.kind === "https") {
    carrier = tlsConnect({
      socket,
      servername: isIP(proxy.host) === 0 ? proxy.host : undefined,
      ALPNProtocols: ["http/1.1"],
      ...proxy.tls,
    });
    context.onSocket(carrier);
    await secured(carrier, proxy);
  }
  const headers: Array<[string, string]> = [];
  if (proxy.headers !== undefined) {
    if (Array.isArray(proxy.headers)) headers.push(...proxy.headers);
    else for (const [name, value] of Object.entries(proxy.headers)) for (const v of [value].flat()) headers.push([name, v]);
  }
  if (proxy.username !== null) {
    const credentials = encodeBase64(new TextEncoder().encode(`${proxy.username}:${proxy.password ?? ""}`));
    headers.push(["Proxy-Authorization", `Basic ${credentials}`]);
  }
  carrier.write(buildConnectRequest(target.host, target.port, headers));
  await connectResponse(carrier, proxy, context.limits);
  return carrier;
}

function secured(socket: Socket, proxy: Proxy): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => {
      socket.removeListener("secureConnect", onSecure);
      const code = (error as NodeJS.ErrnoException).code;
      reject(new ProxyError("PROXY_FAILED", `TLS with proxy ${proxy.display} failed: ${code ?? error.message}`, { proxy: proxy.display, cause: error }));
    };
    const onSecure = (): void => {
      socket.removeListener("error", onError);
      resolve();
    };
    socket.once("secureConnect", onSecure);
    socket.once("error", onError);
  });
}

/** Read the proxy's answer to CONNECT: 2xx opens the tunnel, anything else is a ProxyError. */
function connectResponse(socket: Socket, proxy: Proxy, limits: HttpLimits): Promise<void> {
  const parser = new HttpHeadParser("response", limits);
  return new Promise((resolve, reject) => {
    const done = (): void => {
      socket.removeListener("data", onData);
      socket.removeListener("error", onClosed);
      socket.removeListener("close", onClosed);
      socket.removeListener("end", onClosed);
    };
    const onData = (chunk: Buffer): void => {
      let result;
      try {
        result = parser.push(chunk);
      } catch (error) {
        done();
        const detail = error instanceof HandshakeError ? error.message : String(error);
        return reject(new ProxyError("PROXY_FAILED", `proxy ${proxy.display} answered CONNECT with something that is not a valid HTTP answer (within the header limits): ${detail}`, { proxy: proxy.display, cause: error }));
      }
      if (result === null) return;
      done();
      const [, statusText, reason] = result.head.startLine;
      const status = Number(statusText);
      if (status >= 200 && status < 300) {
        socket.pause();
        // Bytes after the head already belong to the server (none are expected: the client speaks first).
        if (result.rest.length > 0) socket.unshift(Buffer.from(result.rest));
        return resolve();
      }
      reject(
        new ProxyError("PROXY_REFUSED", `proxy ${proxy.display} refused the tunnel: ${status}${reason ? ` ${reason}` : ""}`, {
          proxy: proxy.display,
          status,
          statusText: reason,
          headers: { ...result.head.headers },
        }),
      );
    };
    const onClosed = (error?: unknown): void => {
      done();
      const detail = error instanceof Error ? `: ${(error as NodeJS.ErrnoException).code ?? error.message}` : "";
      reject(new ProxyError("PROXY_CLOSED", `proxy ${proxy.display} closed the connection before answering CONNECT${detail}`, { proxy: proxy.display, cause: error }));
    };
    socket.on("data", onData);
    socket.once("error", onClosed);
    socket.once("close", onClosed);
    socket.once("end", onClosed);
    socket.resume();
  });
}

type SocksModule = typeof import("socks");

let socksModule: Promise<SocksModule> | null = null;

/** `socks` is an optional peer dependency: loaded the first time a SOCKS proxy is used. */
function loadSocks(): Promise<SocksModule> {
  socksModule ??= import("socks").catch((error: unknown) => {
    socksModule = null;
    throw new UsageError("SOCKS_UNAVAILABLE", `a socks5: proxy needs the "socks" package (npm install socks): ${(error as Error).message}`);
  });
  return socksModule;
}

async function socksTunnel(socket: Socket, proxy: Proxy, target: Target, context: TunnelContext): Promise<Socket> {
  const { SocksClient } = await loadSocks();
  // socks5: resolves the server's name here (as curl does); socks5h: lets the proxy do it.
  const host = proxy.kind === "socks5" && isIP(target.host) === 0 ? await resolve(target.host, context) : target.host;
  try {
    await SocksClient.createConnection({
      proxy: { host: proxy.host, port: proxy.port, type: 5, userId: proxy.username ?? undefined, password: proxy.password ?? undefined },
      command: "connect",
      destination: { host, port: target.port },
      existing_socket: socket,
      // The phase clock bounds this step; socks' own (unref'd) timer only backs it up.
      timeout: 2 ** 31 - 1,
    });
  } catch (error) {
    throw new ProxyError("PROXY_FAILED", `SOCKS proxy ${proxy.display} did not open a tunnel: ${(error as Error).message}`, { proxy: proxy.display, cause: error });
  }
  socket.pause();
  return socket;
}

function resolve(host: string, context: TunnelContext): Promise<string> {
  const lookup: LookupFunction = context.lookup ?? dnsLookup;
  return new Promise((resolvePromise, reject) => {
    lookup(host, { family: context.family ?? 0 }, (error, address) => {
      if (error) reject(new ProxyError("PROXY_FAILED", `could not resolve ${host} for the SOCKS proxy: ${error.code ?? error.message}`, { proxy: "", cause: error }));
      else resolvePromise(address as string);
    });
  });
}
