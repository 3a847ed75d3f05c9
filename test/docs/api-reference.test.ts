/**
 * `npm run docs` (typedoc, run by .ci/run) documents every entry point the
 * package exports: a new subpath in package.json's `exports` without its
 * source in typedoc.json's `entryPoints` would be missing from the reference.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

const root = new URL("../../../", import.meta.url);
const json = (name: string): unknown => JSON.parse(readFileSync(new URL(name, root), "utf8"));

test("typedoc's entry points are the package's exports", () => {
  const pkg = json("package.json") as { exports: Record<string, { types: string }>; scripts: Record<string, string> };
  const typedoc = json("typedoc.json") as { entryPoints: string[]; treatValidationWarningsAsErrors: boolean };
  const sources = Object.values(pkg.exports).map((entry) => entry.types.replace(/^\.\/dist\//, "").replace(/\.d\.ts$/, ".ts"));
  assert.deepEqual([...typedoc.entryPoints].sort(), sources.sort());
  assert.equal(typedoc.treatValidationWarningsAsErrors, true, "an undocumented export or a broken link fails the build");
  assert.equal(pkg.scripts["docs"], "typedoc");
});
