/**
 * The benchmark's load generator (bench/loadgen.c, built here with the
 * system's C compiler) against real wsx servers: it counts echoes and
 * deliveries from frame headers, keeps the traffic flowing, and its check
 * of each connection's first message catches a server that echoes
 * something else (plain, and compressed through the runner's inflate).
 * Counts only, no timing. Skipped when no C compiler is installed.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { serve, type ServerOptions, type WebSocketServer } from "../../src/index.js";
import { buildTraffic, Opcode } from "../../bench/lib/frames.js";
import { buildLoadGenerator, LoadGenerator } from "../../bench/lib/loadgen.js";
import type { Mark } from "../../bench/lib/measure.js";
import { eventually } from "../helpers/net.js";

const SOURCE = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "bench", "loadgen.c");
const cc = process.env["CC"] ?? "cc";
const noCompiler = spawnSync(cc, ["--version"]).error !== undefined ? `no C compiler (${cc}) to build bench/loadgen.c` : false;

/** A wsx server: /echo echoes (through `echo`), /sub subscribes, /pub publishes, /idle does nothing. */
async function server(options: Partial<ServerOptions> = {}, echo: (m: Uint8Array | string) => Uint8Array | string = (m) => m): Promise<WebSocketServer> {
  const wss: WebSocketServer = await serve({ port: 0, host: "127.0.0.1", path: ["/echo", "/sub", "/pub", "/idle"], ...options }, (ws, request) => {
    if (request.path === "/sub") ws.subscribe("t");
    else if (request.path === "/pub") ws.on("message", (m) => void wss.publish("t", m));
    else if (request.path === "/echo") ws.on("message", (m) => void ws.send(echo(m.data)));
  });
  return wss;
}

describe("bench load generator", { skip: noCompiler }, () => {
  let dir = "";
  let binary = "";
  const running: Array<LoadGenerator | WebSocketServer> = [];

  before(() => {
    dir = mkdtempSync(join(tmpdir(), "wsx-loadgen-test-"));
    binary = buildLoadGenerator(SOURCE, dir);
  });
  after(async () => {
    // Load generators first: their connections drop, so the servers have nothing left to close.
    for (const item of running) if (item instanceof LoadGenerator) await item.kill();
    for (const item of running) if (!(item instanceof LoadGenerator)) await item.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const start = async (options?: Partial<ServerOptions>, echo?: (m: Uint8Array | string) => Uint8Array | string) => {
    const wss = await server(options, echo);
    const load = new LoadGenerator(binary);
    running.push(wss, load);
    return { wss, load };
  };
  /** Marks until `check` holds (bounded), then the last one. */
  const until = async (load: LoadGenerator, check: (mark: Mark) => boolean, what: string): Promise<Mark> => {
    let mark = await load.mark();
    for (let i = 0; i < 200 && !check(mark); i++) {
      await new Promise((resolve) => setTimeout(resolve, 25));
      mark = await load.mark();
    }
    assert.ok(check(mark), `${what}: ${JSON.stringify(mark)}`);
    return mark;
  };

  test("echo: keeps the window in flight and counts every echo, all equal to what was sent", async () => {
    const { wss, load } = await start();
    const traffic = buildTraffic({ opcode: Opcode.BINARY, size: 70_000, window: 4 });
    const started = await load.echo({ port: wss.port, path: "/echo", connections: 3, traffic });
    assert.equal(started.connected, 3);
    assert.equal(started.wireBytes, 70_000 + 14);
    const mark = await until(load, (m) => m.messages >= 200, "200 echoes");
    assert.equal(mark.mismatches, 0);
    assert.equal(mark.failures, 0);
    assert.equal(mark.open, 3);
  });

  test("echo: a server that echoes other bytes is caught by the first-message check", async () => {
    const { wss, load } = await start({}, (m) => (typeof m === "string" ? m.toUpperCase() : m));
    const traffic = buildTraffic({ opcode: Opcode.TEXT, size: 32, window: 8 });
    await load.echo({ port: wss.port, path: "/echo", connections: 2, traffic });
    const mark = await until(load, (m) => m.messages >= 16, "16 echoes");
    assert.equal(mark.mismatches, 2);
  });

  test("echo, compressed: the kept first echoes inflate to the message sent (and a wrong one is caught)", async () => {
    const traffic = buildTraffic({ opcode: Opcode.TEXT, size: 4096, window: 4, json: true, deflate: true });
    for (const [echo, expected] of [[undefined, 0], [(m: Uint8Array | string) => (typeof m === "string" ? m.replace("{", "[") : m), 2]] as const) {
      const { wss, load } = await start({ compression: { threshold: 0 } }, echo);
      await load.echo({ port: wss.port, path: "/echo", connections: 2, traffic });
      const mark = await until(load, (m) => m.messages >= 8 && m.kept >= 2, "8 echoes, 2 first ones kept");
      assert.equal(mark.mismatches, 0);
      assert.equal(await load.checkFirsts(traffic.expected), expected);
    }
  });

  test("broadcast: every delivery to every subscriber is counted, and the publisher keeps going", async () => {
    const { wss, load } = await start();
    const traffic = buildTraffic({ opcode: Opcode.BINARY, size: 64, window: 8 });
    const started = await load.broadcast({ port: wss.port, subscribers: 5, traffic });
    assert.equal(started.subscribed, 5);
    const mark = await until(load, (m) => m.messages >= 500 && m.published >= 100, "500 deliveries");
    assert.equal(mark.mismatches, 0);
    assert.ok(mark.messages <= mark.published * 5, "no more deliveries than published × subscribers");
  });

  test("open: idle connections (TCP, and paused ones), then close drops them all", async () => {
    const { wss, load } = await start();
    const opened = await load.open({ port: wss.port, path: "/idle", count: 50, concurrency: 8 }, 30_000);
    assert.deepEqual([opened.opened, opened.failed], [50, 0]);
    const paused = await load.open({ port: wss.port, path: "/idle", count: 5, concurrency: 5, pause: true }, 30_000);
    assert.equal(paused.opened, 5);
    assert.equal((await load.mark()).open, 55);
    await eventually(() => wss.clients.size === 55, "55 server-side connections");
    await load.close();
    assert.equal((await load.mark()).open, 0);
    await eventually(() => wss.clients.size === 0, "the server sees them close");
  });

  test("open: a refused handshake is reported, not counted", async () => {
    const { wss, load } = await start();
    const opened = await load.open({ port: wss.port, path: "/nowhere", count: 3, concurrency: 3 }, 30_000);
    assert.equal(opened.opened, 0);
    assert.equal(opened.failed, 3);
    assert.match(opened.error ?? "", /handshake refused: HTTP\/1\.1 404/);
  });
});
