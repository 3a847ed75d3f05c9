/**
 * Just enough HTTP/1.1 (RFC 9110 / RFC 9112) to run the WebSocket opening
 * handshake without an HTTP stack: an incremental parser for a request or
 * response head, plus parsers for the list-valued headers RFC 6455 uses.
 * Parsing is strict because a handshake is a trust boundary: anything that
 * could be read two ways (bare LF, obs-fold, whitespace before the colon) is
 * rejected rather than guessed at.
 */

import { equalsIgnoringAsciiCase, isAscii } from "./ascii.js";
import { HandshakeError, UsageError } from "./errors.js";

/** Caps on an HTTP head so a peer cannot make the parser buffer without bound. */
export interface HttpLimits {
  /** Largest head accepted, in bytes, counting the start line and the final empty line. */
  maxHeaderBytes: number;
  /** Most header fields accepted (the start line is not counted). */
  maxHeaderCount: number;
}

/** Limits used when none are given; generous for browsers, small enough to bound memory. */
export const DEFAULT_HTTP_LIMITS: Readonly<HttpLimits> = Object.freeze({
  maxHeaderBytes: 16384,
  maxHeaderCount: 100,
});

/** A parsed request or response head. */
export interface HttpHead {
  /**
   * `[method, target, version]` for a request, `[version, status, reason]` for
   * a response (the reason may be empty).
   */
  startLine: [string, string, string];
  /**
   * Header values by lower-case name, repeated fields joined with `", "`. The
   * object has no prototype, so a header named `__proto__` is just a header.
   */
  headers: Record<string, string>;
  /** Every field as sent (original name case, original order, repeats kept). */
  rawHeaders: Array<[string, string]>;
}

/** Allocating even an empty typed array costs more than parsing a short head. */
const NO_BYTES = new Uint8Array(0);
const CR = 0x0d;
const LF = 0x0a;

function malformed(message: string): HandshakeError {
  return new HandshakeError("MALFORMED_HTTP", message, 400);
}

/** tchar of RFC 9110 section 5.6.2, indexed by character code. */
const TCHAR = new Uint8Array(128);
for (let c = 0x21; c < 0x7f; c++) TCHAR[c] = 1;
for (const c of '"(),/:;<=>?@[\\]{}') TCHAR[c.charCodeAt(0)] = 0;

/** True when `text` is a non-empty RFC 9110 token (what header names, methods and subprotocols must be). */
export function isToken(text: string): boolean {
  if (text.length === 0) return false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 128 || TCHAR[c] === 0) return false;
  }
  return true;
}

function isOws(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

/** Strings grouped by length, for {@link common}. */
function byLength(strings: readonly string[]): ReadonlyArray<readonly string[] | undefined> {
  const table: string[][] = [];
  for (const text of strings) (table[text.length] ??= []).push(text);
  return table;
}

/** Header names nearly every handshake sends, lower-case (the keys of {@link HttpHead.headers}). */
const LOWER_NAMES = [
  "host",
  "upgrade",
  "connection",
  "origin",
  "sec-websocket-key",
  "sec-websocket-version",
  "sec-websocket-protocol",
  "sec-websocket-extensions",
  "user-agent",
  "cookie",
  "authorization",
  "accept-encoding",
  "accept-language",
  "cache-control",
  "pragma",
];
const LOWER_BY_LENGTH = byLength(LOWER_NAMES);
/** The same names as browsers and most clients spell them, and lower-case (as HTTP/2-minded clients do). */
const NAMES_AS_SENT = byLength([
  ...LOWER_NAMES,
  "Host",
  "Upgrade",
  "Connection",
  "Origin",
  "Sec-WebSocket-Key",
  "Sec-WebSocket-Version",
  "Sec-WebSocket-Protocol",
  "Sec-WebSocket-Extensions",
  "User-Agent",
  "Cookie",
  "Authorization",
  "Accept-Encoding",
  "Accept-Language",
  "Cache-Control",
  "Pragma",
]);
/** Values of Upgrade, Connection and Sec-WebSocket-Version in nearly every handshake. */
const COMMON_VALUES = byLength(["websocket", "Upgrade", "upgrade", "13"]);

/**
 * `text[from, to)`: one of `strings` when it is exactly that (no new string
 * for what nearly every head contains), else a slice.
 */
function common(text: string, from: number, to: number, strings: ReadonlyArray<readonly string[] | undefined>): string {
  const candidates = strings[to - from];
  if (candidates !== undefined) {
    for (const candidate of candidates) if (text.startsWith(candidate, from)) return candidate;
  }
  return text.slice(from, to);
}

/** `name` (a token: ASCII only) in lower case, allocating nothing for the common names. */
function lowerCaseName(name: string): string {
  const candidates = LOWER_BY_LENGTH[name.length];
  if (candidates !== undefined) {
    for (const candidate of candidates) if (equalsIgnoringAsciiCase(name, 0, candidate)) return candidate;
  }
  // toLowerCase returns the string itself when nothing changes.
  return name.toLowerCase();
}

/** Trims only SP and HTAB: `String.prototype.trim` would also eat 0xA0 and friends. */
function trimOws(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && isOws(text.charCodeAt(start))) start++;
  while (end > start && isOws(text.charCodeAt(end - 1))) end--;
  return text.slice(start, end);
}

const asciiDecoder = new TextDecoder("latin1");

/**
 * Each byte becomes the char with the same code (true latin1; TextDecoder's
 * "latin1" is windows-1252, which only agrees below 0x80 — so it is used, natively,
 * when the head is pure ASCII, as nearly every head is).
 */
function latin1(bytes: Uint8Array, ascii: boolean): string {
  if (ascii) return asciiDecoder.decode(bytes);
  let out = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    out += String.fromCharCode(...bytes.subarray(i, i + 8192));
  }
  return out;
}

/**
 * The HTTP version `text[at, end)` names as major * 10 + minor ("HTTP/1.1" is 11),
 * or -1 unless it is exactly "HTTP/" DIGIT "." DIGIT (RFC 9112 section 2.3).
 */
export function httpVersion(text: string, at = 0, end = text.length): number {
  if (end - at !== 8 || !text.startsWith("HTTP/", at) || text.charCodeAt(at + 6) !== 0x2e) return -1;
  const major = text.charCodeAt(at + 5) - 0x30;
  const minor = text.charCodeAt(at + 7) - 0x30;
  return major >= 0 && major <= 9 && minor >= 0 && minor <= 9 ? major * 10 + minor : -1;
}

/** Nearly every request says these: returning the constants spares a string per head. */
const HTTP_11 = "HTTP/1.1";
const GET = "GET";

/** Parses the request line `text[0, end)` in place (no split, no regular expression: every handshake runs this). */
function parseRequestLine(text: string, end: number): [string, string, string] {
  const space1 = text.indexOf(" ");
  const space2 = space1 < 0 ? -1 : text.indexOf(" ", space1 + 1);
  if (space1 < 0 || space2 < 0 || space2 >= end) throw malformed("request line is not 'method SP target SP version'");
  const extra = text.indexOf(" ", space2 + 1);
  if (extra >= 0 && extra < end) throw malformed("request line is not 'method SP target SP version'");
  const method = space1 === 3 && text.startsWith(GET) ? GET : text.slice(0, space1);
  if (!isToken(method)) throw malformed("invalid method");
  if (space2 === space1 + 1) throw malformed("empty request target");
  for (let i = space1 + 1; i < space2; i++) {
    const c = text.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) throw malformed("invalid character in request target");
  }
  if (httpVersion(text, space2 + 1, end) < 0) throw malformed("invalid HTTP version in request line");
  const version = text.startsWith(HTTP_11, space2 + 1) ? HTTP_11 : text.slice(space2 + 1, end);
  return [method, text.slice(space1 + 1, space2), version];
}

function parseStatusLine(line: string): [string, string, string] {
  const space = line.indexOf(" ");
  const versionEnd = space < 0 ? line.length : space;
  if (httpVersion(line, 0, versionEnd) < 0) throw malformed("invalid HTTP version in status line");
  const version = line.slice(0, versionEnd);
  const status = line.slice(space + 1, space + 4);
  if (space < 0 || !/^[0-9]{3}$/.test(status)) throw malformed("invalid status code");
  const after = space + 4;
  // Tolerate a missing SP before an empty reason ("HTTP/1.1 101"); servers do send it.
  if (after < line.length && line.charCodeAt(after) !== 0x20) throw malformed("invalid status code");
  const reason = line.slice(after + 1);
  for (let i = 0; i < reason.length; i++) {
    const c = reason.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c === 0x7f) throw malformed("control character in reason phrase");
  }
  return [version, status, reason];
}

/**
 * Checks the field line `text[start, end)` and appends where its name and
 * its value (without surrounding whitespace) lie to `fields`: no string is
 * made here (see {@link ParsedHead}).
 */
function checkFieldLine(text: string, start: number, end: number, fields: number[]): void {
  if (isOws(text.charCodeAt(start))) throw malformed("obsolete line folding is not allowed");
  let colon = start;
  for (; colon < end; colon++) {
    const c = text.charCodeAt(colon);
    if (c === 0x3a) break;
    if (c < 0x80 && TCHAR[c] === 1) continue;
    const next = text.indexOf(":", colon);
    if (next < 0 || next >= end) throw malformed("header line without a colon");
    if (isOws(c)) throw malformed("whitespace in a header name or before its colon");
    throw malformed(c >= 0x80 ? "non-ASCII character in header name" : "invalid character in header name");
  }
  if (colon === end) throw malformed("header line without a colon");
  if (colon === start) throw malformed("empty header name");
  let from = colon + 1;
  let to = end;
  while (from < to && isOws(text.charCodeAt(from))) from++;
  while (to > from && isOws(text.charCodeAt(to - 1))) to--;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c === 0x7f) throw malformed("control character in header value");
  }
  fields.push(start, colon, from, to);
}

/**
 * A head as {@link HttpHeadParser} parsed it: checked whole, but its fields
 * kept as offsets into the head's text until {@link headers} or
 * {@link rawHeaders} is first read. The server's handshake reads the few
 * fields it checks through {@link headerValue} and {@link headerCount}, so
 * when the application never looks at the headers no string, pair or record
 * is made per field (about half of what a handshake's parse allocated;
 * BENCHMARKS.md, "Handshake: side by side"). Both records are made once and then kept, so they can be
 * changed like those of a plain {@link HttpHead}. Not handed out by
 * {@link HttpHeadParser.push}, whose heads are plain objects (a spread or
 * JSON copy of one keeps its fields): accessors on a prototype would not.
 */
class ParsedHead implements HttpHead {
  readonly startLine: [string, string, string];
  readonly #text: string;
  /** Four offsets into the text per field: name start and end, value start and end. */
  readonly #fields: readonly number[];
  #headers: Record<string, string> | null = null;
  #rawHeaders: Array<[string, string]> | null = null;

  constructor(startLine: [string, string, string], text: string, fields: readonly number[]) {
    this.startLine = startLine;
    this.#text = text;
    this.#fields = fields;
  }

  get rawHeaders(): Array<[string, string]> {
    if (this.#rawHeaders === null) {
      const text = this.#text;
      const fields = this.#fields;
      const raw: Array<[string, string]> = [];
      for (let i = 0; i < fields.length; i += 4) {
        raw.push([common(text, fields[i]!, fields[i + 1]!, NAMES_AS_SENT), common(text, fields[i + 2]!, fields[i + 3]!, COMMON_VALUES)]);
      }
      this.#rawHeaders = raw;
    }
    return this.#rawHeaders;
  }

  set rawHeaders(value: Array<[string, string]>) {
    this.#rawHeaders = value;
  }

  get headers(): Record<string, string> {
    if (this.#headers === null) {
      // No prototype, yet fast properties: Object.create(null) would make a dictionary (larger, slower to fill).
      const headers = Object.setPrototypeOf({}, null) as Record<string, string>;
      for (const [name, value] of this.rawHeaders) {
        const key = lowerCaseName(name);
        const previous = headers[key];
        headers[key] = previous === undefined ? value : `${previous}, ${value}`;
      }
      this.#headers = headers;
    }
    return this.#headers;
  }

  set headers(value: Record<string, string>) {
    this.#headers = value;
  }

  /** The value of the fields named `lowerName` (repeats joined with ", "), read from the text while neither record exists. */
  value(lowerName: string): string | undefined {
    if (this.#headers !== null || this.#rawHeaders !== null) return this.headers[lowerName];
    const text = this.#text;
    const fields = this.#fields;
    let found: string | undefined;
    for (let i = 0; i < fields.length; i += 4) {
      if (!this.#named(i, lowerName)) continue;
      const value = common(text, fields[i + 2]!, fields[i + 3]!, COMMON_VALUES);
      found = found === undefined ? value : `${found}, ${value}`;
    }
    return found;
  }

  /** How many fields are named `lowerName`, likewise. */
  count(lowerName: string): number {
    if (this.#rawHeaders !== null) return countFields(this.#rawHeaders, lowerName);
    let count = 0;
    for (let i = 0; i < this.#fields.length; i += 4) if (this.#named(i, lowerName)) count++;
    return count;
  }

  /** Whether the field whose offsets start at `i` is named `lowerName` (ASCII case ignored: names are tokens). */
  #named(i: number, lowerName: string): boolean {
    const start = this.#fields[i]!;
    return this.#fields[i + 1]! - start === lowerName.length && equalsIgnoringAsciiCase(this.#text, start, lowerName);
  }
}

/** Fields of `rawHeaders` named `lowerName`, ignoring ASCII case. */
function countFields(rawHeaders: ReadonlyArray<readonly [string, string]>, lowerName: string): number {
  let count = 0;
  for (let i = 0; i < rawHeaders.length; i++) {
    const name = rawHeaders[i]![0];
    if (name.length !== lowerName.length) continue;
    // Names are ASCII tokens (the parser and node:http check it): compared without a lower-cased copy.
    // A head built by hand may hold other characters: those are lower-cased.
    if (equalsIgnoringAsciiCase(name, 0, lowerName) || (!isAscii(name) && name.toLowerCase() === lowerName)) count++;
  }
  return count;
}

/**
 * `head.headers[lowerName]` (`lowerName` in lower case). Used by the
 * handshake checks so that a head whose records are made on first read
 * (the server's) is read without making them.
 *
 * @example
 * ```ts
 * import { HttpHeadParser, headerValue } from "wsx/core";
 *
 * const bytes = new TextEncoder().encode("GET / HTTP/1.1\r\nHost: a\r\nX-Id: 1\r\nx-id: 2\r\n\r\n");
 * const { head } = new HttpHeadParser("request").push(bytes)!;
 * console.log(headerValue(head, "x-id")); // "1, 2", as head.headers["x-id"] would be
 * ```
 */
export function headerValue(head: HttpHead, lowerName: string): string | undefined {
  return head instanceof ParsedHead ? head.value(lowerName) : head.headers[lowerName];
}

/** How many fields of `head` are named `lowerName` (in lower case; ASCII case ignored), likewise. */
export function headerCount(head: HttpHead, lowerName: string): number {
  return head instanceof ParsedHead ? head.count(lowerName) : countFields(head.rawHeaders, lowerName);
}

function tooManyFields(most: number): HandshakeError {
  return new HandshakeError("TOO_MANY_HEADERS", `more than ${most} header fields`, 431);
}

/**
 * Where the head ends when `chunk` holds all of it within `maxBytes`, pure
 * ASCII, with every line ending in CRLF; -1 otherwise, and the byte scan
 * then says what is wrong, waits for more or handles the rare non-ASCII
 * head. A CR inside a line is left to the line parsers, which refuse it as
 * a control character.
 */
function wholeHeadEnd(chunk: Uint8Array, maxBytes: number): number {
  const limit = Math.min(chunk.length, maxBytes);
  let bits = 0;
  for (let i = 0; i < limit; i++) {
    const c = chunk[i]!;
    bits |= c;
    if (c !== LF) continue;
    // A bare LF, or an empty start line (CRLF first): the byte scan reports it.
    if (i < 2 || chunk[i - 1] !== CR) return -1;
    if (i >= 3 && chunk[i - 2] === LF) return bits < 0x80 ? i + 1 : -1;
  }
  return -1;
}

function checkLimit(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new UsageError("INVALID_LIMIT", `${name} must be a positive integer`);
  }
  return value;
}

/**
 * Incremental parser for one HTTP head. Bytes may arrive split anywhere (one at
 * a time works); each byte is examined once, so total work is linear. Limits
 * are enforced as bytes arrive, before the terminating empty line, so a peer
 * that never finishes its head cannot make the parser buffer more than
 * `maxHeaderBytes`. The head bytes are copied, so callers may reuse chunks.
 */
export class HttpHeadParser {
  readonly #kind: "request" | "response";
  readonly #maxBytes: number;
  readonly #maxCount: number;
  /** A head split across chunks, collected; shared empty until then (most heads come in one chunk). */
  #buffer: Uint8Array = NO_BYTES;
  #length = 0;
  #lineLength = 0;
  #lines = 0;
  #afterCR = false;
  /** OR of every byte seen: below 0x80 means pure ASCII. */
  #bits = 0;
  #done = false;
  #failure: HandshakeError | null = null;

  /** `kind` selects which start line is expected. */
  constructor(kind: "request" | "response", limits?: Partial<HttpLimits>) {
    this.#kind = kind;
    this.#maxBytes = checkLimit(limits?.maxHeaderBytes ?? DEFAULT_HTTP_LIMITS.maxHeaderBytes, "maxHeaderBytes");
    this.#maxCount = checkLimit(limits?.maxHeaderCount ?? DEFAULT_HTTP_LIMITS.maxHeaderCount, "maxHeaderCount");
  }

  /**
   * Feeds the next chunk. Returns null while the head is incomplete; once the
   * empty line is seen, returns the head and `rest`, a view of the bytes of
   * `chunk` after it (they belong to whatever protocol follows). Throws
   * HandshakeError (400 or 431) on a malformed or oversized head; after a
   * throw, every later call throws the same error.
   */
  push(chunk: Uint8Array): { head: HttpHead; rest: Uint8Array } | null {
    const result = this.pushDeferred(chunk);
    if (result === null) return null;
    const head = result.head;
    return { head: { startLine: head.startLine, headers: head.headers, rawHeaders: head.rawHeaders }, rest: result.rest };
  }

  /**
   * @internal As {@link push}, but the head's `headers` and `rawHeaders`
   * are made when first read, from its text (a {@link ParsedHead}): for the
   * server, whose handshake reads the few fields it checks with
   * {@link headerValue} and leaves the records to an application that asks.
   */
  pushDeferred(chunk: Uint8Array): { head: HttpHead; rest: Uint8Array } | null {
    if (this.#failure) throw this.#failure;
    if (this.#done) throw new UsageError("HEAD_ALREADY_PARSED", "the HTTP head was already parsed");
    try {
      return this.#scan(chunk);
    } catch (error) {
      if (error instanceof HandshakeError) this.#failure = error;
      throw error;
    }
  }

  #scan(chunk: Uint8Array): { head: HttpHead; rest: Uint8Array } | null {
    // State in locals for the byte loop; written back below.
    let afterCR = this.#afterCR;
    let lineLength = this.#lineLength;
    let lines = this.#lines;
    if (lines === 0 && lineLength === 0 && !afterCR) {
      // Nothing seen yet, and nearly every head comes whole in its first chunk.
      const end = wholeHeadEnd(chunk, this.#maxBytes);
      if (end > 0) {
        this.#done = true;
        this.#bits = 0; // ASCII
        const whole = end === chunk.length;
        return { head: this.#parse(whole ? chunk : chunk.subarray(0, end)), rest: whole ? NO_BYTES : chunk.subarray(end) };
      }
    }
    let bits = this.#bits;
    const room = this.#maxBytes - this.#length;
    let end = -1;
    let i = 0;
    // Below this index an ordinary byte cannot make the head too large (see the check at the end of the loop).
    const ordinaryEnd = Math.min(chunk.length, room - 1);
    for (; i < chunk.length; i++) {
      if (!afterCR) {
        // Most bytes are neither CR nor LF: for those only the bits and the line length change.
        const start = i;
        while (i < ordinaryEnd) {
          const c = chunk[i]!;
          if (c === CR || c === LF) break;
          bits |= c;
          i++;
        }
        lineLength += i - start;
        if (i === chunk.length) break;
      }
      const c = chunk[i]!;
      bits |= c;
      if (afterCR) {
        if (c !== LF) throw malformed("CR not followed by LF");
        afterCR = false;
        if (lineLength === 0) {
          if (lines === 0) throw malformed("empty start line");
          end = i + 1;
          break;
        }
        lines++;
        if (lines - 1 > this.#maxCount) throw tooManyFields(this.#maxCount);
        lineLength = 0;
      } else if (c === CR) {
        afterCR = true;
      } else if (c === LF) {
        throw malformed("line ends with a bare LF; CRLF is required");
      } else {
        lineLength++;
      }
      // The head is unfinished, so it needs at least one more byte.
      if (i + 1 >= room) {
        throw new HandshakeError("HEADERS_TOO_LARGE", `HTTP head larger than ${this.#maxBytes} bytes`, 431);
      }
    }
    this.#afterCR = afterCR;
    this.#lineLength = lineLength;
    this.#lines = lines;
    this.#bits = bits;
    if (end < 0) {
      this.#append(chunk);
      return null;
    }
    this.#done = true;
    const whole = end === chunk.length;
    let headBytes: Uint8Array;
    if (this.#length === 0) {
      // The whole head came in one piece: no copy, and not even a view when nothing follows it.
      headBytes = whole ? chunk : chunk.subarray(0, end);
    } else {
      this.#append(whole ? chunk : chunk.subarray(0, end));
      headBytes = this.#buffer.subarray(0, this.#length);
    }
    const head = this.#parse(headBytes);
    this.#buffer = NO_BYTES;
    return { head, rest: whole ? NO_BYTES : chunk.subarray(end) };
  }

  #append(bytes: Uint8Array): void {
    const needed = this.#length + bytes.length;
    if (needed > this.#buffer.length) {
      const grown = new Uint8Array(Math.min(Math.max(needed, this.#buffer.length * 2, 512), this.#maxBytes));
      grown.set(this.#buffer.subarray(0, this.#length));
      this.#buffer = grown;
    }
    this.#buffer.set(bytes, this.#length);
    this.#length = needed;
  }

  #parse(bytes: Uint8Array): HttpHead {
    // The scan guarantees that every CR is followed by LF and every LF preceded by CR, and that
    // the text ends with the empty line: each "\r\n" found below is a line end. Lines are checked
    // where they lie in the text (a split would make an array and a string per line first).
    const text = latin1(bytes, this.#bits < 0x80);
    const fieldsEnd = text.length - 2;
    let end = text.indexOf("\r\n");
    const startLine = this.#kind === "request" ? parseRequestLine(text, end) : parseStatusLine(text.slice(0, end));
    const fields: number[] = [];
    const most = this.#maxCount * 4;
    for (let start = end + 2; start < fieldsEnd; start = end + 2) {
      // The byte scan counts lines as they come; a head that came whole is counted here.
      if (fields.length === most) throw tooManyFields(this.#maxCount);
      end = text.indexOf("\r\n", start);
      checkFieldLine(text, start, end, fields);
    }
    return new ParsedHead(startLine, text, fields);
  }
}

/**
 * Splits a comma-separated header value (RFC 9110 section 5.6.1) into
 * lower-cased elements, skipping empty ones, for case-insensitive options such
 * as `Connection` and `Upgrade`.
 */
export function parseTokenList(value: string | undefined): string[] {
  if (value === undefined) return [];
  const out: string[] = [];
  for (const part of value.split(",")) {
    const item = trimOws(part);
    if (item.length > 0) out.push(item.toLowerCase());
  }
  return out;
}

/** Whether a comma-separated header value contains `token`, ignoring ASCII case. */
export function hasToken(value: string | undefined, token: string): boolean {
  if (value === undefined) return false;
  // Element by element, allocating nothing: every handshake checks Upgrade and Connection.
  const length = value.length;
  let start = 0;
  while (start <= length) {
    let end = value.indexOf(",", start);
    if (end < 0) end = length;
    let from = start;
    let to = end;
    while (from < to && isOws(value.charCodeAt(from))) from++;
    while (to > from && isOws(value.charCodeAt(to - 1))) to--;
    if (to - from === token.length && equalsIgnoringAsciiCase(value, from, token)) return true;
    start = end + 1;
  }
  return false;
}

/**
 * Parses Sec-WebSocket-Protocol. Subprotocol names are case-sensitive
 * (RFC 6455 section 4.1) and must be unique tokens; anything else is a 400
 * `INVALID_SUBPROTOCOL`, since it cannot be echoed back safely.
 */
export function parseProtocolList(value: string | undefined): string[] {
  if (value === undefined) return [];
  const out: string[] = [];
  for (const part of value.split(",")) {
    const item = trimOws(part);
    if (item.length === 0) continue;
    if (!isToken(item)) throw new HandshakeError("INVALID_SUBPROTOCOL", "subprotocol name is not a token", 400);
    if (out.includes(item)) throw new HandshakeError("INVALID_SUBPROTOCOL", "subprotocol offered twice", 400);
    out.push(item);
  }
  return out;
}

/** One extension from Sec-WebSocket-Extensions with its parameters (RFC 6455 section 9.1). */
export interface ExtensionOffer {
  /** Extension name, lower-cased. */
  name: string;
  /**
   * Parameters by lower-cased name; `true` for a parameter without a value.
   * When a name repeats, the last value wins here (see `paramList`).
   */
  params: Record<string, string | true>;
}

/**
 * An extension as parsed from a header. `paramList` keeps every parameter in
 * order so an extension can reject duplicates, which `params` cannot show.
 */
export interface ParsedExtension extends ExtensionOffer {
  /** Every parameter in order, duplicates kept, names lower-cased. */
  paramList: Array<[string, string | true]>;
}

function extensionError(message: string): HandshakeError {
  return new HandshakeError("INVALID_EXTENSION_HEADER", message, 400);
}

/**
 * Parses Sec-WebSocket-Extensions (RFC 6455 section 9.1), possibly several
 * header values already joined with `", "`. Commas inside quoted strings do
 * not split, OWS around `,`, `;` and `=` is allowed, and empty list elements
 * are skipped (RFC 9110 section 5.6.1). Whether parameter values make sense is
 * left to each extension. Throws 400 `INVALID_EXTENSION_HEADER`.
 */
export function parseExtensions(value: string | undefined): ParsedExtension[] {
  if (value === undefined) return [];
  const out: ParsedExtension[] = [];
  const length = value.length;
  let pos = 0;

  const skipOws = (): void => {
    while (pos < length && isOws(value.charCodeAt(pos))) pos++;
  };
  const readToken = (what: string): string => {
    const start = pos;
    while (pos < length) {
      const c = value.charCodeAt(pos);
      if (c >= 128 || TCHAR[c] === 0) break;
      pos++;
    }
    if (pos === start) throw extensionError(`expected ${what} at offset ${start}`);
    return value.slice(start, pos);
  };
  const readQuoted = (): string => {
    pos++; // opening quote
    let text = "";
    while (pos < length) {
      let c = value.charCodeAt(pos);
      if (c === 0x22) {
        pos++;
        return text;
      }
      if (c === 0x5c) {
        pos++;
        if (pos >= length) break;
        c = value.charCodeAt(pos);
      }
      if ((c < 0x20 && c !== 0x09) || c === 0x7f || c > 0xff) {
        throw extensionError("invalid character in quoted string");
      }
      text += value[pos];
      pos++;
    }
    throw extensionError("unterminated quoted string");
  };

  skipOws();
  while (pos < length) {
    if (value.charCodeAt(pos) === 0x2c) {
      pos++;
      skipOws();
      continue;
    }
    const name = readToken("extension name").toLowerCase();
    const params: Record<string, string | true> = Object.create(null) as Record<string, string | true>;
    const paramList: Array<[string, string | true]> = [];
    skipOws();
    while (pos < length && value.charCodeAt(pos) === 0x3b) {
      pos++;
      skipOws();
      const param = readToken("parameter name").toLowerCase();
      skipOws();
      let paramValue: string | true = true;
      if (pos < length && value.charCodeAt(pos) === 0x3d) {
        pos++;
        skipOws();
        paramValue = value.charCodeAt(pos) === 0x22 ? readQuoted() : readToken("parameter value");
        skipOws();
      }
      params[param] = paramValue;
      paramList.push([param, paramValue]);
    }
    if (pos < length && value.charCodeAt(pos) !== 0x2c) {
      throw extensionError(`unexpected character at offset ${pos}`);
    }
    out.push({ name, params, paramList });
  }
  return out;
}

function formatValue(text: string): string {
  if (isToken(text)) return text;
  let quoted = '"';
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c === 0x7f || c > 0xff) {
      throw new UsageError("INVALID_EXTENSION", "extension parameter value cannot be sent in a header");
    }
    quoted += c === 0x22 || c === 0x5c ? `\\${text[i]}` : text[i];
  }
  return `${quoted}"`;
}

/**
 * Serializes extensions for Sec-WebSocket-Extensions from `params` (not
 * `paramList`, so an edited offer formats as edited). Values that are not
 * tokens are sent as quoted strings. Throws UsageError `INVALID_EXTENSION` for
 * names that are not tokens or values no header can carry.
 */
export function formatExtensions(list: readonly ExtensionOffer[]): string {
  if (list.length === 0) return ""; // every connection without an extension: no array, no join
  return list
    .map((extension) => {
      if (!isToken(extension.name)) throw new UsageError("INVALID_EXTENSION", "extension name is not a token");
      let text = extension.name;
      for (const [name, value] of Object.entries(extension.params)) {
        if (!isToken(name)) throw new UsageError("INVALID_EXTENSION", "extension parameter name is not a token");
        text += value === true ? `; ${name}` : `; ${name}=${formatValue(value)}`;
      }
      return text;
    })
    .join(", ");
}
