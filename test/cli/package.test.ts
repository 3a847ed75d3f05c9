/**
 * The `wsx` command ships in the package: packed with npm (scripts off: the
 * build is the test run's own), installed into an empty project without the
 * network, and run through the bin link npm makes for it.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { ROOT, childEnv } from "../helpers/process.js";

const run = promisify(execFile);

test("npm pack + npm install give a working wsx bin", { timeout: 60_000 }, async () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string; bin: Record<string, string> };
  assert.equal(pkg.bin["wsx"], "./dist/src/cli/main.js");
  assert.match(readFileSync(join(ROOT, pkg.bin["wsx"]), "utf8"), /^#!\/usr\/bin\/env node\n/, "the bin starts with a node shebang");
  const dir = mkdtempSync(join(tmpdir(), "wsx-pack-"));
  const env = childEnv();
  try {
    const packed = await run("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", dir], { cwd: ROOT, env, timeout: 30_000 });
    const [info] = JSON.parse(packed.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
    const files = info!.files.map((file) => file.path);
    assert.ok(files.includes("dist/src/cli/main.js"), "the command is in the tarball");
    assert.ok(!files.some((file) => file.startsWith("dist/test/") || file.startsWith("dist/examples/")), "tests and examples are not");
    writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "wsx-install-check", private: true }));
    await run("npm", ["install", "--offline", "--ignore-scripts", "--no-audit", "--no-fund", join(dir, info!.filename)], { cwd: dir, env, timeout: 30_000 });
    const bin = join(dir, "node_modules", ".bin", "wsx");
    const version = await run(bin, ["--version"], { env, timeout: 10_000 });
    assert.equal(version.stdout, `${pkg.version}\n`);
    const help = await run(bin, ["connect", "--help"], { env, timeout: 10_000 });
    assert.match(help.stdout, /^Usage: wsx connect /);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
