/**
 * UTF-8 validation that works across fragment boundaries (RFC 6455 section
 * 8.1): a text message is checked as its bytes arrive, so an invalid byte
 * fails the connection at once rather than when the message ends.
 */

/** A whole-buffer validator supplied by the runtime (Node's `buffer.isUtf8`). */
export type Utf8Check = (bytes: Uint8Array) => boolean;

/** Incremental validator: feed pieces with {@link push}, then {@link finish}. */
export class Utf8Validator {
  /** Continuation bytes still expected by the current sequence. */
  private need = 0;
  /** Allowed range of the next continuation byte (narrower right after some leads). */
  private low = 0x80;
  private high = 0xbf;

  /** @param fast optional native whole-buffer check used on complete runs. */
  constructor(private readonly fast?: Utf8Check) {}

  /** Validate the next piece. Returns false as soon as the bytes cannot be UTF-8. */
  push(bytes: Uint8Array): boolean {
    let i = 0;
    const n = bytes.length;
    if (this.fast !== undefined && n > 0) {
      // Finish the sequence left open by the previous piece, then hand the rest to the native check.
      for (; i < n && this.need > 0; i++) if (!this.scan(bytes, i, i + 1)) return false;
      if (i === n) return true;
      const cut = incompleteTailStart(bytes, i);
      if (cut > i && !this.fast(i === 0 && cut === n ? bytes : bytes.subarray(i, cut))) return false;
      i = cut;
    }
    return this.scan(bytes, i, n);
  }

  /** The JavaScript state machine over bytes[from, to), state kept in locals for speed. */
  private scan(bytes: Uint8Array, from: number, to: number): boolean {
    let need = this.need;
    let low = this.low;
    let high = this.high;
    for (let i = from; i < to; i++) {
      const b = bytes[i]!;
      if (need > 0) {
        if (b < low || b > high) return false;
        need--;
        low = 0x80;
        high = 0xbf;
      } else if (b >= 0x80) {
        if (b < 0xc2) return false; // continuation byte or overlong 2-byte lead
        if (b < 0xe0) {
          need = 1;
        } else if (b < 0xf0) {
          need = 2;
          if (b === 0xe0) low = 0xa0; // overlong
          else if (b === 0xed) high = 0x9f; // UTF-16 surrogates
        } else if (b < 0xf5) {
          need = 3;
          if (b === 0xf0) low = 0x90; // overlong
          else if (b === 0xf4) high = 0x8f; // above U+10FFFF
        } else {
          return false;
        }
      }
    }
    this.need = need;
    this.low = low;
    this.high = high;
    return true;
  }

  /** True when the bytes pushed so far end on a character boundary. Resets the validator. */
  finish(): boolean {
    const complete = this.need === 0;
    this.reset();
    return complete;
  }

  /** Forget any partial sequence, ready for a new message. */
  reset(): void {
    this.need = 0;
    this.low = 0x80;
    this.high = 0xbf;
  }
}

/**
 * Index where a trailing, not yet complete multi-byte sequence starts (or
 * `bytes.length` when the buffer ends on a boundary), never before `from`.
 */
function incompleteTailStart(bytes: Uint8Array, from: number): number {
  const n = bytes.length;
  for (let back = 1; back <= 3 && n - back >= from; back++) {
    const b = bytes[n - back]!;
    if ((b & 0xc0) === 0x80) continue; // continuation: keep looking for the lead
    const size = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    return size > back ? n - back : n;
  }
  return n;
}

/** One-shot check of a complete buffer. */
export function isValidUtf8(bytes: Uint8Array, fast?: Utf8Check): boolean {
  if (fast !== undefined) return fast(bytes);
  const v = new Utf8Validator();
  return v.push(bytes) && v.finish();
}
