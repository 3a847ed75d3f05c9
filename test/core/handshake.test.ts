import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { HandshakeError, UsageError } from "../../src/core/errors.js";
import { HttpHeadParser, type ExtensionOffer, type HttpHead } from "../../src/core/http.js";
import {
  WEBSOCKET_GUID,
  buildAcceptResponse,
  buildClientRequest,
  buildRejectResponse,
  computeAccept,
  formatAcceptResponse,
  generateKey,
  parseUpgradeRequest,
  selectSubprotocol,
  verifyServerResponse,
  type ClientHandshakeOptions,
} from "../../src/core/handshake.js";

const SAMPLE_KEY = "dGhlIHNhbXBsZSBub25jZQ==";
const SAMPLE_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

const text = (bytes: Uint8Array): string => String.fromCharCode(...bytes);
const bytes = (value: string): Uint8Array => Uint8Array.from(value, (c) => c.charCodeAt(0));

function parseHead(kind: "request" | "response", data: Uint8Array): { head: HttpHead; rest: Uint8Array } {
  const result = new HttpHeadParser(kind).push(data);
  assert.ok(result, "head should be complete");
  return result;
}

function request(opts: Partial<ClientHandshakeOptions> = {}): string {
  return text(buildClientRequest({ host: "example.com", key: SAMPLE_KEY, ...opts }).request);
}

/** A valid opening request with some headers replaced (null removes one). */
function upgradeHead(overrides: Record<string, string | null> = {}, startLine = "GET /chat HTTP/1.1"): HttpHead {
  const fields: Record<string, string | null> = {
    Host: "server.example.com",
    Upgrade: "websocket",
    Connection: "Upgrade",
    "Sec-WebSocket-Key": SAMPLE_KEY,
    "Sec-WebSocket-Version": "13",
    ...overrides,
  };
  let head = `${startLine}\r\n`;
  for (const [name, value] of Object.entries(fields)) if (value !== null) head += `${name}: ${value}\r\n`;
  return parseHead("request", bytes(`${head}\r\n`)).head;
}

function responseHead(lines: string[], status = "HTTP/1.1 101 Switching Protocols"): HttpHead {
  return parseHead("response", bytes(`${status}\r\n${lines.map((l) => `${l}\r\n`).join("")}\r\n`)).head;
}

/** A valid client request with extra raw header lines appended (to send repeats). */
function requestWith(...extra: string[]): HttpHead {
  const raw = text(buildClientRequest({ host: "a", key: SAMPLE_KEY }).request);
  return parseHead("request", bytes(raw.replace(/\r\n\r\n$/, ["", ...extra, "", ""].join("\r\n")))).head;
}

const GOOD_RESPONSE = ["Upgrade: websocket", "Connection: Upgrade", `Sec-WebSocket-Accept: ${SAMPLE_ACCEPT}`];

function expectError(fn: () => unknown, code: string, status: number, headers?: Record<string, string>): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof HandshakeError, `expected HandshakeError, got ${String(error)}`);
    assert.equal(error.code, code);
    assert.equal(error.status, status);
    if (headers) assert.deepEqual({ ...error.headers }, headers);
    return true;
  });
}

function expectUsage(fn: () => unknown, code: string): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof UsageError, `expected UsageError, got ${String(error)}`);
    assert.equal(error.code, code);
    return true;
  });
}

describe("keys", () => {
  test("RFC 6455 1.3: computeAccept of the sample nonce", () => {
    assert.equal(WEBSOCKET_GUID, "258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    assert.equal(computeAccept(SAMPLE_KEY), SAMPLE_ACCEPT);
  });

  test("RFC 6455 4.1: generateKey gives base64 of 16 random bytes", () => {
    const a = generateKey();
    const b = generateKey();
    assert.match(a, /^[A-Za-z0-9+/]{22}==$/);
    assert.equal(Buffer.from(a, "base64").length, 16);
    assert.notEqual(a, b);
  });

  test("generateKey uses the given random source", () => {
    assert.equal(generateKey((n) => new Uint8Array(n)), "AAAAAAAAAAAAAAAAAAAAAA==");
    assert.equal(generateKey(() => new TextEncoder().encode("the sample nonce")), SAMPLE_KEY);
    expectUsage(() => generateKey(() => new Uint8Array(15)), "INVALID_KEY");
  });
});

describe("buildClientRequest", () => {
  test("RFC 6455 4.1: the request line and required headers, in order", () => {
    const result = buildClientRequest({ host: "server.example.com", path: "/chat", key: SAMPLE_KEY });
    assert.equal(result.key, SAMPLE_KEY);
    assert.equal(
      text(result.request),
      "GET /chat HTTP/1.1\r\n" +
        "Host: server.example.com\r\n" +
        "Upgrade: websocket\r\n" +
        "Connection: Upgrade\r\n" +
        `Sec-WebSocket-Key: ${SAMPLE_KEY}\r\n` +
        "Sec-WebSocket-Version: 13\r\n" +
        "\r\n",
    );
  });

  test("RFC 6455 4.1: a random key is generated when none is given", () => {
    const a = buildClientRequest({ host: "a" });
    const b = buildClientRequest({ host: "a" });
    assert.notEqual(a.key, b.key);
    assert.ok(text(a.request).includes(`Sec-WebSocket-Key: ${a.key}\r\n`));
  });

  test("RFC 6455 4.1: path defaults to '/' and keeps the query", () => {
    assert.ok(request().startsWith("GET / HTTP/1.1\r\n"));
    assert.ok(request({ path: "" }).startsWith("GET / HTTP/1.1\r\n"));
    assert.ok(request({ path: "/a/b?x=1&y=%20" }).startsWith("GET /a/b?x=1&y=%20 HTTP/1.1\r\n"));
  });

  test("RFC 6455 3: paths with a fragment, spaces, CRLF or no leading slash are refused", () => {
    for (const path of ["/a#frag", "/a b", "/a\r\nX: y", "a", "http://x/", "/\u00e9"]) {
      expectUsage(() => request({ path }), "INVALID_PATH");
    }
  });

  test("RFC 6455 4.1: Host omits the default port and keeps any other", () => {
    const host = (opts: Partial<ClientHandshakeOptions>): string => /\r\nHost: ([^\r]*)\r\n/.exec(request(opts))![1]!;
    assert.equal(host({ port: 80 }), "example.com");
    assert.equal(host({ port: 443, secure: true }), "example.com");
    assert.equal(host({ port: 443 }), "example.com:443");
    assert.equal(host({ port: 80, secure: true }), "example.com:80");
    assert.equal(host({ port: 8080 }), "example.com:8080");
    assert.equal(host({}), "example.com");
  });

  test("RFC 3986 3.2.2: IPv6 literals are bracketed in Host, zone ids dropped", () => {
    const host = (opts: Partial<ClientHandshakeOptions>): string => /\r\nHost: ([^\r]*)\r\n/.exec(request(opts))![1]!;
    assert.equal(host({ host: "::1", port: 8080 }), "[::1]:8080");
    assert.equal(host({ host: "::1" }), "[::1]");
    assert.equal(host({ host: "[::1]", port: 9000 }), "[::1]:9000");
    assert.equal(host({ host: "2001:db8::1", port: 443, secure: true }), "[2001:db8::1]");
    assert.equal(host({ host: "fe80::1%eth0", port: 81 }), "[fe80::1]:81");
    assert.equal(host({ host: "127.0.0.1", port: 81 }), "127.0.0.1:81");
  });

  test("invalid hosts and ports are a UsageError", () => {
    for (const bad of ["", "a b", "a\r\nX: y", "a/b", "user@host", "[::1"]) {
      expectUsage(() => request({ host: bad }), "INVALID_HOST");
    }
    for (const port of [0, 65536, 1.5, -1, Number.NaN]) expectUsage(() => request({ port }), "INVALID_PORT");
  });

  test("RFC 6455 4.1: subprotocols and extensions are offered in order", () => {
    const extensions: ExtensionOffer[] = [
      { name: "permessage-deflate", params: { client_max_window_bits: true } },
      { name: "x-test", params: { v: "a b" } },
    ];
    const req = request({ protocols: ["chat", "Super.Chat"], extensions });
    assert.ok(req.includes("\r\nSec-WebSocket-Protocol: chat, Super.Chat\r\n"));
    assert.ok(req.includes('\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits, x-test; v="a b"\r\n'));
    assert.ok(!request({ protocols: [], extensions: [] }).includes("Sec-WebSocket-Protocol"));
    assert.ok(!request({ protocols: [], extensions: [] }).includes("Sec-WebSocket-Extensions"));
  });

  test("RFC 6455 4.1: subprotocols must be unique tokens", () => {
    for (const protocols of [["chat", "chat"], ["a b"], [""], ["a,b"], ["caf\u00e9"]]) {
      expectUsage(() => request({ protocols }), "INVALID_SUBPROTOCOL");
    }
  });

  test("user headers follow the WebSocket headers, in order, repeated when asked", () => {
    const fromObject = request({ headers: { Authorization: "Bearer t", Cookie: ["a=1", "b=2"] } });
    assert.ok(fromObject.endsWith("Sec-WebSocket-Version: 13\r\nAuthorization: Bearer t\r\nCookie: a=1\r\nCookie: b=2\r\n\r\n"));
    const fromPairs = request({ headers: [["X-B", "2"], ["X-A", "1"], ["X-B", "3"]] });
    assert.ok(fromPairs.endsWith("Sec-WebSocket-Version: 13\r\nX-B: 2\r\nX-A: 1\r\nX-B: 3\r\n\r\n"));
  });

  test("RFC 9112 3.2: a user Host header replaces the computed one, in first position", () => {
    const req = request({ host: "10.0.0.1", port: 8080, headers: { host: "public.example" } });
    assert.ok(req.startsWith("GET / HTTP/1.1\r\nHost: public.example\r\nUpgrade: websocket\r\n"));
    assert.equal(req.match(/host:/gi)?.length, 1);
    expectUsage(() => request({ headers: [["Host", "a"], ["HOST", "b"]] }), "INVALID_HEADER");
    expectUsage(() => request({ headers: { Host: "a\r\nX: 1" } }), "INVALID_HEADER");
  });

  test("RFC 6455 4.1: the WebSocket headers cannot be overridden by user headers (any case)", () => {
    const reserved = [
      "Upgrade",
      "connection",
      "Sec-WebSocket-Key",
      "SEC-WEBSOCKET-VERSION",
      "sec-websocket-accept",
      "Sec-WebSocket-Protocol",
      "Sec-WebSocket-Extensions",
      "Content-Length",
      "Transfer-Encoding",
    ];
    for (const name of reserved) {
      expectUsage(() => request({ headers: { [name]: "x" } }), "RESERVED_HEADER");
      expectUsage(() => request({ headers: [[name, "x"]] }), "RESERVED_HEADER");
    }
  });

  test("RFC 9110 5.5: header injection through names or values is refused", () => {
    const badValues = ["a\r\nX-Injected: 1", "a\nb", "a\rb", "a\u0000b", "a\u0001b", "\u20ac"];
    for (const value of badValues) expectUsage(() => request({ headers: { "X-Test": value } }), "INVALID_HEADER");
    const badNames = ["X Test", "X-Test:", "X\r\nY", "", "X-T\u00e9st", "(x)"];
    for (const name of badNames) expectUsage(() => request({ headers: { [name]: "v" } }), "INVALID_HEADER");
    // HTAB and obs-text are legitimate in values.
    assert.ok(request({ headers: { "X-Test": "a\tb\u00e9" } }).includes("X-Test: a\tb\u00e9\r\n"));
  });

  test("a fixed key must be base64 of 16 bytes", () => {
    for (const key of ["short", "AAAAAAAAAAAAAAAAAAAAAAAA", "dGhlIHNhbXBsZSBub25jZQ", "dGhlIHNhbXBsZSBub25jZQ==\r\nX: 1"]) {
      expectUsage(() => request({ key }), "INVALID_KEY");
    }
  });
});

describe("client and server round trip", () => {
  test("RFC 6455 4: request -> parseUpgradeRequest -> 101 -> verifyServerResponse", () => {
    const offer = {
      protocols: ["v2.chat", "v1.chat"],
      extensions: [{ name: "permessage-deflate", params: { client_max_window_bits: true } }] as ExtensionOffer[],
    };
    const { request: req, key } = buildClientRequest({
      host: "::1",
      port: 9001,
      path: "/socket?token=abc",
      ...offer,
      headers: { Origin: "https://app.example", Cookie: "s=1" },
    });
    const parsedRequest = parseHead("request", req);
    assert.equal(parsedRequest.rest.length, 0);

    const upgrade = parseUpgradeRequest(parsedRequest.head);
    assert.equal(upgrade.method, "GET");
    assert.equal(upgrade.target, "/socket?token=abc");
    assert.equal(upgrade.path, "/socket");
    assert.equal(upgrade.query, "token=abc");
    assert.equal(upgrade.host, "[::1]:9001");
    assert.equal(upgrade.origin, "https://app.example");
    assert.equal(upgrade.key, key);
    assert.deepEqual(upgrade.protocols, ["v2.chat", "v1.chat"]);
    assert.equal(upgrade.extensions.length, 1);
    assert.equal(upgrade.extensions[0]!.name, "permessage-deflate");
    assert.equal(upgrade.headers["cookie"], "s=1");

    const protocol = selectSubprotocol(upgrade.protocols, "v1.chat");
    const response = buildAcceptResponse({
      key: upgrade.key,
      protocol,
      extensions: [{ name: "permessage-deflate", params: { client_max_window_bits: "15" } }],
      headers: [
        ["Set-Cookie", "a=1"],
        ["Set-Cookie", "b=2"],
      ],
    });
    // Frame bytes sent right behind the 101 must come out as rest.
    const withFrame = new Uint8Array([...response, 0x81, 0x00]);
    const parsedResponse = parseHead("response", withFrame);
    assert.deepEqual(parsedResponse.rest, new Uint8Array([0x81, 0x00]));
    assert.deepEqual(
      parsedResponse.head.rawHeaders.filter(([name]) => name === "Set-Cookie"),
      [
        ["Set-Cookie", "a=1"],
        ["Set-Cookie", "b=2"],
      ],
    );

    const result = verifyServerResponse(parsedResponse.head, key, offer);
    assert.equal(result.protocol, "v1.chat");
    assert.equal(result.extensions.length, 1);
    assert.equal(result.extensions[0]!.name, "permessage-deflate");
    assert.deepEqual({ ...result.extensions[0]!.params }, { client_max_window_bits: "15" });
  });

  test("RFC 6455 4: round trip without subprotocols or extensions", () => {
    const { request: req, key } = buildClientRequest({ host: "localhost", port: 8080 });
    const upgrade = parseUpgradeRequest(parseHead("request", req).head);
    assert.equal(upgrade.origin, null);
    assert.deepEqual(upgrade.protocols, []);
    assert.deepEqual(upgrade.extensions, []);
    assert.equal(upgrade.host, "localhost:8080");
    assert.equal(upgrade.query, "");
    const response = buildAcceptResponse({ key: upgrade.key, protocol: selectSubprotocol(upgrade.protocols, null) });
    const result = verifyServerResponse(parseHead("response", response).head, key, {});
    assert.deepEqual(result, { protocol: null, extensions: [] });
  });

  test("RFC 6455 4.4: a rejection round-trips as a 426 with Sec-WebSocket-Version: 13", () => {
    let error: unknown;
    try {
      parseUpgradeRequest(upgradeHead({ "Sec-WebSocket-Version": "8" }));
    } catch (e) {
      error = e;
    }
    assert.ok(error instanceof HandshakeError);
    const response = buildRejectResponse(error.status, { headers: { ...error.headers } });
    const { head, rest } = parseHead("response", response);
    assert.deepEqual(head.startLine, ["HTTP/1.1", "426", "Upgrade Required"]);
    assert.equal(head.headers["sec-websocket-version"], "13");
    assert.equal(head.headers["upgrade"], "websocket");
    assert.equal(head.headers["connection"], "Upgrade, close");
    assert.equal(text(rest), "Upgrade Required");
    expectError(() => verifyServerResponse(head, SAMPLE_KEY, {}), "UNEXPECTED_STATUS", 426);
  });
});

describe("parseUpgradeRequest", () => {
  test("RFC 6455 1.3: accepts the sample request", () => {
    const upgrade = parseUpgradeRequest(
      upgradeHead({ Origin: "http://example.com", "Sec-WebSocket-Protocol": "chat, superchat" }),
    );
    assert.equal(upgrade.path, "/chat");
    assert.equal(upgrade.host, "server.example.com");
    assert.deepEqual(upgrade.protocols, ["chat", "superchat"]);
    assert.equal(upgrade.origin, "http://example.com");
  });

  test("RFC 6455 4.2.1: Upgrade and Connection are case-insensitive token lists", () => {
    assert.ok(parseUpgradeRequest(upgradeHead({ Upgrade: "WebSocket", Connection: "keep-alive, Upgrade" })));
    assert.ok(parseUpgradeRequest(upgradeHead({ Upgrade: "h2c, websocket", Connection: "UPGRADE" })));
  });

  test("RFC 6455 4.2.1: HTTP versions above 1.1 are accepted", () => {
    assert.ok(parseUpgradeRequest(upgradeHead({}, "GET / HTTP/1.2")));
  });

  test("RFC 6455 4.2.1: a method other than GET gets 405 with Allow: GET", () => {
    expectError(() => parseUpgradeRequest(upgradeHead({}, "POST /chat HTTP/1.1")), "METHOD_NOT_ALLOWED", 405, {
      Allow: "GET",
    });
    expectError(() => parseUpgradeRequest(upgradeHead({}, "get /chat HTTP/1.1")), "METHOD_NOT_ALLOWED", 405);
  });

  test("RFC 6455 4.2.1: HTTP/1.0 gets 400", () => {
    expectError(() => parseUpgradeRequest(upgradeHead({}, "GET /chat HTTP/1.0")), "INVALID_HTTP_VERSION", 400);
    expectError(() => parseUpgradeRequest(upgradeHead({}, "GET /chat HTTP/0.9")), "INVALID_HTTP_VERSION", 400);
  });

  test("RFC 6455 4.2.1: a missing Host gets 400", () => {
    expectError(() => parseUpgradeRequest(upgradeHead({ Host: null })), "MISSING_HOST", 400);
  });

  test("RFC 9112 3.2: an empty or repeated Host gets 400", () => {
    expectError(() => parseUpgradeRequest(upgradeHead({ Host: "" })), "INVALID_HOST", 400);
    expectError(() => parseUpgradeRequest(requestWith("Host: b")), "INVALID_HOST", 400);
  });

  test("RFC 6455 4.2.1: a request without Upgrade is not a WebSocket request (400)", () => {
    expectError(() => parseUpgradeRequest(upgradeHead({ Upgrade: null })), "NOT_WEBSOCKET", 400);
  });

  test("RFC 6455 4.2.1: an Upgrade without websocket gets 400", () => {
    expectError(() => parseUpgradeRequest(upgradeHead({ Upgrade: "h2c" })), "INVALID_UPGRADE", 400);
    expectError(() => parseUpgradeRequest(upgradeHead({ Upgrade: "websocket2" })), "INVALID_UPGRADE", 400);
    expectError(() => parseUpgradeRequest(upgradeHead({ Upgrade: "" })), "INVALID_UPGRADE", 400);
  });

  test("RFC 6455 4.2.1: a Connection without upgrade gets 400", () => {
    expectError(() => parseUpgradeRequest(upgradeHead({ Connection: "keep-alive" })), "INVALID_CONNECTION", 400);
    expectError(() => parseUpgradeRequest(upgradeHead({ Connection: null })), "INVALID_CONNECTION", 400);
  });

  test("RFC 6455 4.2.1: version other than 13 gets 426 with Sec-WebSocket-Version: 13", () => {
    for (const version of ["8", "14", "13, 8", " ", "013"]) {
      expectError(() => parseUpgradeRequest(upgradeHead({ "Sec-WebSocket-Version": version })), "UNSUPPORTED_VERSION", 426, {
        "Sec-WebSocket-Version": "13",
        Upgrade: "websocket",
      });
    }
    expectError(() => parseUpgradeRequest(upgradeHead({ "Sec-WebSocket-Version": null })), "UNSUPPORTED_VERSION", 426);
  });

  test("RFC 6455 4.2.1: Sec-WebSocket-Key must decode to exactly 16 bytes", () => {
    const bad = [
      null,
      "",
      "AAAAAAAAAAAAAAAAAAAA", // 15 bytes
      "AAAAAAAAAAAAAAAAAAAAAAAA", // 18 bytes
      "dGhlIHNhbXBsZSBub25jZQ", // missing padding
      "dGhlIHNhbXBsZSBub25jZR==", // non-canonical
      "dGhlIHNhbXBsZSBub25jZQ-=",
      "not base64 at all!!!!!==",
    ];
    for (const key of bad) {
      expectError(() => parseUpgradeRequest(upgradeHead({ "Sec-WebSocket-Key": key })), "INVALID_KEY", 400);
    }
  });

  test("RFC 6455 4.2.1: exactly one Sec-WebSocket-Key header", () => {
    expectError(() => parseUpgradeRequest(requestWith(`Sec-WebSocket-Key: ${SAMPLE_KEY}`)), "INVALID_KEY", 400);
    // Spelt in any ASCII case, the second one counts too.
    expectError(() => parseUpgradeRequest(requestWith(`SEC-websocket-KEY: ${SAMPLE_KEY}`)), "INVALID_KEY", 400);
  });

  test("a head built by hand: names are counted as toLowerCase sees them, beyond ASCII too", () => {
    const head = upgradeHead();
    // U+212A KELVIN SIGN lower-cases to "k": a name no parser lets through, but a caller may build one.
    const kelvin: HttpHead = { ...head, rawHeaders: [...head.rawHeaders, ["Sec-WebSocket-\u212Aey", SAMPLE_KEY]] };
    expectError(() => parseUpgradeRequest(kelvin), "INVALID_KEY", 400);
    const hostTwice: HttpHead = { ...head, rawHeaders: [...head.rawHeaders, ["HOST", "b"]] };
    expectError(() => parseUpgradeRequest(hostTwice), "INVALID_HOST", 400);
  });

  test("RFC 6455 4.2.1: invalid subprotocol lists get 400", () => {
    expectError(
      () => parseUpgradeRequest(upgradeHead({ "Sec-WebSocket-Protocol": "chat, bad name" })),
      "INVALID_SUBPROTOCOL",
      400,
    );
  });

  test("RFC 6455 9.1: malformed extension headers get 400", () => {
    expectError(
      () => parseUpgradeRequest(upgradeHead({ "Sec-WebSocket-Extensions": "permessage-deflate; =1" })),
      "INVALID_EXTENSION_HEADER",
      400,
    );
  });

  test("RFC 6455 9.1: extension headers with quoted strings and commas inside quotes", () => {
    const upgrade = parseUpgradeRequest(
      requestWith(
        'Sec-WebSocket-Extensions: foo; a="x, y"; b=1',
        'Sec-WebSocket-Extensions: permessage-deflate ; client_max_window_bits = "10"',
      ),
    );
    assert.deepEqual(
      upgrade.extensions.map((e) => [e.name, { ...e.params }]),
      [
        ["foo", { a: "x, y", b: "1" }],
        ["permessage-deflate", { client_max_window_bits: "10" }],
      ],
    );
  });

  test("RFC 9112 3.2: origin-form and absolute-form targets", () => {
    const check = (target: string, path: string, query: string, host = "server.example.com"): void => {
      const upgrade = parseUpgradeRequest(upgradeHead({}, `GET ${target} HTTP/1.1`));
      assert.deepEqual([upgrade.path, upgrade.query, upgrade.host, upgrade.target], [path, query, host, target]);
    };
    check("/", "/", "");
    check("/a/b?", "/a/b", "");
    check("/a?b=1?c", "/a", "b=1?c");
    check("ws://other.example:81/x?y", "/x", "y", "other.example:81");
    check("https://u@other.example", "/", "", "other.example");
    check("http://other.example?q", "/", "q", "other.example");
  });

  test("RFC 6455 3: targets with fragments or in other forms get 400", () => {
    for (const target of ["/a#b", "*", "chat", "ftp://x/", "//x"]) {
      const fn = () => parseUpgradeRequest(upgradeHead({}, `GET ${target} HTTP/1.1`));
      if (target === "//x") assert.ok(fn());
      else expectError(fn, "INVALID_TARGET", 400);
    }
  });
});

describe("selectSubprotocol", () => {
  test("no choice means no subprotocol", () => {
    assert.equal(selectSubprotocol(["a"], null), null);
    assert.equal(selectSubprotocol(["a"], undefined), null);
    assert.equal(selectSubprotocol(["a"], false), null);
    assert.equal(selectSubprotocol([], null), null);
  });

  test("RFC 6455 4.2.2: an offered choice is returned", () => {
    assert.equal(selectSubprotocol(["a", "b"], "b"), "b");
  });

  test("RFC 6455 4.2.2: a choice the client did not offer is a 500 (server bug)", () => {
    expectError(() => selectSubprotocol(["a"], "c"), "PROTOCOL_NOT_OFFERED", 500);
    expectError(() => selectSubprotocol(["chat"], "Chat"), "PROTOCOL_NOT_OFFERED", 500);
    expectError(() => selectSubprotocol([], "a"), "PROTOCOL_NOT_OFFERED", 500);
    expectError(() => selectSubprotocol(["a"], ""), "PROTOCOL_NOT_OFFERED", 500);
  });
});

describe("buildAcceptResponse", () => {
  test("RFC 6455 1.3: the sample 101 response", () => {
    assert.equal(
      text(buildAcceptResponse({ key: SAMPLE_KEY, protocol: "chat" })),
      "HTTP/1.1 101 Switching Protocols\r\n" +
        "Upgrade: websocket\r\n" +
        "Connection: Upgrade\r\n" +
        `Sec-WebSocket-Accept: ${SAMPLE_ACCEPT}\r\n` +
        "Sec-WebSocket-Protocol: chat\r\n" +
        "\r\n",
    );
  });

  test("RFC 6455 4.2.2: extensions are formatted, quoting non-token values", () => {
    const response = text(
      buildAcceptResponse({
        key: SAMPLE_KEY,
        protocol: null,
        extensions: [{ name: "permessage-deflate", params: { server_no_context_takeover: true, x: "a,b" } }],
      }),
    );
    assert.ok(response.includes('\r\nSec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; x="a,b"\r\n'));
    assert.ok(!response.includes("Sec-WebSocket-Protocol"));
  });

  test("formatAcceptResponse is the same head as a latin1 string", () => {
    const options = {
      key: SAMPLE_KEY,
      protocol: "chat",
      extensions: [{ name: "permessage-deflate", params: { client_max_window_bits: "10" } }],
      headers: { "X-Caf\u00e9": "cr\u00e8me" },
    };
    assert.throws(() => formatAcceptResponse(options), UsageError); // header names are tokens: the é is refused
    const fine = { ...options, headers: { "X-Drink": "cr\u00e8me" } };
    assert.equal(formatAcceptResponse(fine), text(buildAcceptResponse(fine)));
    assert.ok(formatAcceptResponse(fine).includes("\r\nX-Drink: cr\u00e8me\r\n"));
  });

  test("a precomputed accept value is used as given (a runtime's native SHA-1)", () => {
    const response = formatAcceptResponse({ key: SAMPLE_KEY, accept: "precomputed=", sha1: () => assert.fail("sha1 must not run") });
    assert.ok(response.includes("\r\nSec-WebSocket-Accept: precomputed=\r\n"));
  });

  test("user headers may repeat (Set-Cookie) and come last", () => {
    const response = text(buildAcceptResponse({ key: SAMPLE_KEY, headers: { "Set-Cookie": ["a=1", "b=2"], "X-Id": "7" } }));
    assert.ok(response.endsWith("\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nX-Id: 7\r\n\r\n"));
  });

  test("RFC 6455 4.2.2: WebSocket headers cannot be overridden; injection is refused", () => {
    const reserved = [
      "upgrade",
      "Connection",
      "Sec-WebSocket-Accept",
      "sec-websocket-protocol",
      "Sec-WebSocket-Extensions",
      "Content-Length",
      "transfer-encoding",
    ];
    for (const name of reserved) {
      expectUsage(() => buildAcceptResponse({ key: SAMPLE_KEY, headers: [[name, "x"]] }), "RESERVED_HEADER");
    }
    expectUsage(() => buildAcceptResponse({ key: SAMPLE_KEY, headers: { "Set-Cookie": "a=1\r\nX: 1" } }), "INVALID_HEADER");
    expectUsage(() => buildAcceptResponse({ key: SAMPLE_KEY, headers: { "Bad Name": "1" } }), "INVALID_HEADER");
    expectUsage(() => buildAcceptResponse({ key: SAMPLE_KEY, protocol: "a\r\nX: 1" }), "INVALID_SUBPROTOCOL");
    expectUsage(() => buildAcceptResponse({ key: SAMPLE_KEY, protocol: "" }), "INVALID_SUBPROTOCOL");
  });

  test("Host is an ordinary header in a response", () => {
    assert.ok(text(buildAcceptResponse({ key: SAMPLE_KEY, headers: { Host: "x" } })).includes("\r\nHost: x\r\n"));
  });
});

describe("verifyServerResponse", () => {
  test("RFC 6455 4.1: accepts a minimal valid 101, tolerating case in Upgrade/Connection", () => {
    assert.deepEqual(verifyServerResponse(responseHead(GOOD_RESPONSE), SAMPLE_KEY, {}), { protocol: null, extensions: [] });
    const relaxed = responseHead([
      "Upgrade: WebSocket",
      "Connection: keep-alive, upgrade",
      `Sec-WebSocket-Accept: ${SAMPLE_ACCEPT}`,
    ]);
    assert.ok(verifyServerResponse(relaxed, SAMPLE_KEY, {}));
  });

  test("a precomputed accept value is compared as given", () => {
    assert.ok(verifyServerResponse(responseHead(GOOD_RESPONSE), SAMPLE_KEY, { accept: SAMPLE_ACCEPT }));
    expectError(() => verifyServerResponse(responseHead(GOOD_RESPONSE), SAMPLE_KEY, { accept: "other=" }), "INVALID_ACCEPT", 101);
  });

  test("RFC 6455 4.1: a status other than 101 fails with the server's status", () => {
    const cases: Array<[string, number]> = [
      ["HTTP/1.1 403 Forbidden", 403],
      ["HTTP/1.1 200 OK", 200],
      ["HTTP/1.1 302 Found", 302],
    ];
    for (const [statusLine, status] of cases) {
      const head = responseHead(GOOD_RESPONSE, statusLine);
      expectError(() => verifyServerResponse(head, SAMPLE_KEY, {}), "UNEXPECTED_STATUS", status);
    }
  });

  test("RFC 6455 4.1: a 101 without Upgrade: websocket fails (status 101)", () => {
    expectError(
      () => verifyServerResponse(responseHead(GOOD_RESPONSE.filter((l) => !l.startsWith("Upgrade"))), SAMPLE_KEY, {}),
      "INVALID_UPGRADE",
      101,
    );
    expectError(
      () => verifyServerResponse(responseHead(["Upgrade: h2c", ...GOOD_RESPONSE.slice(1)]), SAMPLE_KEY, {}),
      "INVALID_UPGRADE",
      101,
    );
  });

  test("RFC 6455 4.1: a 101 without Connection: upgrade fails (status 101)", () => {
    expectError(
      () => verifyServerResponse(responseHead([GOOD_RESPONSE[0]!, "Connection: close", GOOD_RESPONSE[2]!]), SAMPLE_KEY, {}),
      "INVALID_CONNECTION",
      101,
    );
  });

  test("RFC 6455 4.1: a missing, wrong or repeated Sec-WebSocket-Accept fails", () => {
    const base = GOOD_RESPONSE.slice(0, 2);
    expectError(() => verifyServerResponse(responseHead(base), SAMPLE_KEY, {}), "INVALID_ACCEPT", 101);
    expectError(
      () => verifyServerResponse(responseHead([...base, `Sec-WebSocket-Accept: ${computeAccept(generateKey())}`]), SAMPLE_KEY, {}),
      "INVALID_ACCEPT",
      101,
    );
    expectError(
      () => verifyServerResponse(responseHead([...base, `Sec-WebSocket-Accept: ${SAMPLE_ACCEPT.toLowerCase()}`]), SAMPLE_KEY, {}),
      "INVALID_ACCEPT",
      101,
    );
    expectError(
      () => verifyServerResponse(responseHead([...GOOD_RESPONSE, `Sec-WebSocket-Accept: ${SAMPLE_ACCEPT}`]), SAMPLE_KEY, {}),
      "INVALID_ACCEPT",
      101,
    );
  });

  test("RFC 6455 4.1: a subprotocol that was not offered fails", () => {
    const head = responseHead([...GOOD_RESPONSE, "Sec-WebSocket-Protocol: chat"]);
    expectError(() => verifyServerResponse(head, SAMPLE_KEY, {}), "PROTOCOL_NOT_OFFERED", 101);
    expectError(() => verifyServerResponse(head, SAMPLE_KEY, { protocols: ["Chat"] }), "PROTOCOL_NOT_OFFERED", 101);
    assert.equal(verifyServerResponse(head, SAMPLE_KEY, { protocols: ["x", "chat"] }).protocol, "chat");
  });

  test("RFC 6455 4.1: the server must select exactly one subprotocol", () => {
    const offer = { protocols: ["a", "b"] };
    const cases = [
      ["Sec-WebSocket-Protocol: a, b"],
      ["Sec-WebSocket-Protocol: a", "Sec-WebSocket-Protocol: b"],
      ["Sec-WebSocket-Protocol:"],
    ];
    for (const lines of cases) {
      const head = responseHead([...GOOD_RESPONSE, ...lines]);
      expectError(() => verifyServerResponse(head, SAMPLE_KEY, offer), "INVALID_SUBPROTOCOL", 101);
    }
  });

  test("RFC 6455 4.1: an extension that was not offered fails", () => {
    const head = responseHead([...GOOD_RESPONSE, "Sec-WebSocket-Extensions: permessage-deflate, x-other"]);
    const offer = { extensions: [{ name: "Permessage-Deflate", params: {} }] };
    expectError(() => verifyServerResponse(head, SAMPLE_KEY, offer), "EXTENSION_NOT_OFFERED", 101);
    expectError(() => verifyServerResponse(head, SAMPLE_KEY, {}), "EXTENSION_NOT_OFFERED", 101);
  });

  test("RFC 6455 9.1: accepted extensions are returned parsed, parameters unchecked", () => {
    const head = responseHead([
      ...GOOD_RESPONSE,
      'Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits="10"; server_max_window_bits=11',
    ]);
    const { extensions } = verifyServerResponse(head, SAMPLE_KEY, { extensions: [{ name: "permessage-deflate", params: {} }] });
    assert.equal(extensions.length, 1);
    assert.deepEqual(extensions[0]!.paramList, [
      ["server_max_window_bits", "10"],
      ["server_max_window_bits", "11"],
    ]);
  });

  test("RFC 6455 9.1: a malformed extension header in a 101 fails with status 101", () => {
    const head = responseHead([...GOOD_RESPONSE, 'Sec-WebSocket-Extensions: permessage-deflate; x="open']);
    expectError(
      () => verifyServerResponse(head, SAMPLE_KEY, { extensions: [{ name: "permessage-deflate", params: {} }] }),
      "INVALID_EXTENSION_HEADER",
      101,
    );
  });
});

describe("buildRejectResponse", () => {
  test("RFC 9110 15.5: a default 400 with a text body and Connection: close", () => {
    assert.equal(
      text(buildRejectResponse(400)),
      "HTTP/1.1 400 Bad Request\r\n" +
        "Connection: close\r\n" +
        "Content-Type: text/plain; charset=utf-8\r\n" +
        "Content-Length: 11\r\n" +
        "\r\n" +
        "Bad Request",
    );
  });

  test("RFC 9110 8.6: Content-Length counts UTF-8 bytes of the body", () => {
    const response = buildRejectResponse(403, { body: "nope \u20ac" });
    const { head, rest } = parseHead("response", response);
    assert.equal(head.headers["content-length"], "8");
    assert.equal(new TextDecoder().decode(rest), "nope \u20ac");
    const empty = parseHead("response", buildRejectResponse(404, { body: "" }));
    assert.equal(empty.head.headers["content-length"], "0");
    assert.equal(empty.rest.length, 0);
  });

  test("RFC 9110 15.5.6: 405 carries the Allow header from the error", () => {
    let error: unknown;
    try {
      parseUpgradeRequest(upgradeHead({}, "PUT / HTTP/1.1"));
    } catch (e) {
      error = e;
    }
    assert.ok(error instanceof HandshakeError);
    const { head } = parseHead("response", buildRejectResponse(error.status, { headers: { ...error.headers } }));
    assert.deepEqual(head.startLine, ["HTTP/1.1", "405", "Method Not Allowed"]);
    assert.equal(head.headers["allow"], "GET");
    assert.equal(head.headers["connection"], "close");
  });

  test("custom headers, Content-Type override and unknown statuses", () => {
    const { head, rest } = parseHead(
      "response",
      buildRejectResponse(499, {
        body: '{"error":1}',
        headers: [
          ["Content-Type", "application/json"],
          ["Set-Cookie", "a=1"],
          ["Set-Cookie", "b=2"],
        ],
      }),
    );
    assert.deepEqual(head.startLine, ["HTTP/1.1", "499", "Client Error"]);
    assert.equal(head.headers["content-type"], "application/json");
    assert.equal(head.headers["set-cookie"], "a=1, b=2");
    assert.equal(text(rest), '{"error":1}');
    const redirect = parseHead("response", buildRejectResponse(302, { headers: { Location: "/login" } }));
    assert.equal(redirect.head.headers["location"], "/login");
  });

  test("framing headers are reserved and injection is refused", () => {
    for (const name of ["Connection", "content-length", "Transfer-Encoding"]) {
      expectUsage(() => buildRejectResponse(400, { headers: { [name]: "x" } }), "RESERVED_HEADER");
    }
    expectUsage(() => buildRejectResponse(400, { headers: { "X-A": "1\r\n\r\n<html>" } }), "INVALID_HEADER");
  });

  test("only 3xx-5xx statuses can reject", () => {
    for (const status of [101, 200, 299, 600, 400.5, Number.NaN]) {
      expectUsage(() => buildRejectResponse(status), "INVALID_STATUS");
    }
  });
});
