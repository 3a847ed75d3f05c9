/**
 * A real browser against wsx: headless Chromium (Debian's package, driven by
 * playwright-core) loads a page from a node:http server and opens a
 * WebSocket to a wsx server attached with `handleUpgrade` and
 * `compression: true`. Chromium always offers permessage-deflate (with
 * client_max_window_bits) and compresses every message, so this checks
 * wsx's inflater and deflater against an independent implementation.
 *
 * The WebSocket goes through a frame-recording proxy so the test sees which
 * frames travelled compressed. The page reports back through page.evaluate.
 * Skipped when /usr/bin/chromium is missing (.ci/run installs it).
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { createServer, type Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { Browser } from "playwright-core";
import { WebSocketServer, type CloseInfo, type Message, type WebSocket } from "../../src/index.js";
import { CHROMIUM_MISSING, chromiumAvailable, launchChromium } from "../helpers/chromium.js";
import { deadline } from "../helpers/net.js";
import { RSV1, tapProxy, type TapProxy, type WireFrame } from "../helpers/wire-tap.js";

const available = chromiumAvailable;
const CLOSE_REASON = "bye from chromium ✓";

/**
 * The page: `window.exchange(url, cases)` opens the WebSocket, sends each
 * case and waits for its echo, then a burst sent without waiting, then
 * closes with 4000; it resolves with what the browser saw. Bytes travel
 * through evaluate as base64.
 */
const PAGE = `<!doctype html>
<html>
<head><meta charset="utf-8"><title>wsx browser test</title></head>
<body>
<script>
function toBase64(buffer) {
  const bytes = new Uint8Array(buffer);
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}
function fromBase64(text) {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}
function describe(data) {
  return typeof data === "string" ? { type: "text", text: data } : { type: "binary", base64: toBase64(data) };
}
window.exchange = async function (url, cases, burst) {
  const ws = new WebSocket(url);
  ws.binaryType = "arraybuffer";
  const inbox = [];
  const waiters = [];
  let failure = null;
  ws.onmessage = (event) => {
    const waiter = waiters.shift();
    if (waiter) waiter.resolve(event.data);
    else inbox.push(event.data);
  };
  const closed = new Promise((resolve) => {
    ws.onclose = (event) => {
      failure = failure || new Error("closed: " + event.code);
      for (const waiter of waiters.splice(0)) waiter.reject(failure);
      resolve({ code: event.code, reason: event.reason, wasClean: event.wasClean });
    };
  });
  const next = () =>
    inbox.length > 0
      ? Promise.resolve(inbox.shift())
      : failure
        ? Promise.reject(failure)
        : new Promise((resolve, reject) => waiters.push({ resolve, reject }));
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = () => reject(new Error("WebSocket error before open"));
  });
  const result = { extensions: ws.extensions, echoes: [], burst: [], close: null };
  for (const item of cases) {
    ws.send(item.type === "text" ? item.text : fromBase64(item.base64));
    result.echoes.push(describe(await next()));
  }
  // A burst sent without waiting: the contexts must stay in step across messages.
  for (const text of burst) ws.send(text);
  for (let i = 0; i < burst.length; i++) {
    const data = await next();
    result.burst.push(typeof data === "string" ? data : "(binary)");
  }
  ws.close(4000, ${JSON.stringify(CLOSE_REASON)});
  result.close = await closed;
  return result;
};
</script>
</body>
</html>`;

type Case = { name: string; type: "text"; text: string } | { name: string; type: "binary"; base64: string };

interface PageResult {
  extensions: string;
  echoes: Array<{ type: "text"; text: string } | { type: "binary"; base64: string }>;
  burst: string[];
  close: { code: number; reason: string; wasClean: boolean };
}

/** What the page defines on its window. */
interface PageGlobals {
  exchange(url: string, cases: readonly Case[], burst: readonly string[]): Promise<PageResult>;
}

/** Text that compresses like real traffic: about `bytes` bytes of JSON records. */
function jsonText(bytes: number, seed: number): string {
  const records: string[] = [];
  let size = 2;
  for (let i = 0; size < bytes; i++) {
    const record = JSON.stringify({ id: seed * 10_000 + i, user: `user-${(i * 7919 + seed) % 10_007}`, ok: i % 3 !== 0, note: "é漢😀" });
    records.push(record);
    size += Buffer.byteLength(record) + 1;
  }
  return `[${records.join(",")}]`;
}

const CASES: Case[] = [
  { name: "small text", type: "text", text: "hello from chromium, ünïcødé ✓ 😀" },
  { name: "small binary", type: "binary", base64: Buffer.from([0, 1, 2, 0x7f, 0x80, 0xfe, 0xff]).toString("base64") },
  { name: "empty text", type: "text", text: "" },
  { name: "100 KB text", type: "text", text: jsonText(100_000, 1) },
  { name: "100 KB binary (random)", type: "binary", base64: randomBytes(100_000).toString("base64") },
  { name: "100 KB binary (compressible)", type: "binary", base64: Buffer.from(jsonText(100_000, 2)).toString("base64") },
  { name: "100 KB text again", type: "text", text: jsonText(100_000, 1) },
];
const BURST = Array.from({ length: 40 }, (_, i) => (i % 4 === 0 ? `short ${i}` : jsonText(1500 + i * 50, i)));

function caseBytes(item: Case): Buffer {
  return item.type === "text" ? Buffer.from(item.text, "utf8") : Buffer.from(item.base64, "base64");
}

// ---- fixtures: one HTTP server for the page and the upgrade, a proxy for the WebSocket, one browser ----

let http: HttpServer | undefined;
let wss: WebSocketServer | undefined;
let proxy: TapProxy | undefined;
let browser: Browser | undefined;
let httpPort = 0;

interface ServerSide {
  ws: WebSocket;
  offered: string | undefined;
  received: Message[];
  closed: Promise<CloseInfo>;
}
const connections: ServerSide[] = [];

before(async () => {
  if (!available) return;
  // Echo everything; keep what arrived for the test to check.
  wss = new WebSocketServer({ compression: true, maxMessageSize: 4 * 1024 * 1024 }, async (ws, request) => {
    const side: ServerSide = { ws, offered: request.headers["sec-websocket-extensions"], received: [], closed: ws.closed };
    connections.push(side);
    for await (const message of ws) {
      side.received.push(message);
      await ws.send(message);
    }
  });
  http = createServer((request, response) => {
    if (request.url === "/") response.writeHead(200, { "Content-Type": "text/html; charset=utf-8" }).end(PAGE);
    else response.writeHead(404).end();
  });
  http.on("upgrade", wss.handleUpgrade);
  await new Promise<void>((resolve, reject) => {
    http!.once("error", reject);
    http!.listen(0, "127.0.0.1", () => resolve());
  });
  httpPort = (http.address() as AddressInfo).port;
  proxy = await tapProxy(httpPort);
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  for (const side of connections) side.ws.terminate();
  await proxy?.close();
  await wss?.close();
  if (http !== undefined) {
    http.closeAllConnections();
    await new Promise<void>((resolve) => http!.close(() => resolve()));
  }
});

function dataFrames(frames: WireFrame[]): WireFrame[] {
  return frames.filter((frame) => frame.opcode <= 2);
}

test("Chromium <-> wsx with permessage-deflate: text and binary echo intact, close 4000 reaches the server", { timeout: 30_000 }, async (t) => {
  if (!available) {
    t.skip(CHROMIUM_MISSING);
    return;
  }
  const page = await browser!.newPage();
  try {
    await page.goto(`http://127.0.0.1:${httpPort}/`, { timeout: 10_000 });
    const url = `ws://127.0.0.1:${proxy!.port}/echo`;
    const result = (await deadline(
      page.evaluate(([url, cases, burst]) => (globalThis as unknown as PageGlobals).exchange(url, cases, burst), [url, CASES, BURST] as const),
      20_000,
      "the page's exchange",
    )) as PageResult;

    // Negotiation, seen from both ends.
    assert.equal(connections.length, 1, "one WebSocket connection");
    const side = connections[0]!;
    t.diagnostic(`${await browser!.version()} offered "${side.offered}", wsx answered "${side.ws.extensions}"`);
    assert.match(side.offered ?? "", /permessage-deflate/, "Chromium offered permessage-deflate");
    assert.match(side.ws.extensions, /^permessage-deflate(;|$)/, `server negotiated: ${side.ws.extensions}`);
    assert.match(result.extensions, /^permessage-deflate(;|$)/, `browser sees: ${result.extensions}`);

    // Browser -> server: every message intact and in order.
    const expected = [...CASES.map((item) => ({ type: item.type, bytes: caseBytes(item) })), ...BURST.map((text) => ({ type: "text", bytes: Buffer.from(text) }))];
    assert.equal(side.received.length, expected.length, "messages the server received");
    side.received.forEach((message, i) => {
      assert.equal(message.type, expected[i]!.type, `type of message ${i} at the server`);
      assert.ok(Buffer.from(message.bytes).equals(expected[i]!.bytes), `bytes of message ${i} at the server`);
    });

    // Server -> browser: every echo intact.
    assert.equal(result.echoes.length, CASES.length);
    CASES.forEach((item, i) => {
      const echo = result.echoes[i]!;
      assert.equal(echo.type, item.type, `type of the echo of ${item.name}`);
      if (echo.type === "text") assert.equal(echo.text, (item as { text: string }).text, `echo of ${item.name}`);
      else assert.equal(echo.base64, (item as { base64: string }).base64, `echo of ${item.name}`);
    });
    assert.deepEqual(result.burst, BURST, "the burst echoed in order");

    // The close: 4000 and its reason reach the server, the browser sees the echo.
    const info = await deadline(side.closed, 5000, "server side closed");
    assert.equal(info.code, 4000, "close code at the server");
    assert.equal(info.reason, CLOSE_REASON, "close reason at the server");
    assert.equal(info.wasClean, true, "clean close at the server");
    assert.equal(result.close.code, 4000, "close code the browser reports");
    assert.equal(result.close.wasClean, true, "clean close in the browser");

    // On the wire: both directions really compressed.
    const tapped = await proxy!.next();
    const up = dataFrames(tapped.up.frames);
    const down = dataFrames(tapped.down.frames);
    assert.equal(up.length, expected.length, "one frame per message from Chromium");
    assert.equal(down.length, expected.length, "one frame per message from wsx");
    const big = CASES.findIndex((item) => item.name === "100 KB text");
    assert.equal(up[big]!.rsv, RSV1, "Chromium compressed the 100 KB text");
    assert.equal(down[big]!.rsv, RSV1, "wsx compressed its echo of the 100 KB text");
    assert.ok(down[big]!.length < 50_000, `wsx's echo of 100 KB text is ${down[big]!.length} bytes on the wire`);
    assert.equal(down[0]!.rsv, 0, "wsx sends a small message uncompressed");
    assert.ok(up.every((frame) => frame.masked) && down.every((frame) => !frame.masked), "masking by role");
  } finally {
    await page.close();
  }
});
