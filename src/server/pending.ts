/**
 * Sockets in the opening handshake, each with a deadline. Every handshake
 * has the same timeout, so insertion order is deadline order: one timer,
 * armed for the oldest handshake, serves them all, and a handshake costs a
 * map entry instead of a timer, a closure and a `once` wrapper of its own.
 */
import type { Socket } from "node:net";
import { HttpHeadParser, UsageError, type HttpLimits } from "../core/index.js";
import { directReads } from "../node/direct-read.js";

/** A handshake in progress. */
export interface PendingHandshake {
  /** `performance.now()` at which it times out. */
  readonly deadline: number;
  /** Decided (accepted, refused or timed out): nothing more happens to it here. */
  over: boolean;
  /** Reads the request head (standalone mode); null once read, or when node:http read it. */
  parser: HttpHeadParser | null;
  /** Whether the socket is TLS. */
  readonly secure: boolean;
}

export interface PendingEvents {
  /** The head of a handshake read by {@link PendingHandshakes.read} arrived: a chunk to parse. */
  data(socket: Socket, handshake: PendingHandshake, chunk: Uint8Array): void;
  /** The deadline passed: refuse the handshake (and {@link PendingHandshakes.end} it). */
  timeout(socket: Socket, handshake: PendingHandshake): void;
}

const DEFAULT_HANDSHAKE_TIMEOUT = 10_000;

/** `handshakeTimeout` checked: a finite number of ms > 0. */
export function resolveHandshakeTimeout(value: number | undefined): number {
  if (value === undefined) return DEFAULT_HANDSHAKE_TIMEOUT;
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new UsageError("INVALID_OPTION", `handshakeTimeout must be a finite number of ms > 0, got ${String(value)}`);
  }
  return value;
}

export class PendingHandshakes {
  private readonly entries = new Map<Socket, PendingHandshake>();
  private timer: NodeJS.Timeout | null = null;
  /** Shared socket listeners: they find their handshake through the map. */
  private readonly onSocketData: (this: Socket, chunk: Buffer) => void;
  private readonly onSocketClose: (this: Socket) => void;
  /** Has a socket's reads come to this handshake's parser without the stream (see direct-read.ts), or returns false. */
  private readonly readDirectly: (socket: Socket) => Buffer | null | false;

  constructor(
    /** The handshake timeout in ms, checked (see {@link resolveHandshakeTimeout}). */
    readonly timeout: number,
    private readonly events: PendingEvents,
  ) {
    const pending = this;
    this.onSocketData = function (this: Socket, chunk: Buffer): void {
      const handshake = pending.entries.get(this);
      if (handshake !== undefined) events.data(this, handshake, chunk);
    };
    // The connection takes the socket's reads over once the head is read; bytes that come
    // after a refusal, or for a socket no longer here, are dropped.
    this.readDirectly = directReads({
      target: () => null,
      read(socket, bytes) {
        const handshake = pending.entries.get(socket);
        if (handshake !== undefined && handshake.parser !== null) events.data(socket, handshake, bytes);
      },
    });
    // A client gone mid-handshake frees its place in maxPendingHandshakes now, not at the deadline.
    this.onSocketClose = function (this: Socket): void {
      const handshake = pending.entries.get(this);
      if (handshake !== undefined) pending.end(this, handshake);
    };
  }

  get size(): number {
    return this.entries.size;
  }

  /** Start the deadline of a socket's handshake. */
  begin(socket: Socket, secure: boolean): PendingHandshake {
    const handshake: PendingHandshake = { deadline: performance.now() + this.timeout, over: false, parser: null, secure };
    this.entries.set(socket, handshake);
    socket.on("close", this.onSocketClose);
    if (this.timer === null) this.arm(this.timeout);
    return handshake;
  }

  /** Read the request head from the socket with the core parser (standalone mode). */
  read(socket: Socket, handshake: PendingHandshake, limits: HttpLimits): void {
    handshake.parser = new HttpHeadParser("request", limits);
    // Input the stream holds already (a stream given to handleStream) comes as a 'data' event.
    if (socket.readableLength === 0 && this.readDirectly(socket) !== false) return;
    socket.on("data", this.onSocketData);
  }

  /**
   * Stop reading the request: the head is complete, what follows belongs to
   * the connection (which takes the socket's reads over, see
   * {@link WebSocket}), or is dropped after a refusal.
   */
  stopReading(socket: Socket, handshake: PendingHandshake): void {
    if (handshake.parser === null) return;
    handshake.parser = null;
    socket.removeListener("data", this.onSocketData); // none on a socket read directly
  }

  /** The handshake is decided. Returns false if it already was. */
  end(socket: Socket, handshake: PendingHandshake): boolean {
    if (handshake.over) return false;
    handshake.over = true;
    this.stopReading(socket, handshake);
    socket.removeListener("close", this.onSocketClose);
    this.entries.delete(socket);
    return true;
  }

  /** Every handshake in progress (a copy: ending them while iterating is fine). */
  list(): Array<[Socket, PendingHandshake]> {
    return [...this.entries];
  }

  /** Stop the timer (the server is shutting down and every handshake was ended). */
  stop(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private arm(ms: number): void {
    this.timer = setTimeout(this.expire, ms);
    this.timer.unref();
  }

  /** Time out every handshake past its deadline (they are the oldest), then wait for the next one. */
  private readonly expire = (): void => {
    this.timer = null;
    const now = performance.now();
    for (const [socket, handshake] of this.entries) {
      // Timers may fire a little early by performance.now(): 1 ms of slack avoids a rearm for nothing.
      if (handshake.deadline > now + 1) {
        this.arm(handshake.deadline - now);
        return;
      }
      this.events.timeout(socket, handshake);
      this.end(socket, handshake); // in case the listener left it pending
    }
  };
}
