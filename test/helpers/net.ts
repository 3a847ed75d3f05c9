/**
 * Loopback test utilities that know nothing about wsx: deadlines, a raw
 * TCP/TLS client that collects what it receives, raw servers, an HTTP head
 * parser and WebSocket frame builders/parsers written from RFC 6455 alone.
 * Tests use them to talk to wsx byte by byte, and to check wsx against an
 * independent reading of the protocol.
 */
import { createHash, randomBytes } from "node:crypto";
import { connect as netConnect, createServer as createNetServer, type AddressInfo, type LookupFunction, type Server, type Socket } from "node:net";
import {
  connect as tlsConnect,
  createServer as createTlsServer,
  type ConnectionOptions as TlsConnectionOptions,
  type TlsOptions,
} from "node:tls";

export const LOOPBACK = "127.0.0.1";
export const LOOPBACK6 = "::1";

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

// ---------------------------------------------------------------- time

/** The error {@link deadline} rejects with. */
export class DeadlineError extends Error {}

/** Reject with a descriptive error when `promise` has not settled within `ms`. */
export function deadline<T>(promise: Promise<T>, ms: number, what = "operation"): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineError(`${what} did not settle within ${ms} ms`)), ms);
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Let pending I/O callbacks, nextTicks and microtasks run. */
export function tick(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: Error): void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/**
 * Poll `check` (bounded: at most `attempts` times, `interval` ms apart) until
 * it returns true. Rejects with `what` when it never does.
 */
export async function eventually(check: () => boolean, what: string, attempts = 100, interval = 20): Promise<void> {
  for (let i = 0; i < attempts; i++) {
    if (check()) return;
    await delay(interval);
  }
  throw new Error(`condition never became true: ${what}`);
}

/**
 * Wait (bounded: 150 looks 20 ms apart) until `read()` gives the same value
 * five looks in a row, as a sender's bufferedAmount does once the peer stops
 * reading; throws if it never settles.
 */
export async function settled(read: () => number, what: string): Promise<void> {
  let last = -1;
  let still = 0;
  for (let i = 0; i < 150 && still < 5; i++) {
    await delay(20);
    const now = read();
    still = now === last ? still + 1 : 0;
    last = now;
  }
  if (still < 5) throw new Error(`${what} never settled`);
}

// ---------------------------------------------------------------- handshake bits

/** A fresh Sec-WebSocket-Key. */
export function randomKey(): string {
  return randomBytes(16).toString("base64");
}

/** Sec-WebSocket-Accept for `key`, computed independently of wsx (node:crypto). */
export function acceptFor(key: string): string {
  return createHash("sha1").update(key + GUID).digest("base64");
}

export interface UpgradeRequestOptions {
  method?: string;
  path?: string;
  host?: string;
  key?: string;
  version?: string;
  httpVersion?: string;
  /** Extra headers, appended after the standard ones. */
  headers?: Record<string, string> | Array<[string, string]>;
  /** Standard headers to leave out (lower-case names). */
  omit?: string[];
}

/** The text of an opening request, as a client would send it. */
export function upgradeRequest(options: UpgradeRequestOptions = {}): string {
  const omit = new Set(options.omit ?? []);
  const fields: Array<[string, string]> = [
    ["Host", options.host ?? LOOPBACK],
    ["Upgrade", "websocket"],
    ["Connection", "Upgrade"],
    ["Sec-WebSocket-Key", options.key ?? randomKey()],
    ["Sec-WebSocket-Version", options.version ?? "13"],
  ];
  const extra = options.headers === undefined ? [] : Array.isArray(options.headers) ? options.headers : Object.entries(options.headers);
  let text = `${options.method ?? "GET"} ${options.path ?? "/"} HTTP/${options.httpVersion ?? "1.1"}\r\n`;
  for (const [name, value] of [...fields.filter(([name]) => !omit.has(name.toLowerCase())), ...extra]) {
    text += `${name}: ${value}\r\n`;
  }
  return `${text}\r\n`;
}

// ---------------------------------------------------------------- HTTP heads

export interface HttpHeadInfo {
  /** Request: method, target, version. Response: version, status, reason. */
  startLine: string[];
  /** Lower-case name to value; repeats joined with ", ". */
  headers: Record<string, string>;
  rawHeaders: Array<[string, string]>;
}

export interface HttpResponseInfo extends HttpHeadInfo {
  status: number;
  reason: string;
  body: string;
}

/** Split an HTTP head off the front of `buffer`: the head and its length in bytes, or undefined if incomplete. */
export function splitHead(buffer: Buffer): { head: HttpHeadInfo; size: number } | undefined {
  const end = buffer.indexOf("\r\n\r\n");
  if (end < 0) return undefined;
  const lines = buffer.subarray(0, end).toString("latin1").split("\r\n");
  const first = lines[0]!;
  // A response's reason may contain spaces: split into at most three parts.
  const a = first.indexOf(" ");
  const b = first.indexOf(" ", a + 1);
  const startLine = b < 0 ? [first.slice(0, a), first.slice(a + 1)] : [first.slice(0, a), first.slice(a + 1, b), first.slice(b + 1)];
  const headers: Record<string, string> = {};
  const rawHeaders: Array<[string, string]> = [];
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    const name = line.slice(0, colon);
    const value = line.slice(colon + 1).trim();
    rawHeaders.push([name, value]);
    const lower = name.toLowerCase();
    headers[lower] = headers[lower] === undefined ? value : `${headers[lower]}, ${value}`;
  }
  return { head: { startLine, headers, rawHeaders }, size: end + 4 };
}

// ---------------------------------------------------------------- frames

export const OP = { CONTINUATION: 0, TEXT: 1, BINARY: 2, CLOSE: 8, PING: 9, PONG: 10 } as const;

export interface FrameOptions {
  fin?: boolean;
  /** RSV bits as a 3-bit number (RSV1 = 4). */
  rsv?: number;
  /** Mask the payload (clients must; default true for clientFrame). */
  mask?: boolean;
  maskKey?: Uint8Array;
}

/** One frame, encoded from RFC 6455 section 5.2. */
export function encodeFrame(opcode: number, payload: string | Uint8Array = new Uint8Array(0), options: FrameOptions = {}): Buffer {
  const data = typeof payload === "string" ? Buffer.from(payload, "utf8") : Buffer.from(payload);
  const fin = options.fin ?? true;
  const masked = options.mask ?? false;
  const length = data.length;
  const lengthBytes = length < 126 ? 0 : length < 0x10000 ? 2 : 8;
  const header = Buffer.alloc(2 + lengthBytes + (masked ? 4 : 0));
  header[0] = (fin ? 0x80 : 0) | ((options.rsv ?? 0) << 4) | opcode;
  header[1] = (masked ? 0x80 : 0) | (lengthBytes === 0 ? length : lengthBytes === 2 ? 126 : 127);
  if (lengthBytes === 2) header.writeUInt16BE(length, 2);
  if (lengthBytes === 8) header.writeBigUInt64BE(BigInt(length), 2);
  if (masked) {
    const key = options.maskKey ?? randomBytes(4);
    header.set(key, 2 + lengthBytes);
    for (let i = 0; i < data.length; i++) data[i] = data[i]! ^ key[i & 3]!;
  }
  return Buffer.concat([header, data]);
}

/** A masked frame, as a client must send it. */
export function clientFrame(opcode: number, payload?: string | Uint8Array, options: FrameOptions = {}): Buffer {
  return encodeFrame(opcode, payload, { mask: true, ...options });
}

/** An unmasked frame, as a server sends it. */
export function serverFrame(opcode: number, payload?: string | Uint8Array, options: FrameOptions = {}): Buffer {
  return encodeFrame(opcode, payload, { mask: false, ...options });
}

/** A close frame payload: 2-byte code and a UTF-8 reason. */
export function closePayload(code: number, reason = ""): Buffer {
  const payload = Buffer.alloc(2 + Buffer.byteLength(reason));
  payload.writeUInt16BE(code, 0);
  payload.write(reason, 2, "utf8");
  return payload;
}

export interface RawFrame {
  fin: boolean;
  rsv: number;
  opcode: number;
  masked: boolean;
  /** Unmasked payload. */
  payload: Buffer;
}

/** Parse one frame off the front of `buffer`, or undefined if it is incomplete. */
export function splitFrame(buffer: Buffer): { frame: RawFrame; size: number } | undefined {
  if (buffer.length < 2) return undefined;
  const b0 = buffer[0]!;
  const b1 = buffer[1]!;
  const masked = (b1 & 0x80) !== 0;
  let length = b1 & 0x7f;
  let at = 2;
  if (length === 126) {
    if (buffer.length < 4) return undefined;
    length = buffer.readUInt16BE(2);
    at = 4;
  } else if (length === 127) {
    if (buffer.length < 10) return undefined;
    length = Number(buffer.readBigUInt64BE(2));
    at = 10;
  }
  const keyAt = at;
  if (masked) at += 4;
  if (buffer.length < at + length) return undefined;
  const payload = Buffer.from(buffer.subarray(at, at + length));
  if (masked) for (let i = 0; i < payload.length; i++) payload[i] = payload[i]! ^ buffer[keyAt + (i & 3)]!;
  return {
    frame: { fin: (b0 & 0x80) !== 0, rsv: (b0 >> 4) & 7, opcode: b0 & 0x0f, masked, payload },
    size: at + length,
  };
}

/** Every complete frame in `buffer`. */
export function parseFrames(buffer: Buffer): RawFrame[] {
  const frames: RawFrame[] = [];
  let rest = buffer;
  for (let split = splitFrame(rest); split !== undefined; split = splitFrame(rest)) {
    frames.push(split.frame);
    rest = rest.subarray(split.size);
  }
  return frames;
}

/** Code and reason of a close frame payload (1005 when empty). */
export function parseClose(payload: Uint8Array): { code: number; reason: string } {
  if (payload.length < 2) return { code: 1005, reason: "" };
  return { code: (payload[0]! << 8) | payload[1]!, reason: Buffer.from(payload.subarray(2)).toString("utf8") };
}

// ---------------------------------------------------------------- raw client

export interface RawClientOptions {
  host?: string;
  /** Connect over TLS with these options. */
  tls?: TlsConnectionOptions;
  /** Keep our side writable after the peer's FIN (default false, as node:net). */
  allowHalfOpen?: boolean;
}

/**
 * A TCP (or TLS) client that buffers everything it receives. Readers
 * consume from the front of the buffer; every wait has a deadline.
 */
export class RawClient {
  /** Bytes received and not consumed yet. */
  buffer: Buffer = Buffer.alloc(0);
  /** The peer sent FIN. */
  ended = false;
  /** The socket is closed. */
  closed = false;
  error: Error | undefined;
  private listeners: Array<() => void> = [];

  private constructor(readonly socket: Socket) {
    socket.on("data", (chunk: Buffer) => {
      this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
      this.wake();
    });
    socket.on("end", () => {
      this.ended = true;
      this.wake();
    });
    socket.on("error", (error) => {
      this.error = error;
      this.wake();
    });
    socket.on("close", () => {
      this.closed = true;
      this.wake();
    });
  }

  static connect(port: number, options: RawClientOptions = {}): Promise<RawClient> {
    const host = options.host ?? LOOPBACK;
    return new Promise((resolve, reject) => {
      const socket = options.tls
        ? tlsConnect({ host, port, ...options.tls, ...({ allowHalfOpen: options.allowHalfOpen ?? false } as object) })
        : netConnect({ host, port, allowHalfOpen: options.allowHalfOpen ?? false });
      socket.setNoDelay(true);
      const onError = (error: Error): void => reject(error);
      socket.once("error", onError);
      socket.once(options.tls ? "secureConnect" : "connect", () => {
        socket.removeListener("error", onError);
        resolve(new RawClient(socket));
      });
    });
  }

  private wake(): void {
    for (const listener of this.listeners.splice(0)) listener();
  }

  /** Write and wait until the bytes are handed to the OS. */
  write(data: string | Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => {
      this.socket.write(typeof data === "string" ? Buffer.from(data, "latin1") : data, (error) => (error ? reject(error) : resolve()));
    });
  }

  /**
   * Wait until `take(buffer)` returns a result and the number of bytes it
   * used; those bytes are consumed. Rejects on deadline, or when the socket
   * closes first.
   */
  async until<T>(take: (buffer: Buffer) => { value: T; size: number } | undefined, ms: number, what: string): Promise<T> {
    const stop = Date.now() + ms;
    for (;;) {
      const found = take(this.buffer);
      if (found !== undefined) {
        this.buffer = this.buffer.subarray(found.size);
        return found.value;
      }
      if (this.closed || this.ended) throw new Error(`connection ended while waiting for ${what} (have ${this.buffer.length} bytes)`);
      const left = stop - Date.now();
      if (left <= 0) throw new Error(`no ${what} within ${ms} ms (have ${this.buffer.length} bytes)`);
      await deadline(new Promise<void>((resolve) => this.listeners.push(resolve)), left, what).catch(() => undefined);
    }
  }

  /** Read an HTTP response head and its Content-Length body. */
  readResponse(ms = 2000): Promise<HttpResponseInfo> {
    return this.until(
      (buffer) => {
        const split = splitHead(buffer);
        if (split === undefined) return undefined;
        const length = Number(split.head.headers["content-length"] ?? 0);
        if (buffer.length < split.size + length) return undefined;
        const [, status, reason] = split.head.startLine;
        return {
          value: {
            ...split.head,
            status: Number(status),
            reason: reason ?? "",
            body: buffer.subarray(split.size, split.size + length).toString("utf8"),
          },
          size: split.size + length,
        };
      },
      ms,
      "HTTP response",
    );
  }

  /** Read one WebSocket frame. */
  readFrame(ms = 2000): Promise<RawFrame> {
    return this.until(
      (buffer) => {
        const split = splitFrame(buffer);
        return split === undefined ? undefined : { value: split.frame, size: split.size };
      },
      ms,
      "frame",
    );
  }

  /** Send an opening request and check the 101 answer; returns the response. */
  async handshake(options: UpgradeRequestOptions = {}): Promise<HttpResponseInfo> {
    const key = options.key ?? randomKey();
    await this.write(upgradeRequest({ ...options, key }));
    const response = await this.readResponse();
    if (response.status !== 101) throw new Error(`expected 101, got ${response.status} ${response.body}`);
    if (response.headers["sec-websocket-accept"] !== acceptFor(key)) throw new Error("bad Sec-WebSocket-Accept");
    return response;
  }

  /** Wait until the socket is closed; resolves with the unconsumed bytes. */
  async waitClosed(ms = 2000): Promise<Buffer> {
    if (!this.closed) {
      const done = new Promise<void>((resolve) => this.socket.once("close", () => resolve()));
      await deadline(done, ms, "socket close");
    }
    return this.buffer;
  }

  /** Wait until the peer has sent FIN (or the socket closed); resolves with the unconsumed bytes. */
  async waitEnded(ms = 2000): Promise<Buffer> {
    const stop = Date.now() + ms;
    while (!this.ended && !this.closed) {
      const left = stop - Date.now();
      if (left <= 0) throw new Error(`peer did not end the connection within ${ms} ms`);
      await deadline(new Promise<void>((resolve) => this.listeners.push(resolve)), left, "end of stream").catch(() => undefined);
    }
    return this.buffer;
  }

  end(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** Connect, send `request`, and collect everything until the server closes (or ends) the connection. */
export async function exchange(port: number, request: string | Uint8Array, options: RawClientOptions & { ms?: number } = {}): Promise<Buffer> {
  const client = await RawClient.connect(port, options);
  try {
    await client.write(request);
    return await client.waitEnded(options.ms ?? 3000);
  } finally {
    client.destroy();
  }
}

/** Parse a complete HTTP response (head and Content-Length body) from bytes. */
export function parseResponse(bytes: Buffer): HttpResponseInfo {
  const split = splitHead(bytes);
  if (split === undefined) throw new Error(`not an HTTP response: ${JSON.stringify(bytes.toString("latin1").slice(0, 200))}`);
  const [, status, reason] = split.head.startLine;
  const length = Number(split.head.headers["content-length"] ?? bytes.length - split.size);
  return {
    ...split.head,
    status: Number(status),
    reason: reason ?? "",
    body: bytes.subarray(split.size, split.size + length).toString("utf8"),
  };
}

// ---------------------------------------------------------------- raw servers

export interface RawServer {
  server: Server;
  port: number;
  /** Every socket accepted so far. */
  sockets: Socket[];
  close(): Promise<void>;
}

/**
 * A TCP (or TLS) server on loopback whose connections are handed to
 * `onSocket`. `close()` destroys every connection, then stops listening.
 */
export function listenRaw(onSocket: (socket: Socket) => void, options: { host?: string; port?: number; tls?: TlsOptions } = {}): Promise<RawServer> {
  const sockets: Socket[] = [];
  const handle = (socket: Socket): void => {
    sockets.push(socket);
    socket.on("error", () => socket.destroy());
    onSocket(socket);
  };
  const server = options.tls ? createTlsServer(options.tls, handle) : createNetServer(handle);
  if (options.tls) server.on("tlsClientError", () => {});
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, options.host ?? LOOPBACK, () => {
      server.removeListener("error", reject);
      resolve({
        server,
        port: (server.address() as AddressInfo).port,
        sockets,
        close: () =>
          new Promise<void>((done) => {
            for (const socket of sockets) socket.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}

export interface RawRequest extends HttpHeadInfo {
  method: string;
  target: string;
  socket: Socket;
  /** Bytes received after the head. */
  rest: Buffer;
}

/**
 * A server that reads each request head and lets `respond` answer on the
 * socket (it may write a response, frames, or nothing at all).
 */
export function listenHttpHead(respond: (request: RawRequest) => void, options: { host?: string; tls?: TlsOptions } = {}): Promise<RawServer> {
  return listenRaw((socket) => {
    let buffer = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      buffer = Buffer.concat([buffer, chunk]);
      const split = splitHead(buffer);
      if (split === undefined) return;
      socket.removeListener("data", onData);
      const [method = "", target = ""] = split.head.startLine;
      respond({ ...split.head, method, target, socket, rest: buffer.subarray(split.size) });
    };
    socket.on("data", onData);
  }, options);
}

/** The text of a 101 response for `key`, plus extra header lines. */
export function switchingResponse(key: string, headers: Record<string, string> = {}): string {
  let text = `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptFor(key)}\r\n`;
  for (const [name, value] of Object.entries(headers)) text += `${name}: ${value}\r\n`;
  return `${text}\r\n`;
}

/** A port nothing listens on (it was free a moment ago). */
export async function closedPort(host = LOOPBACK): Promise<number> {
  const raw = await listenRaw(() => {}, { host });
  await raw.close();
  return raw.port;
}

/** Whether this machine can listen on ::1. */
export async function ipv6Available(): Promise<boolean> {
  try {
    const raw = await listenRaw(() => {}, { host: LOOPBACK6 });
    await raw.close();
    return true;
  } catch {
    return false;
  }
}

/**
 * A `lookup` (dns.lookup's signature) that answers `address` for every name,
 * after `ms` when given: names that need no DNS server reach the loopback.
 * The names it was asked for are kept in `asked`.
 */
export function lookupAs(address = LOOPBACK, ms?: number): LookupFunction & { asked: string[] } {
  const asked: string[] = [];
  const family = address.includes(":") ? 6 : 4;
  const lookup = ((hostname: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
    asked.push(hostname);
    const answer = (): void => {
      if (options.all) callback(null, [{ address, family }]);
      else callback(null, address, family);
    };
    if (ms === undefined) answer();
    else setTimeout(answer, ms);
  }) as unknown as LookupFunction;
  return Object.assign(lookup, { asked });
}
