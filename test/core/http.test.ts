import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { HandshakeError, UsageError } from "../../src/core/errors.js";
import {
  DEFAULT_HTTP_LIMITS,
  HttpHeadParser,
  formatExtensions,
  hasToken,
  headerCount,
  headerValue,
  httpVersion,
  isToken,
  parseExtensions,
  parseProtocolList,
  parseTokenList,
  type HttpHead,
  type HttpLimits,
} from "../../src/core/http.js";
import { concat } from "../helpers/bytes.js";

/** Latin1: each char code becomes one byte. */
function bytes(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

/** Pushes all chunks; returns the head plus everything after it (rest + unpushed chunks). */
function feed(
  kind: "request" | "response",
  chunks: Uint8Array[],
  limits?: Partial<HttpLimits>,
): { head: HttpHead; trailing: Uint8Array } | null {
  const parser = new HttpHeadParser(kind, limits);
  for (let i = 0; i < chunks.length; i++) {
    const result = parser.push(chunks[i]!);
    if (result) return { head: result.head, trailing: concat([result.rest, ...chunks.slice(i + 1)]) };
  }
  return null;
}

function parse(kind: "request" | "response", text: string, limits?: Partial<HttpLimits>): HttpHead {
  const result = feed(kind, [bytes(text)], limits);
  assert.ok(result, "head should be complete");
  return result.head;
}

function expectError(fn: () => unknown, code: string, status: number): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof HandshakeError, `expected HandshakeError, got ${String(error)}`);
    assert.equal(error.code, code);
    assert.equal(error.status, status);
    return true;
  });
}

const REQUEST =
  "GET /chat?room=1 HTTP/1.1\r\n" +
  "Host: server.example.com\r\n" +
  "Upgrade: websocket\r\n" +
  "Connection: Upgrade\r\n" +
  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
  "Origin: http://example.com\r\n" +
  "Sec-WebSocket-Protocol: chat, superchat\r\n" +
  "Sec-WebSocket-Version: 13\r\n" +
  "X-Multi: one\r\n" +
  "x-multi: two\r\n" +
  "\r\n";

describe("HttpHeadParser", () => {
  test("RFC 9112 3: the version is read as sent, and a header value keeps its inner whitespace", () => {
    assert.deepEqual(parse("request", "GET /a HTTP/1.0\r\n\r\n").startLine, ["GET", "/a", "HTTP/1.0"]);
    assert.deepEqual(parse("request", "PUT * HTTP/2.0\r\n\r\n").startLine, ["PUT", "*", "HTTP/2.0"]);
    const head = parse("request", "GET / HTTP/1.1\r\nX:\t a \t b \t\r\nY:\r\nZ:  \r\n\r\n");
    assert.deepEqual(head.rawHeaders, [["X", "a \t b"], ["Y", ""], ["Z", ""]]);
  });

  test("RFC 9112 3: parses a request head", () => {
    const head = parse("request", REQUEST);
    assert.deepEqual(head.startLine, ["GET", "/chat?room=1", "HTTP/1.1"]);
    assert.equal(head.headers["host"], "server.example.com");
    assert.equal(head.headers["sec-websocket-key"], "dGhlIHNhbXBsZSBub25jZQ==");
    assert.equal(head.headers["x-multi"], "one, two");
    assert.equal(head.rawHeaders.length, 9);
    assert.deepEqual(head.rawHeaders[0], ["Host", "server.example.com"]);
    assert.deepEqual(head.rawHeaders.slice(-2), [
      ["X-Multi", "one"],
      ["x-multi", "two"],
    ]);
  });

  test("names and values keep the case they were sent in; the keys of headers are lower-case", () => {
    const spellings = ["Upgrade", "UPGRADE", "upgrade", "uPgRaDe"];
    for (const name of spellings) {
      const head = parse("request", `GET / HTTP/1.1\r\n${name}: WebSocket\r\nSec-WebSocket-Version: 13\r\nconnection: upgrade\r\nX-Upgrade: websocket\r\n\r\n`);
      assert.deepEqual(head.rawHeaders, [
        [name, "WebSocket"],
        ["Sec-WebSocket-Version", "13"],
        ["connection", "upgrade"],
        ["X-Upgrade", "websocket"],
      ]);
      assert.deepEqual({ ...head.headers }, { upgrade: "WebSocket", "sec-websocket-version": "13", connection: "upgrade", "x-upgrade": "websocket" });
      assert.equal(Object.getPrototypeOf(head.headers), null);
    }
  });

  test("RFC 9112 4: parses a status line, with and without a reason", () => {
    assert.deepEqual(parse("response", "HTTP/1.1 101 Switching Protocols\r\n\r\n").startLine, [
      "HTTP/1.1",
      "101",
      "Switching Protocols",
    ]);
    assert.deepEqual(parse("response", "HTTP/1.1 404 \r\n\r\n").startLine, ["HTTP/1.1", "404", ""]);
    assert.deepEqual(parse("response", "HTTP/1.1 404\r\n\r\n").startLine, ["HTTP/1.1", "404", ""]);
    assert.deepEqual(parse("response", "HTTP/1.1 200 OK \t fine\r\n\r\n").startLine, ["HTTP/1.1", "200", "OK \t fine"]);
  });

  test("RFC 9112 5: trims OWS around values, keeps inner whitespace and empty values", () => {
    const head = parse("request", "GET / HTTP/1.1\r\nA:  \t x  y \t \r\nB:\r\nC:\t\r\nD:z\r\n\r\n");
    assert.equal(head.headers["a"], "x  y");
    assert.equal(head.headers["b"], "");
    assert.equal(head.headers["c"], "");
    assert.equal(head.headers["d"], "z");
  });

  test("decodes bytes as latin1, so every byte of a value survives (no windows-1252, no NBSP trim)", () => {
    const head = parse("request", "GET / HTTP/1.1\r\nX: \u00e9\u0080\u009f\u00ff\u00a0\r\n\r\n");
    assert.equal(head.headers["x"], "\u00e9\u0080\u009f\u00ff\u00a0");
  });

  test("headers object has no prototype: a __proto__ header is just data", () => {
    const head = parse("request", "GET / HTTP/1.1\r\n__proto__: x\r\nconstructor: y\r\n\r\n");
    assert.equal(head.headers["__proto__"], "x");
    assert.equal(head.headers["constructor"], "y");
    assert.equal(Object.getPrototypeOf(head.headers), null);
    assert.equal(head.headers["toString"], undefined);
  });

  test("returns null until the empty line, then the bytes after it as rest", () => {
    const parser = new HttpHeadParser("request");
    assert.equal(parser.push(bytes("GET / HTTP/1.1\r\nHost: a\r\n")), null);
    assert.equal(parser.push(bytes("\r")), null);
    const result = parser.push(bytes("\n\x81\x05hello"));
    assert.ok(result);
    assert.deepEqual(result.rest, bytes("\x81\x05hello"));
    assert.equal(result.head.headers["host"], "a");
  });

  test("rest is an empty view when nothing follows, and a view (not a copy) otherwise", () => {
    const parser = new HttpHeadParser("response");
    const result = parser.push(bytes("HTTP/1.1 101 OK\r\n\r\n"));
    assert.ok(result);
    assert.equal(result.rest.length, 0);
    const chunk = bytes("HTTP/1.1 101 OK\r\n\r\nXY");
    const second = new HttpHeadParser("response").push(chunk);
    assert.ok(second);
    assert.equal(second.rest.buffer, chunk.buffer);
    assert.equal(second.rest.byteOffset, chunk.byteOffset + chunk.length - 2);
  });

  test("copies the head, so the caller may reuse its chunk buffers", () => {
    const parser = new HttpHeadParser("request");
    const chunk = bytes("GET / HTTP/1.1\r\nHost: abc\r\n");
    assert.equal(parser.push(chunk), null);
    chunk.fill(0x21);
    const result = parser.push(bytes("\r\n"));
    assert.ok(result);
    assert.equal(result.head.headers["host"], "abc");
  });

  test("property: any split of the input gives the same head and the same trailing bytes", () => {
    const full = bytes(REQUEST + "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58");
    const expected = feed("request", [full]);
    assert.ok(expected);
    assert.equal(expected.trailing.length, 11);

    // One byte at a time.
    const single = feed("request", Array.from(full, (b) => Uint8Array.of(b)));
    assert.deepEqual(single, expected);

    // Random split points (deterministic LCG so failures reproduce).
    let seed = 12345;
    const next = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed % n;
    };
    for (let round = 0; round < 300; round++) {
      const cuts = new Set<number>();
      const count = 1 + next(12);
      for (let k = 0; k < count; k++) cuts.add(next(full.length + 1));
      const points = [0, ...[...cuts].sort((a, b) => a - b), full.length];
      const chunks: Uint8Array[] = [];
      for (let k = 1; k < points.length; k++) chunks.push(full.subarray(points[k - 1], points[k]));
      assert.deepEqual(feed("request", chunks), expected, `cuts ${points.join(",")}`);
    }
  });

  test("property: splitting a response also gives identical results", () => {
    const full = bytes("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x89\x00");
    const expected = feed("response", [full]);
    assert.ok(expected);
    for (let cut = 0; cut <= full.length; cut++) {
      assert.deepEqual(feed("response", [full.subarray(0, cut), full.subarray(cut)]), expected, `cut ${cut}`);
    }
  });

  test("after returning the head, push throws UsageError", () => {
    const parser = new HttpHeadParser("response");
    assert.ok(parser.push(bytes("HTTP/1.1 101 OK\r\n\r\n")));
    assert.throws(() => parser.push(bytes("x")), UsageError);
  });

  test("after an error, push keeps throwing the same error", () => {
    const parser = new HttpHeadParser("request");
    let first: unknown;
    try {
      parser.push(bytes("GET / HTTP/1.1\n"));
    } catch (error) {
      first = error;
    }
    assert.ok(first instanceof HandshakeError);
    assert.throws(() => parser.push(bytes("\r\n")), (error) => error === first);
  });
});

describe("deferred heads (the server's) and the field readers", () => {
  const deferred = (text: string): HttpHead => {
    const result = new HttpHeadParser("request").pushDeferred(bytes(text));
    assert.ok(result);
    return result.head;
  };

  test("a deferred head reads the same as a plain one, records made on first read", () => {
    const plain = parse("request", REQUEST);
    const head = deferred(REQUEST);
    assert.deepEqual(head.startLine, plain.startLine);
    assert.deepEqual(head.rawHeaders, plain.rawHeaders);
    assert.deepEqual({ ...head.headers }, { ...plain.headers });
    assert.equal(Object.getPrototypeOf(head.headers), null);
    // Made once, then kept: changes stick, as in a plain head.
    assert.equal(head.headers, head.headers);
    assert.equal(head.rawHeaders, head.rawHeaders);
  });

  test("headerValue and headerCount agree with the records, for deferred and plain heads", () => {
    for (const head of [deferred(REQUEST), parse("request", REQUEST)]) {
      assert.equal(headerValue(head, "host"), "server.example.com");
      assert.equal(headerValue(head, "x-multi"), "one, two");
      assert.equal(headerValue(head, "sec-websocket-protocol"), "chat, superchat");
      assert.equal(headerValue(head, "absent"), undefined);
      assert.equal(headerCount(head, "x-multi"), 2);
      assert.equal(headerCount(head, "host"), 1);
      assert.equal(headerCount(head, "absent"), 0);
    }
    // A name is compared whole, not as a prefix or suffix of another.
    assert.equal(headerValue(deferred("GET / HTTP/1.1\r\nX-Host: a\r\nHostx: b\r\n\r\n"), "host"), undefined);
  });

  test("the readers follow what the application changed in the records", () => {
    const head = deferred(REQUEST);
    head.headers["host"] = "changed";
    assert.equal(headerValue(head, "host"), "changed");
    const other = deferred(REQUEST);
    other.rawHeaders = [["Host", "a"], ["HOST", "b"]];
    assert.equal(headerCount(other, "host"), 2);
    assert.equal(headerValue(other, "host"), "a, b");
  });

  test("push hands out plain objects: a spread or JSON copy keeps every field", () => {
    const result = new HttpHeadParser("request").push(bytes(REQUEST));
    assert.ok(result);
    const copy = JSON.parse(JSON.stringify({ ...result.head })) as HttpHead;
    assert.deepEqual(copy.rawHeaders, result.head.rawHeaders);
    assert.equal(copy.headers["x-multi"], "one, two");
  });
});

describe("HttpHeadParser limits", () => {
  test("defaults are 16384 bytes and 100 headers", () => {
    assert.deepEqual({ ...DEFAULT_HTTP_LIMITS }, { maxHeaderBytes: 16384, maxHeaderCount: 100 });
  });

  test("RFC 6585 5: a head of exactly maxHeaderBytes is accepted, one byte more is 431", () => {
    const base = "GET / HTTP/1.1\r\nX: \r\n\r\n";
    const size = 200;
    const exact = base.replace("X: ", "X: " + "a".repeat(size - base.length));
    assert.equal(exact.length, size);
    assert.ok(parse("request", exact, { maxHeaderBytes: size }));
    const over = exact.replace("X: ", "X: a");
    expectError(() => parse("request", over, { maxHeaderBytes: size }), "HEADERS_TOO_LARGE", 431);
    // Also when the same bytes arrive one at a time.
    expectError(
      () => feed("request", Array.from(bytes(over), (b) => Uint8Array.of(b)), { maxHeaderBytes: size }),
      "HEADERS_TOO_LARGE",
      431,
    );
  });

  test("RFC 6585 5: an oversized head is refused before its terminator arrives", () => {
    const parser = new HttpHeadParser("request", { maxHeaderBytes: 1024 });
    assert.equal(parser.push(bytes("GET / HTTP/1.1\r\nX: ")), null);
    expectError(() => parser.push(new Uint8Array(2000).fill(0x61)), "HEADERS_TOO_LARGE", 431);
  });

  test("the default byte limit applies", () => {
    const parser = new HttpHeadParser("request");
    assert.equal(parser.push(bytes("GET / HTTP/1.1\r\nX: " + "a".repeat(16000))), null);
    expectError(() => parser.push(new Uint8Array(1000).fill(0x61)), "HEADERS_TOO_LARGE", 431);
  });

  test("RFC 6585 5: more than maxHeaderCount fields is 431 TOO_MANY_HEADERS", () => {
    const fields = (n: number): string => Array.from({ length: n }, (_, i) => `h${i}: v\r\n`).join("");
    assert.equal(parse("request", `GET / HTTP/1.1\r\n${fields(5)}\r\n`, { maxHeaderCount: 5 }).rawHeaders.length, 5);
    expectError(
      () => parse("request", `GET / HTTP/1.1\r\n${fields(6)}\r\n`, { maxHeaderCount: 5 }),
      "TOO_MANY_HEADERS",
      431,
    );
    assert.equal(parse("request", `GET / HTTP/1.1\r\n${fields(100)}\r\n`).rawHeaders.length, 100);
    expectError(() => parse("request", `GET / HTTP/1.1\r\n${fields(101)}\r\n`), "TOO_MANY_HEADERS", 431);
  });

  test("too many headers is detected before the terminator arrives", () => {
    const parser = new HttpHeadParser("request", { maxHeaderCount: 2 });
    assert.equal(parser.push(bytes("GET / HTTP/1.1\r\na: 1\r\nb: 2\r\n")), null);
    expectError(() => parser.push(bytes("c: 3\r\n")), "TOO_MANY_HEADERS", 431);
  });

  test("invalid limits are a UsageError", () => {
    assert.throws(() => new HttpHeadParser("request", { maxHeaderBytes: 0 }), UsageError);
    assert.throws(() => new HttpHeadParser("request", { maxHeaderCount: 1.5 }), UsageError);
    assert.throws(() => new HttpHeadParser("request", { maxHeaderBytes: Number.NaN }), UsageError);
  });
});

describe("HttpHeadParser rejects malformed heads with 400 MALFORMED_HTTP", () => {
  const requestCases: Array<[string, string]> = [
    ["RFC 9112 3: request line with two parts", "GET /\r\n\r\n"],
    ["RFC 9112 3: request line with four parts", "GET / HTTP/1.1 x\r\n\r\n"],
    ["RFC 9112 3: double space in request line", "GET  / HTTP/1.1\r\n\r\n"],
    ["RFC 9112 3: leading space in request line", " GET / HTTP/1.1\r\n\r\n"],
    ["RFC 9112 3: method that is not a token", "G(T / HTTP/1.1\r\n\r\n"],
    ["RFC 9112 3: tab inside the request target", "GET /a\tb HTTP/1.1\r\n\r\n"],
    ["RFC 9112 3: non-ASCII request target", "GET /\u00e9 HTTP/1.1\r\n\r\n"],
    ["RFC 9112 2.3: version without minor", "GET / HTTP/1\r\n\r\n"],
    ["RFC 9112 2.3: two-digit version", "GET / HTTP/11.1\r\n\r\n"],
    ["RFC 9112 2.3: lower-case protocol name", "GET / http/1.1\r\n\r\n"],
    ["RFC 9112 2.2: empty start line", "\r\n\r\n"],
    ["RFC 9112 5: header line without colon", "GET / HTTP/1.1\r\nHost example\r\n\r\n"],
    ["RFC 9112 5: empty header name", "GET / HTTP/1.1\r\n: value\r\n\r\n"],
    ["RFC 9112 5.1: space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n"],
    ["RFC 9112 5.1: tab before colon", "GET / HTTP/1.1\r\nHost\t: a\r\n\r\n"],
    ["RFC 9112 5.2: obs-fold with space", "GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n"],
    ["RFC 9112 5.2: obs-fold with tab", "GET / HTTP/1.1\r\nX: a\r\n\tb\r\n\r\n"],
    ["RFC 9112 5.2: whitespace before the first header", "GET / HTTP/1.1\r\n Host: a\r\n\r\n"],
    ["RFC 9110 5.1: separator in header name", "GET / HTTP/1.1\r\nHo(st: a\r\n\r\n"],
    ["RFC 9110 5.1: space inside header name", "GET / HTTP/1.1\r\nHo st: a\r\n\r\n"],
    ["RFC 9110 5.1: non-ASCII header name", "GET / HTTP/1.1\r\nH\u00e9: a\r\n\r\n"],
    ["RFC 9110 5.5: NUL in header value", "GET / HTTP/1.1\r\nX: a\u0000b\r\n\r\n"],
    ["RFC 9110 5.5: control character in header value", "GET / HTTP/1.1\r\nX: a\u0001b\r\n\r\n"],
    ["RFC 9110 5.5: DEL in header value", "GET / HTTP/1.1\r\nX: a\u007f\r\n\r\n"],
    ["RFC 9112 2.2: bare LF ends the start line", "GET / HTTP/1.1\nHost: a\r\n\r\n"],
    ["RFC 9112 2.2: bare LF ends a header line", "GET / HTTP/1.1\r\nHost: a\n\r\n"],
    ["RFC 9112 2.2: bare LF terminator", "GET / HTTP/1.1\r\nHost: a\r\n\n"],
    ["RFC 9112 2.2: LF LF terminator", "GET / HTTP/1.1\n\n"],
    ["RFC 9112 2.2: bare CR inside a value", "GET / HTTP/1.1\r\nX: a\rb\r\n\r\n"],
    ["RFC 9112 2.2: CR CR LF", "GET / HTTP/1.1\r\r\n\r\n"],
    ["RFC 9112 2.2: CR CR LF after a value", "GET / HTTP/1.1\r\nX: a\r\r\n\r\n"],
    ["RFC 9112 2.2: CR CR LF after a name", "GET / HTTP/1.1\r\nX\r\r\n\r\n"],
    ["RFC 9112 3: trailing space after the version", "GET / HTTP/1.1 \r\n\r\n"],
    ["RFC 9112 5: colon only in a later line", "GET / HTTP/1.1\r\nHost a\r\nX: b\r\n\r\n"],
  ];
  for (const [name, text] of requestCases) {
    test(name, () => {
      expectError(() => parse("request", text), "MALFORMED_HTTP", 400);
      // The same error must surface when the bytes trickle in.
      expectError(() => feed("request", Array.from(bytes(text), (b) => Uint8Array.of(b))), "MALFORMED_HTTP", 400);
    });
  }

  const responseCases: Array<[string, string]> = [
    ["RFC 9112 4: status code with two digits", "HTTP/1.1 10 OK\r\n\r\n"],
    ["RFC 9112 4: status code with four digits", "HTTP/1.1 1011 OK\r\n\r\n"],
    ["RFC 9112 4: non-numeric status code", "HTTP/1.1 abc OK\r\n\r\n"],
    ["RFC 9112 4: missing status code", "HTTP/1.1\r\n\r\n"],
    ["RFC 9112 4: bad protocol name", "HTTX/1.1 101 OK\r\n\r\n"],
    ["RFC 9112 4: a request line where a status line is expected", "GET / HTTP/1.1\r\n\r\n"],
    ["RFC 9112 4: control character in reason", "HTTP/1.1 101 O\u0001K\r\n\r\n"],
    ["RFC 9112 5.2: obs-fold in a response", "HTTP/1.1 101 OK\r\nX: a\r\n b\r\n\r\n"],
  ];
  for (const [name, text] of responseCases) {
    test(name, () => expectError(() => parse("response", text), "MALFORMED_HTTP", 400));
  }

  test("a bare LF is rejected as soon as it arrives", () => {
    const parser = new HttpHeadParser("request");
    expectError(() => parser.push(bytes("GET / HTTP/1.1\n")), "MALFORMED_HTTP", 400);
  });

  test("HTAB and obs-text are allowed inside values", () => {
    assert.equal(parse("request", "GET / HTTP/1.1\r\nX: a\tb\u00ffc\r\n\r\n").headers["x"], "a\tb\u00ffc");
  });
});

describe("httpVersion", () => {
  test("RFC 9112 2.3: HTTP/DIGIT.DIGIT as major * 10 + minor, anything else -1", () => {
    assert.equal(httpVersion("HTTP/1.1"), 11);
    assert.equal(httpVersion("HTTP/1.0"), 10);
    assert.equal(httpVersion("HTTP/2.0"), 20);
    assert.equal(httpVersion("HTTP/9.9"), 99);
    for (const bad of ["HTTP/1", "HTTP/11.1", "HTTP/1.12", "http/1.1", "HTTP 1.1", "HTTP/1,1", "HTTP/a.1", "HTTP/1.a", "HTTP//.1", "HTTP/:.1", ""]) {
      assert.equal(httpVersion(bad), -1, bad);
    }
  });

  test("reads the version where it lies in a longer text", () => {
    const line = "GET / HTTP/1.1\r\n";
    assert.equal(httpVersion(line, 6, 14), 11);
    assert.equal(httpVersion(line, 6, 15), -1);
    assert.equal(httpVersion(line, 5, 14), -1);
  });
});

describe("token lists", () => {
  test("RFC 9110 5.6.1: parseTokenList trims, skips empty elements and lower-cases", () => {
    assert.deepEqual(parseTokenList(" Upgrade ,\tKeep-Alive,, ,x "), ["upgrade", "keep-alive", "x"]);
    assert.deepEqual(parseTokenList(undefined), []);
    assert.deepEqual(parseTokenList(""), []);
    assert.deepEqual(parseTokenList(" , ,"), []);
  });

  test("RFC 9110 7.6.1: hasToken is case-insensitive membership", () => {
    assert.equal(hasToken("keep-alive, Upgrade", "upgrade"), true);
    assert.equal(hasToken("keep-alive, UPGRADE", "Upgrade"), true);
    assert.equal(hasToken("keep-alive, upgrade2", "upgrade"), false);
    assert.equal(hasToken("websocketx", "websocket"), false);
    assert.equal(hasToken(undefined, "upgrade"), false);
    assert.equal(hasToken("", "upgrade"), false);
    assert.equal(hasToken(" , ,\tUpgrade\t ,", "upgrade"), true);
    assert.equal(hasToken("upgrade ,keep-alive", "upgrade"), true);
    assert.equal(hasToken("up grade", "upgrade"), false);
    // ASCII case-insensitivity only: the Kelvin sign is not a "k" here, though toLowerCase says so.
    assert.equal(hasToken("websoc\u212Aet", "websocket"), false);
  });

  test("isToken follows the RFC 9110 5.6.2 tchar set", () => {
    assert.equal(isToken("!#$%&'*+-.^_`|~09azAZ"), true);
    for (const bad of ["", "a b", "a,b", "a;b", 'a"b', "a/b", "a:b", "a\u00e9", "a\tb", "a{b", "a@b"]) {
      assert.equal(isToken(bad), false, JSON.stringify(bad));
    }
  });

  test("RFC 6455 4.1: parseProtocolList keeps case and order, trims, skips empty elements", () => {
    assert.deepEqual(parseProtocolList(" chat ,SuperChat,, v2.json "), ["chat", "SuperChat", "v2.json"]);
    assert.deepEqual(parseProtocolList("chat, Chat"), ["chat", "Chat"]);
    assert.deepEqual(parseProtocolList(undefined), []);
    assert.deepEqual(parseProtocolList(""), []);
  });

  test("RFC 6455 4.1: parseProtocolList rejects non-token names with 400 INVALID_SUBPROTOCOL", () => {
    for (const bad of ["chat v2", "a/b", '"chat"', "chat;q=1", "caf\u00e9"]) {
      expectError(() => parseProtocolList(bad), "INVALID_SUBPROTOCOL", 400);
    }
  });

  test("RFC 6455 4.1: parseProtocolList rejects duplicates (values MUST be unique)", () => {
    expectError(() => parseProtocolList("chat, chat"), "INVALID_SUBPROTOCOL", 400);
  });
});

describe("Sec-WebSocket-Extensions", () => {
  const plain = (list: ReturnType<typeof parseExtensions>) =>
    list.map((e) => ({ name: e.name, params: { ...e.params }, paramList: e.paramList }));

  test("RFC 6455 9.1: extensions with parameters, with and without values", () => {
    assert.deepEqual(plain(parseExtensions("permessage-deflate; client_max_window_bits; server_max_window_bits=10")), [
      {
        name: "permessage-deflate",
        params: { client_max_window_bits: true, server_max_window_bits: "10" },
        paramList: [
          ["client_max_window_bits", true],
          ["server_max_window_bits", "10"],
        ],
      },
    ]);
  });

  test("RFC 6455 9.1: several extensions, several joined header values, empty elements", () => {
    const list = parseExtensions("foo, bar; baz=2, ,permessage-deflate");
    assert.deepEqual(
      list.map((e) => e.name),
      ["foo", "bar", "permessage-deflate"],
    );
    assert.deepEqual({ ...list[1]!.params }, { baz: "2" });
    assert.deepEqual(parseExtensions(undefined), []);
    assert.deepEqual(parseExtensions(""), []);
    assert.deepEqual(parseExtensions(" , "), []);
  });

  test("RFC 6455 9.1: names are lower-cased, values keep their case", () => {
    const [ext] = parseExtensions("X-Foo; Mode=Fast");
    assert.equal(ext!.name, "x-foo");
    assert.deepEqual({ ...ext!.params }, { mode: "Fast" });
  });

  test("RFC 6455 9.1: whitespace around ';' and '='", () => {
    const [ext] = parseExtensions("foo \t;\t a = 1 ; b ;c= \"x\" ");
    assert.deepEqual(ext!.paramList, [
      ["a", "1"],
      ["b", true],
      ["c", "x"],
    ]);
  });

  test("RFC 7230 3.2.6: quoted-string values are unquoted, with backslash escapes", () => {
    const [ext] = parseExtensions('foo; a="10"; b="x\\"y\\\\z"; c=""; d="\\a"');
    assert.deepEqual({ ...ext!.params }, { a: "10", b: 'x"y\\z', c: "", d: "a" });
  });

  test("RFC 7230 3.2.6: commas and semicolons inside quoted strings do not split", () => {
    const list = parseExtensions('foo; a="1, 2; b=3", bar; c="x,y"');
    assert.equal(list.length, 2);
    assert.deepEqual({ ...list[0]!.params }, { a: "1, 2; b=3" });
    assert.deepEqual({ ...list[1]!.params }, { c: "x,y" });
  });

  test("duplicate parameters: params keeps the last, paramList keeps all", () => {
    const [ext] = parseExtensions("foo; a=1; A=2; a");
    assert.deepEqual({ ...ext!.params }, { a: true });
    assert.deepEqual(ext!.paramList, [
      ["a", "1"],
      ["a", "2"],
      ["a", true],
    ]);
  });

  test("params has no prototype: a __proto__ parameter is just data", () => {
    const [ext] = parseExtensions("foo; __proto__=1");
    assert.equal(ext!.params["__proto__"], "1");
    assert.equal(Object.getPrototypeOf(ext!.params), null);
  });

  const malformed = [
    ";a=1", // no extension name
    "foo;", // empty parameter
    "foo; =1", // no parameter name
    "foo; a=", // no value
    "foo; a=1 2", // two values
    "foo bar", // two names
    "foo; a=\"unterminated", // unterminated quoted string
    "foo; a=\"x\\", // escape at end
    "foo; a=\"x\"y", // junk after quoted string
    "foo; a=b/c", // separator in token value
    "foo; a=\"x\u0001\"", // control char in quoted string
    "fo\u00e9", // non-ASCII name
    "foo; a==1",
    "foo;; a",
    '"foo"',
  ];
  for (const text of malformed) {
    test(`RFC 6455 9.1: ${JSON.stringify(text)} is 400 INVALID_EXTENSION_HEADER`, () => {
      expectError(() => parseExtensions(text), "INVALID_EXTENSION_HEADER", 400);
    });
  }

  test("formatExtensions writes tokens bare and quotes everything else", () => {
    assert.equal(
      formatExtensions([
        { name: "permessage-deflate", params: { client_max_window_bits: true, server_max_window_bits: "10" } },
        { name: "x", params: { a: "with space", b: 'q"uote\\', c: "" } },
        { name: "y", params: {} },
      ]),
      'permessage-deflate; client_max_window_bits; server_max_window_bits=10, x; a="with space"; b="q\\"uote\\\\"; c="", y',
    );
    assert.equal(formatExtensions([]), "");
  });

  test("formatExtensions output parses back to the same offers", () => {
    const offers = [
      { name: "a", params: { p: true, q: "1,2", r: "tok" } as Record<string, string | true> },
      { name: "b", params: { s: '"\\' } as Record<string, string | true> },
    ];
    assert.deepEqual(
      parseExtensions(formatExtensions(offers)).map((e) => ({ name: e.name, params: { ...e.params } })),
      offers,
    );
  });

  test("formatExtensions uses params, not a stale paramList", () => {
    const [ext] = parseExtensions("foo; a=1; a=2");
    ext!.params["b"] = true;
    assert.equal(formatExtensions([ext!]), "foo; a=2; b");
  });

  test("formatExtensions refuses what a header cannot carry (UsageError)", () => {
    assert.throws(() => formatExtensions([{ name: "bad name", params: {} }]), UsageError);
    assert.throws(() => formatExtensions([{ name: "x", params: { "a b": true } }]), UsageError);
    assert.throws(() => formatExtensions([{ name: "x", params: { a: "line\r\nInjected: 1" } }]), UsageError);
    assert.throws(() => formatExtensions([{ name: "x", params: { a: "\u20ac" } }]), UsageError);
  });
});
