// Runs every compiled test file under dist/test with node's built-in runner.
// Node 20 cannot take globs on the command line, so the files are listed here.
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";

function find(dir) {
  const files = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) files.push(...find(path));
    else if (entry.name.endsWith(".test.js")) files.push(path);
  }
  return files;
}

const only = process.argv.slice(2);
const files = find("dist/test")
  .filter((file) => only.length === 0 || only.some((part) => file.includes(part)))
  .sort();
// With no files, node --test would search the whole tree itself (and run helpers and fixtures as tests).
if (files.length === 0) {
  console.error(`no compiled test file under dist/test matches ${only.join(", ")} (build first: npm run build)`);
  process.exit(1);
}
const result = spawnSync(
  process.execPath,
  ["--test", "--test-concurrency=2", "--test-timeout=120000", ...files],
  { stdio: "inherit" },
);
process.exit(result.status ?? 1);
