/**
 * Messages for the compression benchmarks: JSON-like text of an exact size
 * (deterministic, so every run sends the same bytes), and permessage-deflate
 * payloads built with node:zlib, independently of wsx's own codec.
 */
import zlib from "node:zlib";

/** A small deterministic PRNG (mulberry32): the same seed gives the same text. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = [
  "the", "order", "was", "shipped", "today", "please", "confirm", "delivery", "address", "thanks",
  "meeting", "moved", "to", "friday", "at", "noon", "see", "you", "there", "ok",
];
const CITIES = ["Berlin", "Lisbon", "Osaka", "Quito", "Lagos", "Perth", "Oslo", "Lima"];
const TAGS = ["alpha", "beta", "gamma", "delta", "epsilon"];

/**
 * `size` bytes of printable ASCII JSON (valid UTF-8, valid JSON): below 256
 * bytes one chat-like object, `{"type":"chat","seq":…,"user":…,"text":"…"}`;
 * from 256 bytes an array of API-like records with varying fields, padded
 * with spaces after the closing bracket to the exact size. `seed` varies
 * the content (ids, names, numbers, words), not the shape.
 */
export function jsonText(size: number, seed = 0): string {
  const next = random(seed * 7919 + size);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)]!;
  if (size < 256) {
    const head = `{"type":"chat","seq":${seed},"user":"user-${Math.floor(next() * 10_000)}","text":"`;
    const tail = `"}`;
    let text = "";
    while (head.length + text.length + tail.length < size) text += (text === "" ? "" : " ") + pick(WORDS);
    text = text.slice(0, Math.max(0, size - head.length - tail.length));
    // A word cut at the end could leave a trailing space: harmless inside a JSON string.
    return (head + text + tail).slice(0, size).padEnd(size, " ");
  }
  const records: string[] = [];
  let length = 2;
  for (let i = 0; ; i++) {
    const record = JSON.stringify({
      id: seed * 1_000_000 + i,
      name: `user-${Math.floor(next() * 100_000)}`,
      email: `u${Math.floor(next() * 100_000)}@example.test`,
      active: next() < 0.7,
      score: Math.round(next() * 1_000_000) / 100,
      tags: TAGS.slice(0, 1 + Math.floor(next() * TAGS.length)),
      address: { street: `${Math.floor(next() * 999)} ${pick(WORDS)} street`, city: pick(CITIES) },
      note: `${pick(WORDS)} ${pick(WORDS)} ${pick(WORDS)}`,
    });
    if (length + record.length + (records.length > 0 ? 1 : 0) > size) break;
    records.push(record);
    length += record.length + (records.length > 1 ? 1 : 0);
  }
  return `[${records.join(",")}]`.padEnd(size, " ");
}

const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/**
 * The payload of a permessage-deflate message compressed on its own (as a
 * client that offered `client_no_context_takeover` sends it): raw DEFLATE,
 * Z_SYNC_FLUSH, the 00 00 ff ff tail removed (RFC 7692 7.2.1). zlib's
 * default level (6) and window (15), as common clients use.
 */
export function deflateMessage(payload: Uint8Array): Buffer {
  const out = zlib.deflateRawSync(payload, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
  return out.length >= 4 && out.subarray(out.length - 4).equals(TAIL) ? out.subarray(0, out.length - 4) : out;
}

/**
 * Decompresses the payload of one permessage-deflate message that needs no
 * earlier context (the first message a peer compressed), for checks.
 */
export function inflateMessage(payload: Uint8Array): Buffer {
  return zlib.inflateRawSync(Buffer.concat([payload, TAIL]), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
}
