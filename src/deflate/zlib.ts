/**
 * Stateful raw DEFLATE on top of `node:zlib`, driven synchronously or on
 * the libuv thread pool, one context serving both.
 *
 * permessage-deflate needs a compressor and a decompressor that keep their
 * LZ77 window from one message to the next (context takeover), and most
 * messages are best transformed synchronously, in message order, inside the
 * protocol. Node's public API offers either stateful streams (asynchronous)
 * or synchronous one-shot calls (stateless). The undocumented
 * `_processChunk(chunk, flush)` without a callback is synchronous but closes
 * the zlib handle when it returns, so it can only be used once per object.
 *
 * What remains is the native handle every zlib object wraps, which Node's own
 * synchronous path drives: `handle.writeSync(flush, in, inOff, inLen, out,
 * outOff, outLen)` runs zlib once and leaves `[availOut, availIn]` in the
 * object's `_writeState`; errors arrive synchronously through
 * `handle.onerror`. Both have been there since Node 10 and Bun mirrors them.
 * {@link zlibSupported} checks for them so a runtime without them fails
 * with a clear message instead of a TypeError mid-connection.
 *
 * Large messages are better processed off the event loop. The same object's
 * `_processChunk(chunk, flush, callback)` is Node's own asynchronous step: it
 * calls `handle.write(...)` (the thread-pool twin of `writeSync`), hands
 * each filled piece of `_outBuffer` (`_chunkSize` bytes) to `push`, and calls
 * back when the input is used up; errors still go to `handle.onerror`. Since
 * nothing reads the stream side of these objects, `push` is replaced by one
 * that collects the output (and enforces the limit), and the piece size is
 * raised for the duration of a call. {@link asyncZlibSupported} checks for
 * those fields; without them every message stays on the synchronous path.
 * Because both paths use the same native context, a window kept between
 * messages is the same whichever path a message takes.
 */
import zlib from "node:zlib";
import { copyPieces } from "../core/bytes.js";
import { PRIME_FROM, primeAllocator } from "./allocator.js";

const { Z_NO_FLUSH, Z_SYNC_FLUSH } = zlib.constants;

/** The native part of a zlib object that is used here (not in Node's typings). */
interface NativeHandle {
  writeSync(
    flush: number,
    input: Uint8Array,
    inOffset: number,
    inLength: number,
    output: Uint8Array,
    outOffset: number,
    outLength: number,
  ): void;
  onerror: ((message: string, errno: number, code?: string) => void) | undefined;
}

/** The undocumented fields of a `zlib.DeflateRaw` / `zlib.InflateRaw` used here. */
interface ZlibInternals {
  _handle: NativeHandle | null | undefined;
  _writeState: Uint32Array | undefined;
}

/** The further undocumented fields the asynchronous path uses (see the module comment). */
interface AsyncInternals {
  _handle: (NativeHandle & { write?: unknown }) | null | undefined;
  _processChunk(chunk: Uint8Array, flush: number, callback: () => void): void;
  _outBuffer: Uint8Array;
  _outOffset: number;
  _chunkSize: number;
  push(chunk: Uint8Array | null): boolean;
  destroyed: boolean;
}

type ZlibObject = zlib.DeflateRaw | zlib.InflateRaw;

/** Thrown by {@link SyncZlib.process} when zlib reports an error (bad input). */
export class ZlibDataError extends Error {
  readonly zlibCode: string | undefined;
  constructor(message: string, zlibCode?: string) {
    super(message);
    this.name = "ZlibDataError";
    this.zlibCode = zlibCode;
  }
}

/** Thrown by {@link SyncZlib.process} when the output would pass its limit. */
export class OutputLimitError extends Error {
  readonly limit: number;
  constructor(limit: number) {
    super(`output larger than ${limit} bytes`);
    this.name = "OutputLimitError";
    this.limit = limit;
  }
}

let live = 0;

/**
 * How many zlib contexts created by wsx's permessage-deflate are open in this
 * process right now (each holds native memory: about 256 KiB for a
 * compressor at windowBits 15 / memLevel 8, about 40 KiB for a
 * decompressor). Meant for tests and memory accounting.
 */
export function liveZlibContexts(): number {
  return live;
}

let supported: boolean | undefined;

function internalsOf(object: ZlibObject): { handle: NativeHandle; state: Uint32Array } | null {
  const internals = object as unknown as ZlibInternals;
  const handle = internals._handle;
  const state = internals._writeState;
  if (handle === null || handle === undefined || typeof handle.writeSync !== "function") return null;
  if (!(state instanceof Uint32Array) || state.length < 2) return null;
  return { handle, state };
}

/**
 * Whether this runtime's `node:zlib` exposes the synchronous handle API
 * used here (checked once, with a throwaway decompressor).
 */
export function zlibSupported(): boolean {
  if (supported === undefined) {
    let probe: zlib.InflateRaw | undefined;
    try {
      probe = zlib.createInflateRaw();
      supported = internalsOf(probe) !== null && typeof probe.reset === "function";
    } catch {
      supported = false;
    } finally {
      probe?.close();
    }
  }
  return supported;
}

let asyncSupported: boolean | undefined;

/**
 * Whether this runtime's zlib objects also expose what the asynchronous
 * path drives (checked once, with a throwaway decompressor). When false,
 * every message is transformed synchronously.
 */
export function asyncZlibSupported(): boolean {
  if (asyncSupported === undefined) {
    let probe: zlib.InflateRaw | undefined;
    try {
      probe = zlib.createInflateRaw({ chunkSize: zlib.constants.Z_MIN_CHUNK });
      const internals = probe as unknown as AsyncInternals;
      asyncSupported =
        zlibSupported() &&
        typeof internals._handle?.write === "function" &&
        typeof internals._processChunk === "function" &&
        typeof internals.push === "function" &&
        internals._outBuffer instanceof Uint8Array &&
        typeof internals._outOffset === "number" &&
        typeof internals._chunkSize === "number" &&
        typeof internals.destroyed === "boolean";
    } catch {
      asyncSupported = false;
    } finally {
      probe?.close();
    }
  }
  return asyncSupported;
}

export const UNSUPPORTED_MESSAGE =
  "permessage-deflate needs synchronous zlib contexts, which this runtime's node:zlib does not expose " +
  "(zlib object without _handle.writeSync/_writeState)";

/**
 * Output scratch shared by every context in the process: processing is
 * synchronous, so one buffer serves all connections, and a small message
 * costs one exact-size copy out of it instead of a fresh 64 KiB buffer.
 */
const SCRATCH_SIZE = 64 * 1024;
let scratch: Uint8Array | null = null;
/** Largest piece allocated at once while output keeps coming. */
const MAX_PIECE = 4 * 1024 * 1024;
/**
 * Largest piece an asynchronous call fills per trip to the thread pool:
 * about a millisecond of inflating, so the trips cost little next to the work.
 */
const ASYNC_PIECE = 1024 * 1024;
/** What a zlib object's output buffer is set back to between asynchronous calls (never written). */
let spareOutput: Uint8Array | null = null;

/** A piece of memory zlib writes into; never handed out (its tail is uninitialized). */
function rawPiece(size: number): Uint8Array {
  if (size >= PRIME_FROM) primeAllocator();
  return Buffer.allocUnsafeSlow(size);
}

/** An exact-size plain Uint8Array of its own, filled by the caller. */
function exactResult(size: number): Uint8Array {
  if (size === 0) return new Uint8Array(0);
  if (size >= PRIME_FROM) primeAllocator();
  const buffer = Buffer.allocUnsafeSlow(size);
  return new Uint8Array(buffer.buffer, buffer.byteOffset, size);
}

export interface ZlibContextOptions {
  /** 8..15; 8 is raised to 9 for compression, as zlib itself requires. */
  windowBits: number;
  /** Compression only. */
  level?: number;
  /** Compression only. */
  memLevel?: number;
}

/** What {@link ZlibContext.process} and {@link ZlibContext.processAsync} return. */
export interface ZlibResult {
  /** Exactly the bytes produced, in a buffer of their own. */
  output: Uint8Array;
  /** Input bytes left unread after the end of the DEFLATE stream (inflate); 0 otherwise. */
  remaining: number;
}

/** The asynchronous call in flight on a context. */
interface AsyncCall {
  readonly inputs: readonly Uint8Array[];
  /** Index of the next input to hand to zlib. */
  next: number;
  readonly limit: number;
  readonly pieces: Uint8Array[];
  total: number;
  ended: boolean;
  remaining: number;
  overLimit: boolean;
  resolve(result: ZlibResult): void;
  reject(error: Error): void;
}

const BUSY = "zlib context is busy with an asynchronous call";

/** Size of the next output piece of an asynchronous call. */
function asyncPiece(deflating: boolean, inputLeft: number, limit: number, total: number): number {
  // Deflated output is not much larger than its input; inflated output has no such bound.
  const wanted = deflating ? Math.max(inputLeft + (inputLeft >>> 10) + 256, 4096) : ASYNC_PIECE;
  // One byte past the limit is enough to know the limit is passed.
  return Math.max(1, Math.min(wanted, ASYNC_PIECE, limit + 1 - total));
}

/**
 * One raw DEFLATE compressor or decompressor. {@link process} runs it
 * synchronously, {@link processAsync} on the thread pool; calls must not
 * overlap (a synchronous call while an asynchronous one runs throws).
 */
export class ZlibContext {
  readonly kind: "deflate" | "inflate";
  #object: ZlibObject | null;
  #handle: NativeHandle | null;
  #state: Uint32Array;
  #error: { message: string; code: string | undefined } | null = null;
  /** The last call met the end of the DEFLATE stream (a block with BFINAL set). */
  #ended = false;
  #call: AsyncCall | null = null;
  /** Node's callback for the end of each asynchronous step; bound on the first asynchronous call. */
  #afterStep: (() => void) | null = null;

  constructor(kind: "deflate" | "inflate", options: ZlibContextOptions) {
    if (!zlibSupported()) throw new Error(UNSUPPORTED_MESSAGE);
    this.kind = kind;
    // The stream's own output buffer (chunkSize) is never used here: keep it minimal.
    const chunkSize = zlib.constants.Z_MIN_CHUNK;
    const object: ZlibObject =
      kind === "deflate"
        ? zlib.createDeflateRaw({
            // zlib cannot compress raw DEFLATE with a 256-byte window; with 9 it
            // never emits distances above 250, so the peer's 8-bit window suffices.
            windowBits: Math.max(options.windowBits, 9),
            level: options.level ?? 1,
            memLevel: options.memLevel ?? 8,
            chunkSize,
          })
        : zlib.createInflateRaw({ windowBits: options.windowBits, chunkSize });
    const internals = internalsOf(object);
    if (internals === null) {
      object.close();
      throw new Error(UNSUPPORTED_MESSAGE);
    }
    this.#object = object;
    this.#handle = internals.handle;
    this.#state = internals.state;
    // Errors are taken here, synchronously, instead of going through the
    // stream's destroy(error) and an 'error' event on a later tick. After an
    // asynchronous step zlib reports errors here and never calls back.
    this.#handle.onerror = (message, _errno, code) => {
      if (this.#error === null) this.#error = { message, code };
      if (this.#call !== null) this.#settle(this.#call, new ZlibDataError(message, code));
    };
    // Belt and braces: nothing may ever surface as an unhandled 'error' event.
    object.on("error", () => {});
    live++;
  }

  /** Whether the context is still open. */
  get open(): boolean {
    return this.#object !== null;
  }

  /** Whether an asynchronous call is running. */
  get busy(): boolean {
    return this.#call !== null;
  }

  /** Whether the last call reached the end of the DEFLATE stream. */
  get ended(): boolean {
    return this.#ended;
  }

  /** Forget the window and any partial state (zlib's deflateReset / inflateReset). */
  reset(): void {
    if (this.#object === null) return;
    if (this.#call !== null) throw new Error(BUSY);
    this.#object.reset();
    this.#ended = false;
  }

  /**
   * Release the native context; idempotent. An asynchronous call in flight
   * rejects once its current step is back from the thread pool (zlib frees
   * the context then).
   */
  close(): void {
    const object = this.#object;
    if (object === null) return;
    this.#object = null;
    this.#handle = null;
    live--;
    object.close();
  }

  /**
   * Runs `inputs` through zlib, one after the other, with Z_SYNC_FLUSH on the
   * last (so all output is produced), and returns exactly the output bytes.
   * The output is never allowed past `limit`
   * bytes: memory allocated stays below `limit` plus 64 KiB whatever the
   * input. Throws {@link OutputLimitError} or {@link ZlibDataError}; after a
   * throw the context must not be used again for the same stream.
   *
   * For decompression, {@link ended} tells whether a final block was met;
   * `remaining` is then how many input bytes were left unread.
   */
  process(inputs: readonly Uint8Array[], limit: number): ZlibResult {
    const handle = this.#handle;
    if (handle === null) throw new Error("zlib context is closed");
    if (this.#call !== null) throw new Error(BUSY);
    const state = this.#state;
    const deflating = this.kind === "deflate";
    const shared = (scratch ??= new Uint8Array(SCRATCH_SIZE));
    let out = shared;
    let outOffset = 0;
    let total = 0;
    let pieces: Uint8Array[] | null = null;
    let remaining = 0;
    let ended = false;

    for (let n = 0; n < inputs.length && !ended; n++) {
      const input = inputs[n]!;
      const last = n === inputs.length - 1;
      if (input.length === 0 && !last) continue;
      const flush = last ? Z_SYNC_FLUSH : Z_NO_FLUSH;
      let inOffset = 0;
      let inLength = input.length;
      for (;;) {
        const room = out.length - outOffset;
        handle.writeSync(flush, input, inOffset, inLength, out, outOffset, room);
        if (this.#error !== null) {
          const { message, code } = this.#error;
          throw new ZlibDataError(message, code);
        }
        const availOut = state[0]!;
        const availIn = state[1]!;
        const produced = room - availOut;
        outOffset += produced;
        total += produced;
        if (total > limit) throw new OutputLimitError(limit);
        inOffset += inLength - availIn;
        inLength = availIn;
        if (availOut !== 0) {
          // zlib stopped with room to spare: the input is used up, or (for
          // inflate) the stream ended with input left over.
          if (availIn !== 0 && !deflating) {
            ended = true;
            remaining = availIn;
            for (let k = n + 1; k < inputs.length; k++) remaining += inputs[k]!.length;
          }
          break;
        }
        // The output buffer is full: keep it and continue into a new one.
        (pieces ??= []).push(out === shared ? shared.slice(0, outOffset) : out.subarray(0, outOffset));
        let size: number;
        if (deflating) {
          // What is left cannot compress to much more than its own size.
          size = Math.max(inLength + (inLength >>> 10) + 256, 4096);
        } else {
          size = Math.max(out.length * 2, SCRATCH_SIZE);
        }
        // One byte past the limit is enough to know the limit is passed.
        size = Math.max(1, Math.min(size, MAX_PIECE, limit + 1 - total));
        out = rawPiece(size);
        outOffset = 0;
      }
    }
    this.#ended = ended;

    if (pieces === null) {
      // Everything fit in the first buffer, the shared scratch: copy it out.
      return { output: shared.slice(0, total), remaining };
    }
    pieces.push(out.subarray(0, outOffset));
    const output = exactResult(total);
    copyPieces(pieces, output);
    return { output, remaining };
  }

  /**
   * {@link process} on the libuv thread pool: the event loop runs on while
   * zlib works. The same limit applies, checked after each piece of output
   * (at most 1 MiB, never past `limit` + 1 in total): past it, the context
   * is closed and the promise rejects with {@link OutputLimitError}. Rejects
   * with {@link ZlibDataError} for bad input, and with an Error if the
   * context is closed meanwhile. The inputs must not change until it settles.
   */
  processAsync(inputs: readonly Uint8Array[], limit: number): Promise<ZlibResult> {
    const object = this.#object;
    if (object === null) return Promise.reject(new Error("zlib context is closed"));
    if (this.#call !== null) return Promise.reject(new Error(BUSY));
    if (!asyncZlibSupported()) return Promise.reject(new Error("this runtime's node:zlib cannot be driven asynchronously here"));
    if (inputs.length === 0) return Promise.resolve({ output: new Uint8Array(0), remaining: 0 });
    const internals = object as unknown as AsyncInternals;
    if (this.#afterStep === null) {
      this.#afterStep = () => this.#stepDone();
      // Nothing reads the stream side of this object: its output comes here instead.
      internals.push = (piece) => this.#collect(piece);
    }
    let size = 0;
    for (const input of inputs) size += input.length;
    return new Promise<ZlibResult>((resolve, reject) => {
      const call: AsyncCall = { inputs, next: 0, limit, pieces: [], total: 0, ended: false, remaining: 0, overLimit: false, resolve, reject };
      this.#call = call;
      const first = asyncPiece(this.kind === "deflate", size, limit, 0);
      internals._outBuffer = Buffer.allocUnsafeSlow(first);
      internals._outOffset = 0;
      internals._chunkSize = first;
      this.#writeNext(call);
    });
  }

  /** Hand the next non-empty input (or the last one, which carries the flush) to zlib. */
  #writeNext(call: AsyncCall): void {
    const last = call.inputs.length - 1;
    while (call.next < last && call.inputs[call.next]!.length === 0) call.next++;
    const n = call.next++;
    const internals = this.#object as unknown as AsyncInternals;
    internals._processChunk(call.inputs[n]!, n === last ? Z_SYNC_FLUSH : Z_NO_FLUSH, this.#afterStep!);
  }

  /** Node's `push`: a filled piece of output, or null when the DEFLATE stream ended with input left. */
  #collect(piece: Uint8Array | null): boolean {
    const call = this.#call;
    if (call === null) return true;
    if (piece === null) {
      call.ended = true;
      let remaining = this.#state[1]!;
      for (let k = call.next; k < call.inputs.length; k++) remaining += call.inputs[k]!.length;
      call.remaining = remaining;
      return true;
    }
    call.pieces.push(piece);
    call.total += piece.length;
    if (call.total > call.limit) {
      // A closed (destroyed) object runs no further step: Node calls back at once.
      call.overLimit = true;
      this.close();
      return true;
    }
    // The piece is full: Node allocates the next one with _chunkSize bytes right after this.
    if (this.#state[0] === 0) {
      (this.#object as unknown as AsyncInternals)._chunkSize = asyncPiece(this.kind === "deflate", this.#state[1]!, call.limit, call.total);
    }
    return true;
  }

  /** One input is used up (or the object was closed): go on with the next, or settle. */
  #stepDone(): void {
    const call = this.#call;
    if (call === null) return;
    if (call.overLimit) return this.#settle(call, new OutputLimitError(call.limit));
    if (this.#object === null) return this.#settle(call, new Error("zlib context was closed during the call"));
    if (!call.ended && call.next < call.inputs.length) return this.#writeNext(call);
    this.#ended = call.ended;
    this.#settle(call, null);
  }

  #settle(call: AsyncCall, error: Error | null): void {
    this.#call = null;
    const object = this.#object as unknown as AsyncInternals | null;
    if (object !== null) {
      // Do not keep the last piece alive with the context.
      object._outBuffer = spareOutput ??= Buffer.allocUnsafeSlow(zlib.constants.Z_MIN_CHUNK);
      object._outOffset = 0;
      object._chunkSize = spareOutput.length;
    }
    if (error !== null) return call.reject(error);
    const output = exactResult(call.total);
    copyPieces(call.pieces, output);
    call.resolve({ output, remaining: call.remaining });
  }
}
