/** Summaries of V8 .cpuprofile files (node --cpu-prof): self time per function. */
import { readFileSync, readdirSync } from "node:fs";
import { basename, join } from "node:path";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface Frame {
  name: string;
  selfMs: number;
  percent: number;
}

/** Self time per function (merged over every .cpuprofile in `dirs`), largest first. */
export function topFrames(dirs: string[], limit = 15): Frame[] {
  const totals = new Map<string, number>();
  let all = 0;
  const files: string[] = [];
  for (const dir of dirs) {
    try {
      for (const f of readdirSync(dir)) if (f.endsWith(".cpuprofile")) files.push(join(dir, f));
    } catch {
      // no profile written
    }
  }
  for (const file of files) {
    const profile = JSON.parse(readFileSync(file, "utf8")) as Profile;
    const names = new Map<number, string>();
    for (const node of profile.nodes) {
      const { functionName, url, lineNumber } = node.callFrame;
      const where = url === "" ? "" : ` ${shortUrl(url)}:${lineNumber + 1}`;
      names.set(node.id, `${functionName || "(anonymous)"}${where}`);
    }
    for (let i = 0; i < profile.samples.length; i++) {
      const delta = profile.timeDeltas[i + 1] ?? 0;
      const name = names.get(profile.samples[i]!) ?? "?";
      totals.set(name, (totals.get(name) ?? 0) + delta);
      all += delta;
    }
  }
  return [...totals.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, limit)
    .map(([name, micros]) => ({ name, selfMs: micros / 1000, percent: all === 0 ? 0 : (100 * micros) / all }));
}

function shortUrl(url: string): string {
  const marker = url.lastIndexOf("/dist/");
  if (marker >= 0) return url.slice(marker + 6);
  const modules = url.lastIndexOf("/node_modules/");
  if (modules >= 0) return url.slice(modules + 14);
  return url.startsWith("node:") ? url : basename(url);
}
