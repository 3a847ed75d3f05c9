/**
 * The allocator priming for large messages (src/deflate/allocator.ts: it lives beside the zlib code it uses): a
 * process that has received a large message reuses freed memory instead of
 * faulting it in again, keeps at most a bounded amount of it after a burst,
 * and a connection that only ever sees small messages never primes at all.
 *
 * The allocator is measured in child processes (`--expose-gc`), by counting
 * page faults and reading RSS: figures of memory, never of time.
 */
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { connect, serve } from "../../src/index.js";
import { allocatorPrimed, PRIME_FROM } from "../../src/deflate/allocator.js";
import { LOOPBACK } from "../helpers/net.js";

const INDEX = fileURLToPath(new URL("../../src/index.js", import.meta.url));
const MiB = 1024 * 1024;

/** glibc's trim rule is what priming acts on; other C libraries are not measured. */
function glibc(): string | undefined {
  if (process.platform !== "linux") return "not Linux";
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  return header?.glibcVersionRuntime === undefined ? "not glibc" : undefined;
}

interface Measured {
  /** Minor page faults per 1 MiB message echoed (both ends in the process). */
  faults: number;
  /** RSS growth left once the burst is over, its connections closed and garbage collected. */
  held: number;
}

/**
 * In a fresh process: a wsx server echoing 1 MiB messages to 4 wsx clients,
 * 2 in flight each, 400 messages counted after 80 of warm-up; then the
 * connections close and a full GC runs. `prime: false` takes brotli (the
 * priming's tool) away before wsx loads, so the process keeps glibc's defaults.
 */
function measure(prime: boolean): Measured {
  const script = `
    import zlib from "node:zlib";
    import { readFileSync } from "node:fs";
    if (!${prime}) zlib.brotliCompressSync = () => new Uint8Array(0);
    const { serve, connect } = await import(${JSON.stringify(INDEX)});
    const minflt = () => Number(readFileSync("/proc/self/stat", "utf8").split(") ")[1].split(" ")[7]);
    const rss = () => Number(/VmRSS:\\s+(\\d+)/.exec(readFileSync("/proc/self/status", "utf8"))[1]) * 1024;
    const server = await serve({ port: 0, host: "127.0.0.1" }, (ws) => { ws.on("message", (m) => ws.send(m)); });
    const clients = await Promise.all([0, 1, 2, 3].map(() => connect("ws://127.0.0.1:" + server.port + "/")));
    const payload = new Uint8Array(${MiB}).fill(5);
    const run = (rounds) => Promise.all(clients.map(async (c) => {
      for (let i = 0; i < rounds; i++) { c.send(payload); c.send(payload); await c.receive(); await c.receive(); }
    }));
    await run(10);
    const base = rss();
    const before = minflt();
    await run(50);
    const faults = (minflt() - before) / 400;
    await Promise.all(clients.map((c) => c.close()));
    gc(); gc();
    process.stdout.write(JSON.stringify({ faults, held: rss() - base }));
    await server.close();
  `;
  const child = spawnSync(process.execPath, ["--expose-gc", "--input-type=module", "-e", script], { encoding: "utf8", timeout: 60_000 });
  assert.equal(child.status, 0, child.stderr);
  return JSON.parse(child.stdout) as Measured;
}

describe("allocator priming", () => {
  test("reused memory: fewer page faults per large message, and a bounded amount kept after the burst", { skip: glibc() }, () => {
    const plain = measure(false);
    const primed = measure(true);
    // Unprimed, glibc gives the heap back after each GC and faults it in again (about 40 per message).
    assert.ok(plain.faults > 10, `unprimed: ${plain.faults} faults per message (expected the heap to be trimmed)`);
    assert.ok(primed.faults < 0.75 * plain.faults, `primed: ${primed.faults} faults per message, unprimed ${plain.faults}`);
    // What stays is glibc's trim threshold once primed (32 MiB), not the burst (400 MiB went through).
    assert.ok(primed.held < 40 * MiB, `held ${(primed.held / MiB).toFixed(1)} MiB after the burst`);
  });

  test("small messages never prime; the first large one does", async () => {
    const server = await serve({ port: 0, host: LOOPBACK }, (ws) => {
      ws.on("message", (m) => ws.send(m));
    });
    try {
      const client = await connect(`ws://${LOOPBACK}:${server.port}/`);
      for (let i = 0; i < 50; i++) {
        client.send(new Uint8Array(16 * 1024).fill(i));
        assert.equal((await client.receive({ timeout: 10_000 })).bytes.length, 16 * 1024);
      }
      assert.equal(allocatorPrimed(), false, "primed by small messages");
      client.send(new Uint8Array(PRIME_FROM * 2).fill(7));
      assert.equal((await client.receive({ timeout: 10_000 })).bytes.length, PRIME_FROM * 2);
      assert.equal(allocatorPrimed(), true, "not primed by a large message");
      await client.close();
    } finally {
      await server.close();
    }
  });
});
