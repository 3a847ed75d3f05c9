/**
 * The conformance entry points, run as the compiled scripts they are:
 * dist/scripts/conformance-server.js (an echo server for the suite's client
 * mode) and dist/scripts/conformance-client.js (a client for its fuzzing-server
 * mode), each against real peers on 127.0.0.1.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer, type Server as NetServer, type Socket } from "node:net";
import { fileURLToPath } from "node:url";
import { WebSocket as WsClient } from "ws";
import {
  HttpHeadParser,
  Protocol,
  buildAcceptResponse,
  parseUpgradeRequest,
  type CloseEvent,
} from "../../src/core/index.js";
import { connect, serve, type Message, type WebSocket, type WebSocketServer } from "../../src/index.js";

// Compiled to dist/test/conformance/, so the repository root is three levels up.
const root = fileURLToPath(new URL("../../../", import.meta.url));
const serverScript = fileURLToPath(new URL("../../scripts/conformance-server.js", import.meta.url));
const clientScript = fileURLToPath(new URL("../../scripts/conformance-client.js", import.meta.url));

// ---------------------------------------------------------------- helpers

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A node child process running one of the compiled scripts, with its output collected. */
class Script {
  readonly child: ChildProcess;
  stdout = "";
  stderr = "";
  readonly exited: Promise<Exit>;
  private exitInfo: Exit | null = null;
  private readonly watchers = new Set<() => void>();

  constructor(script: string, args: string[]) {
    assert.ok(existsSync(script), `${script} is missing: build with \`npx tsc -p tsconfig.json\` first`);
    this.child = spawn(process.execPath, [script, ...args], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
    this.child.stdout!.setEncoding("utf8").on("data", (text: string) => {
      this.stdout += text;
      for (const watch of this.watchers) watch();
    });
    this.child.stderr!.setEncoding("utf8").on("data", (text: string) => (this.stderr += text));
    this.exited = new Promise((resolve) => {
      this.child.once("close", (code, signal) => {
        this.exitInfo = { code, signal };
        for (const watch of this.watchers) watch();
        resolve(this.exitInfo);
      });
    });
  }

  get running(): boolean {
    return this.exitInfo === null;
  }

  /** Wait until stdout matches `pattern` (rejects if the process exits first or `ms` pass). */
  waitFor(pattern: RegExp, ms: number): Promise<RegExpMatchArray> {
    return new Promise((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        this.watchers.delete(check);
      };
      const check = (): void => {
        const match = pattern.exec(this.stdout);
        if (match !== null) {
          done();
          resolve(match);
        } else if (this.exitInfo !== null) {
          done();
          reject(new Error(`process exited (${JSON.stringify(this.exitInfo)}) before printing ${pattern}:\n${this.output()}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no ${pattern} within ${ms} ms:\n${this.output()}`));
      }, ms);
      this.watchers.add(check);
      check();
    });
  }

  /** Wait for the exit, killing the process if it takes longer than `ms`. */
  async exit(ms: number): Promise<Exit> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.kill();
        reject(new Error(`process still running after ${ms} ms:\n${this.output()}`));
      }, ms);
    });
    try {
      return await Promise.race([this.exited, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Kill by PID if still running (for `after` hooks). */
  kill(): void {
    if (this.running && this.child.pid !== undefined) {
      try {
        process.kill(this.child.pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
  }

  output(): string {
    return `--- stdout\n${this.stdout}--- stderr\n${this.stderr}`;
  }
}

/** Reject after `ms`, so no await in these tests can hang. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** A `ws` client with a pull-style receive. */
class WsPeer {
  private readonly queue: Array<{ data: Buffer; isBinary: boolean }> = [];
  private waiting: ((item: { data: Buffer; isBinary: boolean }) => void) | null = null;
  readonly closed: Promise<number>;

  private constructor(readonly ws: WsClient) {
    ws.on("message", (data, isBinary) => {
      const bytes = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
      const item = { data: bytes, isBinary };
      if (this.waiting !== null) {
        const resolve = this.waiting;
        this.waiting = null;
        resolve(item);
      } else {
        this.queue.push(item);
      }
    });
    this.closed = new Promise((resolve) => ws.once("close", (code) => resolve(code)));
  }

  static open(url: string): Promise<WsPeer> {
    const ws = new WsClient(url);
    return within(
      new Promise<WsPeer>((resolve, reject) => {
        ws.once("open", () => resolve(new WsPeer(ws)));
        ws.once("error", reject);
      }),
      5000,
      `ws open ${url}`,
    );
  }

  next(): Promise<{ data: Buffer; isBinary: boolean }> {
    const item = this.queue.shift();
    if (item !== undefined) return Promise.resolve(item);
    return within(new Promise((resolve) => (this.waiting = resolve)), 5000, "ws receive");
  }

  send(data: string | Buffer, options: { fin?: boolean } = {}): Promise<void> {
    return new Promise((resolve, reject) => this.ws.send(data, options, (error) => (error ? reject(error) : resolve())));
  }
}

function pattern(size: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + seed) & 0xff;
  return bytes;
}

function expectText(message: Message, text: string): void {
  assert.equal(message.type, "text");
  assert.equal(message.text, text);
}

function expectBinary(message: Message, bytes: Uint8Array): void {
  assert.equal(message.type, "binary");
  assert.ok(Buffer.from(message.bytes).equals(Buffer.from(bytes)), "binary payload differs");
}

// ---------------------------------------------------------------- the echo server script

describe("conformance-server script", () => {
  let server: Script;
  let url: string;
  const open: WebSocket[] = [];
  const wsPeers: WsPeer[] = [];

  before(async () => {
    server = new Script(serverScript, ["--port", "0"]);
    const [, port] = await server.waitFor(/^listening on ws:\/\/127\.0\.0\.1:(\d+)$/m, 10_000);
    assert.notEqual(Number(port), 0, "--port 0 must print the real port");
    url = `ws://127.0.0.1:${port}`;
  });

  after(async () => {
    for (const ws of open) ws.terminate();
    for (const peer of wsPeers) peer.ws.terminate();
    server.kill();
    await server.exited;
  });

  async function wsx(): Promise<WebSocket> {
    const ws = await connect(url, { timeout: 5000 });
    open.push(ws);
    return ws;
  }

  test("prints exactly one listening line, for 127.0.0.1", () => {
    assert.equal(server.stdout.match(/listening on /g)?.length, 1);
  });

  test("wsx client: text stays text, binary stays binary", async () => {
    const ws = await wsx();
    await ws.send("héllo ✓ wörld");
    expectText(await ws.receive({ timeout: 5000 }), "héllo ✓ wörld");
    const bytes = pattern(300, 7);
    await ws.send(bytes);
    expectBinary(await ws.receive({ timeout: 5000 }), bytes);
    // Bytes that happen to be UTF-8 stay binary; an empty text stays text.
    await ws.send(new TextEncoder().encode("not text"));
    expectBinary(await ws.receive({ timeout: 5000 }), new TextEncoder().encode("not text"));
    await ws.send("");
    expectText(await ws.receive({ timeout: 5000 }), "");
    const info = await within(ws.close(1000, "done"), 5000, "close");
    assert.deepEqual({ code: info.code, wasClean: info.wasClean }, { code: 1000, wasClean: true });
  });

  test("negotiates permessage-deflate and echoes compressed messages, text staying text", async () => {
    const ws = await connect(url, { timeout: 5000, compression: true });
    open.push(ws);
    assert.match(ws.extensions, /^permessage-deflate/);
    const text = JSON.stringify({ items: Array.from({ length: 500 }, (_, i) => ({ id: i, name: `item ${i}` })) });
    await ws.send(text);
    expectText(await ws.receive({ timeout: 5000 }), text);
    await ws.send("");
    expectText(await ws.receive({ timeout: 5000 }), "");
    const info = await within(ws.close(1000, "done"), 5000, "close");
    assert.equal(info.wasClean, true);
  });

  test("wsx client: fragmented messages come back whole, as one frame of the same type", async () => {
    const ws = await wsx();
    const text = "fragments ✓ of ünicode, split inside characters";
    const bytes = pattern(1000, 3);
    await ws.sendFragmented(text, { fragmentSize: 3 });
    await ws.sendFragmented(bytes, { fragmentSize: 64 });
    const frames = ws.frames();
    const first = (await within(frames.next(), 5000, "text echo")).value!;
    assert.deepEqual([first.type, first.fin, first.text], ["text", true, text]);
    const second = (await within(frames.next(), 5000, "binary echo")).value!;
    assert.deepEqual([second.type, second.fin], ["binary", true]);
    assert.ok(Buffer.from(second.payload).equals(Buffer.from(bytes)));
    await within(ws.close(1000), 5000, "close");
  });

  test("wsx client: a 1 MiB message echoes intact", async () => {
    const ws = await wsx();
    const big = pattern(1024 * 1024, 11);
    await ws.send(big);
    expectBinary(await ws.receive({ timeout: 10_000 }), big);
    const bigText = "x€".repeat(256 * 1024); // 1 MiB of UTF-8
    await ws.send(bigText);
    expectText(await ws.receive({ timeout: 10_000 }), bigText);
    await within(ws.close(1000), 5000, "close");
  });

  test("ws client: types, fragments and a 1 MiB message", async () => {
    const peer = await WsPeer.open(url);
    wsPeers.push(peer);
    await peer.send("text from ws ✓");
    let echo = await peer.next();
    assert.deepEqual([echo.isBinary, echo.data.toString("utf8")], [false, "text from ws ✓"]);
    await peer.send(Buffer.from([0, 1, 2, 0xff]));
    echo = await peer.next();
    assert.equal(echo.isBinary, true);
    assert.deepEqual([...echo.data], [0, 1, 2, 0xff]);
    // A fragmented text message (the euro sign split between frames).
    const euro = Buffer.from("a€b");
    await peer.send(euro.subarray(0, 2), { fin: false });
    await peer.send(euro.subarray(2, 3), { fin: false });
    await peer.send(euro.subarray(3), { fin: true });
    // ws sends Buffers as binary: check the echo keeps that type too.
    echo = await peer.next();
    assert.deepEqual([echo.isBinary, echo.data.toString("utf8")], [true, "a€b"]);
    await peer.send("frag", { fin: false });
    await peer.send("mented", { fin: true });
    echo = await peer.next();
    assert.deepEqual([echo.isBinary, echo.data.toString("utf8")], [false, "fragmented"]);
    const big = Buffer.from(pattern(1024 * 1024, 5));
    await peer.send(big);
    echo = await peer.next();
    assert.equal(echo.isBinary, true);
    assert.ok(echo.data.equals(big));
    peer.ws.close(1000);
    assert.equal(await within(peer.closed, 5000, "ws close"), 1000);
  });

  // Keep last: it stops the server.
  test("SIGTERM closes open connections with 1001 and exits 0", async () => {
    const ws = await wsx();
    await ws.send("still here");
    expectText(await ws.receive({ timeout: 5000 }), "still here");
    assert.ok(server.child.pid !== undefined);
    process.kill(server.child.pid, "SIGTERM");
    const info = await within(ws.closed, 10_000, "server-initiated close");
    assert.equal(info.code, 1001);
    const exit = await server.exit(10_000);
    assert.deepEqual(exit, { code: 0, signal: null }, server.output());
  });
});

// ---------------------------------------------------------------- the fuzzing client script

/** The agent name the client is run with; a space and a slash check the query encoding. */
const AGENT = "wsx test/agent";

describe("conformance-client script against a fake fuzzing server", () => {
  let fake: WebSocketServer;
  let client: Script | undefined;
  const visits: string[] = [];
  const agents: Array<string | null> = [];
  const results: Record<string, unknown> = {};

  before(async () => {
    fake = await serve(
      {
        port: 0,
        host: "127.0.0.1",
        authenticate: (request) => {
          const params = new URLSearchParams(request.query);
          visits.push(params.has("case") ? `${request.path} ${params.get("case")}` : request.path);
          if (request.path !== "/getCaseCount") agents.push(params.get("agent"));
          // Case 2: the handshake is refused.
          if (request.path === "/runCase" && params.get("case") === "2") return { status: 500 };
          return true;
        },
      },
      async (ws, request) => {
        const params = new URLSearchParams(request.query);
        const where = request.path === "/runCase" ? `case ${params.get("case")}` : request.path;
        try {
          switch (where) {
            case "/getCaseCount":
              await ws.send("5");
              await ws.close(1000);
              break;
            case "case 1": {
              await ws.send("case one ✓");
              await ws.send(new Uint8Array([1, 2, 3, 250]));
              const text = await ws.receive({ timeout: 5000 });
              const binary = await ws.receive({ timeout: 5000 });
              results[where] = [text.type, text.text, binary.type, [...binary.bytes]];
              await ws.close(1000);
              break;
            }
            case "case 3":
              // The connection drops without a close handshake.
              await ws.send("about to vanish");
              ws.terminate();
              break;
            case "case 4":
              // Never closes: the client must give up on its own.
              results[where] = (await ws.closed).code;
              break;
            case "case 5": {
              await ws.sendFragmented("fragmented ✓ text", { fragmentSize: 2 });
              await ws.sendFragmented(pattern(500, 9), { fragmentSize: 50 });
              const text = await ws.receive({ timeout: 5000 });
              const binary = await ws.receive({ timeout: 5000 });
              results[where] = [text.type, text.text, binary.type, Buffer.from(binary.bytes).equals(Buffer.from(pattern(500, 9)))];
              await ws.close(1000);
              break;
            }
            case "/updateReports":
              results[where] = "called";
              await ws.close(1000);
              break;
            default:
              results[where] = "unexpected";
              await ws.close(1008, "unexpected");
          }
        } catch (error) {
          results[where] = `error: ${(error as Error).message}`;
          ws.terminate();
        }
      },
    );
  });

  after(async () => {
    client?.kill();
    await client?.exited;
    await within(fake.close(), 10_000, "fake server close");
  });

  test("visits every case in order, echoes, survives cases 2-4, updates reports, exits 0", async () => {
    const started = Date.now();
    client = new Script(clientScript, [`ws://127.0.0.1:${fake.port}`, "--agent", AGENT, "--case-timeout", "1500"]);
    const exit = await client.exit(30_000);
    const out = client.output();
    assert.deepEqual(exit, { code: 0, signal: null }, out);
    assert.ok(Date.now() - started < 20_000, "the per-case timeout bounds the run");

    assert.deepEqual(
      visits,
      ["/getCaseCount", "/runCase 1", "/runCase 2", "/runCase 3", "/runCase 4", "/runCase 5", "/updateReports"],
      out,
    );
    assert.deepEqual(agents, Array(6).fill(AGENT), "agent passed to runCase and updateReports");
    assert.deepEqual(results["case 1"], ["text", "case one ✓", "binary", [1, 2, 3, 250]], out);
    assert.equal(results["case 4"], 1006, "case 4 ends by the client's termination");
    assert.deepEqual(results["case 5"], ["text", "fragmented ✓ text", "binary", true], out);
    assert.equal(results["/updateReports"], "called");

    const lines = client.stdout.split("\n").filter((line) => line.startsWith("case "));
    assert.equal(lines.length, 5, out);
    assert.match(lines[0]!, /^case 1\/5: closed 1000\b/);
    assert.match(lines[1]!, /^case 2\/5: failed \(.*500/);
    assert.match(lines[2]!, /^case 3\/5: closed 1006\b/);
    assert.match(lines[3]!, /^case 4\/5: closed 1006 .*timed out/);
    assert.match(lines[4]!, /^case 5\/5: closed 1000\b/);
    assert.match(client.stdout, /^updateReports: closed 1000/m);
  });
});

// ---------------------------------------------------------------- protocol violations

/**
 * A fuzzing server built straight on the core over node:net, so it can put
 * bytes on the wire that no wsx sender would produce: case 1 sends a frame
 * with a reserved opcode, case 2 a text message that is not UTF-8.
 */
describe("conformance-client script against protocol violations", () => {
  let raw: NetServer;
  let client: Script | undefined;
  const sockets = new Set<Socket>();
  const visits: string[] = [];
  const closes: Record<string, CloseEvent> = {};

  const GARBAGE: Record<string, Uint8Array> = {
    // FIN + opcode 0x3 (reserved), no payload.
    "1": new Uint8Array([0x83, 0x00]),
    // A text frame holding 0xC3 0x28, an invalid two-byte sequence.
    "2": new Uint8Array([0x81, 0x02, 0xc3, 0x28]),
  };

  before(async () => {
    raw = createServer((socket) => {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
      socket.on("error", () => socket.destroy());
      const head = new HttpHeadParser("request");
      let core: Protocol | null = null;
      let label = "?";
      const flush = (): void => {
        for (const chunk of core!.output()) socket.write(chunk);
        if (core!.shouldCloseTransport) socket.end();
      };
      socket.on("data", (chunk: Buffer) => {
        try {
          onData(chunk);
        } catch (error) {
          visits.push(`error: ${(error as Error).message}`);
          socket.destroy();
        }
      });
      const onData = (chunk: Buffer): void => {
        if (core === null) {
          const parsed = head.push(chunk);
          if (parsed === null) return;
          const request = parseUpgradeRequest(parsed.head);
          const params = new URLSearchParams(request.query);
          label = params.has("case") ? `${request.path} ${params.get("case")}` : request.path;
          visits.push(label);
          socket.write(buildAcceptResponse({ key: request.key }));
          core = new Protocol({ role: "server" });
          const garbage = request.path === "/runCase" ? GARBAGE[params.get("case") ?? ""] : undefined;
          if (garbage !== undefined) {
            socket.write(garbage);
          } else if (request.path === "/getCaseCount") {
            core.sendText("2");
            core.close(1000);
          } else {
            core.close(1000);
          }
          flush();
          chunk = Buffer.from(parsed.rest);
        }
        core.receive(new Uint8Array(chunk));
        for (const event of core.events()) if (event.type === "close") closes[label] = event;
        flush();
      };
    });
    await new Promise<void>((resolve) => raw.listen(0, "127.0.0.1", resolve));
  });

  after(async () => {
    client?.kill();
    await client?.exited;
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => raw.close(() => resolve()));
  });

  test("answers a violation with the right close code and goes on", async () => {
    const address = raw.address();
    assert.ok(typeof address === "object" && address !== null);
    client = new Script(clientScript, [`ws://127.0.0.1:${address.port}`, "--case-timeout", "5000"]);
    const exit = await client.exit(30_000);
    const out = client.output();
    assert.deepEqual(exit, { code: 0, signal: null }, out);
    assert.deepEqual(visits, ["/getCaseCount", "/runCase 1", "/runCase 2", "/updateReports"], out);
    assert.equal(closes["/runCase 1"]?.code, 1002, `reserved opcode: ${out}`);
    assert.equal(closes["/runCase 2"]?.code, 1007, `invalid UTF-8: ${out}`);
    const lines = client.stdout.split("\n").filter((line) => line.startsWith("case "));
    assert.match(lines[0] ?? "", /^case 1\/2: closed 1006 .*UNKNOWN_OPCODE/, out);
    assert.match(lines[1] ?? "", /^case 2\/2: closed 1006 .*INVALID_UTF8/, out);
  });
});
