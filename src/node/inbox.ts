/**
 * The receive side of a connection: received messages (or frames) go to a
 * waiting `receive()` or iterator, else to listeners, else into a queue.
 * While the queue is full the socket is paused, so TCP pushes back on the
 * peer instead of memory growing; likewise while a message is decoded off
 * the event loop ({@link hold}).
 */
import type { EventEmitter } from "node:events";
import type { Socket } from "node:net";
import { Chunk, ConnectionClosedError, Frame, Message, Opcode, TimeoutError, UsageError, type Protocol } from "../core/index.js";
import { closedError } from "./closed-error.js";
import type { WebSocketEvents } from "./connection.js";
import { armDeadline, noop, rejected, type Waiting } from "./promises.js";

/** What the core delivers: whole messages, single frames in frame delivery, payload pieces in chunk delivery. */
export type Item = Message | Frame | Chunk;

type Waiter = Waiting<Item>;

export class Inbox {
  private queue: Item[] = [];
  private queueHead = 0;
  private waiters: Waiter[] = [];
  private paused = false;
  /** A received message is being decoded off the loop: reading waits for it. */
  private held = false;
  /** The application paused reading (`WebSocket.pause`). */
  private stopped = false;
  private closed = false;
  /** Whether a new message or frame listener is watched for: set once something was queued. */
  private watching = false;
  /** A message refused by `receive({ maxSize })` is not over: its remaining frames or pieces are dropped as they come. */
  private skipping = false;
  /** The last of the reads that take several items (assembling a message), which run one after the other. */
  private lastRead: Promise<unknown> | null = null;

  /** `connection` is the emitter whose message and frame listeners are fed; `limit` the queue length that pauses. */
  constructor(
    private readonly connection: EventEmitter<WebSocketEvents>,
    private readonly core: Protocol,
    private readonly socket: Socket,
    private readonly limit: number,
  ) {}

  /** Items wait in the queue (nobody was reading or listening when they arrived). */
  get hasQueued(): boolean {
    return this.queueHead < this.queue.length;
  }

  /** Reading is paused because received items wait unread. */
  get readingPaused(): boolean {
    return this.paused;
  }

  /** Reading is paused by the application. */
  get pausedByApplication(): boolean {
    return this.stopped;
  }

  /** The application pauses reading: the socket stays paused until {@link resumeReading}. */
  pauseReading(): void {
    this.stopped = true;
    this.socket.pause();
  }

  /** The application reads again, unless a full queue or a decode still holds the socket. */
  resumeReading(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.readAgain();
  }

  /** The oldest queued item, taken without waiting (for a sink that replaces the queue). */
  take(): Item | undefined {
    return this.shift();
  }

  /** Resume the socket if nothing holds it paused. */
  private readAgain(): void {
    if (!this.paused && !this.held && !this.stopped && !this.closed) this.socket.resume();
  }

  /** Nothing more will arrive: closed, or a close frame was received. */
  private get drained(): boolean {
    return this.closed || this.core.closeReceived !== null;
  }

  /** Hand a received item to the oldest waiting reader, else to listeners, else queue it. */
  deliver(item: Item): void {
    if (this.skipping && this.skipped(item)) return;
    const waiter = this.waiters.shift();
    if (waiter !== undefined) return waiter.resolve(item);
    const event = eventOf(item);
    if (this.connection.listenerCount(event) > 0) return emit(this.connection, item);
    this.queue.push(item);
    if (!this.watching) this.watchListeners();
    if (!this.paused && this.queue.length - this.queueHead >= this.limit) {
      // Nobody is reading: stop reading the socket so TCP pushes back on the peer.
      this.paused = true;
      this.socket.pause();
    }
  }

  /**
   * The next item. Rejects with {@link TimeoutError} after `timeout` ms (the
   * item then goes to a later reader) and with {@link ConnectionClosedError}
   * once nothing is left to read.
   */
  next(timeout: number | undefined): Promise<Item> {
    const item = this.shift();
    if (item !== undefined) return Promise.resolve(item);
    if (this.drained) return rejected(closedError(this.core, this.closed));
    return new Promise<Item>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject };
      armDeadline(
        waiter,
        timeout,
        () => (this.waiters = this.waiters.filter((w) => w !== waiter)),
        () => new TimeoutError("RECEIVE_TIMEOUT", `nothing received within ${timeout} ms`),
      );
      this.waiters.push(waiter);
    });
  }

  /**
   * An iterator over received items that ends quietly when the connection
   * closes. Hand-written rather than an async generator: one promise per
   * item instead of a chain of them.
   */
  iterate<T>(map: (item: Item) => T | null): AsyncIterableIterator<T> {
    const end: IteratorResult<T> = { value: undefined, done: true };
    let finished = false;
    const iterator: AsyncIterableIterator<T> = {
      next: (): Promise<IteratorResult<T>> => {
        if (finished) return Promise.resolve(end);
        try {
          // Items the map leaves out (null) are skipped; the loop ends with the queue.
          for (let item = this.shift(); item !== undefined; item = this.shift()) {
            const value = map(item);
            if (value !== null) return Promise.resolve({ value, done: false });
          }
        } catch (error) {
          return Promise.reject(error);
        }
        if (this.drained) {
          finished = true;
          return Promise.resolve(end);
        }
        return new Promise<IteratorResult<T>>((resolve, reject) => {
          this.waiters.push({
            resolve: (item) => {
              try {
                const value = map(item);
                if (value !== null) resolve({ value, done: false });
                else iterator.next().then(resolve, reject);
              } catch (error) {
                reject(error);
              }
            },
            reject: (error) => {
              if (!(error instanceof ConnectionClosedError)) return reject(error);
              finished = true;
              resolve(end);
            },
          });
        });
      },
      return: (): Promise<IteratorResult<T>> => {
        finished = true;
        return Promise.resolve(end);
      },
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }

  /**
   * Run `read` once every earlier read passed to this method has settled:
   * reads that take several items (a message assembled from frames) must
   * not interleave.
   */
  serially<T>(read: () => Promise<T>): Promise<T> {
    const previous = this.lastRead;
    const result = previous === null ? read() : previous.then(read, read);
    const tail = result.then(noop, noop);
    this.lastRead = tail;
    void tail.then(() => {
      if (this.lastRead === tail) this.lastRead = null;
    });
    return result;
  }

  /**
   * Put items taken by a reader back at the head of the queue, in order (a
   * `receive()` that timed out while assembling, or the rest of a piece cut
   * at `maxBytes`): the next reader gets them first.
   */
  putBack(items: readonly Item[]): void {
    if (items.length === 0) return;
    const rest = this.queue.slice(this.queueHead);
    this.queue = [...items, ...rest];
    this.queueHead = 0;
    if (!this.watching) this.watchListeners();
  }

  /**
   * Drop the rest of the message whose frames or pieces a reader was
   * assembling (it refused it): the frames or pieces of it that are queued
   * now, and those still to come.
   */
  skipRestOfMessage(): void {
    this.skipping = true;
    while (this.skipping && this.queueHead < this.queue.length) {
      const item = this.queue[this.queueHead]!;
      if (!this.skipped(item)) break;
      this.shift();
    }
  }

  /** While skipping: whether `item` belongs to the refused message (and drop it); ends the skip at the message's end. */
  private skipped(item: Item): boolean {
    if (item instanceof Message) {
      this.skipping = false; // a whole message: the refused one was over
      return false;
    }
    if (item instanceof Frame && item.opcode >= Opcode.CLOSE) return false; // control frames are not part of it
    if (item instanceof Chunk ? item.messageEnd : item.fin) this.skipping = false;
    return true;
  }

  /** Items that arrived before the first listener was added are handed to it, not stranded in the queue. */
  private watchListeners(): void {
    this.watching = true;
    this.connection.on("newListener", (event) => {
      if ((event === "message" || event === "frame" || event === "chunk") && this.hasQueued) queueMicrotask(() => this.drainToListeners());
    });
  }

  /** Emit queued items to listeners, in order, stopping at the first kind nobody listens to. */
  drainToListeners(): void {
    while (this.queueHead < this.queue.length && this.waiters.length === 0) {
      const item = this.queue[this.queueHead]!;
      if (this.connection.listenerCount(eventOf(item)) === 0) return;
      this.queue[this.queueHead++] = undefined as never;
      emit(this.connection, item);
    }
    if (this.queueHead === this.queue.length) {
      this.queue = [];
      this.queueHead = 0;
    }
    this.resume();
  }

  /** Read the socket again if the full queue paused it. */
  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.readAgain();
  }

  /** Stop reading while a received message is decoded off the loop: what follows waits in the socket. */
  hold(): void {
    this.held = true;
    this.socket.pause();
  }

  /** The decode is over: read again, unless the full queue keeps the socket paused. */
  release(): void {
    if (!this.held) return;
    this.held = false;
    this.readAgain();
  }

  /** Nothing follows the peer's close frame: readers waiting for more end now. */
  endWaiters(): void {
    if (this.waiters.length === 0) return; // spares building an error (its stack trace) for no one
    const error = closedError(this.core, this.closed);
    for (const waiter of this.waiters.splice(0)) waiter.reject(error);
  }

  /** The connection closed: end waiting readers; later reads find only what is queued. */
  close(): void {
    this.closed = true;
    this.endWaiters();
  }

  /** The oldest queued item, resuming a paused socket once the queue is half empty. */
  private shift(): Item | undefined {
    if (this.queueHead === this.queue.length) return undefined;
    const item = this.queue[this.queueHead]!;
    this.queue[this.queueHead++] = undefined as never;
    if (this.queueHead === this.queue.length) {
      this.queue = [];
      this.queueHead = 0;
    }
    if (this.paused && this.queue.length - this.queueHead < this.limit / 2) this.resume();
    return item;
  }
}

/** The listener event an item goes to. */
function eventOf(item: Item): "message" | "frame" | "chunk" {
  return item instanceof Message ? "message" : item instanceof Frame ? "frame" : "chunk";
}

function emit(connection: EventEmitter<WebSocketEvents>, item: Item): void {
  if (item instanceof Message) connection.emit("message", item);
  else if (item instanceof Frame) connection.emit("frame", item);
  else connection.emit("chunk", item);
}

/** For message delivery (`for await`): frames or pieces mean `frames()` or `chunks()` switched delivery. */
export function toMessage(item: Item): Message {
  if (item instanceof Message) return item;
  if (item instanceof Frame) throw new UsageError("FRAME_DELIVERY", "frames are being delivered: iterate with frames(), or read whole messages with receive()");
  throw new UsageError("CHUNK_DELIVERY", "payload pieces are being delivered: iterate with chunks(), or read whole messages with receive()");
}

/**
 * Items queued before frame delivery began: a whole message is one final
 * frame; a piece (chunk delivery) is a frame of its own, final if it ends
 * the message, so that joining the frames still gives the message.
 */
export function toFrame(item: Item): Frame {
  if (item instanceof Frame) return item;
  if (item instanceof Chunk) return new Frame(item.messageType, item.opcode, item.messageEnd, item.payload);
  const text = item.type === "text";
  return new Frame(item.type, text ? Opcode.TEXT : Opcode.BINARY, true, item.bytes, text ? item.text : undefined);
}

/** Items queued before chunk delivery began, as pieces; control frames (handled by the connection) are left out. */
export function toChunk(item: Item): Chunk | null {
  if (item instanceof Chunk) return item;
  if (item instanceof Message) {
    return new Chunk(item.type, item.type === "text" ? Opcode.TEXT : Opcode.BINARY, true, item.bytes, item.bytes.length, 0);
  }
  if (item.opcode >= Opcode.CLOSE) return null;
  return new Chunk(item.type as "text" | "binary", item.opcode, item.fin, item.payload, item.payload.length, 0);
}
