/**
 * Frame serialisation. Small frames are written back to back into a shared
 * bump-allocated slab, so a burst of sends becomes one contiguous chunk (one
 * socket write) without a per-frame allocation; large server payloads are not
 * copied at all (header chunk + the caller's bytes).
 */
import { copyPieces, joinPieces } from "./bytes.js";
import { Opcode, headerSize, writeFrameHeader } from "./frame.js";
import { MaskKeyPool, applyMask, sharedMaskKeys } from "./mask.js";

/** Allocates a byte buffer; Node passes `Buffer.allocUnsafeSlow` to skip zero-filling. */
export type Allocate = (size: number) => Uint8Array;

/**
 * A bump allocator over fixed-size blocks. Regions handed out are never
 * reused, so they stay valid for as long as the transport holds them; a
 * block is dropped (and garbage collected) once it is full.
 */
export class Slab {
  buffer: Uint8Array;
  position = 0;
  constructor(
    readonly allocate: Allocate = (size) => new Uint8Array(size),
    readonly blockSize = 32 * 1024,
  ) {
    this.buffer = allocate(blockSize);
  }

  /** Make sure `size` contiguous bytes are free at {@link position}. */
  reserve(size: number): void {
    if (this.buffer.length - this.position < size) {
      this.buffer = this.allocate(Math.max(this.blockSize, size));
      this.position = 0;
    }
  }
}

/** Payloads up to this size are copied next to their header; larger ones travel as their own chunk. */
const COPY_LIMIT = 4096;
/** Up to this many bytes, a turn's output that includes shared frames is joined into one chunk. */
const COALESCE_LIMIT = 64 * 1024;
/** A string this short encodes to at most 123 bytes, so its length fits the 2-byte header. */
const SHORT_STRING = 41;
/** A string this short encodes to under 64 KiB, so its header is at most 4 bytes. */
const MEDIUM_STRING = 21845;

const encoder = new TextEncoder();
let sharedSlab: Slab | undefined;

/** The slab used when none is given: one per runtime, shared by every writer. */
export function defaultSlab(): Slab {
  return (sharedSlab ??= new Slab());
}

/** The shared frames that may still grow (see {@link SharedFrames}); at most one at a time. */
let openShared: SharedFrames | null = null;

/**
 * Stop the open shared frames (see {@link SharedFrames}) from growing: for a
 * connection about to queue something later, out of turn (a send encoded off
 * the event loop), which later publishes must follow.
 */
export function sealSharedFrames(): void {
  sealShared();
}

/** Something else was queued somewhere: the open shared frames stop growing. */
function sealShared(): void {
  const sealed = openShared;
  if (sealed === null) return;
  sealed.writers = null;
  openShared = null;
  sealed.onSeal?.();
}

/**
 * Whole frames queued on many writers at once, that can keep growing while
 * nothing else is queued anywhere: a server publishing several messages to
 * the same subscribers in one turn appends them here once, instead of once
 * per subscriber, and every subscriber writes the same bytes.
 *
 * Order stays exact because growth stops (the frames are sealed) as soon as
 * any writer of the runtime queues anything else or hands its output over:
 * until then, these frames are the last thing every member has queued.
 */
export class SharedFrames {
  /** Writers that queued these frames, while they can still grow (null once sealed). */
  writers: FrameWriter[] | null = [];
  private readonly pieces: Uint8Array[];
  private joined: Uint8Array | null = null;
  /** Bytes of every frame so far. */
  size: number;
  /** Messages (appended frames) so far. */
  messages = 1;

  /**
   * Start with `frames` (whole frames); these become the frames that can
   * grow, sealing any others. `allocate` makes the buffer they are joined in.
   */
  constructor(
    frames: Uint8Array,
    private readonly allocate: Allocate = (size) => new Uint8Array(size),
    /** Called once when the frames stop growing (whoever holds what growing needs can let it go). */
    readonly onSeal?: () => void,
  ) {
    sealShared();
    openShared = this;
    this.pieces = [frames];
    this.size = frames.length;
  }

  /** True while {@link append} may be called: nothing else was queued anywhere since. */
  get open(): boolean {
    return openShared === this;
  }

  /** Stop growing (a member could not take these frames as they are). */
  seal(): void {
    if (openShared === this) sealShared();
  }

  /** Add one more whole frame for every member; false (and nothing added) once sealed. */
  append(frame: Uint8Array): boolean {
    const writers = this.writers;
    if (openShared !== this || writers === null) return false;
    this.pieces.push(frame);
    this.size += frame.length;
    this.messages++;
    const length = frame.length;
    for (let i = 0; i < writers.length; i++) writers[i]!.queued += length;
    return true;
  }

  /** The frames as one chunk (joined once, when first asked after sealing). */
  bytes(): Uint8Array {
    if (this.joined === null || this.joined.length !== this.size) this.joined = joinPieces(this.pieces, this.size, this.allocate);
    return this.joined;
  }
}

/**
 * Turns frames into output chunks. Client writers mask every frame with a
 * fresh key (RFC 6455 section 5.3); server writers never mask.
 */
export class FrameWriter {
  /** Chunks taken by the next {@link take}; null when none (an idle connection holds no array). */
  private chunks: Array<Uint8Array | SharedFrames> | null = null;
  /** @internal Bytes queued (grown by {@link SharedFrames.append} too). */
  queued = 0;
  /** The open region of the slab this writer is appending to, or null. */
  private region: Uint8Array | null = null;
  private regionStart = 0;
  private regionEnd = 0;
  /** Shared pre-encoded frames among the queued chunks. */
  private encodedCount = 0;
  /** Shared frames among {@link chunks}, which may still grow: {@link take} puts their bytes in their place. */
  private sharedCount = 0;
  private readonly keys: MaskKeyPool | null;

  constructor(
    masked: boolean,
    private readonly slab: Slab = defaultSlab(),
    keys?: MaskKeyPool,
  ) {
    this.keys = masked ? (keys ?? sharedMaskKeys()) : null;
  }

  /** Bytes queued and not yet taken. */
  get queuedBytes(): number {
    return this.queued;
  }

  /** Queue one frame. The payload is copied or, for large server frames, referenced. */
  frame(fin: boolean, rsv: number, opcode: number, payload: Uint8Array): void {
    if (openShared !== null) sealShared();
    const length = payload.length;
    const key = this.keys?.next();
    const size = headerSize(length, key !== undefined);
    this.queued += size + length;
    if (length <= COPY_LIMIT) {
      const at = this.claim(size + length);
      const buf = this.slab.buffer;
      writeFrameHeader(buf, at, fin, rsv, opcode, length, key);
      if (key !== undefined) applyMask(payload, 0, buf, at + size, length, key);
      else buf.set(payload, at + size);
      return;
    }
    if (key !== undefined) {
      // Masking needs a copy anyway: header and masked payload in one buffer.
      const out = this.slab.allocate(size + length);
      writeFrameHeader(out, 0, fin, rsv, opcode, length, key);
      applyMask(payload, 0, out, size, length, key);
      this.push(out);
      return;
    }
    const at = this.claim(size);
    writeFrameHeader(this.slab.buffer, at, fin, rsv, opcode, length);
    this.push(payload);
  }

  /** Queue a text frame, encoding the string straight into the output where it can. */
  text(fin: boolean, rsv: number, opcode: number, text: string): void {
    if (openShared !== null) sealShared();
    const masked = this.keys !== null;
    if (text.length > MEDIUM_STRING || text.length * 3 > COPY_LIMIT) {
      this.frame(fin, rsv, opcode, encoder.encode(text));
      return;
    }
    const short = text.length <= SHORT_STRING;
    const room = (short ? 2 : 4) + (masked ? 4 : 0);
    const at = this.claim(room + text.length * 3);
    const buf = this.slab.buffer;
    const { written } = encoder.encodeInto(text, buf.subarray(at + room, at + room + text.length * 3));
    let payloadAt = at + room;
    if (!short && written < 126) {
      // The length fits the 2-byte form after all: close the 2-byte gap.
      buf.copyWithin(at + room - 2, payloadAt, payloadAt + written);
      payloadAt -= 2;
    }
    const key = this.keys?.next();
    writeFrameHeader(buf, at, fin, rsv, opcode, written, key);
    if (key !== undefined) applyMask(buf, payloadAt, buf, payloadAt, written, key);
    const end = payloadAt + written;
    // Give back the bytes reserved for the worst case but not used.
    this.slab.position = end;
    this.regionEnd = end;
    this.queued += end - at;
  }

  /**
   * Queue bytes that are already whole frames (a message encoded once for
   * many connections). They are referenced, never changed: a connection
   * that gets one such message in a turn writes the shared bytes as they
   * are, and {@link take} joins several into one chunk.
   */
  encoded(frames: Uint8Array): void {
    if (openShared !== null) sealShared();
    this.queued += frames.length;
    this.encodedCount++;
    this.push(frames);
  }

  /**
   * Queue frames shared with other writers; they may grow until sealed (see
   * {@link SharedFrames}), and {@link take} writes them as they are then.
   */
  sharedFrames(frames: SharedFrames): void {
    if (openShared !== frames && openShared !== null) sealShared();
    this.queued += frames.size;
    this.encodedCount++;
    this.seal();
    this.append(frames);
    this.sharedCount++;
    frames.writers?.push(this);
  }

  /** Queue a close frame (convenience for the protocol). */
  close(payload: Uint8Array): void {
    this.frame(true, 0, Opcode.CLOSE, payload);
  }

  /** Everything queued so far, ready for one vectored write; the writer is emptied. */
  take(): Uint8Array[] {
    if (openShared !== null) sealShared();
    this.seal();
    const queued = this.chunks;
    if (queued === null) return [];
    if (this.sharedCount > 0) {
      for (let i = 0; i < queued.length; i++) {
        const chunk = queued[i]!;
        if (chunk instanceof SharedFrames) queued[i] = chunk.bytes();
      }
      this.sharedCount = 0;
    }
    let chunks = queued as Uint8Array[];
    if (this.encodedCount > 0 && chunks.length > 1 && this.queued <= COALESCE_LIMIT) {
      // Shared frames sit between this writer's own regions: copy the turn's output into
      // one region, so the transport makes one write instead of a vectored one of many pieces.
      const at = this.claim(this.queued);
      const buf = this.slab.buffer;
      const offset = copyPieces(chunks, buf, at);
      this.region = null;
      chunks = [buf.subarray(at, offset)];
    }
    this.encodedCount = 0;
    this.chunks = null;
    this.queued = 0;
    return chunks;
  }

  /** Reserve `size` bytes in the slab, extending this writer's open region when contiguous. */
  private claim(size: number): number {
    const slab = this.slab;
    slab.reserve(size);
    if (this.region !== slab.buffer || this.regionEnd !== slab.position) {
      this.seal();
      this.region = slab.buffer;
      this.regionStart = slab.position;
    }
    const at = slab.position;
    slab.position += size;
    this.regionEnd = slab.position;
    return at;
  }

  private seal(): void {
    if (this.region !== null && this.regionEnd > this.regionStart) {
      this.append(this.region.subarray(this.regionStart, this.regionEnd));
    }
    this.region = null;
  }

  private push(chunk: Uint8Array): void {
    this.seal();
    this.append(chunk);
  }

  private append(chunk: Uint8Array | SharedFrames): void {
    if (this.chunks === null) this.chunks = [chunk];
    else this.chunks.push(chunk);
  }
}
