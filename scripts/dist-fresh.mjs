// Whether dist/ is current: `npm start` builds only when it is not (a full
// tsc run takes a while). Plain JavaScript, since it runs before any build.
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";

/** What the demo needs from the build, and what it is built from. */
const OUTPUTS = ["dist/src/index.js", "dist/src/cli/main.js", "dist/examples/chat/server.js"];
const SOURCES = ["src", "examples", "tsconfig.json"];

/** The newest modification time of the .ts files under `path` (or of `path` itself, a file). */
function newest(path) {
  const info = statSync(path);
  if (!info.isDirectory()) return info.mtimeMs;
  let latest = 0;
  for (const entry of readdirSync(path, { withFileTypes: true })) {
    const child = join(path, entry.name);
    if (entry.isDirectory()) latest = Math.max(latest, newest(child));
    else if (entry.name.endsWith(".ts")) latest = Math.max(latest, statSync(child).mtimeMs);
  }
  return latest;
}

/** True when an output is missing or a source is newer than the oldest output (paths relative to `root`). */
export function needsBuild(root = ".") {
  const outputs = OUTPUTS.map((path) => join(root, path));
  if (!outputs.every((path) => existsSync(path))) return true;
  const built = Math.min(...outputs.map((path) => statSync(path).mtimeMs));
  return SOURCES.map((path) => join(root, path)).some((path) => existsSync(path) && newest(path) > built);
}
