/**
 * The RFC 6455 section 4 opening handshake as pure functions: build and check
 * the client's GET request and the server's 101 response, over bytes and
 * {@link HttpHead}s, so any transport (Node sockets, Bun, a test) can drive it.
 * Every failure is a {@link HandshakeError} carrying the HTTP status to answer
 * with; misuse by the caller is a {@link UsageError}.
 */

import { base64Length, encodeBase64 } from "./base64.js";
import { HandshakeError, UsageError, type HandshakeErrorCode } from "./errors.js";
import {
  type ExtensionOffer,
  type HttpHead,
  type ParsedExtension,
  formatExtensions,
  hasToken,
  headerCount,
  headerValue,
  httpVersion,
  isToken,
  parseExtensions,
  parseProtocolList,
} from "./http.js";
import { sha1 } from "./sha1.js";

/** The fixed GUID of RFC 6455 section 1.3 that turns a key into an accept value. */
export const WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/**
 * Extra headers supplied by the caller: an object (an array value sends the
 * header once per element) or ordered name/value pairs.
 */
export type HeaderInput = Record<string, string | string[]> | Array<[string, string]>;

/** Strings here are validated to be latin1 (char codes below 256) before encoding. */
function encodeLatin1(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}

/**
 * Makes a fresh Sec-WebSocket-Key: 16 random bytes in base64 (RFC 6455
 * section 4.1). `random` exists so tests and runtimes without Web Crypto can
 * supply their own source.
 */
export function generateKey(random?: (n: number) => Uint8Array): string {
  const bytes = random ? random(16) : globalThis.crypto.getRandomValues(new Uint8Array(16));
  if (bytes.length !== 16) throw new UsageError("INVALID_KEY", "the random source must return 16 bytes");
  return encodeBase64(bytes);
}

/** Derives Sec-WebSocket-Accept from a key (RFC 6455 section 4.2.2): base64(SHA-1(key + GUID)). */
export function computeAccept(key: string, hash: (data: Uint8Array) => Uint8Array = sha1): string {
  return encodeBase64(hash(encodeLatin1(key + WEBSOCKET_GUID)));
}

function isValidKey(key: string): boolean {
  return base64Length(key) === 16;
}

/**
 * Headers wsx derives from its options. Letting callers set them too would
 * send two conflicting values; Content-Length and Transfer-Encoding would make
 * the peer read frame bytes as an HTTP body.
 */
const RESERVED = new Set([
  "upgrade",
  "connection",
  "sec-websocket-key",
  "sec-websocket-version",
  "sec-websocket-accept",
  "sec-websocket-protocol",
  "sec-websocket-extensions",
  "content-length",
  "transfer-encoding",
]);

/** Headers buildRejectResponse sets itself. */
const REJECT_RESERVED = new Set(["connection", "content-length", "transfer-encoding"]);

function checkHeaderValue(value: string, what: string): void {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    // CR/LF/NUL would inject headers; other controls and non-latin1 cannot be sent faithfully.
    if ((c < 0x20 && c !== 0x09) || c === 0x7f || c > 0xff) {
      throw new UsageError("INVALID_HEADER", `${what} contains a character that cannot be sent in a header`);
    }
  }
}

/** Flattens and validates caller headers; throws on reserved names and injection attempts. */
function headerPairs(headers: HeaderInput | undefined, reserved: ReadonlySet<string>): Array<[string, string]> {
  if (headers === undefined) return [];
  const pairs: Array<[string, string]> = [];
  if (Array.isArray(headers)) {
    for (const [name, value] of headers) pairs.push([name, value]);
  } else {
    for (const [name, value] of Object.entries(headers)) {
      if (Array.isArray(value)) for (const item of value) pairs.push([name, item]);
      else pairs.push([name, value]);
    }
  }
  for (const [name, value] of pairs) {
    if (typeof name !== "string" || !isToken(name)) {
      throw new UsageError("INVALID_HEADER", "header name is not a token");
    }
    if (typeof value !== "string") throw new UsageError("INVALID_HEADER", `value of header ${name} is not a string`);
    checkHeaderValue(value, `value of header ${name}`);
    if (reserved.has(name.toLowerCase())) {
      throw new UsageError("RESERVED_HEADER", `header ${name} is set by wsx and cannot be overridden`);
    }
  }
  return pairs;
}

function headLines(startLine: string, fields: Array<[string, string]>): string {
  let text = `${startLine}\r\n`;
  for (const [name, value] of fields) text += `${name}: ${value}\r\n`;
  return `${text}\r\n`;
}

// ---------------------------------------------------------------- client

/** What the client needs to open a connection (RFC 6455 section 4.1). */
export interface ClientHandshakeOptions {
  /** Host name or IP literal; IPv6 literals may be given with or without brackets. */
  host: string;
  /** Omitted from the Host header when it is the scheme's default (80, or 443 when secure). */
  port?: number;
  /** Whether the connection is wss (TLS); only affects the default port. */
  secure?: boolean;
  /** Path plus query, starting with "/"; default "/". Fragments are not allowed (RFC 6455 section 3). */
  path?: string;
  /** Subprotocols to offer, in preference order; must be unique tokens. */
  protocols?: string[];
  /** Extensions to offer, in preference order. */
  extensions?: ExtensionOffer[];
  /** Extra headers. `Host` overrides the computed Host; the WebSocket headers cannot be set here. */
  headers?: HeaderInput;
  /** A fixed Sec-WebSocket-Key (base64 of 16 bytes), for tests; random by default. */
  key?: string;
}

/** Formats the Host header value: brackets IPv6 literals, drops the zone id and the default port. */
function formatHost(host: string, port: number | undefined, secure: boolean): string {
  let name = host;
  if (!name.startsWith("[") && name.includes(":")) {
    const zone = name.indexOf("%");
    // A zone id only means something on the client's machine (RFC 6874 section 4).
    name = `[${zone < 0 ? name : name.slice(0, zone)}]`;
  }
  if (name.length === 0 || /[^\x21-\x7e]|[/?#@\\]/.test(name) || (name.startsWith("[") && !name.endsWith("]"))) {
    throw new UsageError("INVALID_HOST", "host is not a valid host name or IP literal");
  }
  if (port === undefined || port === (secure ? 443 : 80)) return name;
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new UsageError("INVALID_PORT", "port must be an integer from 1 to 65535");
  }
  return `${name}:${port}`;
}

function checkPath(path: string): string {
  if (path === "") return "/";
  if (!path.startsWith("/") || /[^\x21-\x7e]|#/.test(path)) {
    throw new UsageError("INVALID_PATH", "path must start with '/' and contain only visible ASCII, without '#'");
  }
  return path;
}

function checkProtocols(protocols: readonly string[]): void {
  const seen = new Set<string>();
  for (const protocol of protocols) {
    if (typeof protocol !== "string" || !isToken(protocol)) {
      throw new UsageError("INVALID_SUBPROTOCOL", "subprotocol name is not a token");
    }
    if (seen.has(protocol)) throw new UsageError("INVALID_SUBPROTOCOL", `subprotocol ${protocol} is listed twice`);
    seen.add(protocol);
  }
}

/**
 * Builds the client's opening request (RFC 6455 section 4.1). Returns the key
 * too, because the response must be checked against it.
 */
export function buildClientRequest(opts: ClientHandshakeOptions): { request: Uint8Array; key: string } {
  const key = opts.key ?? generateKey();
  if (!isValidKey(key)) throw new UsageError("INVALID_KEY", "key must be the base64 encoding of 16 bytes");
  const path = checkPath(opts.path ?? "/");
  const protocols = opts.protocols ?? [];
  checkProtocols(protocols);
  const extensions = opts.extensions && opts.extensions.length > 0 ? formatExtensions(opts.extensions) : null;

  const user = headerPairs(opts.headers, RESERVED);
  const hostOverrides = user.filter(([name]) => name.toLowerCase() === "host");
  if (hostOverrides.length > 1) throw new UsageError("INVALID_HEADER", "Host given more than once");
  const host = hostOverrides[0]?.[1] ?? formatHost(opts.host, opts.port, opts.secure ?? false);

  const fields: Array<[string, string]> = [
    ["Host", host],
    ["Upgrade", "websocket"],
    ["Connection", "Upgrade"],
    ["Sec-WebSocket-Key", key],
    ["Sec-WebSocket-Version", "13"],
  ];
  if (protocols.length > 0) fields.push(["Sec-WebSocket-Protocol", protocols.join(", ")]);
  if (extensions !== null) fields.push(["Sec-WebSocket-Extensions", extensions]);
  for (const pair of user) if (pair[0].toLowerCase() !== "host") fields.push(pair);

  return { request: encodeLatin1(headLines(`GET ${path} HTTP/1.1`, fields)), key };
}

const CONNECT_RESERVED = new Set(["host", "content-length", "transfer-encoding"]);

/**
 * Builds the HTTP CONNECT request that asks a proxy for a tunnel to
 * `host`:`port` (RFC 9110 section 9.3.6). The port is always written; IPv6
 * literals are bracketed. `headers` (such as Proxy-Authorization) are checked
 * like the handshake's own.
 */
export function buildConnectRequest(host: string, port: number, headers?: HeaderInput): Uint8Array {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new UsageError("INVALID_PORT", "port must be an integer from 1 to 65535");
  }
  const authority = `${formatHost(host, undefined, false)}:${port}`;
  const fields: Array<[string, string]> = [["Host", authority], ...headerPairs(headers, CONNECT_RESERVED)];
  return encodeLatin1(headLines(`CONNECT ${authority} HTTP/1.1`, fields));
}

/**
 * Checks the server's response against what the client sent (RFC 6455
 * section 4.1, last list). Errors carry the status the server sent, so a
 * caller can tell "server said 403" from "server sent a broken 101".
 * Extension parameters are not checked here: that is each extension's job.
 */
export function verifyServerResponse(
  head: HttpHead,
  key: string,
  offer: {
    protocols?: string[];
    extensions?: ExtensionOffer[];
    /** The accept value expected for `key`, when the caller computed it natively (default: computed here). */
    accept?: string;
  },
): { protocol: string | null; extensions: ParsedExtension[] } {
  const status = Number(head.startLine[1]);
  if (status !== 101) {
    const reason = head.startLine[2] ? ` ${head.startLine[2]}` : "";
    // The headers go along: a Location to follow, a WWW-Authenticate to answer.
    throw new HandshakeError("UNEXPECTED_STATUS", `server answered ${status}${reason} instead of 101`, status, { ...head.headers });
  }
  const fail = (code: HandshakeErrorCode, message: string): HandshakeError => new HandshakeError(code, message, status);
  const headers = head.headers;
  if (!hasToken(headers["upgrade"], "websocket")) {
    throw fail("INVALID_UPGRADE", "response Upgrade header does not contain websocket");
  }
  if (!hasToken(headers["connection"], "upgrade")) {
    throw fail("INVALID_CONNECTION", "response Connection header does not contain upgrade");
  }
  if (headers["sec-websocket-accept"] !== (offer.accept ?? computeAccept(key))) {
    throw fail("INVALID_ACCEPT", "Sec-WebSocket-Accept is missing or does not match the key");
  }

  let protocol: string | null = null;
  const selected = headers["sec-websocket-protocol"];
  if (selected !== undefined) {
    // A repeated header arrives joined with ", " and so fails this check too.
    if (!isToken(selected)) throw fail("INVALID_SUBPROTOCOL", "server must select exactly one subprotocol");
    if (!offer.protocols?.includes(selected)) {
      throw fail("PROTOCOL_NOT_OFFERED", `server selected subprotocol ${selected}, which was not offered`);
    }
    protocol = selected;
  }

  let extensions: ParsedExtension[];
  try {
    extensions = parseExtensions(headers["sec-websocket-extensions"]);
  } catch (error) {
    if (error instanceof HandshakeError) throw fail(error.code, error.message);
    throw error;
  }
  const offered = new Set((offer.extensions ?? []).map((extension) => extension.name.toLowerCase()));
  for (const extension of extensions) {
    if (!offered.has(extension.name)) {
      throw fail("EXTENSION_NOT_OFFERED", `server accepted extension ${extension.name}, which was not offered`);
    }
  }
  return { protocol, extensions };
}

// ---------------------------------------------------------------- server

/** A validated opening request, as the server application sees it. */
export interface UpgradeRequest {
  /** Always "GET" once validated; kept for logging. */
  method: string;
  /** The request target exactly as sent. */
  target: string;
  /** Path part of the target, starting with "/". */
  path: string;
  /** Query part of the target without the leading "?"; empty when there is none. */
  query: string;
  /** Lower-case header names to values (see {@link HttpHead.headers}). */
  headers: Record<string, string>;
  /** Headers as sent (see {@link HttpHead.rawHeaders}). */
  rawHeaders: Array<[string, string]>;
  /** The Sec-WebSocket-Key, already checked to encode 16 bytes. */
  key: string;
  /** Offered subprotocols in the client's order. */
  protocols: string[];
  /** Offered extensions in the client's order. */
  extensions: ParsedExtension[];
  /** The Origin header, for the application's cross-origin policy (RFC 6455 section 10.2). */
  origin: string | null;
  /** Authority the client addressed: the Host header, or the target's authority in absolute-form. */
  host: string;
}

function reject(code: HandshakeErrorCode, message: string, status = 400, headers?: Record<string, string>): HandshakeError {
  return new HandshakeError(code, message, status, headers);
}

const ABSOLUTE_TARGET = /^(?:https?|wss?):\/\/([^/?#]*)/i;

/**
 * An absolute-form target (RFC 9112 section 3.2.2, `ws://host/path?q`): its
 * authority and the origin-form part after it. Origin-form targets, nearly
 * all of them, do not come here.
 */
function splitAbsoluteTarget(target: string): [authority: string, rest: string] {
  const match = ABSOLUTE_TARGET.exec(target);
  if (!match) throw reject("INVALID_TARGET", "request target must be an absolute path or absolute URI");
  const raw = match[1]!;
  const rest = target.slice(match[0].length);
  return [raw.slice(raw.lastIndexOf("@") + 1), rest.startsWith("/") ? rest : `/${rest}`];
}

/**
 * Validates an opening request (RFC 6455 section 4.2.1) and extracts what the
 * application needs to accept or refuse it. Throws HandshakeError with the
 * status and headers the refusal should carry (for example 426 with
 * `Sec-WebSocket-Version: 13`), ready for {@link buildRejectResponse}.
 */
export function parseUpgradeRequest(head: HttpHead): UpgradeRequest {
  const checked = checkUpgradeRequest(head);
  return { ...checked, headers: head.headers, rawHeaders: head.rawHeaders };
}

/** @internal What {@link checkUpgradeRequest} gives: an {@link UpgradeRequest} without the head's records. */
export type CheckedUpgrade = Omit<UpgradeRequest, "headers" | "rawHeaders">;

/**
 * @internal {@link parseUpgradeRequest} without reading `head.headers` or
 * `head.rawHeaders` (fields are read with {@link headerValue}): the server
 * hands the records to the application only if it asks for them.
 */
export function checkUpgradeRequest(head: HttpHead): CheckedUpgrade {
  const [method, target, version] = head.startLine;
  if (method !== "GET") throw reject("METHOD_NOT_ALLOWED", "WebSocket upgrade requires GET", 405, { Allow: "GET" });
  if (httpVersion(version) < 11) {
    throw reject("INVALID_HTTP_VERSION", "WebSocket upgrade requires HTTP/1.1 or later");
  }
  let rest = target;
  let authority: string | null = null;
  if (!target.startsWith("/")) [authority, rest] = splitAbsoluteTarget(target);
  if (rest.includes("#")) throw reject("INVALID_TARGET", "request target must not contain a fragment");
  const q = rest.indexOf("?");
  const path = q < 0 ? rest : rest.slice(0, q);
  const query = q < 0 ? "" : rest.slice(q + 1);

  const hostCount = headerCount(head, "host");
  if (hostCount === 0) throw reject("MISSING_HOST", "Host header is required");
  const host = headerValue(head, "host");
  if (hostCount > 1 || host === "") {
    throw reject("INVALID_HOST", "exactly one non-empty Host header is required");
  }

  const upgrade = headerValue(head, "upgrade");
  if (upgrade === undefined) throw reject("NOT_WEBSOCKET", "not a WebSocket upgrade request");
  if (!hasToken(upgrade, "websocket")) {
    throw reject("INVALID_UPGRADE", "Upgrade header does not contain websocket");
  }
  if (!hasToken(headerValue(head, "connection"), "upgrade")) {
    throw reject("INVALID_CONNECTION", "Connection header does not contain upgrade");
  }
  if (headerValue(head, "sec-websocket-version") !== "13") {
    throw reject("UNSUPPORTED_VERSION", "only WebSocket version 13 is supported", 426, {
      "Sec-WebSocket-Version": "13",
      // RFC 9110 section 15.5.22: a 426 must say what to upgrade to.
      Upgrade: "websocket",
    });
  }
  const key = headerValue(head, "sec-websocket-key");
  if (key === undefined || headerCount(head, "sec-websocket-key") !== 1 || !isValidKey(key)) {
    throw reject("INVALID_KEY", "Sec-WebSocket-Key must be one base64 encoding of 16 bytes");
  }

  return {
    method,
    target,
    path,
    query,
    key,
    protocols: parseProtocolList(headerValue(head, "sec-websocket-protocol")),
    extensions: parseExtensions(headerValue(head, "sec-websocket-extensions")),
    origin: headerValue(head, "origin") ?? null,
    host: authority || host!,
  };
}

/**
 * Normalizes the application's subprotocol choice. A choice the client did
 * not offer would make a conforming client fail the connection, so it is a
 * server bug reported as 500 `PROTOCOL_NOT_OFFERED` instead of being sent.
 */
export function selectSubprotocol(
  offered: readonly string[],
  choice: string | null | undefined | false,
): string | null {
  if (choice === null || choice === undefined || choice === false) return null;
  if (!offered.includes(choice)) {
    throw new HandshakeError("PROTOCOL_NOT_OFFERED", `subprotocol ${choice} was not offered by the client`, 500);
  }
  return choice;
}

/**
 * Builds the 101 response that completes the handshake (RFC 6455 section
 * 4.2.2). Extra headers such as Set-Cookie may repeat; the WebSocket headers
 * come only from the options.
 */
export function buildAcceptResponse(opts: AcceptResponseOptions): Uint8Array {
  return encodeLatin1(formatAcceptResponse(opts));
}

/** What goes into a 101 response (see {@link buildAcceptResponse}). */
export interface AcceptResponseOptions {
  key: string;
  protocol?: string | null;
  extensions?: readonly ExtensionOffer[];
  headers?: HeaderInput;
  /** SHA-1 for the accept value; a runtime can pass its native one (Node: node:crypto). */
  sha1?: (data: Uint8Array) => Uint8Array;
  /** The Sec-WebSocket-Accept value, when the caller computed it (natively) from `key`; `sha1` is then unused. */
  accept?: string;
}

/**
 * {@link buildAcceptResponse} as a string of latin1 characters, for
 * transports that write strings without a copy through JavaScript bytes.
 */
export function formatAcceptResponse(opts: AcceptResponseOptions): string {
  let head = `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${opts.accept ?? computeAccept(opts.key, opts.sha1)}\r\n`;
  if (opts.protocol !== undefined && opts.protocol !== null) {
    if (!isToken(opts.protocol)) throw new UsageError("INVALID_SUBPROTOCOL", "subprotocol name is not a token");
    head += `Sec-WebSocket-Protocol: ${opts.protocol}\r\n`;
  }
  if (opts.extensions && opts.extensions.length > 0) {
    head += `Sec-WebSocket-Extensions: ${formatExtensions(opts.extensions)}\r\n`;
  }
  if (opts.headers !== undefined) {
    for (const [name, value] of headerPairs(opts.headers, RESERVED)) head += `${name}: ${value}\r\n`;
  }
  return `${head}\r\n`;
}

const REASONS: Readonly<Record<number, string>> = {
  301: "Moved Permanently",
  302: "Found",
  303: "See Other",
  307: "Temporary Redirect",
  308: "Permanent Redirect",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  409: "Conflict",
  410: "Gone",
  413: "Content Too Large",
  426: "Upgrade Required",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  501: "Not Implemented",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
  505: "HTTP Version Not Supported",
};

/**
 * Builds a complete refusal (status line, headers, small text body) after
 * which the server closes the connection. Status must be 300-599: anything
 * lower would read as success or as an upgrade. Pass a HandshakeError's
 * `status` and `headers` straight through.
 */
export function buildRejectResponse(status: number, opts?: { headers?: HeaderInput; body?: string }): Uint8Array {
  if (!Number.isInteger(status) || status < 300 || status > 599) {
    throw new UsageError("INVALID_STATUS", "a rejection status must be an integer from 300 to 599");
  }
  const reason = REASONS[status] ?? (status < 400 ? "Redirection" : status < 500 ? "Client Error" : "Server Error");
  const body = new TextEncoder().encode(opts?.body ?? reason);
  const user = headerPairs(opts?.headers, REJECT_RESERVED);
  const names = new Set(user.map(([name]) => name.toLowerCase()));
  const fields: Array<[string, string]> = [
    // A sender of Upgrade must also list it in Connection (RFC 9110 section 7.8).
    ["Connection", names.has("upgrade") ? "Upgrade, close" : "close"],
  ];
  if (!names.has("content-type")) fields.push(["Content-Type", "text/plain; charset=utf-8"]);
  fields.push(["Content-Length", String(body.length)], ...user);
  const head = encodeLatin1(headLines(`HTTP/1.1 ${status} ${reason}`, fields));
  const out = new Uint8Array(head.length + body.length);
  out.set(head);
  out.set(body, head.length);
  return out;
}
