/**
 * Differential tests: every scenario of scenarios.ts runs in headless
 * Chromium's own WebSocket / WebSocketStream, on Node's WebSocket (undici)
 * and on wsx/web, against the same wsx server. wsx/web's log (events, their
 * order and fields, attributes, exception names, what the server received)
 * must equal Chromium's, except where Chromium departs from the standard:
 * those places are listed in STANDARD_OVER_CHROMIUM, with why. undici's
 * differences are reported as diagnostics (it is a peer, not the reference).
 * Skipped when /usr/bin/chromium is missing (.ci/run installs it).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { WebSocket as UndiciWebSocket, WebSocketError as UndiciWebSocketError, WebSocketStream as UndiciWebSocketStream } from "undici";
import { WebSocket, WebSocketError, WebSocketStream } from "../../src/web/index.js";
import { deadline } from "../helpers/net.js";
import { CHROMIUM_MISSING, chromiumAvailable } from "../helpers/chromium.js";
import { inPage, startBrowser, startScenarioServer, type BrowserPeer, type ScenarioServer } from "./peer.js";
import { SCENARIOS, STREAM_SCENARIOS, runScenario, runStreamScenario, scenarioTools } from "./scenarios.js";

let server: ScenarioServer;
let chrome: BrowserPeer | undefined;

before(async () => {
  server = await startScenarioServer();
  if (chromiumAvailable) chrome = await startBrowser();
});

after(async () => {
  await chrome?.close();
  await server.close();
});

/**
 * Where Chromium and the standard disagree, the standard wins; each entry
 * turns Chromium's log into what the standard prescribes for that scenario.
 */
const STANDARD_OVER_CHROMIUM: Record<string, { why: string; fix(log: unknown[]): unknown[] }> = {
  "invalid-arguments": {
    why:
      "Chromium accepts subprotocols that repeat in another case (['chat', 'CHAT']); the standard refuses " +
      "repeated values with a SyntaxError, compared ASCII case-insensitively as the web-platform-tests " +
      "(Create-protocols-repeated-case-insensitive) and undici have it. And Chromium's URL parser accepts a " +
      "space in the host ('ws://exa mple/'), where the URL standard's host parser fails on it (a forbidden " +
      "host code point), so the standard's constructor throws SyntaxError (undici agrees)",
    fix: (log) => replaceOutcome(log, { "duplicate protocols, case": "SyntaxError", "url with a space in the host": "SyntaxError" }),
  },
  "stream-invalid": {
    why:
      "as for WebSocket, Chromium accepts protocols repeated in another case; and it clamps " +
      "close({ closeCode }) (70000 and NaN become InvalidAccessError), where the draft's WebSocketCloseInfo " +
      "has [EnforceRange] unsigned short closeCode, a TypeError for values outside 0-65535 and NaN (undici agrees)",
    fix: (log) => replaceOutcome(log, { "duplicate protocols": "SyntaxError", "close 70000": "TypeError", "close NaN": "TypeError" }),
  },
  "stream-echo": {
    why:
      "Chromium hands binary messages to a WebSocketStream's reader as ArrayBuffer; the WHATWG draft " +
      "(whatwg/websockets#48) and undici use Uint8Array, which wsx/web follows",
    fix: (log) => log.map((entry) => (isRecord(entry) && entry.kind === "ArrayBuffer" ? { ...entry, kind: "Uint8Array" } : entry)),
  },
  "stream-server-close": {
    why: "as stream-echo: binary chunks are Uint8Array in the draft standard, ArrayBuffer in Chromium",
    fix: (log) => log.map((entry) => (isRecord(entry) && entry.kind === "ArrayBuffer" ? { ...entry, kind: "Uint8Array" } : entry)),
  },
};

/** The log with the outcomes of the named attempts replaced. */
function replaceOutcome(log: unknown[], outcomes: Record<string, string>): unknown[] {
  return log.map((entry) => (Array.isArray(entry) && typeof entry[0] === "string" && entry[0] in outcomes ? [entry[0], outcomes[entry[0]]] : entry));
}

/**
 * undici runs that cannot be compared: the scenario makes undici throw from
 * one of its socket callbacks, which would end this test process.
 */
const UNDICI_CRASHES: Record<string, string> = {
  "stream-cancel-with-error":
    "undici 7 closes its readable again in its socket close handler after readable.cancel(), an uncaught ERR_INVALID_STATE",
};

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Runs `body` with `globalThis.WebSocketError` set to `value` (the stream scenarios construct it by that name, as a page would). */
async function withGlobalError<T>(value: unknown, body: () => Promise<T>): Promise<T> {
  const global = globalThis as Record<string, unknown>;
  const previous = global.WebSocketError;
  global.WebSocketError = value;
  try {
    return await body();
  } finally {
    global.WebSocketError = previous;
  }
}

function differences(actual: unknown[], expected: unknown[]): string {
  const lines: string[] = [];
  const length = Math.max(actual.length, expected.length);
  for (let i = 0; i < length; i++) {
    const a = JSON.stringify(actual[i]);
    const e = JSON.stringify(expected[i]);
    if (a !== e) lines.push(`  #${i}: ${a} (expected ${e})`);
  }
  return lines.join("\n");
}

async function compare(
  t: import("node:test").TestContext,
  name: string,
  wsx: () => Promise<unknown[]>,
  undici: () => Promise<unknown[]>,
  chromium: () => Promise<unknown[]>,
): Promise<void> {
  const ours = await deadline(wsx(), 20_000, `wsx/web ${name}`);
  let theirs: unknown[] | string;
  try {
    theirs = name in UNDICI_CRASHES ? `not run: ${UNDICI_CRASHES[name]}` : await deadline(undici(), 20_000, `undici ${name}`);
  } catch (error) {
    theirs = `threw ${(error as Error).name}: ${(error as Error).message}`;
  }
  const browser = await deadline(chromium(), 20_000, `Chromium ${name}`);
  const deviation = STANDARD_OVER_CHROMIUM[name];
  const expected = deviation === undefined ? browser : deviation.fix(browser);
  if (deviation !== undefined) t.diagnostic(`standard over Chromium: ${deviation.why}`);
  if (typeof theirs === "string") t.diagnostic(`undici ${theirs}`);
  else if (JSON.stringify(theirs) !== JSON.stringify(expected)) t.diagnostic(`undici differs from Chromium:\n${differences(theirs, expected)}`);
  assert.deepEqual(ours, expected, `wsx/web differs from Chromium ${chrome?.version}:\n${differences(ours, expected)}`);
}

describe("WebSocket: wsx/web against Chromium's, scenario by scenario", () => {
  for (const name of SCENARIOS) {
    test(name, { timeout: 60_000 }, async (t) => {
      if (!chromiumAvailable) return t.skip(CHROMIUM_MISSING);
      const env = server.env;
      await compare(
        t,
        name,
        () => runScenario(WebSocket, name, env, scenarioTools),
        () => runScenario(UndiciWebSocket, name, env, scenarioTools),
        () => inPage(chrome!.page, runScenario, "WebSocket", name, env),
      );
    });
  }
});

describe("WebSocketStream: wsx/web against Chromium's, scenario by scenario", () => {
  for (const name of STREAM_SCENARIOS) {
    test(name, { timeout: 60_000 }, async (t) => {
      if (!chromiumAvailable) return t.skip(CHROMIUM_MISSING);
      const env = server.env;
      await compare(
        t,
        name,
        () => withGlobalError(WebSocketError, () => runStreamScenario(WebSocketStream, name, env, scenarioTools)),
        () => withGlobalError(UndiciWebSocketError, () => runStreamScenario(UndiciWebSocketStream, name, env, scenarioTools)),
        () => inPage(chrome!.page, runStreamScenario, "WebSocketStream", name, env),
      );
    });
  }
});
