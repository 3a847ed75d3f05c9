/**
 * `wsx bench` against `wsx serve --echo`: the counts it reports are the
 * server's own (every message sent was received by the server and echoed
 * back), in --json and in the table, with plain progress lines when stderr
 * is not a terminal.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import type { BenchResult } from "../../src/cli/bench.js";
import { runWsx, startWsxServe, type ServeProcess } from "../helpers/process.js";

describe("wsx bench against wsx serve --echo", () => {
  let server: ServeProcess;
  const results: BenchResult[] = [];
  before(async () => {
    server = await startWsxServe(["--echo", "--compress", "--json"]);
  });
  after(() => server.child.stop());

  test("--json: binary messages, several in flight; sent = received, latencies ordered", async () => {
    const run = await runWsx(["bench", "--json", "-c", "3", "-f", "4", "--size", "1k", "-d", "0.5", server.url()]);
    assert.equal(run.code, 0, run.stderr);
    const result = JSON.parse(run.stdout) as BenchResult;
    results.push(result);
    assert.equal(result.connections, 3);
    assert.equal(result.size, 1024);
    assert.equal(result.type, "binary");
    assert.equal(result.inFlight, 4);
    assert.equal(result.extensions, "");
    assert.equal(result.errors, 0);
    assert.ok(result.sent >= 12, `each connection sent its first 4 at least: ${result.sent}`);
    assert.equal(result.received, result.sent);
    assert.ok(result.messagesPerSecond > 0 && result.megabytesPerSecond > 0);
    const { p50, p90, p99, max } = result.latencyMs;
    assert.ok(p50 > 0 && p50 <= p90 && p90 <= p99 && p99 <= max, JSON.stringify(result.latencyMs));
  });

  test("the table: text messages with compression; progress lines are plain lines off a terminal", async () => {
    const run = await runWsx(["bench", "-c", "2", "--size", "300", "--text", "--compress", "-d", "1.2", server.url()]);
    assert.equal(run.code, 0, run.stderr);
    const lines = run.stdout.split("\n");
    assert.match(lines[0]!, /^ws:\/\/127\.0\.0\.1:\d+\/: 2 connections, 300 B text messages, 1 in flight each, permessage-deflate/);
    const counts = /^\d+\.\d\d s: sent ([\d,]+), received ([\d,]+), errors 0$/.exec(lines[1]!);
    assert.ok(counts !== null, lines[1]);
    assert.equal(counts[1], counts[2]);
    assert.match(lines[3]!, /^msgs\/s +MB\/s +p50 ms +p90 ms +p99 ms +max ms$/);
    assert.match(lines[4]!, /^[\d,]+ +\d+\.\d\d +\d+\.\d{3} +\d+\.\d{3} +\d+\.\d{3} +\d+\.\d{3}$/);
    assert.match(run.stderr, /^1\/1 s +[\d,]+ msg\/s .*p50 .* ms +p99 .* ms +errors 0\n/, "a progress line after the first second");
    assert.doesNotMatch(run.stderr, /\r|\u001b/, "no carriage returns or escapes off a terminal");
    results.push({ sent: Number(counts[1]!.replaceAll(",", "")), received: Number(counts[2]!.replaceAll(",", "")), connections: 2 } as BenchResult);
  });

  test("the server's stats match what the runs counted", async () => {
    assert.equal(results.length, 2, "both runs above passed");
    const finished = await server.child.stop("SIGTERM");
    assert.equal(finished.code, 0, finished.stderr);
    const stats = JSON.parse(finished.stdout.trim().split("\n").at(-1)!) as Record<string, unknown>;
    assert.equal(stats["event"], "stats");
    const sent = results.reduce((sum, r) => sum + r.sent, 0);
    const received = results.reduce((sum, r) => sum + r.received, 0);
    assert.equal(stats["accepted"], 5);
    assert.equal(stats["messagesIn"], sent, "every message bench sent reached the server");
    assert.equal(stats["messagesOut"], received, "every echo the server sent reached bench");
    assert.deepEqual(stats["closedByCode"], { 1000: 5 }, "bench closed each connection with 1000");
  });
});
