/**
 * The write side of a connection: frames the core has queued go to the
 * socket once the current turn of the event loop is over, so everything
 * sent in one turn shares one socket write and one promise.
 */
import type { Socket } from "node:net";
import type { Protocol } from "../core/index.js";
import { closedError } from "./closed-error.js";
import { settled } from "./promises.js";
import type { Counters } from "./stats.js";

/** The promise every send of one turn returns, settled by that turn's write. */
interface Batch {
  promise: Promise<void>;
  resolve(): void;
  reject(error: Error): void;
}

export class Outbox {
  private batch: Batch | null = null;
  private flushQueued = false;
  private closed = false;

  /** Called after each write completes while set: the connection is waiting for room under its limit. */
  afterWrite: (() => void) | null = null;
  /**
   * Called after each write completes while set, with `messagesOut` as it
   * was when the write was made: every message counted up to then is written.
   */
  written: ((messagesOut: number) => void) | null = null;
  /**
   * Called once, the first time a flush leaves the socket over its
   * high-water mark (node then emits 'drain' when it empties): the
   * connection starts listening for 'drain' only then, so one that never
   * fills its socket (an idle one) carries no listener for it.
   */
  onFull: ((socket: Socket) => void) | null = null;

  constructor(
    private readonly core: Protocol,
    private readonly socket: Socket,
    private readonly stats: Counters,
  ) {}

  /** Flush at the end of this turn; resolves once the bytes are handed to the operating system. */
  schedule(): Promise<void> {
    let batch = this.batch;
    if (batch === null) {
      let resolve!: () => void;
      let reject!: (error: Error) => void;
      const promise = settled<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      batch = this.batch = { promise, resolve, reject };
    }
    this.touch();
    return batch.promise;
  }

  /** Flush at the end of this turn, with no promise for the caller (a publish). */
  touch(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    Outbox.pendingFlush.push(this);
    if (Outbox.pendingFlush.length === 1) setImmediate(Outbox.flushPending);
  }

  /**
   * Outboxes with output waiting. They are written once the current turn
   * of the event loop is over (its callbacks and their promise chains), so
   * everything a handler sends while working through one read — even one
   * `await` per message — leaves in a single socket write.
   */
  private static pendingFlush: Outbox[] = [];
  private static flushPending(this: void): void {
    const pending = Outbox.pendingFlush;
    Outbox.pendingFlush = [];
    for (const outbox of pending) if (outbox.flushQueued) outbox.flush();
  }

  /** Write everything the core has queued now, in one corked burst; settle the current batch. */
  flush(): void {
    this.flushQueued = false;
    const batch = this.batch;
    this.batch = null;
    this.stats.bytesOut += this.core.outputBytes;
    const chunks = this.core.output();
    if (chunks.length === 0) {
      batch?.resolve();
      return;
    }
    const socket = this.socket;
    if (socket.destroyed || !socket.writable) {
      batch?.reject(closedError(this.core, this.closed));
      return;
    }
    const afterWrite = this.afterWrite;
    const written = this.written;
    const messagesOut = this.stats.messagesOut;
    const done =
      batch === null && written === null
        ? afterWrite ?? undefined
        : (error?: Error | null) => {
            if (error) batch?.reject(closedError(this.core, this.closed));
            else {
              batch?.resolve();
              written?.(messagesOut);
            }
            afterWrite?.();
          };
    let room: boolean;
    if (chunks.length === 1) {
      room = socket.write(chunks[0]!, done);
    } else {
      socket.cork();
      const last = chunks.length - 1;
      for (let i = 0; i < last; i++) socket.write(chunks[i]!);
      room = socket.write(chunks[last]!, done);
      socket.uncork();
    }
    if (!room && this.onFull !== null) {
      const onFull = this.onFull;
      this.onFull = null;
      onFull(socket);
    }
  }

  /** Whether sends wait for a write (what {@link close} rejects). */
  get waiting(): boolean {
    return this.batch !== null;
  }

  /**
   * The connection closed: sends waiting for a write will never get one.
   * They reject with `error`, built here when not given.
   */
  close(error?: Error): void {
    this.closed = true;
    const batch = this.batch;
    if (batch === null) return;
    this.batch = null;
    batch.reject(error ?? closedError(this.core, true));
  }
}
