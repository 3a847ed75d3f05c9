/**
 * A message sent piece by piece (a streamed send): each piece is
 * transformed by the extensions that can work on a stream and framed at
 * once, so the message never has to be whole in memory.
 */
import { Opcode } from "./frame.js";
import type { StreamEncoder } from "./extension.js";

/** @internal Where an {@link OutgoingMessage} puts its frames (the protocol that started it). */
export interface StreamSink {
  writeStreamFrame(opcode: number, rsv: number, payload: Uint8Array, fin: boolean): void;
}

/** A message being sent in pieces; made by `Protocol.startMessage`. */
export class OutgoingMessage {
  /** Whether a frame is out (later ones are CONTINUATION frames without RSV bits). */
  private started = false;
  private ended = false;

  /** @internal */
  constructor(
    private readonly sink: StreamSink,
    private readonly opcode: number,
    private readonly rsv: number,
    private readonly encoders: readonly StreamEncoder[],
    private readonly fragmentSize: number,
  ) {}

  /** Whether the last piece was written (or the message abandoned). */
  get done(): boolean {
    return this.ended;
  }

  /**
   * Queue the frames of the next piece; `last` ends the message. A piece
   * longer than the fragment size goes out as several frames.
   */
  write(piece: Uint8Array, last: boolean): void {
    if (this.ended) throw new Error("the message is over");
    let bytes = piece;
    try {
      for (const encoder of this.encoders) bytes = encoder.push(bytes, last);
    } catch (error) {
      this.abandon();
      throw error;
    }
    if (last) this.abandon();
    // Nothing to say yet: no frame (the last piece always gets one, to carry fin).
    if (bytes.length === 0 && !last) return;
    const size = this.fragmentSize;
    let offset = 0;
    do {
      const end = Math.min(offset + size, bytes.length);
      const first = !this.started;
      this.started = true;
      this.sink.writeStreamFrame(first ? this.opcode : Opcode.CONTINUATION, first ? this.rsv : 0, bytes.subarray(offset, end), last && end === bytes.length);
      offset = end;
    } while (offset < bytes.length);
  }

  /** Release the encoders: the message is over, or will never be finished (the connection is failing). */
  abandon(): void {
    if (this.ended) return;
    this.ended = true;
    for (const encoder of this.encoders) encoder.end();
  }
}
