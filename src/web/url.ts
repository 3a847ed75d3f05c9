/**
 * The WebSocket standard's URL and subprotocol checks, made in the
 * constructor before anything is dialled (https://websockets.spec.whatwg.org/#dom-websocket-websocket).
 */
import { domException } from "./webidl.js";

/**
 * The standard's "get a URL record": parse (there is no document, so no base
 * URL: a relative URL does not parse), map http: and https: to ws: and wss:,
 * and refuse other schemes and fragments. Failures are SyntaxError DOMExceptions.
 */
export function webSocketURL(input: string): URL {
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    throw domException("SyntaxError", `the URL '${input}' is invalid`);
  }
  if (url.protocol === "http:") url.protocol = "ws:";
  else if (url.protocol === "https:") url.protocol = "wss:";
  if (url.protocol !== "ws:" && url.protocol !== "wss:") {
    throw domException("SyntaxError", `the URL's scheme must be 'ws' or 'wss' ('${url.protocol.slice(0, -1)}' is not allowed)`);
  }
  // Any fragment, even an empty one ("ws://host/#"): the parsed URL keeps "#" only in href.
  if (url.hash !== "" || url.href.endsWith("#")) {
    throw domException("SyntaxError", `the URL contains a fragment identifier ('${url.hash}'); fragments are not allowed in WebSocket URLs`);
  }
  return url;
}

/** RFC 2616 token separators, which a subprotocol name may not contain. */
const SEPARATORS = '()<>@,;:\\"/[]?={}';

/** Whether `name` is a token (RFC 6455 section 4.1 refers to RFC 2616's): 0x21-0x7E, no separators. */
function isToken(name: string): boolean {
  if (name.length === 0) return false;
  for (let i = 0; i < name.length; i++) {
    const code = name.charCodeAt(i);
    if (code < 0x21 || code > 0x7e || SEPARATORS.includes(name[i]!)) return false;
  }
  return true;
}

/** Subprotocols as the standard requires them: tokens, none repeated (ASCII case-insensitively). */
export function checkProtocols(protocols: readonly string[]): void {
  const seen = new Set<string>();
  for (const protocol of protocols) {
    if (!isToken(protocol)) throw domException("SyntaxError", `the subprotocol '${protocol}' is invalid`);
    const key = protocol.toLowerCase();
    if (seen.has(key)) throw domException("SyntaxError", `the subprotocol '${protocol}' is duplicated`);
    seen.add(key);
  }
}

/**
 * Fetch's bad ports (https://fetch.spec.whatwg.org/#port-blocking): a
 * browser's connection to one of them fails as a network error, so the
 * WebSocket fires error and close instead of connecting.
 */
const BAD_PORTS = new Set([
  1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95, 101, 102, 103, 104, 109, 110, 111,
  113, 115, 117, 119, 123, 135, 137, 139, 143, 161, 179, 389, 427, 465, 512, 513, 514, 515, 526, 530, 531, 532, 540, 548,
  554, 556, 563, 587, 601, 636, 989, 990, 993, 995, 1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060, 5061, 6000, 6566,
  6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080,
]);

/** Whether a connection to `url` is refused as fetch refuses a bad port. */
export function isBadPort(url: URL): boolean {
  return url.port !== "" && BAD_PORTS.has(Number(url.port));
}
