// Runs every compiled test file under dist/test with node's built-in runner,
// then says which tests and suites were skipped and why. With CI set (CI=true),
// a skip fails the run: CI installs every peer the tests need (.ci/run), so a
// missing one is a broken CI, not a reason to pass. Only skips whose reason
// starts with NOT_POSSIBLE_HERE (test/helpers/skip.ts: what the machine itself
// cannot do, such as IPv6) are allowed there.
//
// Node 20 cannot take globs on the command line, so the files are listed here.
// Arguments: parts of paths under dist/test to run only those, or paths of files to run.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

/** Keep in step with test/helpers/skip.ts. */
const NOT_POSSIBLE_HERE = "not possible on this machine: ";

function count(n, noun) {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

function find(dir) {
  const files = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) files.push(...find(path));
    else if (entry.name.endsWith(".test.js")) files.push(path);
  }
  return files;
}

const args = process.argv.slice(2);
const given = args.filter((arg) => existsSync(arg) && statSync(arg).isFile());
const only = args.filter((arg) => !given.includes(arg));
const files =
  given.length > 0 && only.length === 0
    ? given
    : find("dist/test")
        .filter((file) => only.length === 0 || only.some((part) => file.includes(part)))
        .concat(given)
        .sort();
// With no files, node --test would search the whole tree itself (and run helpers and fixtures as tests).
if (files.length === 0) {
  console.error(`no compiled test file under dist/test matches ${only.join(", ")} (build first: npm run build)`);
  process.exit(1);
}

const ci = process.env.CI !== undefined && !["", "0", "false"].includes(process.env.CI.toLowerCase());
const scratch = mkdtempSync(join(tmpdir(), "wsx-test-run-"));
const skipLog = join(scratch, "skips.jsonl");
const skipReporter = fileURLToPath(new URL("./skip-reporter.mjs", import.meta.url));
const result = spawnSync(
  process.execPath,
  [
    "--test",
    "--test-concurrency=2",
    "--test-timeout=120000",
    // Node's own choice of reporter (spec on a terminal, TAP otherwise), plus the skip recorder.
    `--test-reporter=${process.stdout.isTTY ? "spec" : "tap"}`,
    "--test-reporter-destination=stdout",
    `--test-reporter=${skipReporter}`,
    `--test-reporter-destination=${skipLog}`,
    ...files,
  ],
  { stdio: "inherit" },
);
const skips = existsSync(skipLog)
  ? readFileSync(skipLog, "utf8")
      .split("\n")
      .filter((line) => line !== "")
      .map((line) => JSON.parse(line))
  : [];
rmSync(scratch, { recursive: true, force: true });

let status = result.status ?? 1;
if (skips.length === 0) console.log("\nNothing was skipped.");
else {
  const byReason = new Map();
  for (const skip of skips) {
    const where = `${skip.file ? relative(process.cwd(), skip.file) : "?"}: ${skip.suite ? "suite" : "test"} "${skip.name}"`;
    byReason.set(skip.reason, [...(byReason.get(skip.reason) ?? []), where]);
  }
  const suites = skips.filter((skip) => skip.suite).length;
  console.log(`\nSkipped: ${count(suites, "suite")} (none of their tests ran) and ${count(skips.length - suites, "test")}, because:`);
  for (const [reason, places] of byReason) {
    console.log(`- ${reason}`);
    for (const place of places) console.log(`    ${place}`);
  }
  const missing = skips.filter((skip) => !skip.reason.startsWith(NOT_POSSIBLE_HERE));
  if (ci && missing.length > 0) {
    console.log(`\nCI is set: ${count(missing.length, "skip")} above for a missing test peer or tool, which CI must install (.ci/run); failing the run.`);
    status = 1;
  }
}
process.exit(status);
