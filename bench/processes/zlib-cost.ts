/**
 * What permessage-deflate costs the event loop (`npm run bench -- --scenario zlib-cost`):
 * wsx's codec runs zlib synchronously, so a compressed message blocks the
 * event loop for as long as it takes to inflate (receiving) or deflate
 * (sending). This process times `PerMessageDeflate.decode` / `encode` of a
 * server codec on JSON-like text of several sizes, next to Node's one-shot
 * `zlib.inflateRawSync` / `deflateRawSync` on the same bytes (the floor),
 * and a decompression bomb against `maxMessageSize`.
 *
 * Started by the runner (lib/control.ts): the `run` command answers with
 * one entry per measurement. Loops are bounded in time and in count.
 */
import { performance } from "node:perf_hooks";
import zlib from "node:zlib";
import { PerMessageDeflate, settingsFor } from "../../src/deflate/codec.js";
import { DEFAULT_LEVEL, DEFAULT_MEM_LEVEL } from "../../src/deflate/options.js";
import { serveCommands } from "../lib/control.js";
import { deflateMessage, jsonText } from "../lib/payloads.js";

const MiB = 1024 * 1024;
const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);
/** Each timing loop runs for about this long, at most MAX_CALLS calls, at least MIN_CALLS. */
const BUDGET_MS = 400;
const MAX_CALLS = 2000;
const MIN_CALLS = 3;

export interface CostEntry {
  name: string;
  /** wsx codec, µs per MiB of uncompressed data. */
  usPerMiB: number;
  /** node:zlib one-shot sync call on the same bytes, µs per MiB. */
  zlibUsPerMiB: number;
  /** Mean wsx call: how long the event loop is blocked per message, ms. */
  meanMs: number;
  /** Longest single wsx call (a GC pause may fall into it), ms. */
  maxMs: number;
  /** Compressed size / original size, %. */
  compressedPct: number;
  calls: number;
}

function time(run: () => void): { total: number; max: number; calls: number } {
  run(); // warm-up
  let total = 0;
  let max = 0;
  let calls = 0;
  while (calls < MAX_CALLS && (total < BUDGET_MS || calls < MIN_CALLS)) {
    const t0 = performance.now();
    run();
    const dt = performance.now() - t0;
    total += dt;
    if (dt > max) max = dt;
    calls++;
  }
  return { total, max, calls };
}

/** A server codec that resets both contexts after each message, so every call does the same work. */
function serverCodec(): PerMessageDeflate {
  const agreed = { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 15, clientMaxWindowBits: 15 };
  return new PerMessageDeflate("server", agreed, settingsFor("server", agreed, { threshold: 0, level: DEFAULT_LEVEL, memLevel: DEFAULT_MEM_LEVEL }));
}

function measure(sizes: number[], bombSize: number, bombLimit: number): CostEntry[] {
  const entries: CostEntry[] = [];
  const codec = serverCodec();
  try {
    for (const size of sizes) {
      const payload = Buffer.from(jsonText(size, 1), "latin1");
      const label = size >= MiB ? `${size / MiB} MiB` : `${size / 1024} KiB`;
      const mib = size / MiB;

      // Receiving: what a client compressed (zlib level 6, as common clients do).
      const compressed = deflateMessage(payload);
      const decoded = codec.decode(compressed, Infinity);
      if (!Buffer.from(decoded.buffer, decoded.byteOffset, decoded.length).equals(payload)) throw new Error("decode mismatch");
      const inflate = time(() => codec.decode(compressed, Infinity));
      const withTail = Buffer.concat([compressed, TAIL]);
      const floor = time(() => zlib.inflateRawSync(withTail, { finishFlush: zlib.constants.Z_SYNC_FLUSH }));
      entries.push({
        name: `inflate ${label}`,
        usPerMiB: (inflate.total * 1000) / (inflate.calls * mib),
        zlibUsPerMiB: (floor.total * 1000) / (floor.calls * mib),
        meanMs: inflate.total / inflate.calls,
        maxMs: inflate.max,
        compressedPct: (100 * compressed.length) / size,
        calls: inflate.calls,
      });

      // Sending: wsx's own compressor (level 1 by default).
      const encoded = codec.encode(payload, {})!;
      const deflate = time(() => codec.encode(payload, {}));
      const deflateFloor = time(() =>
        zlib.deflateRawSync(payload, { level: DEFAULT_LEVEL, memLevel: DEFAULT_MEM_LEVEL, finishFlush: zlib.constants.Z_SYNC_FLUSH }),
      );
      entries.push({
        name: `deflate ${label}`,
        usPerMiB: (deflate.total * 1000) / (deflate.calls * mib),
        zlibUsPerMiB: (deflateFloor.total * 1000) / (deflateFloor.calls * mib),
        meanMs: deflate.total / deflate.calls,
        maxMs: deflate.max,
        compressedPct: (100 * encoded.length) / size,
        calls: deflate.calls,
      });
    }

    // A bomb: `bombSize` zero bytes compress to about 1/1000 of that; decoding stops at the limit.
    const bomb = deflateMessage(Buffer.alloc(bombSize));
    let refused = 0;
    const bombTime = time(() => {
      const fresh = serverCodec();
      try {
        fresh.decode(bomb, bombLimit);
      } catch (error) {
        if ((error as { code?: string }).code === "MESSAGE_TOO_BIG") refused++;
        else throw error;
      } finally {
        fresh.dispose();
      }
    });
    if (refused !== bombTime.calls + 1) throw new Error(`bomb: ${refused} of ${bombTime.calls + 1} decodes refused`);
    entries.push({
      name: `bomb ${bombSize / MiB} MiB → limit ${bombLimit / MiB} MiB`,
      usPerMiB: (bombTime.total * 1000) / (bombTime.calls * (bombLimit / MiB)),
      zlibUsPerMiB: Number.NaN,
      meanMs: bombTime.total / bombTime.calls,
      maxMs: bombTime.max,
      compressedPct: (100 * bomb.length) / bombSize,
      calls: bombTime.calls,
    });
  } finally {
    codec.dispose();
  }
  return entries;
}

serveCommands((command) => {
  if (command.cmd === "run") {
    const { sizes, bombSize, bombLimit } = command as unknown as { sizes: number[]; bombSize: number; bombLimit: number };
    return measure(sizes, bombSize, bombLimit);
  }
  throw new Error(`unknown command ${command.cmd}`);
});
process.stdout.write("ready\n");
