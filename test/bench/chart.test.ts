/**
 * The chart `npm run bench` writes for BENCHMARKS.md: each scenario's
 * headline figure for wsx, ws and Bun relative to ws, drawn as an SVG.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { chartFile, chartGroups, renderChart } from "../../bench/lib/chart.js";
import { parseOptions } from "../../bench/lib/options.js";
import type { Row, ScenarioResult } from "../../bench/lib/report.js";

function row(name: string, median: Record<string, number>, error?: string): Row {
  return { name, reps: [median], median, ...(error === undefined ? {} : { error }) };
}

function result(name: string, rows: Row[]): ScenarioResult {
  return { name, description: name, rows, ratios: [], ratioTitles: {}, targets: {}, columns: [], warnings: [] };
}

const results = [
  result("small-binary", [row("wsx", { cpuPerUnit: 0.5 }), row("wsx-iter", { cpuPerUnit: 0.6 }), row("ws", { cpuPerUnit: 10 }), row("bun", { cpuPerUnit: 0.4 })]),
  // Rows named by window: the first (main) window is the one drawn.
  result("broadcast", [row("32 wsx", { cpuPerUnit: 1 }), row("32 ws", { cpuPerUnit: 8 }), row("2  wsx", { cpuPerUnit: 5 }), row("2  ws", { cpuPerUnit: 6 })]),
  result("idle", [row("wsx", { rssPerConnection: 2700, cpuPerHandshake: 60 }), row("ws", { rssPerConnection: 3600, cpuPerHandshake: 80 }), row("bun", { rssPerConnection: 1600, cpuPerHandshake: 20 })]),
  result("compressed", [row("64 B   wsx", { cpuPerUnit: 1 }), row("64 B   ws", { cpuPerUnit: 60 }), row("64 KiB wsx", { cpuPerUnit: 300 }), row("64 KiB ws", { cpuPerUnit: 1000 })]),
  // ws failed: nothing to compare with, the scenario is left out.
  result("large", [row("wsx", { cpuPerUnit: 600 }), row("ws", {}, "crashed")]),
];

test("chartGroups: the headline figure of each scenario run, relative to ws", () => {
  const groups = chartGroups(results);
  const byLabel = new Map(groups.map((g) => [g.label, Object.fromEntries(g.bars.map((b) => [b.server, b.ratio]))]));
  assert.deepEqual([...byLabel.keys()], [
    "echo, 32 B binary: CPU per message",
    "broadcast to 1,000: CPU per delivery",
    "idle: memory per connection",
    "idle: CPU per handshake",
    "compressed 64 KiB echo: CPU per message",
  ]);
  assert.deepEqual(byLabel.get("echo, 32 B binary: CPU per message"), { wsx: 0.05, ws: 1, bun: 0.04 });
  assert.deepEqual(byLabel.get("broadcast to 1,000: CPU per delivery"), { wsx: 0.125, ws: 1 });
  assert.deepEqual(byLabel.get("idle: CPU per handshake"), { wsx: 0.75, ws: 1, bun: 0.25 });
  assert.deepEqual(byLabel.get("compressed 64 KiB echo: CPU per message"), { wsx: 0.3, ws: 1 });
});

test("renderChart: one bar per server and scenario, labelled, with the run in the caption", () => {
  const svg = renderChart(chartGroups(results), "npm run bench, 2026-12-04 <test>");
  assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  assert.ok(svg.trimEnd().endsWith("</svg>"));
  assert.equal(svg.match(/<title>/g)?.length, 3 + 2 + 3 + 3 + 2);
  assert.match(svg, /<title>wsx: 0\.05 × ws<\/title>/);
  assert.match(svg, />idle: memory per connection</);
  assert.match(svg, /npm run bench, 2026-12-04 &lt;test&gt;/, "text is escaped");
  assert.doesNotMatch(svg, /<script|href=/, "a plain image: no script, nothing fetched");
});

test("where the chart goes: --chart FILE, --no-chart, and docs/benchmarks.svg only after a full run", () => {
  const known = { scenarios: ["small-binary", "idle"], servers: ["wsx", "ws"], clients: ["wsx", "ws"] };
  const file = (...argv: string[]): string | null => chartFile(parseOptions(argv, known), known.scenarios.length, "/repo");
  assert.equal(file(), "/repo/docs/benchmarks.svg");
  assert.equal(file("--reps", "5"), "/repo/docs/benchmarks.svg");
  assert.equal(file("--quick"), null);
  assert.equal(file("--scenario", "idle"), null);
  assert.equal(file("--servers", "wsx"), null);
  assert.equal(file("--clients", "wsx"), null);
  assert.equal(file("--cpu-prof"), null);
  assert.equal(file("--chart", "/tmp/c.svg"), "/tmp/c.svg");
  assert.equal(file("--quick", "--chart", "/tmp/c.svg"), "/tmp/c.svg");
  assert.equal(file("--no-chart"), null);
});
