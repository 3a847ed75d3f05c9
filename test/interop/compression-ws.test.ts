/**
 * Interoperability of permessage-deflate (RFC 7692) between wsx and the `ws`
 * package, in both directions: a wsx client against a ws server and a ws
 * client against a wsx server, each with several parameter sets.
 *
 * Every connection runs through a proxy on 127.0.0.1 that records each
 * frame's header (test/helpers/wire-tap.ts, shared with the browser test),
 * so the tests see on the wire what went compressed (RSV1 on the first frame
 * of a message, never on continuations) instead of trusting either end.
 */
import { afterEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import {
  WebSocket as WsSocket,
  WebSocketServer as WsServer,
  type PerMessageDeflateOptions,
} from "ws";
import { connect, serve, type ConnectOptions, type ServerOptions, type WebSocket } from "../../src/index.js";
import { DEFAULT_THRESHOLD, liveZlibContexts, sharedZlibContexts } from "../../src/deflate/index.js";
import { Inbox, assertBytes, watch, type Payload, type WsPeer } from "../helpers/interop.js";
import { deadline, eventually } from "../helpers/net.js";
import { RSV1, tapProxy, type FrameTap, type WireFrame } from "../helpers/wire-tap.js";

const T = { timeout: 30_000 };
const KiB = 1024;
const MiB = 1024 * KiB;

// ---- payloads ----

/** Valid JSON of at least `minBytes` ASCII bytes: an array of similar records, as APIs send. */
function jsonText(minBytes: number, seed = 0): string {
  const records: string[] = [];
  let size = 2;
  for (let i = 0; size < minBytes; i++) {
    const record = JSON.stringify({
      id: seed * 100_000 + i,
      name: `user-${(i * 7919 + seed) % 10_007}`,
      email: `user${(i * 31 + seed) % 997}@example.test`,
      active: i % 3 !== 0,
      score: ((i * 2654435761 + seed) % 100_000) / 100,
      tags: ["alpha", "beta", "gamma", "delta"].slice(0, 1 + (i % 4)),
      address: { street: `${i % 500} Main Street`, city: ["Berlin", "Lisbon", "Osaka", "Quito"][i % 4], zip: String(10_000 + ((i * 37) % 89_999)) },
    });
    records.push(record);
    size += record.length + 1;
  }
  return `[${records.join(",")}]`;
}

const JSON_64K = jsonText(64 * KiB);
/** Random bytes do not compress: the codec must still carry them intact (and may send them as they are). */
const RANDOM_1M = randomBytes(MiB);
/** Far below any sensible compression threshold. */
const SMALL = "tiny hello";

// ---- Sec-WebSocket-Extensions ----

interface ParsedExtension {
  name: string;
  params: Map<string, string | true>;
}

/** Parse a Sec-WebSocket-Extensions value (no quoted strings: permessage-deflate uses none). */
function parseExtensions(value: string | undefined): ParsedExtension[] {
  if (value === undefined || value.trim() === "") return [];
  return value.split(",").map((item) => {
    const [name = "", ...rest] = item.split(";").map((part) => part.trim());
    const params = new Map<string, string | true>();
    for (const part of rest) {
      const eq = part.indexOf("=");
      if (eq < 0) params.set(part.toLowerCase(), true);
      else params.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).trim().replace(/^"(.*)"$/, "$1"));
    }
    return { name: name.toLowerCase(), params };
  });
}

/** The single permessage-deflate agreement in a header value (fails on anything else). */
function deflateAgreement(value: string | undefined, what: string): Map<string, string | true> {
  const parsed = parseExtensions(value);
  assert.equal(parsed.length, 1, `${what}: one extension in ${JSON.stringify(value)}`);
  assert.equal(parsed[0]!.name, "permessage-deflate", `${what}: extension name`);
  return parsed[0]!.params;
}

// ---- fixtures ----

const cleanups: Array<() => unknown> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** One wsx end and one ws end connected through a frame-recording proxy. */
interface Pair {
  wsx: WebSocket;
  peer: WsPeer;
  ws: WsSocket;
  /** Frames wsx sent and frames ws sent, as seen on the wire. */
  fromWsx: FrameTap;
  fromWs: FrameTap;
  /** Sec-WebSocket-Extensions of the 101 response, as ws wrote or read it ("" for none). */
  wsResponseHeader: string;
}

interface WsxServerFixture {
  port: number;
  accepted: Inbox<WebSocket>;
}

async function startWsxServer(options: ServerOptions): Promise<WsxServerFixture> {
  const accepted = new Inbox<WebSocket>();
  const server = await serve({ host: "127.0.0.1", port: 0, ...options }, (ws) => {
    cleanups.push(() => ws.terminate());
    accepted.push(ws);
  });
  cleanups.push(() => server.close());
  return { port: server.port, accepted };
}

/** A ws client (with these perMessageDeflate options) connected to a wsx server. */
async function wsClientToWsx(
  perMessageDeflate: boolean | PerMessageDeflateOptions,
  serverOptions: ServerOptions = { compression: true },
  server?: WsxServerFixture,
): Promise<Pair> {
  const wsx = server ?? (await startWsxServer(serverOptions));
  const proxy = await tapProxy(wsx.port);
  cleanups.push(() => proxy.close());
  const ws = new WsSocket(`ws://127.0.0.1:${proxy.port}/`, { perMessageDeflate });
  const peer = watch(ws);
  cleanups.push(() => ws.terminate());
  let wsResponseHeader = "";
  ws.on("upgrade", (response) => {
    wsResponseHeader = String(response.headers["sec-websocket-extensions"] ?? "");
  });
  await deadline(once(ws, "open"), 5000, "ws client open");
  const side = await deadline(wsx.accepted.next(), 5000, "wsx server connection");
  const tapped = await proxy.next();
  return { wsx: side, peer, ws, fromWsx: tapped.down, fromWs: tapped.up, wsResponseHeader };
}

/** A wsx client (with these options) connected to a ws server with these perMessageDeflate options. */
async function wsxClientToWs(
  perMessageDeflate: boolean | PerMessageDeflateOptions,
  clientOptions: ConnectOptions = { compression: true },
): Promise<Pair> {
  const accepted = new Inbox<{ ws: WsSocket; peer: WsPeer }>();
  const server = new WsServer({ host: "127.0.0.1", port: 0, perMessageDeflate });
  let wsResponseHeader = "";
  server.on("headers", (headers) => {
    const line = headers.find((header) => /^sec-websocket-extensions:/i.test(header));
    wsResponseHeader = line === undefined ? "" : line.slice(line.indexOf(":") + 1).trim();
  });
  server.on("connection", (ws) => {
    // Watch before anything can arrive: the handler runs before the socket is read.
    const peer = watch(ws);
    cleanups.push(() => ws.terminate());
    accepted.push({ ws, peer });
  });
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  await deadline(once(server, "listening"), 5000, "ws server listening");
  const proxy = await tapProxy((server.address() as AddressInfo).port);
  cleanups.push(() => proxy.close());
  const wsx = await connect(`ws://127.0.0.1:${proxy.port}/`, clientOptions);
  cleanups.push(() => wsx.terminate());
  const { ws, peer } = await deadline(accepted.next(), 5000, "ws server connection");
  const tapped = await proxy.next();
  return { wsx, peer, ws, fromWsx: tapped.up, fromWs: tapped.down, wsResponseHeader };
}

// ---- one exchange each way, with what it looked like on the wire ----

function wsBytes(payload: Payload): Buffer {
  return payload.type === "text" ? Buffer.from(payload.data, "utf8") : Buffer.from(payload.data);
}

/** wsx sends; ws must receive the same type and bytes. Returns the data frames wsx put on the wire. */
async function wsxToWs(pair: Pair, payload: Payload, options?: { compress?: boolean }): Promise<WireFrame[]> {
  await pair.wsx.send(payload.data, options);
  const got = await deadline(pair.peer.messages.next(), 10_000, "message at ws");
  assert.equal(got.isBinary, payload.type === "binary", "type ws received");
  assertBytes(got.data, wsBytes(payload), "bytes ws received");
  return pair.fromWsx.takeData();
}

/** ws sends; wsx must receive the same type and bytes. Returns the data frames ws put on the wire. */
async function wsToWsx(pair: Pair, payload: Payload, options?: { compress?: boolean }): Promise<WireFrame[]> {
  pair.ws.send(payload.type === "text" ? payload.data : Buffer.from(payload.data), { binary: payload.type === "binary", ...options });
  const got = await pair.wsx.receive({ timeout: 10_000 });
  assert.equal(got.type, payload.type, "type wsx received");
  assertBytes(got.bytes, wsBytes(payload), "bytes wsx received");
  if (payload.type === "text") assert.equal(got.text, payload.data, "text wsx decoded");
  return pair.fromWs.takeData();
}

/** A message sent as a single frame: its header. */
function single(frames: WireFrame[], what: string): WireFrame {
  assert.equal(frames.length, 1, `${what}: one frame on the wire, got ${frames.length}: ${JSON.stringify(frames.slice(0, 4))}`);
  assert.equal(frames[0]!.fin, true, `${what}: FIN`);
  return frames[0]!;
}

function assertCompressed(frames: WireFrame[], what: string): WireFrame {
  const frame = single(frames, what);
  assert.equal(frame.rsv, RSV1, `${what}: RSV1 set (compressed)`);
  return frame;
}

function assertPlain(frames: WireFrame[], what: string, length?: number): WireFrame {
  const frame = single(frames, what);
  assert.equal(frame.rsv, 0, `${what}: RSV1 clear (sent uncompressed)`);
  if (length !== undefined) assert.equal(frame.length, length, `${what}: payload length as is`);
  return frame;
}

/** A fragmented message: RSV1 on the first frame only when compressed, opcode then continuations, FIN on the last only. */
function assertFragments(frames: WireFrame[], opcode: number, compressed: boolean, what: string): void {
  assert.ok(frames.length > 1, `${what}: several frames, got ${frames.length}`);
  frames.forEach((frame, i) => {
    assert.equal(frame.opcode, i === 0 ? opcode : 0, `${what}: opcode of frame ${i}`);
    assert.equal(frame.rsv, i === 0 && compressed ? RSV1 : 0, `${what}: RSV bits of frame ${i}`);
    assert.equal(frame.fin, i === frames.length - 1, `${what}: FIN of frame ${i}`);
  });
}

// ---- the parameter sets ----

interface Setup {
  name: string;
  open(): Promise<Pair>;
  /** Parameters the agreed Sec-WebSocket-Extensions must carry (name, and value or true). */
  params: Array<[string, string | true | ((value: string | true) => boolean)]>;
  /** Parameters it must not carry. */
  absent: string[];
  /** The role wsx plays: which *_no_context_takeover parameter governs its own sends. */
  wsxRole: "client" | "server";
}

const SETUPS: Setup[] = [
  {
    name: "wsx client -> ws server, perMessageDeflate: true",
    open: () => wsxClientToWs(true),
    params: [],
    absent: ["server_no_context_takeover", "client_no_context_takeover", "server_max_window_bits"],
    wsxRole: "client",
  },
  {
    name: "wsx client -> ws server, no context takeover both ways",
    open: () => wsxClientToWs({ serverNoContextTakeover: true, clientNoContextTakeover: true }),
    params: [
      ["server_no_context_takeover", true],
      ["client_no_context_takeover", true],
    ],
    absent: [],
    wsxRole: "client",
  },
  {
    name: "wsx client -> ws server, serverMaxWindowBits: 10",
    open: () => wsxClientToWs({ serverMaxWindowBits: 10 }),
    params: [["server_max_window_bits", "10"]],
    absent: ["server_no_context_takeover", "client_no_context_takeover"],
    wsxRole: "client",
  },
  {
    // wsx offers client_max_window_bits; ws holds it to 2^10, and inflates with that window.
    name: "wsx client -> ws server, clientMaxWindowBits: 10",
    open: () => wsxClientToWs({ clientMaxWindowBits: 10 }),
    params: [["client_max_window_bits", "10"]],
    absent: ["server_no_context_takeover", "client_no_context_takeover", "server_max_window_bits"],
    wsxRole: "client",
  },
  {
    name: "wsx client asking for no context takeover and server_max_window_bits=11 -> ws server, perMessageDeflate: true",
    open: () =>
      wsxClientToWs(true, { compression: { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 11 } }),
    params: [
      ["server_no_context_takeover", true],
      ["client_no_context_takeover", true],
      ["server_max_window_bits", "11"],
    ],
    absent: [],
    wsxRole: "client",
  },
  {
    name: "ws client -> wsx server, perMessageDeflate: true",
    open: () => wsClientToWsx(true),
    params: [],
    absent: ["server_no_context_takeover", "client_no_context_takeover", "server_max_window_bits"],
    wsxRole: "server",
  },
  {
    name: "ws client -> wsx server, no context takeover both ways",
    open: () => wsClientToWsx({ serverNoContextTakeover: true, clientNoContextTakeover: true }),
    // RFC 7692 7.1.1.1: a server accepting server_no_context_takeover must say so; client_no_context_takeover it may echo.
    params: [["server_no_context_takeover", true]],
    absent: [],
    wsxRole: "server",
  },
  {
    name: "ws client -> wsx server, server_max_window_bits=10 offered",
    open: () => wsClientToWsx({ serverMaxWindowBits: 10 }),
    // RFC 7692 7.1.2.1: accepting it, the server answers with a value no larger than offered, and keeps to
    // it: ws inflates with that window, so a longer back-reference would fail the message.
    params: [["server_max_window_bits", (value) => typeof value === "string" && /^\d+$/.test(value) && Number(value) >= 8 && Number(value) <= 10]],
    absent: ["server_no_context_takeover", "client_no_context_takeover"],
    wsxRole: "server",
  },
  {
    // The smallest windows: zlib cannot deflate raw with 2^8, so both ends must manage with what 8 allows.
    name: "ws client -> wsx server, window bits 8 both ways",
    open: () => wsClientToWsx({ serverMaxWindowBits: 8, clientMaxWindowBits: 8 }),
    params: [
      ["server_max_window_bits", "8"],
      ["client_max_window_bits", "8"],
    ],
    absent: ["server_no_context_takeover", "client_no_context_takeover"],
    wsxRole: "server",
  },
  {
    name: "ws client -> wsx server with { serverNoContextTakeover, clientMaxWindowBits: 10 }",
    open: () => wsClientToWsx(true, { compression: { serverNoContextTakeover: true, clientMaxWindowBits: 10 } }),
    params: [
      ["server_no_context_takeover", true],
      ["client_max_window_bits", "10"],
    ],
    absent: ["client_no_context_takeover"],
    wsxRole: "server",
  },
];

/** How wsx compresses under the agreement: whether it may keep its context, and its window (log2). */
function wsxDeflate(pair: Pair, setup: Setup): { takeover: boolean; windowBits: number } {
  const agreed = deflateAgreement(pair.wsx.extensions, "wsx");
  const bits = agreed.get(`${setup.wsxRole}_max_window_bits`);
  return {
    takeover: !agreed.has(`${setup.wsxRole}_no_context_takeover`),
    windowBits: typeof bits === "string" ? Number(bits) : 15,
  };
}

for (const setup of SETUPS) {
  describe(`permessage-deflate: ${setup.name}`, () => {
    test("negotiated on both sides, the same parameters", T, async () => {
      const pair = await setup.open();
      assert.equal(pair.ws.extensions, "permessage-deflate", "ws: negotiated extensions");
      const wsx = deflateAgreement(pair.wsx.extensions, "wsx ws.extensions");
      const ws = deflateAgreement(pair.wsResponseHeader, "Sec-WebSocket-Extensions ws saw");
      assert.deepEqual([...wsx].sort(), [...ws].sort(), "both ends agree on the parameters");
      for (const [name, expected] of setup.params) {
        assert.ok(wsx.has(name), `${name} in ${pair.wsx.extensions}`);
        const value = wsx.get(name)!;
        if (typeof expected === "function") assert.ok(expected(value), `${name}=${String(value)} acceptable`);
        else assert.equal(value, expected, `${name} value`);
      }
      for (const name of setup.absent) assert.ok(!wsx.has(name), `${name} not in ${pair.wsx.extensions}`);
      // Only parameters RFC 7692 defines.
      for (const name of wsx.keys()) {
        assert.ok(
          ["server_no_context_takeover", "client_no_context_takeover", "server_max_window_bits", "client_max_window_bits"].includes(name),
          `unknown parameter ${name}`,
        );
      }
    });

    test("empty messages round trip", T, async () => {
      const pair = await setup.open();
      for (const payload of [{ type: "text", data: "" }, { type: "binary", data: new Uint8Array(0) }] as Payload[]) {
        // Nothing to gain from compressing nothing: wsx sends it as it is.
        assertPlain(await wsxToWs(pair, payload), `empty ${payload.type} from wsx`, 0);
        // ws compresses every message when context takeover is on (an empty one becomes 0x00): wsx decodes either form.
        single(await wsToWsx(pair, payload), `empty ${payload.type} from ws`);
      }
      assert.deepEqual(pair.peer.errors, []);
    });

    test("a message under the threshold goes uncompressed from wsx, and arrives intact both ways", T, async () => {
      const pair = await setup.open();
      for (const payload of [{ type: "text", data: SMALL }, { type: "binary", data: Buffer.from(SMALL) }] as Payload[]) {
        assertPlain(await wsxToWs(pair, payload), `small ${payload.type} from wsx`, Buffer.byteLength(SMALL));
        single(await wsToWsx(pair, payload), `small ${payload.type} from ws`);
      }
      // The threshold's edge: one byte under goes as it is, the threshold itself is compressed.
      const under = jsonText(DEFAULT_THRESHOLD).slice(0, DEFAULT_THRESHOLD - 1);
      assertPlain(await wsxToWs(pair, { type: "text", data: under }), "threshold - 1 bytes from wsx", DEFAULT_THRESHOLD - 1);
      assertCompressed(await wsxToWs(pair, { type: "text", data: under + "]" }), "threshold bytes from wsx");
      assert.deepEqual(pair.peer.errors, []);
    });

    test("64 KiB of JSON text goes compressed both ways", T, async () => {
      const pair = await setup.open();
      const payload: Payload = { type: "text", data: JSON_64K };
      const out = assertCompressed(await wsxToWs(pair, payload), "JSON from wsx");
      assert.ok(out.length < JSON_64K.length / 3, `JSON from wsx compressed to ${out.length} bytes`);
      assertCompressed(await wsToWsx(pair, payload), "JSON from ws");
      // And once more, now that both contexts hold the first copy (or were reset, as agreed).
      assertCompressed(await wsxToWs(pair, payload), "JSON from wsx, again");
      assertCompressed(await wsToWsx(pair, payload), "JSON from ws, again");
      assert.deepEqual(pair.peer.errors, []);
    });

    test("1 MiB of random binary arrives intact both ways", T, async () => {
      const pair = await setup.open();
      const payload: Payload = { type: "binary", data: RANDOM_1M };
      const out = await wsxToWs(pair, payload);
      assert.ok(out.length >= 1 && out[0]!.opcode === 2, "binary message from wsx on the wire");
      assertCompressed(await wsToWsx(pair, payload), "random from ws");
      // Then something compressible, on contexts that have just seen 1 MiB of noise.
      assertCompressed(await wsxToWs(pair, { type: "text", data: JSON_64K }), "JSON from wsx after random");
      assertCompressed(await wsToWsx(pair, { type: "text", data: JSON_64K }), "JSON from ws after random");
      assert.deepEqual(pair.peer.errors, []);
    });

    test("the same message twice: the context is kept or reset as agreed", T, async () => {
      const pair = await setup.open();
      const { takeover, windowBits } = wsxDeflate(pair, setup);
      const payload: Payload = { type: "text", data: jsonText(4 * KiB, 7) };
      const first = assertCompressed(await wsxToWs(pair, payload), "first copy from wsx");
      const second = assertCompressed(await wsxToWs(pair, payload), "second copy from wsx");
      if (!takeover) {
        // A fresh context for each message: the same input deflates to the same bytes.
        assert.equal(second.length, first.length, "second copy compressed from a fresh context");
      } else if (2 ** windowBits >= 2 * Buffer.byteLength(payload.data)) {
        // With the first copy in its window, the second is mostly back-references to it.
        assert.ok(second.length < first.length / 2, `second copy ${second.length} bytes vs first ${first.length}`);
      }
      assertCompressed(await wsToWsx(pair, payload), "first copy from ws");
      assertCompressed(await wsToWsx(pair, payload), "second copy from ws");
      assert.deepEqual(pair.peer.errors, []);
    });

    test("many messages in a row, both ways at once, stay in order and in sync", T, async () => {
      const pair = await setup.open();
      const COUNT = 300;
      // Mixed sizes and types, some under the threshold, some sent uncompressed on purpose:
      // messages that skip the compressor must not disturb either context.
      const messages: Array<{ payload: Payload; compress?: boolean }> = [];
      for (let i = 0; i < COUNT; i++) {
        const kind = i % 6;
        if (kind === 0) messages.push({ payload: { type: "text", data: `#${i}` } });
        else if (kind === 1) messages.push({ payload: { type: "binary", data: Buffer.from(jsonText(900 + i * 3, i)) } });
        else if (kind === 2) messages.push({ payload: { type: "text", data: jsonText(2 * KiB, i % 5) }, compress: false });
        else if (kind === 3) messages.push({ payload: { type: "binary", data: randomBytes(900 + i) } });
        else messages.push({ payload: { type: "text", data: jsonText(600 + (i % 50) * 40, i) } });
      }
      const sends: Array<Promise<void>> = [];
      for (const { payload, compress } of messages) {
        sends.push(pair.wsx.send(payload.data, compress === undefined ? undefined : { compress }));
        pair.ws.send(payload.data, {
          binary: payload.type === "binary",
          ...(compress === undefined ? {} : { compress }),
        });
      }
      for (let i = 0; i < COUNT; i++) {
        const { payload } = messages[i]!;
        const atWs = await deadline(pair.peer.messages.next(), 10_000, `message ${i} at ws`);
        assert.equal(atWs.isBinary, payload.type === "binary", `type of message ${i} at ws`);
        assertBytes(atWs.data, wsBytes(payload), `message ${i} at ws`);
        const atWsx = await pair.wsx.receive({ timeout: 10_000 });
        assert.equal(atWsx.type, payload.type, `type of message ${i} at wsx`);
        assertBytes(atWsx.bytes, wsBytes(payload), `message ${i} at wsx`);
      }
      await Promise.all(sends);
      const wire = pair.fromWsx.takeData();
      assert.equal(wire.length, COUNT, "one frame per message from wsx");
      assert.equal(pair.fromWs.takeData().length, COUNT, "one frame per message from ws");
      // wsx compresses exactly what reaches the threshold and was not opted out.
      messages.forEach(({ payload, compress }, i) => {
        const size = wsBytes(payload).length;
        const expected = compress !== false && size >= DEFAULT_THRESHOLD ? RSV1 : 0;
        assert.equal(wire[i]!.rsv, expected, `RSV1 of message ${i} from wsx (${size} bytes, compress: ${String(compress)})`);
      });
      const compressed = wire.filter((frame) => frame.rsv === RSV1).length;
      assert.ok(compressed > COUNT / 4 && compressed < COUNT - COUNT / 4, `a mix of compressed (${compressed}) and plain messages`);
      // Both connections still work afterwards.
      assertCompressed(await wsxToWs(pair, { type: "text", data: JSON_64K }), "JSON from wsx afterwards");
      assertCompressed(await wsToWsx(pair, { type: "text", data: JSON_64K }), "JSON from ws afterwards");
      assert.deepEqual(pair.peer.errors, []);
    });

    test("fragmented compressed messages from ws (fin: false pieces)", T, async () => {
      const pair = await setup.open();
      const text = JSON_64K;
      // ws compresses the message or not by its first piece (against its threshold when it resets its context),
      // so that one is large enough; an empty piece comes later.
      const bounds = [0, 2000, 2000, 9000, 30_001, 50_000, text.length];
      for (let i = 0; i + 1 < bounds.length; i++) {
        pair.ws.send(text.slice(bounds[i], bounds[i + 1]), { fin: i + 2 === bounds.length, compress: true });
      }
      const got = await pair.wsx.receive({ timeout: 10_000 });
      assert.equal(got.type, "text");
      assert.equal(got.text, text, "reassembled and inflated text");
      const frames = pair.fromWs.takeData();
      assert.equal(frames.length, bounds.length - 1, "one frame per piece");
      assertFragments(frames, 1, true, "text pieces from ws");

      const binary = Buffer.from(jsonText(200 * KiB, 3));
      const pieces = [binary.subarray(0, 70_000), binary.subarray(70_000, 70_000), binary.subarray(70_000)];
      pieces.forEach((piece, i) => pair.ws.send(piece, { binary: true, fin: i === pieces.length - 1, compress: true }));
      const bin = await pair.wsx.receive({ timeout: 10_000 });
      assert.equal(bin.type, "binary");
      assertBytes(bin.bytes, binary, "reassembled and inflated binary");
      assertFragments(pair.fromWs.takeData(), 2, true, "binary pieces from ws");

      // The context carries on across fragmented messages.
      assertCompressed(await wsToWsx(pair, { type: "text", data: JSON_64K }), "JSON from ws afterwards");
      assert.deepEqual(pair.peer.errors, []);
    });

    test("fragmented compressed messages from wsx (sendFragmented)", T, async () => {
      const pair = await setup.open();
      await pair.wsx.sendFragmented(JSON_64K, { fragmentSize: 1000 });
      const got = await deadline(pair.peer.messages.next(), 10_000, "fragmented text at ws");
      assert.equal(got.isBinary, false);
      assert.equal(got.data.toString("utf8"), JSON_64K, "fragmented text at ws");
      const frames = pair.fromWsx.takeData();
      assertFragments(frames, 1, true, "sendFragmented text from wsx");
      assert.ok(frames.slice(0, -1).every((frame) => frame.length === 1000), "fragments of fragmentSize compressed bytes");
      const total = frames.reduce((sum, frame) => sum + frame.length, 0);
      assert.ok(total < JSON_64K.length / 3, `compressed to ${total} bytes`);

      const binary = Buffer.from(jsonText(128 * KiB, 5));
      await pair.wsx.sendFragmented(binary, { fragmentSize: 4096, compress: true });
      const bin = await deadline(pair.peer.messages.next(), 10_000, "fragmented binary at ws");
      assert.equal(bin.isBinary, true);
      assertBytes(bin.data, binary, "fragmented binary at ws");
      assertFragments(pair.fromWsx.takeData(), 2, true, "sendFragmented binary from wsx");

      // Uncompressed on request: every fragment plain, the sizes as given.
      await pair.wsx.sendFragmented(JSON_64K, { fragmentSize: 16 * KiB, compress: false });
      const plain = await deadline(pair.peer.messages.next(), 10_000, "uncompressed fragments at ws");
      assert.equal(plain.data.toString("utf8"), JSON_64K);
      const plainFrames = pair.fromWsx.takeData();
      assertFragments(plainFrames, 1, false, "sendFragmented compress: false");
      assert.equal(plainFrames.length, Math.ceil(JSON_64K.length / (16 * KiB)));

      assertCompressed(await wsxToWs(pair, { type: "text", data: JSON_64K }), "JSON from wsx afterwards");
      assert.deepEqual(pair.peer.errors, []);
    });

    test("send(data, { compress: false }) goes as it is, both ways, and later messages still inflate", T, async () => {
      const pair = await setup.open();
      const text: Payload = { type: "text", data: JSON_64K };
      const binary: Payload = { type: "binary", data: Buffer.from(jsonText(10 * KiB, 9)) };
      assertPlain(await wsxToWs(pair, text, { compress: false }), "text from wsx, compress: false", Buffer.byteLength(JSON_64K));
      assertPlain(await wsxToWs(pair, binary, { compress: false }), "binary from wsx, compress: false", binary.data.length);
      assertPlain(await wsToWsx(pair, text, { compress: false }), "text from ws, compress: false", Buffer.byteLength(JSON_64K));
      assertPlain(await wsToWsx(pair, binary, { compress: false }), "binary from ws, compress: false", binary.data.length);
      // compress: true is the default behaviour, spelled out.
      assertCompressed(await wsxToWs(pair, text, { compress: true }), "text from wsx, compress: true");
      assertCompressed(await wsxToWs(pair, binary), "binary from wsx");
      assertCompressed(await wsToWsx(pair, text), "text from ws");
      assert.deepEqual(pair.peer.errors, []);
    });
  });
}

// ---- wsx's own options ----

describe("permessage-deflate: wsx options against ws", () => {
  test("threshold: 0 compresses everything, the empty message as a single 0x00 byte", T, async () => {
    const pair = await wsClientToWsx(true, { compression: { threshold: 0 } });
    const empty = assertCompressed(await wsxToWs(pair, { type: "text", data: "" }), "empty text from wsx");
    assert.equal(empty.length, 1, "RFC 7692 7.2.3.6: an empty message compresses to one byte");
    assertCompressed(await wsxToWs(pair, { type: "binary", data: new Uint8Array(0) }), "empty binary from wsx");
    assertCompressed(await wsxToWs(pair, { type: "text", data: SMALL }), "small text from wsx");
    assertCompressed(await wsxToWs(pair, { type: "text", data: JSON_64K }), "JSON from wsx");
    assert.deepEqual(pair.peer.errors, []);
  });

  test("threshold: Infinity never compresses, yet inflates what ws sends", T, async () => {
    const pair = await wsxClientToWs(true, { compression: { threshold: Infinity } });
    deflateAgreement(pair.wsx.extensions, "wsx");
    assertPlain(await wsxToWs(pair, { type: "text", data: JSON_64K }), "JSON from wsx");
    assertCompressed(await wsToWsx(pair, { type: "text", data: JSON_64K }), "JSON from ws");
  });

  test("level 9 and memLevel 9 interoperate", T, async () => {
    const pair = await wsxClientToWs(true, { compression: { level: 9, memLevel: 9 } });
    assertCompressed(await wsxToWs(pair, { type: "text", data: JSON_64K }), "JSON from wsx");
    await wsxToWs(pair, { type: "binary", data: RANDOM_1M });
    assertCompressed(await wsxToWs(pair, { type: "text", data: JSON_64K }), "JSON from wsx, again");
  });
});

// ---- edge cases ----

describe("permessage-deflate: edge cases against ws", () => {
  test("a ping between the fragments of a compressed message from ws", T, async () => {
    const pair = await wsClientToWsx(true);
    const pings = new Inbox<Uint8Array>();
    pair.wsx.on("ping", (payload) => pings.push(payload));
    pair.ws.send(JSON_64K.slice(0, 30_000), { fin: false, compress: true });
    pair.ws.ping("between");
    pair.ws.send(JSON_64K.slice(30_000), { fin: true, compress: true });
    const got = await pair.wsx.receive({ timeout: 10_000 });
    assert.equal(got.text, JSON_64K);
    assert.equal(Buffer.from(await deadline(pings.next(), 5000, "ping at wsx")).toString(), "between");
    assert.equal((await deadline(pair.peer.pongs.next(), 5000, "pong at ws")).toString(), "between");
    const order = pair.fromWs.frames.map((frame) => `${frame.opcode}${frame.rsv === RSV1 ? "c" : ""}${frame.fin ? "" : "+"}`);
    assert.deepEqual(order, ["1c+", "9", "0"], "first fragment, ping, last fragment on the wire");
  });

  test("a character split between the fragments of a compressed text message from ws", T, async () => {
    const pair = await wsClientToWsx(true);
    const bytes = Buffer.from("aé漢😀".repeat(300));
    const cut = bytes.indexOf(Buffer.from("😀")) + 2; // inside a 4-byte character
    pair.ws.send(bytes.subarray(0, cut), { binary: false, fin: false, compress: true });
    pair.ws.send(bytes.subarray(cut), { binary: false, fin: true, compress: true });
    const got = await pair.wsx.receive({ timeout: 10_000 });
    assert.equal(got.type, "text");
    assertBytes(got.bytes, bytes, "text reassembled across the cut");
    assertFragments(pair.fromWs.takeData(), 1, true, "text pieces from ws");
  });

  test("invalid UTF-8 inside a compressed text message: wsx closes with 1007", T, async () => {
    const pair = await wsClientToWsx(true);
    const bytes = Buffer.from(jsonText(4 * KiB));
    bytes[2000] = 0xff;
    pair.ws.send(bytes, { binary: false });
    const closed = await deadline(pair.peer.closed, 10_000, "ws closed");
    assert.equal(closed.code, 1007);
    const info = await deadline(pair.wsx.closed, 10_000, "wsx closed");
    assert.equal((info.error as { code?: string } | undefined)?.code, "INVALID_UTF8");
    assert.equal(pair.fromWs.takeData()[0]?.rsv, RSV1, "it travelled compressed");
  });

  test("a streamed message from wsx arrives whole, and compression carries on after it", T, async () => {
    const pair = await wsxClientToWs(true);
    await pair.wsx.send(
      (async function* () {
        yield JSON_64K.slice(0, 10_000);
        yield JSON_64K.slice(10_000, 40_000);
        yield JSON_64K.slice(40_000);
      })(),
    );
    const got = await deadline(pair.peer.messages.next(), 10_000, "streamed message at ws");
    assert.equal(got.isBinary, false);
    assert.equal(got.data.toString("utf8"), JSON_64K);
    const frames = pair.fromWsx.takeData();
    assert.equal(frames.length, 3, "one frame per piece");
    // RFC 7692 lets a sender leave any message uncompressed; either way only the first frame may carry RSV1.
    assert.ok(frames.slice(1).every((frame) => frame.rsv === 0), "no RSV1 on continuations");
    assertCompressed(await wsxToWs(pair, { type: "text", data: JSON_64K }), "JSON from wsx after the stream");
    assertCompressed(await wsToWsx(pair, { type: "text", data: JSON_64K }), "JSON from ws after the stream");
  });

  test("frame delivery: a compressed fragmented message comes as one whole frame, a plain one frame by frame", T, async () => {
    const pair = await wsClientToWsx(true);
    pair.wsx.setDelivery("frames");
    pair.ws.send(JSON_64K.slice(0, 20_000), { fin: false, compress: true });
    pair.ws.send(JSON_64K.slice(20_000), { fin: true, compress: true });
    const whole = await pair.wsx.receiveFrame({ timeout: 10_000 });
    assert.equal(whole.fin, true, "decoded at its end, delivered whole");
    assert.equal(whole.opcode, 1);
    assert.equal(Buffer.from(whole.payload).toString("utf8"), JSON_64K);
    assert.equal(whole.text, JSON_64K);
    pair.ws.send(JSON_64K.slice(0, 20_000), { fin: false, compress: false });
    pair.ws.send(JSON_64K.slice(20_000), { fin: true, compress: false });
    const first = await pair.wsx.receiveFrame({ timeout: 10_000 });
    const last = await pair.wsx.receiveFrame({ timeout: 10_000 });
    assert.deepEqual([first.fin, first.length, last.fin, last.length], [false, 20_000, true, JSON_64K.length - 20_000]);
  });

  test("maxFrameSize: wsx fragments compressed output to it, and refuses a larger compressed frame (1009)", T, async () => {
    const pair = await wsxClientToWs(true, { compression: true, maxFrameSize: 16 * KiB });
    await pair.wsx.send(RANDOM_1M);
    const got = await deadline(pair.peer.messages.next(), 10_000, "1 MiB at ws");
    assertBytes(got.data, RANDOM_1M, "1 MiB at ws");
    const frames = pair.fromWsx.takeData();
    assertFragments(frames, 2, true, "1 MiB from wsx");
    assert.ok(frames.every((frame) => frame.length <= 16 * KiB), "no frame over maxFrameSize");
    // 64 KiB of JSON compresses well under 16 KiB: accepted.
    assertCompressed(await wsToWsx(pair, { type: "text", data: JSON_64K }), "JSON from ws");
    // 1 MiB of noise stays about 1 MiB compressed: one frame over the limit.
    pair.ws.send(RANDOM_1M);
    const closed = await deadline(pair.peer.closed, 10_000, "ws closed");
    assert.equal(closed.code, 1009);
  });

  test("several connections at once keep their contexts apart", T, async () => {
    const server = await startWsxServer({ compression: true });
    const pairs: Pair[] = [];
    for (let i = 0; i < 8; i++) pairs.push(await wsClientToWsx(i % 2 === 0 ? true : { clientNoContextTakeover: true }, undefined, server));
    const ROUNDS = 20;
    await Promise.all(
      pairs.map(async (pair, c) => {
        for (let r = 0; r < ROUNDS; r++) pair.ws.send(jsonText(2 * KiB, c * 1000 + r));
        for (let r = 0; r < ROUNDS; r++) {
          const message = await pair.wsx.receive({ timeout: 10_000 });
          assert.equal(message.text, jsonText(2 * KiB, c * 1000 + r), `client ${c}, message ${r} at wsx`);
          await pair.wsx.send(message);
        }
        for (let r = 0; r < ROUNDS; r++) {
          const echo = await deadline(pair.peer.messages.next(), 10_000, "echo");
          assert.equal(echo.data.toString("utf8"), jsonText(2 * KiB, c * 1000 + r), `client ${c}, echo ${r} at ws`);
        }
      }),
    );
    for (const pair of pairs) {
      assert.ok(pair.fromWsx.takeData().every((frame) => frame.rsv === RSV1), "echoes compressed");
      assert.deepEqual(pair.peer.errors, []);
    }
  });

  test("a burst of compressed messages then close: everything arrives before the close, both ways", T, async () => {
    const pair = await wsxClientToWs(true);
    const texts = Array.from({ length: 50 }, (_, i) => jsonText(1500 + i * 10, i));
    for (const text of texts) void pair.wsx.send(text);
    const closing = pair.wsx.close(1000, "done");
    for (const [i, text] of texts.entries()) {
      const got = await deadline(pair.peer.messages.next(), 10_000, `message ${i} at ws`);
      assert.equal(got.data.toString("utf8"), text, `message ${i} at ws`);
    }
    assert.deepEqual(await deadline(pair.peer.closed, 10_000, "ws closed"), { code: 1000, reason: "done" });
    assert.equal((await closing).wasClean, true);

    const other = await wsClientToWsx(true);
    for (const text of texts) other.ws.send(text);
    other.ws.close(1000, "done too");
    for (const [i, text] of texts.entries()) {
      const got = await other.wsx.receive({ timeout: 10_000 });
      assert.equal(got.text, text, `message ${i} at wsx`);
    }
    const info = await deadline(other.wsx.closed, 10_000, "wsx closed");
    assert.deepEqual([info.code, info.reason, info.wasClean], [1000, "done too", true]);
  });

  test("zlib contexts are released when connections end: closed, terminated, failed", T, async () => {
    // Contexts of directions without context takeover are shared per setting and outlive connections.
    const privateContexts = (): number => liveZlibContexts() - sharedZlibContexts();
    const settle = (what: string): Promise<void> => eventually(() => privateContexts() === 0, what, 250, 20);
    await settle("no zlib context left over from earlier tests");
    const server = await startWsxServer({ compression: true, maxMessageSize: MiB });
    const pairs = [
      await wsClientToWsx(true, undefined, server),
      await wsClientToWsx(true, undefined, server),
      await wsClientToWsx({ serverNoContextTakeover: true }, undefined, server),
      await wsxClientToWs(true),
      await wsxClientToWs(true, { compression: true, maxMessageSize: MiB }),
      await wsClientToWsx(true, undefined, server),
    ];
    for (const pair of pairs) {
      await wsxToWs(pair, { type: "text", data: JSON_64K });
      await wsToWsx(pair, { type: "text", data: JSON_64K });
    }
    // One pair has server_no_context_takeover: its server compresses with the shared context.
    assert.equal(privateContexts(), 2 * pairs.length - 1, "a compressor and a decompressor per connection in use");
    const [closedByWsx, closedByWs, terminatedByWsx, terminatedByWs, bombedClient, bombedServer] = pairs as [Pair, Pair, Pair, Pair, Pair, Pair];
    await closedByWsx.wsx.close(1000);
    closedByWs.ws.close(1000);
    terminatedByWsx.wsx.terminate();
    terminatedByWs.ws.terminate();
    bombedClient.ws.send(Buffer.alloc(16 * MiB));
    bombedServer.ws.send(Buffer.alloc(16 * MiB));
    assert.equal((await deadline(bombedClient.peer.closed, 10_000, "bombed client")).code, 1009);
    assert.equal((await deadline(bombedServer.peer.closed, 10_000, "bombed server connection")).code, 1009);
    await settle("every zlib context released");
  });
});

// ---- not negotiated ----

describe("permessage-deflate: not negotiated", () => {
  test("ws client without perMessageDeflate -> wsx server with compression", T, async () => {
    const pair = await wsClientToWsx(false);
    assert.equal(pair.wsx.extensions, "");
    assert.equal(pair.ws.extensions, "");
    assertPlain(await wsxToWs(pair, { type: "text", data: JSON_64K }), "JSON from wsx");
    assertPlain(await wsToWsx(pair, { type: "text", data: JSON_64K }), "JSON from ws");
  });

  test("ws client offering -> wsx server without compression", T, async () => {
    const pair = await wsClientToWsx(true, {});
    assert.equal(pair.wsx.extensions, "");
    assert.equal(pair.ws.extensions, "");
    assert.equal(pair.wsResponseHeader, "");
    assertPlain(await wsxToWs(pair, { type: "text", data: JSON_64K }), "JSON from wsx");
    assertPlain(await wsToWsx(pair, { type: "text", data: JSON_64K }), "JSON from ws");
  });

  test("wsx client with compression -> ws server without perMessageDeflate", T, async () => {
    const pair = await wsxClientToWs(false);
    assert.equal(pair.wsx.extensions, "");
    assert.equal(pair.ws.extensions, "");
    assertPlain(await wsxToWs(pair, { type: "text", data: JSON_64K }), "JSON from wsx");
    assertPlain(await wsToWsx(pair, { type: "text", data: JSON_64K }), "JSON from ws");
  });

  test("wsx client without compression -> ws server with perMessageDeflate", T, async () => {
    const pair = await wsxClientToWs(true, {});
    assert.equal(pair.wsx.extensions, "");
    assert.equal(pair.ws.extensions, "");
    assertPlain(await wsxToWs(pair, { type: "text", data: JSON_64K }), "JSON from wsx");
    assertPlain(await wsToWsx(pair, { type: "text", data: JSON_64K }), "JSON from ws");
  });
});

// ---- decompression bombs and the size limit ----

describe("permessage-deflate: maxMessageSize applies to the inflated message", () => {
  const LIMIT = MiB;

  test("a 16 MiB bomb of zeros from a ws client: close 1009, and the wsx server carries on", T, async () => {
    const server = await startWsxServer({ compression: true, maxMessageSize: LIMIT });
    const bomber = await wsClientToWsx(true, undefined, server);
    bomber.ws.send(Buffer.alloc(16 * MiB), { binary: true });
    const closed = await deadline(bomber.peer.closed, 10_000, "ws client closed");
    assert.equal(closed.code, 1009, "ws client sees 1009");
    const info = await deadline(bomber.wsx.closed, 10_000, "wsx side closed");
    assert.equal((info.error as { code?: string } | undefined)?.code, "MESSAGE_TOO_BIG", "wsx reports why");
    // On the wire it was small: the limit held on the inflated size, not the frame's.
    const wire = bomber.fromWs.takeData();
    assert.equal(wire[0]?.rsv, RSV1, "the bomb travelled compressed");
    assert.ok(wire.reduce((sum, frame) => sum + frame.length, 0) < LIMIT, "the bomb was small on the wire");

    // Same process, same server: the next client is served as usual.
    const next = await wsClientToWsx(true, undefined, server);
    assertCompressed(await wsToWsx(next, { type: "text", data: JSON_64K }), "JSON from the next client");
    assertCompressed(await wsxToWs(next, { type: "text", data: JSON_64K }), "JSON to the next client");
  });

  test("a fragmented bomb (16 x 1 MiB of zeros) from a ws client: close 1009", T, async () => {
    const server = await startWsxServer({ compression: true, maxMessageSize: LIMIT });
    const bomber = await wsClientToWsx(true, undefined, server);
    const zeros = Buffer.alloc(MiB);
    for (let i = 0; i < 16; i++) bomber.ws.send(zeros, { binary: true, fin: i === 15, compress: true });
    const closed = await deadline(bomber.peer.closed, 10_000, "ws client closed");
    assert.equal(closed.code, 1009, "ws client sees 1009");
    const next = await wsClientToWsx(true, undefined, server);
    assertCompressed(await wsToWsx(next, { type: "text", data: JSON_64K }), "JSON from the next client");
  });

  test("exactly maxMessageSize inflated is delivered, one byte more is 1009", T, async () => {
    const server = await startWsxServer({ compression: true, maxMessageSize: LIMIT });
    const pair = await wsClientToWsx(true, undefined, server);
    assertCompressed(await wsToWsx(pair, { type: "binary", data: Buffer.alloc(LIMIT, 0x61) }), "exactly the limit");
    assertCompressed(await wsToWsx(pair, { type: "text", data: "a".repeat(LIMIT) }), "exactly the limit, as text");
    pair.ws.send(Buffer.alloc(LIMIT + 1, 0x61), { binary: true });
    const closed = await deadline(pair.peer.closed, 10_000, "ws client closed");
    assert.equal(closed.code, 1009, "one byte over: 1009");
  });

  test("a 16 MiB bomb from a ws server to a wsx client: the wsx client closes with 1009", T, async () => {
    const pair = await wsxClientToWs(true, { compression: true, maxMessageSize: LIMIT });
    pair.ws.send(Buffer.alloc(16 * MiB), { binary: true });
    const closed = await deadline(pair.peer.closed, 10_000, "ws server side closed");
    assert.equal(closed.code, 1009, "ws server sees 1009");
    const info = await deadline(pair.wsx.closed, 10_000, "wsx client closed");
    assert.equal((info.error as { code?: string } | undefined)?.code, "MESSAGE_TOO_BIG");
  });
});
