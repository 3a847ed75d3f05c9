/**
 * Synchronous, stateful raw DEFLATE on top of `node:zlib`.
 *
 * permessage-deflate needs a compressor and a decompressor that keep their
 * LZ77 window from one message to the next (context takeover) and that run
 * synchronously, because {@link Extension} transforms are synchronous. Node's
 * public API offers either stateful streams (asynchronous) or synchronous
 * one-shot calls (stateless). The undocumented `_processChunk(chunk, flush)`
 * is synchronous but closes the zlib handle when it returns, so it can only
 * be used once per object.
 *
 * What remains is the native handle every zlib object wraps, which Node's own
 * synchronous path drives: `handle.writeSync(flush, in, inOff, inLen, out,
 * outOff, outLen)` runs zlib once and leaves `[availOut, availIn]` in the
 * object's `_writeState`; errors arrive synchronously through
 * `handle.onerror`. Both have been there since Node 10 and Bun mirrors them.
 * {@link zlibSupported} checks for them so a runtime without them fails
 * with a clear message instead of a TypeError mid-connection.
 */
import zlib from "node:zlib";

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

/** A piece of memory zlib writes into; never handed out (its tail is uninitialized). */
function rawPiece(size: number): Uint8Array {
  return Buffer.allocUnsafeSlow(size);
}

/** An exact-size plain Uint8Array of its own, filled by the caller. */
function exactResult(size: number): Uint8Array {
  if (size === 0) return new Uint8Array(0);
  const buffer = Buffer.allocUnsafeSlow(size);
  return new Uint8Array(buffer.buffer, buffer.byteOffset, size);
}

export interface SyncZlibOptions {
  /** 8..15; 8 is raised to 9 for compression, as zlib itself requires. */
  windowBits: number;
  /** Compression only. */
  level?: number;
  /** Compression only. */
  memLevel?: number;
}

/** One raw DEFLATE compressor or decompressor, driven synchronously. */
export class SyncZlib {
  readonly kind: "deflate" | "inflate";
  #object: ZlibObject | null;
  #handle: NativeHandle | null;
  #state: Uint32Array;
  #error: { message: string; code: string | undefined } | null = null;
  /** The last call met the end of the DEFLATE stream (a block with BFINAL set). */
  #ended = false;

  constructor(kind: "deflate" | "inflate", options: SyncZlibOptions) {
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
    // stream's destroy(error) and an 'error' event on a later tick.
    this.#handle.onerror = (message, _errno, code) => {
      if (this.#error === null) this.#error = { message, code };
    };
    // Belt and braces: nothing may ever surface as an unhandled 'error' event.
    object.on("error", () => {});
    live++;
  }

  /** Whether the context is still open. */
  get open(): boolean {
    return this.#object !== null;
  }

  /** Whether the last {@link process} call reached the end of the DEFLATE stream. */
  get ended(): boolean {
    return this.#ended;
  }

  /** Forget the window and any partial state (zlib's deflateReset / inflateReset). */
  reset(): void {
    if (this.#object === null) return;
    this.#object.reset();
    this.#ended = false;
  }

  /** Release the native context; idempotent. */
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
  process(inputs: readonly Uint8Array[], limit: number): { output: Uint8Array; remaining: number } {
    const handle = this.#handle;
    if (handle === null) throw new Error("zlib context is closed");
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
    let at = 0;
    for (const piece of pieces) {
      output.set(piece, at);
      at += piece.length;
    }
    return { output, remaining };
  }
}
