/**
 * Helpers shared by the interoperability tests against the `ws` package (both
 * directions): a waiting FIFO, a ws socket that records everything it
 * receives, exact byte comparison, deterministic payloads of every kind, and
 * the data and close cases both directions run.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import type { WebSocket as WsSocket, RawData } from "ws";

/** A FIFO handing items to whoever waits; ended once the source is gone. */
export class Inbox<T> {
  private readonly items: T[] = [];
  private readonly waiters: Array<{ resolve(item: T): void; reject(error: Error): void }> = [];
  private ended: Error | null = null;

  push(item: T): void {
    const waiter = this.waiters.shift();
    if (waiter !== undefined) waiter.resolve(item);
    else this.items.push(item);
  }

  end(error: Error): void {
    this.ended ??= error;
    for (const waiter of this.waiters.splice(0)) waiter.reject(error);
  }

  next(): Promise<T> {
    if (this.items.length > 0) return Promise.resolve(this.items.shift()!);
    if (this.ended !== null) return Promise.reject(this.ended);
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  get size(): number {
    return this.items.length;
  }
}

export interface WsReceived {
  data: Buffer;
  isBinary: boolean;
}

/** A ws socket with everything it receives recorded from the start. */
export interface WsPeer {
  socket: WsSocket;
  messages: Inbox<WsReceived>;
  pings: Inbox<Buffer>;
  pongs: Inbox<Buffer>;
  errors: Error[];
  closed: Promise<{ code: number; reason: string }>;
}

/** Whatever form ws hands a message in, as one Buffer. */
export function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

/** Start recording what `socket` receives (call it before the socket can receive anything). */
export function watch(socket: WsSocket): WsPeer {
  const messages = new Inbox<WsReceived>();
  const pings = new Inbox<Buffer>();
  const pongs = new Inbox<Buffer>();
  const errors: Error[] = [];
  socket.on("message", (data, isBinary) => messages.push({ data: toBuffer(data), isBinary }));
  socket.on("ping", (data) => pings.push(data));
  socket.on("pong", (data) => pongs.push(data));
  socket.on("error", (error) => errors.push(error));
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    socket.on("close", (code, reason) => {
      const error = new Error(`ws socket closed (${code}) ${errors.map((e) => e.message).join("; ")}`);
      messages.end(error);
      pings.end(error);
      pongs.end(error);
      resolve({ code, reason: reason.toString("utf8") });
    });
  });
  return { socket, messages, pings, pongs, errors, closed };
}

/** A Buffer over the same memory as `bytes` (no copy). */
function view(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Exact byte equality with a short message (no giant diff) on failure. */
export function assertBytes(actual: Uint8Array, expected: Uint8Array, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  const a = view(actual);
  const e = view(expected);
  if (a.equals(e)) return;
  let i = 0;
  while (i < a.length && a[i] === e[i]) i++;
  assert.fail(`${what}: first difference at byte ${i} of ${a.length}: got ${a[i]}, expected ${e[i]}`);
}

export function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** Deterministic bytes that do not repeat at any power-of-two period. */
export function pattern(length: number, seed = 0): Buffer {
  const out = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) out[i] = (i * 131 + (i >>> 9) * 7 + seed) & 0xff;
  return out;
}

const ASCII = "The quick brown fox jumps over the lazy dog 0123456789. ";

export function asciiText(length: number): string {
  return ASCII.repeat(Math.ceil(length / ASCII.length)).slice(0, length);
}

/** A string of exactly `length` UTF-8 bytes made of 4-, 3-, 2- and 1-byte characters. */
export function utf8Text(length: number): string {
  const units = ["😀", "漢", "é", "a", "🚀", "語", "ß", "z"];
  let text = "";
  let bytes = 0;
  for (let i = 0; bytes + 4 <= length; i++) {
    const unit = units[i % units.length]!;
    text += unit;
    bytes += Buffer.byteLength(unit);
  }
  return text + "x".repeat(length - bytes);
}

/** Options for each interop test. */
export const T = { timeout: 20_000 };
/** Payload sizes around the 7-bit, 16-bit and 64-bit length forms of RFC 6455 5.2. */
export const SIZES = [125, 126, 127, 65535, 65536, 65537];

/** A message as a test sends it: text as a string, binary as bytes. */
export type Payload = { type: "text"; data: string } | { type: "binary"; data: Uint8Array };

/** The bytes a payload travels as (UTF-8 for text). */
export function payloadBytes(payload: Payload): Buffer {
  return payload.type === "text" ? Buffer.from(payload.data, "utf8") : view(payload.data);
}

/** Close codes and reasons each close test runs with, in both directions. */
export const CLOSE_CASES: Array<{ name: string; code?: number; reason?: string }> = [
  { name: "1000 with a reason", code: 1000, reason: "normal closure, bye" },
  { name: "1001 without a reason", code: 1001 },
  { name: "3000 with a UTF-8 reason", code: 3000, reason: "app: ünïcødé ✓" },
  { name: "4999 with a UTF-8 reason", code: 4999, reason: "終了 🚪" },
  { name: "4000 with a 123-byte reason", code: 4000, reason: "漢".repeat(41) },
  { name: "no code (the other side sees 1005)" },
];
