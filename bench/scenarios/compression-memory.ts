/**
 * `compression-memory`: one server process, 1,000 connections that
 * negotiated permessage-deflate (raw handshakes offering
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
 * (private) permessage-deflate object.
 */
import type { Bench, ServerDef } from "../lib/bench.js";
import type { Child } from "../lib/child.js";
import { buildTraffic, Opcode } from "../lib/frames.js";
import { MiB, settle } from "../lib/measure.js";
import { rssBytes } from "../lib/proc.js";
import { ratioLines, repeat, type ScenarioResult } from "../lib/report.js";
import { fmt, sleep } from "../lib/stats.js";

const CONNECTIONS = 1000;
const MESSAGE = 16 * 1024;
const IDLE_AGAIN_MS = 5000;
const OPEN_CONCURRENCY = 100;

interface Variant {
  name: string;
  def: ServerDef;
  /** Whether this server is expected to accept permessage-deflate. */
  compression: boolean;
}

interface MemoryFigures {
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

async function contexts(server: Child): Promise<number> {
  return (await server.request<{ contexts: number }>("zlib", {}, 10_000)).contexts;
}

/** One measurement of one server: a fresh server process and a fresh load generator. */
async function measure(bench: Bench, variant: Variant, count: number, fileLimit: number): Promise<MemoryFigures> {
  const spec = { opcode: Opcode.TEXT, size: MESSAGE, window: 1, json: true };
  const plain = buildTraffic(spec);
  const deflated = buildTraffic({ ...spec, deflate: true });
  const server = await bench.startServer(variant.def, fileLimit, false);
  const load = bench.startLoad(fileLimit);
  const name = variant.name;
  try {
    await load.ping();
    const empty = (await settle(server.child)).rss;

    const opened = await load.open({ port: server.port, path: "/echo", count, concurrency: OPEN_CONCURRENCY, deflate: true }, 60_000);
    if (opened.opened !== count) throw new Error(`${name}: opened ${opened.opened}/${count}: ${opened.error}`);
    if (variant.compression && opened.compressed !== count) {
      throw new Error(`${name}: permessage-deflate agreed on ${opened.compressed} of ${count} connections`);
    }
    const idle = (await settle(server.child)).rss;
    const idleContexts = await contexts(server.child);

    const echo = await load.echoOnce(plain, deflated, 60_000);
    if (echo.echoed !== count) throw new Error(`${name}: ${echo.echoed} of ${count} echoes came back`);
    const mismatches = echo.mismatches + (await load.checkFirsts(plain.expected));
    if (mismatches > 0) throw new Error(`${name}: ${mismatches} echo(es) differ from the message sent`);
    const echoed = rssBytes(server.child.pid);
    const echoedContexts = await contexts(server.child);

    await sleep(IDLE_AGAIN_MS);
    const idleAgain = (await settle(server.child)).rss;
    const idleAgainContexts = await contexts(server.child);
    const still = await server.child.request<{ clients: number }>("zlib", {}, 10_000);
    if (still.clients !== count) throw new Error(`${name}: ${still.clients} of ${count} connections still open at the end`);

    await load.close();
    let closed = still;
    for (let i = 0; i < 50 && closed.clients > 0; i++) {
      await sleep(100);
      closed = await server.child.request<{ clients: number; contexts: number }>("zlib", {}, 10_000);
    }
    if (closed.clients > 0) throw new Error(`${name}: ${closed.clients} connections still open 5 s after the client closed them`);
    const closedContexts = await contexts(server.child);

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
    await bench.stopServer(server);
    await load.kill();
  }
}

export default {
  name: "compression-memory",
  async run(bench: Bench): Promise<ScenarioResult> {
    const warnings: string[] = [];
    const { fileLimit, count, warning } = bench.fileLimitFor(CONNECTIONS);
    if (warning !== undefined) warnings.push(warning);
    const variants: Variant[] = [];
    // `deflate`: the --deflate argument (wsx's compression, ws's perMessageDeflate), null for none.
    for (const [base, deflate, name] of [
      ["wsx", true, "wsx"],
      ["ws", true, "ws"],
      ["wsx", { serverNoContextTakeover: true }, "wsx serverNoContextTakeover"],
      ["wsx", { serverMaxWindowBits: 10 }, "wsx serverMaxWindowBits 10"],
      ["wsx", null, "wsx, no compression"],
      ["ws", null, "ws, no compression"],
    ] as const) {
      const def = bench.server(base);
      if (def === undefined) continue;
      const args = deflate === null ? def.args : [...def.args, "--deflate", JSON.stringify(deflate)];
      variants.push({ name, def: { ...def, name, args }, compression: deflate !== null });
    }
    const rows = await repeat(
      "compression-memory",
      variants.map((v) => v.name),
      bench.options.reps,
      (name) => measure(bench, variants.find((v) => v.name === name)!, count, fileLimit),
      (r) =>
        `idle ${fmt(r.idleBytes)} B/conn (${fmt(r.idleContexts)} zlib)  echoed ${fmt(r.echoedBytes)} B/conn (${fmt(r.echoedContexts)} zlib)  ` +
        `idle again ${fmt(r.idleAgainBytes)} B/conn (${fmt(r.idleAgainContexts)} zlib)`,
    );
    for (const row of rows) {
      const compressed = row.median["compressed"];
      if (row.error === undefined && variants.find((v) => v.name === row.name)?.compression === false && compressed !== 0) {
        warnings.push(`${row.name}: permessage-deflate was agreed on ${fmt(compressed ?? Number.NaN)} connections`);
      }
    }
    return {
      name: "compression-memory",
      description:
        `${fmt(count)} connections offering permessage-deflate (client_no_context_takeover); server RSS above the empty process per connection ` +
        `and zlib contexts held: (a) idle after the handshake, after GC; (b) right after each echoed one ${MESSAGE / 1024} KiB JSON-like ` +
        `text message, no GC; (c) 5 s later, after GC; (d) zlib contexts left once every connection closed`,
      rows,
      ratios: ratioLines(rows, ["idleBytes", "echoedBytes", "idleAgainBytes"], [
        { a: "wsx", b: "ws" },
        { a: "wsx, no compression", b: "ws, no compression" },
      ]),
      ratioTitles: { idleBytes: "(a) idle", echoedBytes: "(b) echoed", idleAgainBytes: "(c) idle again" },
      targets: {},
      columns: [
        { key: "compressed", title: "deflate conns", format: (v) => fmt(v) },
        { key: "emptyMiB", title: "empty RSS MiB", format: (v) => fmt(v, 1) },
        { key: "idleBytes", title: "(a) B/conn", format: (v) => fmt(v) },
        { key: "idleContexts", title: "(a) zlib", format: (v) => fmt(v) },
        { key: "echoedBytes", title: "(b) B/conn", format: (v) => fmt(v) },
        { key: "echoedContexts", title: "(b) zlib", format: (v) => fmt(v) },
        { key: "idleAgainBytes", title: "(c) B/conn", format: (v) => fmt(v) },
        { key: "idleAgainContexts", title: "(c) zlib", format: (v) => fmt(v) },
        { key: "rssMiB", title: "(c) RSS MiB", format: (v) => fmt(v, 1) },
        { key: "closedContexts", title: "(d) zlib", format: (v) => fmt(v) },
        { key: "echoMs", title: "echo ms", format: (v) => fmt(v) },
      ],
      firstColumn: "server",
      warnings,
    };
  },
};
