/**
 * What a scenario returns and how it is printed: rows of figures (medians
 * over interleaved repetitions), ratio lines a/b between rows, difference
 * lines a−b, targets, warnings; `repeat` runs the interleaved repetitions.
 */
import { fmt, median, ratio, table } from "./stats.js";

export type Figures = Record<string, number>;

export interface Row {
  name: string;
  reps: Figures[];
  median: Figures;
  error?: string;
}

export interface RatioLine {
  pair: string;
  figures: Record<string, number>;
  /** Targets of this line: the ratio (or difference) must be at most this. */
  targets?: Record<string, number>;
  /** "difference": the figures are a − b, printed with `unit`; otherwise ratios a / b. */
  kind?: "difference";
  unit?: string;
}

export interface Column {
  key: string;
  title: string;
  format: (v: number) => string;
}

export interface ScenarioResult {
  name: string;
  description: string;
  rows: Row[];
  ratios: RatioLine[];
  ratioTitles: Record<string, string>;
  /** The targets of the first ratio line that has any (kept for --json readers; each line carries its own). */
  targets: Record<string, number>;
  columns: Column[];
  /** Title of the first column (default "server"). */
  firstColumn?: string;
  warnings: string[];
  /** Lines printed after the table (e.g. a curve over time). */
  extra?: string[];
  profiles?: Record<string, Array<{ name: string; selfMs: number; percent: number }>>;
}

/** Two rows compared on one line: `a/b` (or `label`), with this line's targets. */
export interface Pair {
  a: string;
  b: string;
  label?: string;
  targets?: Record<string, number>;
}

/** The usual pairs: each wsx variant against each other server. */
export const SERVER_PAIRS: Pair[] = [
  { a: "wsx", b: "ws" },
  { a: "wsx-iter", b: "ws" },
  { a: "wsx", b: "ws-bufferutil" },
  { a: "wsx", b: "bun" },
  { a: "wsx-ws", b: "ws" },
  { a: "wsx-ws", b: "wsx" },
];

/** SERVER_PAIRS with `targets` on the pair a/b. */
export function withTargets(pairs: Pair[], a: string, b: string, targets: Record<string, number>): Pair[] {
  return pairs.map((pair) => (pair.a === a && pair.b === b ? { ...pair, targets } : pair));
}

export function medians(reps: Figures[]): Figures {
  const keys = new Set(reps.flatMap((r) => Object.keys(r)));
  const out: Figures = {};
  for (const key of keys) out[key] = median(reps.map((r) => r[key] ?? Number.NaN));
  return out;
}

function comparisonLines(rows: Row[], figures: string[], pairs: Pair[], compare: (x: number, y: number) => number): RatioLine[] {
  const byName = new Map(rows.filter((r) => r.error === undefined).map((r) => [r.name, r.median]));
  const lines: RatioLine[] = [];
  for (const pair of pairs) {
    const x = byName.get(pair.a);
    const y = byName.get(pair.b);
    if (x === undefined || y === undefined) continue;
    const values: Record<string, number> = {};
    for (const figure of figures) values[figure] = compare(x[figure] ?? Number.NaN, y[figure] ?? Number.NaN);
    const line: RatioLine = { pair: pair.label ?? `${pair.a}/${pair.b}`, figures: values };
    if (pair.targets !== undefined && Object.keys(pair.targets).length > 0) line.targets = pair.targets;
    lines.push(line);
  }
  return lines;
}

/** Ratios a/b of the given figures for each pair present in the rows. */
export function ratioLines(rows: Row[], figures: string[], pairs: Pair[] = SERVER_PAIRS): RatioLine[] {
  return comparisonLines(rows, figures, pairs, ratio);
}

/** Differences a − b (in `unit`) of the given figures for each pair present in the rows. */
export function differenceLines(rows: Row[], figures: string[], pairs: Pair[], unit: string): RatioLine[] {
  return comparisonLines(rows, figures, pairs, (x, y) => (Number.isFinite(x) && Number.isFinite(y) ? x - y : Number.NaN)).map(
    (line) => ({ ...line, pair: line.pair.replace("/", " − "), kind: "difference" as const, unit }),
  );
}

/** The targets a result is read against first (for --json readers). */
export function mainTargets(lines: RatioLine[]): Record<string, number> {
  return lines.find((line) => line.targets !== undefined)?.targets ?? {};
}

/** The gist of an error: its first meaningful lines. */
export function firstLines(text: string): string {
  const lines = text.split("\n").map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("at ") && l !== "^^^^^");
  return lines.slice(0, 3).join(" | ");
}

/** "other CPU%" (processes outside the benchmark) from which a scenario's figures are flagged as noisy. */
const BUSY_WARNING = 15;

function formatComparison(line: RatioLine, value: number): string {
  if (line.kind === "difference") {
    const sign = value > 0 ? "+" : "";
    return `${sign}${fmt(value)}${line.unit === undefined ? "" : ` ${line.unit}`}`;
  }
  return fmt(value, 2);
}

export function render(result: ScenarioResult): string {
  const { columns, ratioTitles } = result;
  const out: string[] = [`## ${result.name}: ${result.description}`];
  const rows = result.rows.map((row) =>
    row.error !== undefined
      ? [row.name, "failed", ...columns.slice(1).map(() => "")]
      : [row.name, ...columns.map((c) => c.format(row.median[c.key] ?? Number.NaN))],
  );
  out.push(table([result.firstColumn ?? "server", ...columns.map((c) => c.title)], rows));
  if (result.extra !== undefined) out.push(...result.extra);
  for (const row of result.rows) {
    if (row.error !== undefined) out.push(`! ${row.name} failed: ${firstLines(row.error)}`);
  }
  const pairWidth = Math.max(0, ...result.ratios.map((l) => l.pair.length));
  for (const line of result.ratios) {
    const parts = Object.entries(line.figures).map(([figure, value]) => {
      const target = line.targets?.[figure];
      const bracket = target === undefined ? "" : ` [target ≤${line.kind === "difference" ? `${fmt(target)}${line.unit ? ` ${line.unit}` : ""}` : target}]`;
      return `${ratioTitles[figure] ?? figure} = ${formatComparison(line, value)}${bracket}`;
    });
    out.push(`${line.pair.padEnd(pairWidth)} ${parts.join("   ")}`);
  }
  const busiest = Math.max(0, ...result.rows.map((r) => r.median["otherCpu"] ?? 0).filter(Number.isFinite));
  if (busiest >= BUSY_WARNING) {
    out.push(`! other processes used up to ${fmt(busiest)}% of a core during the windows: the machine was not quiet, figures are noisy`);
  }
  for (const warning of result.warnings) out.push(`! ${warning}`);
  if (result.profiles !== undefined) {
    for (const [server, frames] of Object.entries(result.profiles)) {
      out.push(`top self-time frames, ${server} (--cpu-prof):`);
      for (const frame of frames) out.push(`  ${fmt(frame.percent, 1).padStart(5)}%  ${frame.name}`);
    }
  }
  return out.join("\n");
}

export function progress(text: string): void {
  process.stderr.write(`${text}\n`);
}

/**
 * Run `run` for every name, `reps` times, interleaved (A B A B ...), and
 * take the median of each figure. A name that fails is not tried again.
 */
export async function repeat<T extends object>(
  label: string,
  names: string[],
  reps: number,
  run: (name: string) => Promise<T>,
  describe: (result: T) => string,
): Promise<Row[]> {
  const runs = new Map<string, Figures[]>(names.map((n) => [n, []]));
  const errors = new Map<string, string>();
  for (let rep = 1; rep <= reps; rep++) {
    for (const name of names) {
      if (errors.has(name)) continue;
      try {
        const result = await run(name);
        runs.get(name)!.push({ ...(result as Figures) });
        progress(`${label} ${rep}/${reps} ${name.padEnd(13)} ${describe(result)}`);
      } catch (error) {
        errors.set(name, (error as Error).message);
        progress(`${label} ${name} failed: ${firstLines((error as Error).message)}`);
      }
    }
  }
  return names.map((name) => {
    const figures = runs.get(name)!;
    const row: Row = { name, reps: figures, median: medians(figures) };
    const error = errors.get(name);
    if (error !== undefined && figures.length === 0) row.error = error;
    return row;
  });
}

/** Warn when the load generator (or the process setting the pace) ran out of CPU. */
export function saturationWarnings(rows: Row[], figure: string, what: string): string[] {
  return rows
    .filter((row) => (row.median[figure] ?? 0) >= 90)
    .map((row) => `${row.name}: ${what} used ${fmt(row.median[figure]!)}% of a core`);
}

export const LOAD_BOUND = "the load generator was the bottleneck: throughput is a lower bound, and CPU per unit was measured on smaller batches";
