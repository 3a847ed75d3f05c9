/**
 * What the wsx/web tests talk to: one wsx server whose paths script the
 * server's side of each scenario (echo, close with a code, drop TCP,
 * refuse the handshake, send a frame no server may send), an HTTP side that
 * reports the close frames the server received, and headless Chromium for
 * running the same scenarios in a real browser.
 */
import { createServer, type IncomingMessage, type Server as HttpServer } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import type { Browser, Page } from "playwright-core";
import { WebSocketServer, type CloseInfo } from "../../src/index.js";
import { launchChromium } from "../helpers/chromium.js";
import { LOOPBACK, acceptFor, closePayload, serverFrame } from "../helpers/net.js";
import { scenarioTools, type ScenarioEnv } from "./scenarios.js";


export interface ScenarioServer {
  env: ScenarioEnv;
  wss: WebSocketServer;
  close(): Promise<void>;
}

/**
 * Hand-made servers for the `/raw/...` paths, after a correct 101: what they
 * send at once, and what they end TCP with once the client sends anything
 * (its close frame). Frames no server may send, answered by a close 1002;
 * and a server that ends TCP without answering the client's close frame.
 */
const RAW_PEERS: Record<string, { send: Buffer; end: Buffer }> = {
  "/raw/bad-opcode": { send: serverFrame(3, "?"), end: serverFrame(8, closePayload(1002)) },
  "/raw/bad-utf8": { send: serverFrame(1, new Uint8Array([0x68, 0xc3, 0x28])), end: serverFrame(8, closePayload(1002)) },
  "/raw/close-unanswered": { send: Buffer.alloc(0), end: Buffer.alloc(0) },
};

/** Start the scenario server on 127.0.0.1 (port 0), and find a port nobody listens on. */
export async function startScenarioServer(): Promise<ScenarioServer> {
  const closes = new Map<string, { code: number; reason: string }>();
  const wss = new WebSocketServer(
    {
      selectProtocol: (offered) => offered[0],
      authenticate: (request) => (request.path === "/refuse" ? { status: 403 } : true),
      maxMessageSize: 8 * 1024 * 1024,
    },
    async (ws, request) => {
      const query = new URLSearchParams(request.query);
      const id = query.get("id");
      if (id !== null) void ws.closed.then((info: CloseInfo) => closes.set(id, { code: info.code, reason: info.reason }));
      switch (request.path) {
        case "/close":
          await ws.close(Number(query.get("code")), query.get("reason") ?? "");
          return;
        case "/close-empty":
          await ws.close();
          return;
        case "/send3-close":
          void ws.send("one");
          void ws.send(new Uint8Array([1, 2, 3]));
          void ws.send("three");
          await ws.close(4002, "done");
          return;
        case "/drop":
          await ws.receive().catch(() => undefined);
          ws.terminate();
          return;
        default:
          for await (const message of ws) await ws.send(message);
      }
    },
  );
  const http = createServer((request, response) => {
    const url = new URL(request.url ?? "/", "http://localhost");
    if (url.pathname === "/closes") return void reportClose(closes, url.searchParams.get("id") ?? "", response);
    response.writeHead(404).end();
  });
  http.on("upgrade", (request: IncomingMessage, socket: Socket, head: Buffer) => {
    const peer = RAW_PEERS[request.url ?? ""];
    if (peer === undefined) return wss.handleUpgrade(request, socket, head);
    socket.on("error", () => undefined);
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptFor(String(request.headers["sec-websocket-key"]))}\r\n\r\n`,
    );
    socket.write(peer.send);
    socket.once("data", () => socket.end(peer.end));
  });
  const port = await listen(http);
  const refused = await unusedPort();
  return {
    env: { ws: `ws://${LOOPBACK}:${port}`, http: `http://${LOOPBACK}:${port}`, refused: `ws://${LOOPBACK}:${refused}/` },
    wss,
    close: async () => {
      await wss.close({ timeout: 2000 });
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}

/** The close frame the server got on connection `id`, waiting briefly for the server side to finish. */
async function reportClose(closes: Map<string, unknown>, id: string, response: import("node:http").ServerResponse): Promise<void> {
  for (let i = 0; i < 200 && !closes.has(id); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  response.writeHead(200, { "Content-Type": "application/json", "Access-Control-Allow-Origin": "*" });
  response.end(JSON.stringify(closes.get(id) ?? null));
}

function listen(server: HttpServer): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, LOOPBACK, () => resolve((server.address() as AddressInfo).port));
  });
}

/** A port that was free a moment ago: connections to it are refused. */
async function unusedPort(): Promise<number> {
  const probe = createServer();
  const port = await listen(probe);
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

export interface BrowserPeer {
  browser: Browser;
  page: Page;
  version: string;
  close(): Promise<void>;
}

/** Headless Chromium with a blank page served from 127.0.0.1, for scenarios evaluated in it. */
export async function startBrowser(): Promise<BrowserPeer> {
  const http = createServer((_, response) => response.writeHead(200, { "Content-Type": "text/html" }).end("<!doctype html><title>wsx</title>"));
  const port = await listen(http);
  const browser = await launchChromium();
  const page = await browser.newPage();
  await page.goto(`http://${LOOPBACK}:${port}/`, { timeout: 10_000 });
  return {
    browser,
    page,
    version: browser.version(),
    close: async () => {
      await browser.close();
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}

/** Run a scenario function (by its source, with the tools') in the page, with the page's own constructor `global`. */
export function inPage(page: Page, run: (...args: never[]) => Promise<unknown[]>, global: string, name: string, env: ScenarioEnv): Promise<unknown[]> {
  return page.evaluate(
    ([source, tools, global, name, env]) => {
      const scenario = (0, eval)(`(${source})`) as (ctor: unknown, name: string, env: unknown, tools: unknown) => Promise<unknown[]>;
      return scenario((globalThis as Record<string, unknown>)[global], name, env, (0, eval)(`(${tools})`));
    },
    [run.toString(), scenarioTools.toString(), global, name, env] as const,
  );
}
