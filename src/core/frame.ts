/**
 * Frames (RFC 6455 section 5.2): opcodes, header encoding, and an incremental
 * parser that accepts input in any chunking and streams payload bytes out as
 * views of the input, unmasked in place.
 */
import { ProtocolError, type ViolationCode } from "./errors.js";
import { unmaskInPlace } from "./mask.js";

/** Frame opcodes (RFC 6455 section 5.2 and 11.8). */
export const Opcode = {
  CONTINUATION: 0x0,
  TEXT: 0x1,
  BINARY: 0x2,
  CLOSE: 0x8,
  PING: 0x9,
  PONG: 0xa,
} as const;
export type Opcode = (typeof Opcode)[keyof typeof Opcode];

/** Control frames (close, ping, pong) have the high opcode bit set. */
export function isControlOpcode(opcode: number): boolean {
  return (opcode & 0x8) !== 0;
}

function isKnownOpcode(opcode: number): boolean {
  return opcode <= 2 || (opcode >= 8 && opcode <= 10);
}

/** RSV bit values as they appear in a frame header's `rsv` field (see {@link writeFrameHeader}): RSV1 is 4. */
export const Rsv = { RSV1: 4, RSV2: 2, RSV3: 1 } as const;

/** Largest control frame payload (RFC 6455 section 5.5). */
export const MAX_CONTROL_PAYLOAD = 125;

/** Largest possible frame header: 2 + 8 (64-bit length) + 4 (mask key). */
export const MAX_HEADER_SIZE = 14;

/** Size of the header for a payload of `length` bytes. */
export function headerSize(length: number, masked: boolean): number {
  return (length < 126 ? 2 : length < 0x10000 ? 4 : 10) + (masked ? 4 : 0);
}

/**
 * Write a frame header into `target` at `offset` and return its size.
 * `rsv` uses the {@link Rsv} values; `maskKey` (4 bytes) sets the mask bit.
 * Lengths use the minimal encoding, as RFC 6455 section 5.2 requires.
 */
export function writeFrameHeader(
  target: Uint8Array,
  offset: number,
  fin: boolean,
  rsv: number,
  opcode: number,
  length: number,
  maskKey?: Uint8Array,
): number {
  target[offset] = (fin ? 0x80 : 0) | (rsv << 4) | opcode;
  const maskBit = maskKey === undefined ? 0 : 0x80;
  let at = offset + 2;
  if (length < 126) {
    target[offset + 1] = maskBit | length;
  } else if (length < 0x10000) {
    target[offset + 1] = maskBit | 126;
    target[offset + 2] = length >>> 8;
    target[offset + 3] = length & 0xff;
    at += 2;
  } else {
    target[offset + 1] = maskBit | 127;
    const high = Math.floor(length / 0x100000000);
    const low = length >>> 0;
    target[offset + 2] = high >>> 24;
    target[offset + 3] = (high >>> 16) & 0xff;
    target[offset + 4] = (high >>> 8) & 0xff;
    target[offset + 5] = high & 0xff;
    target[offset + 6] = low >>> 24;
    target[offset + 7] = (low >>> 16) & 0xff;
    target[offset + 8] = (low >>> 8) & 0xff;
    target[offset + 9] = low & 0xff;
    at += 8;
  }
  if (maskKey !== undefined) {
    target[at] = maskKey[0]!;
    target[at + 1] = maskKey[1]!;
    target[at + 2] = maskKey[2]!;
    target[at + 3] = maskKey[3]!;
    at += 4;
  }
  return at - offset;
}

/** Receives what a {@link FrameParser} finds, in order. */
export interface FrameSink {
  /** A header was read and passed the structural checks. */
  onFrameHeader(fin: boolean, rsv: number, opcode: number, length: number): void;
  /**
   * The next piece of the current frame's payload, a view of the input:
   * already unmasked, unless the parser was made with `unmask: false`, in
   * which case `maskKey` and `maskPhase` say how to unmask it (a sink that
   * copies the bytes anyway can unmask while copying, in one pass).
   */
  onFramePayload(data: Uint8Array, maskKey: Uint8Array | null, maskPhase: number): void;
  /** The current frame's payload is complete (also called for empty payloads). */
  onFrameEnd(): void;
  /** The input broke a frame-level rule; the parser stops for good. */
  onFrameError(error: ProtocolError): void;
}

/** What a {@link FrameParser} checks before handing a header on. */
export interface FrameParserOptions {
  /** Which side receives: a server requires masked frames, a client unmasked ones. */
  role: "client" | "server";
  /** Largest data frame payload accepted (control frames are capped at 125 anyway). */
  maxFrameSize: number;
  /** RSV bits a negotiated extension may use ({@link Rsv} values); others are errors. */
  allowedRsv?: number;
  /** Unmask payloads in place before handing them on (default true); false leaves it to the sink. */
  unmask?: boolean;
}

const enum State {
  Header,
  Payload,
}

/**
 * One whole unmasked frame (as a server sends it) in a new buffer: for a
 * message encoded once and written to many connections.
 */
export function encodeFrame(
  opcode: number,
  payload: Uint8Array,
  options: { fin?: boolean; rsv?: number; allocate?: (size: number) => Uint8Array } = {},
): Uint8Array {
  const size = headerSize(payload.length, false);
  const frame = (options.allocate ?? ((n: number) => new Uint8Array(n)))(size + payload.length);
  writeFrameHeader(frame, 0, options.fin ?? true, options.rsv ?? 0, opcode, payload.length);
  frame.set(payload, size);
  return frame;
}

/**
 * Incremental frame parser. It gives the same sink calls for every split of
 * the same bytes, down to one byte at a time; payload bytes are handed on as
 * they arrive, so memory does not grow with frame size. The input is
 * unmasked in place: pass buffers the parser may modify and keep.
 */
export class FrameParser {
  /** RSV bits accepted; a protocol may widen this after extension negotiation. */
  allowedRsv: number;
  private readonly requireMask: boolean;
  private readonly maxFrameSize: number;
  private state = State.Header;
  /** A header collected across chunks; allocated the first time one is split. */
  private header: Uint8Array | null = null;
  private headerLength = 0;
  private remaining = 0;
  private masked = false;
  /** The current frame's masking key; allocated with the first masked frame (idle connections never need it). */
  private maskKey: Uint8Array | null = null;
  private maskPhase = 0;
  private stopped = false;
  /** Set by {@link pause}: input waits in {@link held} until {@link resume}. */
  private paused = false;
  private held: Uint8Array[] | null = null;
  private readonly unmask: boolean;

  constructor(
    options: FrameParserOptions,
    private readonly sink: FrameSink,
  ) {
    this.requireMask = options.role === "server";
    this.maxFrameSize = options.maxFrameSize;
    this.allowedRsv = options.allowedRsv ?? 0;
    this.unmask = options.unmask ?? true;
  }

  /** True once an error was reported or {@link stop} was called. */
  get isStopped(): boolean {
    return this.stopped;
  }

  /** Ignore all further input (after a close frame, or when the protocol failed). */
  stop(): void {
    this.stopped = true;
    this.held = null;
  }

  /** True between {@link pause} and {@link resume}. */
  get isPaused(): boolean {
    return this.paused;
  }

  /**
   * Stop handing frames on after the current sink call: the rest of the
   * input, and any pushed meanwhile, is kept as it is until {@link resume}.
   */
  pause(): void {
    this.paused = true;
  }

  /** Go on parsing, first the input kept while paused (which may pause again). */
  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    const held = this.held;
    this.held = null;
    if (held === null) return;
    for (let i = 0; i < held.length; i++) {
      this.push(held[i]!);
      if (this.paused) {
        // Paused again: what is still held follows what that push kept.
        for (let k = i + 1; k < held.length; k++) (this.held ??= []).push(held[k]!);
        return;
      }
    }
  }

  /**
   * Payload bytes still to come in the current frame when the next input
   * would be nothing but them (0 between frames, and while paused or stopped).
   */
  get payloadRemaining(): number {
    return this.state === State.Payload && !this.paused && !this.stopped ? this.remaining : 0;
  }

  /** Feed the next bytes received. Never throws for bad input: errors go to the sink. */
  push(chunk: Uint8Array): void {
    if (this.paused) {
      if (!this.stopped) (this.held ??= []).push(chunk);
      return;
    }
    let pos = 0;
    const n = chunk.length;
    while (pos < n && !this.stopped && !this.paused) {
      if (this.state === State.Payload) {
        const take = Math.min(this.remaining, n - pos);
        // A plain view: cheaper than subarray() on subclasses such as Node's Buffer.
        const view = new Uint8Array(chunk.buffer, chunk.byteOffset + pos, take);
        let key: Uint8Array | null = null;
        const phase = this.maskPhase;
        if (this.masked) {
          if (this.unmask) unmaskInPlace(view, this.maskKey!, phase);
          else key = this.maskKey;
          this.maskPhase = (phase + take) & 3;
        }
        pos += take;
        this.remaining -= take;
        this.sink.onFramePayload(view, key, phase);
        if (this.remaining === 0 && !this.stopped) this.endFrame();
        continue;
      }
      if (this.headerLength === 0 && n - pos >= 2) {
        // Fast path: the whole header lies in this chunk, read it in place.
        const need = neededHeaderBytes(chunk[pos + 1]!);
        if (n - pos >= need) {
          this.readHeader(chunk, pos);
          pos += need;
          continue;
        }
      }
      // Slow path: collect the header across chunks.
      const header = (this.header ??= new Uint8Array(MAX_HEADER_SIZE));
      header[this.headerLength++] = chunk[pos++]!;
      if (this.headerLength >= 2 && this.headerLength === neededHeaderBytes(header[1]!)) {
        this.headerLength = 0;
        this.readHeader(header, 0);
      }
    }
    if (this.paused && pos < n && !this.stopped) {
      (this.held ??= []).push(new Uint8Array(chunk.buffer, chunk.byteOffset + pos, n - pos));
    }
  }

  private readHeader(buf: Uint8Array, at: number): void {
    const b0 = buf[at]!;
    const b1 = buf[at + 1]!;
    const fin = (b0 & 0x80) !== 0;
    const rsv = (b0 >>> 4) & 0x7;
    const opcode = b0 & 0x0f;
    const masked = (b1 & 0x80) !== 0;
    let length = b1 & 0x7f;
    let next = at + 2;

    if ((rsv & ~this.allowedRsv) !== 0) return this.fail("RESERVED_BITS");
    if (!isKnownOpcode(opcode)) return this.fail("UNKNOWN_OPCODE", `0x${opcode.toString(16)}`);
    if (isControlOpcode(opcode)) {
      if (!fin) return this.fail("CONTROL_FRAGMENTED");
      if (length > MAX_CONTROL_PAYLOAD) return this.fail("CONTROL_TOO_LONG");
    }
    if (masked !== this.requireMask) return this.fail(masked ? "MASKED_FRAME" : "UNMASKED_FRAME");

    if (length === 126) {
      length = (buf[next]! << 8) | buf[next + 1]!;
      next += 2;
      if (length < 126) return this.fail("NON_MINIMAL_LENGTH");
    } else if (length === 127) {
      const high = ((buf[next]! << 24) | (buf[next + 1]! << 16) | (buf[next + 2]! << 8) | buf[next + 3]!) >>> 0;
      const low = ((buf[next + 4]! << 24) | (buf[next + 5]! << 16) | (buf[next + 6]! << 8) | buf[next + 7]!) >>> 0;
      next += 8;
      if (high >= 0x80000000) return this.fail("LENGTH_TOP_BIT");
      length = high * 0x100000000 + low;
      if (length < 0x10000) return this.fail("NON_MINIMAL_LENGTH");
    }
    if (length > this.maxFrameSize && !isControlOpcode(opcode)) {
      return this.fail("FRAME_TOO_BIG", `${length} > ${this.maxFrameSize} bytes`);
    }
    if (masked) {
      const key = (this.maskKey ??= new Uint8Array(4));
      key[0] = buf[next]!;
      key[1] = buf[next + 1]!;
      key[2] = buf[next + 2]!;
      key[3] = buf[next + 3]!;
    }
    this.masked = masked;
    this.maskPhase = 0;
    this.remaining = length;
    this.sink.onFrameHeader(fin, rsv, opcode, length);
    if (this.stopped) return;
    if (length === 0) this.endFrame();
    else this.state = State.Payload;
  }

  private endFrame(): void {
    this.state = State.Header;
    this.sink.onFrameEnd();
  }

  private fail(code: ViolationCode, detail?: string): void {
    this.stopped = true;
    this.sink.onFrameError(new ProtocolError(code, detail));
  }
}

/** Header size implied by the second header byte (mask bit and 7-bit length). */
function neededHeaderBytes(b1: number): number {
  const len7 = b1 & 0x7f;
  return 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + ((b1 & 0x80) !== 0 ? 4 : 0);
}
