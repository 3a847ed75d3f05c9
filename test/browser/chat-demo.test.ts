/**
 * The `npm start` demo as people use it: the chat server
 * (dist/examples/chat/server.js) in its own process, and two Chromium pages
 * (playwright-core, Debian's Chromium) that load it from the printed URL,
 * join a room through the form, see each other in the member list, talk
 * (a line typed and sent, a 1 MiB message received intact), see round-trip
 * times and the negotiated compression, lose a member when a page closes,
 * and reconnect (and rejoin) when the server restarts on the same port.
 * A screenshot of the page is saved in test-artifacts/ (git-ignored).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { chromiumUnavailable, launchChromium } from "../helpers/chromium.js";
import { Child, ROOT } from "../helpers/process.js";

const DEMO = join(ROOT, "dist/examples/chat/server.js");
const ARTIFACTS = join(ROOT, "test-artifacts");
const WAIT = { timeout: 10_000 };

/** What the page keeps on window.chat.state (the test reads it; people read the page). */
interface ChatState {
  connected: boolean;
  extensions: string;
  room: string | null;
  reconnects: number;
  messages: Array<{ name: string; text: string; mine: boolean; rtt: number | null }>;
}
/** The page's globals, as far as the test touches them (the test is compiled without DOM types). */
interface PageGlobals {
  chat: { state: ChatState };
  document: {
    querySelector(selector: string): { textContent: string | null; value: string } | null;
    querySelectorAll(selector: string): Iterable<{ textContent: string | null }>;
  };
}

async function startDemo(port = 0): Promise<{ demo: Child; url: string; port: number }> {
  const demo = Child.node(DEMO, [], { env: { PORT: String(port) } });
  try {
    const match = await demo.waitFor(/wsx chat demo on (http:\/\/127\.0\.0\.1:(\d+)\/)/, "the demo to print its URL");
    return { demo, url: match[1]!, port: Number(match[2]) };
  } catch (error) {
    await demo.stop();
    throw error;
  }
}

/** The names in a page's member list, sorted. */
function members(page: Page): Promise<string[]> {
  return page.$$eval("#members li", (items) => items.map((item) => item.textContent ?? "").sort());
}

async function waitForMembers(page: Page, names: string[]): Promise<void> {
  const expected = [...names].sort().join(",");
  await page.waitForFunction(
    (wanted) => [...(globalThis as unknown as PageGlobals).document.querySelectorAll("#members li")].map((item) => item.textContent).sort().join(",") === wanted,
    expected,
    WAIT,
  );
}

async function joinRoom(page: Page, url: string, name: string, room: string): Promise<void> {
  await page.goto(url, WAIT);
  await page.waitForSelector("#status.connected", WAIT);
  await page.fill("#name", name);
  await page.fill("#room", room);
  await page.click("#join");
  await page.waitForSelector("#text:not([disabled])", WAIT);
}

/** 1 MiB of text that does not repeat at any short period (so a mix-up cannot go unnoticed). */
function bigText(): string {
  const parts: string[] = [];
  let length = 0;
  for (let i = 0; length < 1024 * 1024; i++) {
    const part = `${i.toString(36)}:${((i * 2654435761) >>> 0).toString(16)} `;
    parts.push(part);
    length += part.length;
  }
  return parts.join("").slice(0, 1024 * 1024);
}

describe("npm start: the chat demo in Chromium", { skip: chromiumUnavailable() }, () => {
  let browser: Browser;
  let demo: Child;
  let url: string;
  let port: number;
  before(async () => {
    ({ demo, url, port } = await startDemo());
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await demo?.stop();
  });

  test("two pages: room, member list, messages with round trips, 1 MiB intact, leaving, server restart", { timeout: 60_000 }, async (t) => {
    const started = Date.now();
    const step = (what: string): void => t.diagnostic(`${Date.now() - started} ms: ${what}`);
    // Two people, each in a browser context of their own, join through the form at the same time.
    const open = async (name: string): Promise<Page> => {
      const page = await (await browser.newContext({ viewport: { width: 1280, height: 760 } })).newPage();
      await joinRoom(page, url, name, "lobby");
      return page;
    };
    const [ada, bob] = await Promise.all([open("ada"), open("bob")]);
    // Each sees both in the member list.
    await waitForMembers(ada, ["ada", "bob"]);
    await waitForMembers(bob, ["ada", "bob"]);
    step("joined");

    // Compression: Chromium offers permessage-deflate, the demo accepts it; the page shows it.
    assert.match(await ada.textContent("#extensions") ?? "", /^permessage-deflate/);

    // A typed line reaches the other page; the sender sees its round trip.
    await ada.fill("#text", "hello bob");
    await ada.press("#text", "Enter");
    await bob.waitForSelector("#messages li:not(.mine):has-text('hello bob')", WAIT);
    assert.equal(await bob.textContent("#messages li:not(.mine):has-text('hello bob') .who"), "ada");
    await ada.waitForSelector("#messages li.mine:has-text('hello bob') .rtt", WAIT);
    assert.match(await ada.textContent("#messages li.mine .rtt") ?? "", /^ · \d+\.\d ms round trip$/);

    // 1 MiB pasted into the box (set as its value: typing it key by key takes seconds) and sent.
    const big = bigText();
    await bob.evaluate((text) => {
      (globalThis as unknown as PageGlobals).document.querySelector("#text")!.value = text;
    }, big);
    await bob.click("#send");
    await ada.waitForFunction(
      (length) => (globalThis as unknown as PageGlobals).chat.state.messages.some((m) => m.text.length === length),
      big.length,
      WAIT,
    );
    const received = await ada.evaluate(async (length) => {
      const text = (globalThis as unknown as PageGlobals).chat.state.messages.find((m) => m.text.length === length)!.text;
      const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
      return [...new Uint8Array(digest)].map((byte) => byte.toString(16).padStart(2, "0")).join("");
    }, big.length);
    assert.equal(received, createHash("sha256").update(big).digest("hex"), "the 1 MiB message arrived intact");
    step("1 MiB");
    await ada.waitForSelector("#messages li:not(.mine):has-text('(1,048,576 bytes)')", WAIT);

    // The live chart has data (latency probes each second) before the screenshot.
    await ada.waitForFunction(() => (globalThis as unknown as PageGlobals).document.querySelector("#rtt")?.textContent?.endsWith(" ms") === true, undefined, WAIT);
    await ada.fill("#text", "see you");
    await ada.press("#text", "Enter");
    await ada.waitForSelector("#messages li.mine:has-text('see you') .rtt", WAIT);
    mkdirSync(ARTIFACTS, { recursive: true });
    await ada.screenshot({ path: join(ARTIFACTS, "chat-demo.png") });
    step("screenshot");

    // Bob closes his page: he leaves ada's member list.
    await bob.close();
    await waitForMembers(ada, ["ada"]);
    step("bob left");

    // The server restarts on the same port: the page reconnects and rejoins its room.
    const reconnectsBefore = await ada.evaluate(() => (globalThis as unknown as PageGlobals).chat.state.reconnects);
    await demo.stop();
    await ada.waitForSelector("#status:not(.connected)", WAIT);
    ({ demo } = await startDemo(port));
    await ada.waitForSelector("#status.connected", WAIT);
    await waitForMembers(ada, ["ada"]);
    assert.ok((await ada.evaluate(() => (globalThis as unknown as PageGlobals).chat.state.reconnects)) > reconnectsBefore);
    await ada.fill("#text", "back again");
    await ada.press("#text", "Enter");
    await ada.waitForSelector("#messages li.mine:has-text('back again') .rtt", WAIT);
    assert.deepEqual(await members(ada), ["ada"]);
  });
});
