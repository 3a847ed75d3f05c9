/**
 * scripts/run-tests.mjs ends by saying which suites and tests were skipped
 * and why, and with CI set a skip for a missing peer fails the run (a skip
 * for what the machine cannot do does not). Runs the runner on a fixture.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const FIXTURE = join(root, "dist/test/fixtures/skips.fixture.js");

function runFixture(env: Record<string, string>): { status: number | null; output: string } {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
  delete childEnv["NODE_TEST_CONTEXT"];
  if (env["CI"] === undefined) delete childEnv["CI"];
  const result = spawnSync(process.execPath, [join(root, "scripts/run-tests.mjs"), FIXTURE], {
    cwd: root,
    env: childEnv,
    encoding: "utf8",
    timeout: 60_000,
  });
  return { status: result.status, output: result.stdout + result.stderr };
}

test("the end of the run lists every skipped suite and test with its reason", () => {
  const { status, output } = runFixture({});
  assert.equal(status, 0, output);
  const summary = output.slice(output.lastIndexOf("Skipped:"));
  assert.match(summary, /^Skipped: 1 suite \(none of their tests ran\) and 1 test, because:/);
  assert.match(summary, /- fixture-peer is not installed \(\.ci\/run installs it\)\n {4}dist\/test\/fixtures\/skips\.fixture\.js: suite "needs fixture-peer"/);
  assert.match(summary, /- not possible on this machine: ::1 is not available\n {4}dist\/test\/fixtures\/skips\.fixture\.js: test "needs IPv6"/);
});

test("with CI=true a missing peer fails the run", () => {
  const { status, output } = runFixture({ CI: "true" });
  assert.equal(status, 1, output);
  assert.match(output, /CI is set: 1 skip above for a missing test peer or tool/);
});

test("with CI=true, what the machine cannot do still only skips", () => {
  const { status, output } = runFixture({ CI: "true", WSX_FIXTURE_PEER: "present" });
  assert.equal(status, 0, output);
  assert.match(output, /Skipped: 0 suites \(none of their tests ran\) and 1 test,/);
});
