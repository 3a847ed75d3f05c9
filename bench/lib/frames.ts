/**
 * The client frames the load generator sends, built once by the runner:
 * masked with a constant key (servers do not care), compressed with
 * node:zlib where the scenario asks (lib/payloads.ts), `window` of them back
 * to back in one batch that the load generator sends cyclically.
 */
import { deflateMessage, jsonText } from "./payloads.js";

const MASK = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);
const RSV1 = 0x40;

export const Opcode = { TEXT: 1, BINARY: 2 } as const;

/** One masked client frame (FIN set) carrying `payload`; `rsv1` marks it compressed. */
export function buildFrame(opcode: number, payload: Uint8Array, rsv1 = false): Buffer {
  const length = payload.length;
  const header = length < 126 ? 2 : length < 65536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(header + 4 + length);
  frame[0] = 0x80 | (rsv1 ? RSV1 : 0) | opcode;
  if (length < 126) {
    frame[1] = 0x80 | length;
  } else if (length < 65536) {
    frame[1] = 0x80 | 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 0x80 | 127;
    frame.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
    frame.writeUInt32BE(length >>> 0, 6);
  }
  MASK.copy(frame, header);
  const start = header + 4;
  for (let i = 0; i < length; i++) frame[start + i] = payload[i]! ^ MASK[i & 3]!;
  return frame;
}

/** The message in slot `k` of a window: JSON-like text, or a repeated a..z pattern (valid UTF-8). */
export function messagePayload(size: number, json: boolean, k: number): Buffer {
  if (json) return Buffer.from(jsonText(size, k), "latin1");
  const payload = Buffer.alloc(size);
  for (let i = 0; i < payload.length; i++) payload[i] = 0x61 + (i % 26);
  return payload;
}

export interface TrafficSpec {
  opcode: number;
  size: number;
  window: number;
  /** JSON-like text, a different message in each slot (otherwise the same message in every slot). */
  json?: boolean;
  /** Every message compressed on its own (permessage-deflate, client_no_context_takeover). */
  deflate?: boolean;
}

export interface Traffic {
  /** `window` frames back to back. */
  batch: Buffer;
  window: number;
  /** The (uncompressed) message of the first frame: what each connection's first echo must equal. */
  expected: Buffer;
  compressed: boolean;
}

export function buildTraffic(spec: TrafficSpec): Traffic {
  const json = spec.json === true;
  const deflate = spec.deflate === true;
  const frames: Buffer[] = [];
  let expected: Buffer | null = null;
  let frame: Buffer | null = null;
  for (let k = 0; k < spec.window; k++) {
    if (json || frame === null) {
      const payload = messagePayload(spec.size, json, k);
      expected ??= payload;
      frame = deflate ? buildFrame(spec.opcode, deflateMessage(payload), true) : buildFrame(spec.opcode, payload);
    }
    frames.push(frame);
  }
  return { batch: Buffer.concat(frames), window: spec.window, expected: expected!, compressed: deflate };
}
