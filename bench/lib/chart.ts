/**
 * The chart at the top of BENCHMARKS.md: for each scenario's headline
 * figure, wsx, ws and Bun side by side, each relative to ws (ws = 1; lower
 * is better, every headline is a cost). An SVG with no script or external
 * resource, so it renders as an image on any Markdown viewer.
 */
import { join } from "node:path";
import type { Options } from "./options.js";
import type { ScenarioResult } from "./report.js";

/**
 * Where a run writes its chart: `--chart FILE`; none with `--no-chart`; by
 * default docs/benchmarks.svg (the one BENCHMARKS.md shows), but only after
 * a full run (every scenario, server and client, not --quick or --cpu-prof), so a
 * partial or perturbed run never replaces it.
 */
export function chartFile(options: Options, scenarioCount: number, root: string): string | null {
  if (options.chart !== undefined) return options.chart;
  const full = options.scenarios.length === scenarioCount && options.servers === null && options.clients === null && !options.quick && !options.cpuProf;
  return full ? join(root, "docs", "benchmarks.svg") : null;
}

/** One scenario's headline figure, and which rows stand for wsx, ws and Bun. */
interface Headline {
  scenario: string;
  figure: string;
  label: string;
  /** Row names per server; by default the first row whose name ends with the server's name ("32 wsx"). */
  rows?: Partial<Record<ChartServer, string>>;
}

export type ChartServer = "wsx" | "ws" | "bun";
const SERVERS: readonly ChartServer[] = ["wsx", "ws", "bun"];

export const HEADLINES: readonly Headline[] = [
  { scenario: "small-binary", figure: "cpuPerUnit", label: "echo, 32 B binary: CPU per message" },
  { scenario: "small-text", figure: "cpuPerUnit", label: "echo, 32 B text: CPU per message" },
  { scenario: "large", figure: "cpuPerUnit", label: "echo, 1 MiB binary: CPU per MiB" },
  { scenario: "broadcast", figure: "cpuPerUnit", label: "broadcast to 1,000: CPU per delivery" },
  { scenario: "idle", figure: "rssPerConnection", label: "idle: memory per connection" },
  { scenario: "idle", figure: "cpuPerHandshake", label: "idle: CPU per handshake" },
  { scenario: "client", figure: "cpuPerUnit", label: "client: CPU per message", rows: { wsx: "wsx → wsx", ws: "ws → wsx" } },
  { scenario: "compressed", figure: "cpuPerUnit", label: "compressed 64 KiB echo: CPU per message", rows: { wsx: "64 KiB wsx", ws: "64 KiB ws" } },
];

export interface ChartGroup {
  label: string;
  /** Each server's figure divided by ws's; servers without a result are left out. */
  bars: Array<{ server: ChartServer; ratio: number }>;
}

function rowFor(result: ScenarioResult, headline: Headline, server: ChartServer): number | undefined {
  const wanted = headline.rows?.[server];
  const row = result.rows.find((r) =>
    r.error === undefined && (wanted !== undefined ? r.name === wanted : headline.rows === undefined && r.name.trim().split(/\s+/).at(-1) === server),
  );
  const value = row?.median[headline.figure];
  return value !== undefined && Number.isFinite(value) && value > 0 ? value : undefined;
}

/** The groups the results have figures for (a scenario not run, or without ws, is left out). */
export function chartGroups(results: readonly ScenarioResult[]): ChartGroup[] {
  const groups: ChartGroup[] = [];
  for (const headline of HEADLINES) {
    const result = results.find((r) => r.name === headline.scenario);
    if (result === undefined) continue;
    const base = rowFor(result, headline, "ws");
    if (base === undefined) continue;
    const bars = SERVERS.flatMap((server) => {
      const value = rowFor(result, headline, server);
      return value === undefined ? [] : [{ server, ratio: value / base }];
    });
    if (bars.length > 1) groups.push({ label: headline.label, bars });
  }
  return groups;
}

const COLOURS: Record<ChartServer, string> = { wsx: "#2f6fdf", ws: "#9a9a9a", bun: "#e0a030" };
const escape = (text: string): string => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** The SVG for `groups`; `caption` says which run it shows. */
export function renderChart(groups: readonly ChartGroup[], caption: string): string {
  const width = 760;
  const labelWidth = 290;
  const barHeight = 14;
  const groupGap = 14;
  const top = 58;
  const plotWidth = width - labelWidth - 80;
  const max = Math.max(1, ...groups.flatMap((g) => g.bars.map((b) => b.ratio)));
  const x = (ratio: number): number => labelWidth + (ratio / max) * plotWidth;
  const parts: string[] = [];
  let y = top;
  for (const group of groups) {
    const height = group.bars.length * barHeight;
    parts.push(`<text x="${labelWidth - 10}" y="${y + height / 2 + 4}" text-anchor="end">${escape(group.label)}</text>`);
    for (const bar of group.bars) {
      const w = Math.max(1, x(bar.ratio) - labelWidth);
      parts.push(
        `<rect x="${labelWidth}" y="${y}" width="${w.toFixed(1)}" height="${barHeight - 2}" fill="${COLOURS[bar.server]}"><title>${bar.server}: ${bar.ratio.toFixed(2)} × ws</title></rect>`,
        `<text x="${(labelWidth + w + 4).toFixed(1)}" y="${y + barHeight - 4}" class="v">${bar.server} ${bar.ratio.toFixed(2)}</text>`,
      );
      y += barHeight;
    }
    y += groupGap;
  }
  const bottom = y + 6;
  const one = x(1);
  const legend = SERVERS.map(
    (server, i) => `<rect x="${labelWidth + i * 70}" y="28" width="12" height="12" fill="${COLOURS[server]}"/><text x="${labelWidth + i * 70 + 16}" y="38">${server}</text>`,
  ).join("");
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${bottom + 22}" viewBox="0 0 ${width} ${bottom + 22}" font-family="sans-serif" font-size="12">`,
    `<style>text{fill:#333}.v{font-size:11px}</style>`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="10" y="18" font-size="14" font-weight="bold">wsx, ws and Bun: each scenario's cost relative to ws (ws = 1, lower is better)</text>`,
    legend,
    `<line x1="${one.toFixed(1)}" y1="${top - 6}" x2="${one.toFixed(1)}" y2="${bottom - 8}" stroke="#666" stroke-dasharray="3,3"/>`,
    `<text x="${one.toFixed(1)}" y="${top - 9}" text-anchor="middle" class="v">ws = 1</text>`,
    ...parts,
    `<text x="10" y="${bottom + 12}" class="v">${escape(caption)}</text>`,
    `</svg>`,
    "",
  ].join("\n");
}
