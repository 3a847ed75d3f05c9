/**
 * Memory of compressed connections (`npm run bench -- --scenario compression-memory`):
 * one server process, 1,000 connections that negotiated permessage-deflate,
 * opened by the load generator (raw handshakes offering
 * `permessage-deflate; client_no_context_takeover`), and the server's RSS
 * above its empty process, per connection, at three stages:
 *
 *   (a) idle: every connection open, no message yet, after a full GC;
 *   (b) echoed: right after each connection echoed one 16 KiB JSON-like text
 *       message (compressed both ways: the server now has a decompressor and
 *       a compressor per connection), no GC: what the burst left resident;
 *   (c) idle again: 5 s later, after a full GC;
 *   (d) closed: the load generator drops every connection; once the server
 *       has seen them all go, the zlib contexts it still holds (0 unless
 *       they leak).
 *
 * At each stage the server reports how many zlib contexts it holds: wsx
 * through `liveZlibContexts()`, ws by looking at each connection's
 * (private) permessage-deflate object. The runner (run.ts) starts the
 * servers and prints the table; this file is the measurement.
 */
import { Child } from "./lib/child.js";
import { rssBytes } from "./lib/proc.js";
import { sleep } from "./lib/stats.js";

export const MEMORY_CONNECTIONS = 1000;
export const MEMORY_MESSAGE = 16 * 1024;
const IDLE_AGAIN_MS = 5000;
const OPEN_CONCURRENCY = 100;

/** How to start one server process under test (it prints its port, speaks lib/control.ts). */
export interface MemoryServer {
  name: string;
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  /** Whether this server is expected to accept permessage-deflate. */
  compression: boolean;
}

export interface MemorySetup {
  /** The load generator script (load.js of the build being measured). */
  loadScript: string;
  /** CPUs to pin the server and the load generator to, if any. */
  serverCpu?: number;
  driverCpu?: number;
  fileLimit: number;
  connections?: number;
}

export interface MemoryFigures {
  connections: number;
  /** Connections on which permessage-deflate was agreed. */
  compressed: number;
  emptyMiB: number;
  /** RSS above the empty process, per connection, at each stage. */
  idleBytes: number;
  echoedBytes: number;
  idleAgainBytes: number;
  /** zlib contexts the server holds at each stage. */
  idleContexts: number;
  echoedContexts: number;
  idleAgainContexts: number;
  /** zlib contexts once every connection has closed. */
  closedContexts: number;
  /** RSS of the process at stage (c). */
  rssMiB: number;
  /** Time for the 1,000 echoes (load generator's clock). */
  echoMs: number;
}

const MiB = 1024 * 1024;

async function settled(server: Child): Promise<number> {
  await sleep(300);
  await server.request("gc", {}, 10_000);
  await sleep(200);
  return rssBytes(server.pid);
}

async function contexts(server: Child): Promise<number> {
  return (await server.request<{ contexts: number }>("zlib", {}, 10_000)).contexts;
}

/** One measurement of one server: a fresh server process and a fresh load generator. */
export async function measureCompressionMemory(def: MemoryServer, setup: MemorySetup): Promise<MemoryFigures> {
  const count = setup.connections ?? MEMORY_CONNECTIONS;
  const server = new Child({
    name: def.name,
    command: def.command,
    args: ["--expose-gc", ...def.args],
    env: def.env,
    fileLimit: setup.fileLimit,
    ...(setup.serverCpu === undefined ? {} : { cpu: setup.serverCpu }),
  });
  const load = new Child({
    name: "load",
    command: process.execPath,
    args: [setup.loadScript],
    fileLimit: setup.fileLimit,
    ...(setup.driverCpu === undefined ? {} : { cpu: setup.driverCpu }),
  });
  try {
    const port = Number(await server.readLine(15_000));
    if (!Number.isInteger(port) || port <= 0) throw new Error(`${def.name}: expected a port`);
    await load.request("ping", {}, 10_000);
    const empty = await settled(server);

    const opened = await load.request<{ opened: number; compressed: number; error?: string }>(
      "open",
      { port, path: "/echo", count, concurrency: OPEN_CONCURRENCY, deflate: true },
      60_000,
    );
    if (opened.opened !== count) throw new Error(`${def.name}: opened ${opened.opened}/${count}: ${opened.error}`);
    if (def.compression && opened.compressed !== count) {
      throw new Error(`${def.name}: permessage-deflate agreed on ${opened.compressed} of ${count} connections`);
    }
    const idle = await settled(server);
    const idleContexts = await contexts(server);

    const echo = await load.request<{ sent: number; echoed: number; mismatches: number; ms: number }>(
      "echo-once",
      { size: MEMORY_MESSAGE, timeoutMs: 60_000 },
      70_000,
    );
    if (echo.echoed !== count) throw new Error(`${def.name}: ${echo.echoed} of ${count} echoes came back`);
    if (echo.mismatches > 0) throw new Error(`${def.name}: ${echo.mismatches} echo(es) differ from the message sent`);
    const echoed = rssBytes(server.pid);
    const echoedContexts = await contexts(server);

    await sleep(IDLE_AGAIN_MS);
    const idleAgain = await settled(server);
    const idleAgainContexts = await contexts(server);
    const still = await server.request<{ clients: number }>("zlib", {}, 10_000);
    if (still.clients !== count) throw new Error(`${def.name}: ${still.clients} of ${count} connections still open at the end`);

    await load.request("close", {}, 10_000);
    let closed = still;
    for (let i = 0; i < 50 && closed.clients > 0; i++) {
      await sleep(100);
      closed = await server.request<{ clients: number; contexts: number }>("zlib", {}, 10_000);
    }
    if (closed.clients > 0) throw new Error(`${def.name}: ${closed.clients} connections still open 5 s after the client closed them`);
    const closedContexts = await contexts(server);

    return {
      connections: count,
      compressed: opened.compressed,
      emptyMiB: empty / MiB,
      idleBytes: (idle - empty) / count,
      echoedBytes: (echoed - empty) / count,
      idleAgainBytes: (idleAgain - empty) / count,
      idleContexts,
      echoedContexts,
      idleAgainContexts,
      closedContexts,
      rssMiB: idleAgain / MiB,
      echoMs: echo.ms,
    };
  } finally {
    // Server first: it closes first, so TIME_WAIT is not left on the load generator's ports.
    await server.kill();
    await load.kill();
  }
}
