/**
 * wsx keeps zero runtime dependencies: ioredis is an optional peer that only
 * the `wsx/redis` entry point loads.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

// Compiled to dist/test/redis/, so the repository root is three levels up.
const root = fileURLToPath(new URL("../../../", import.meta.url));
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  devDependencies?: Record<string, string>;
  exports: Record<string, { types: string; default: string }>;
};

function compiled(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? compiled(path) : entry.name.endsWith(".js") ? [path] : [];
  });
}

test("ioredis is an optional peer (and a dev dependency), never a runtime dependency", () => {
  assert.equal(pkg.dependencies, undefined);
  assert.ok(pkg.peerDependencies?.["ioredis"]);
  assert.equal(pkg.peerDependenciesMeta?.["ioredis"]?.optional, true);
  assert.ok(pkg.devDependencies?.["ioredis"]);
});

test("wsx/redis is exported, and only its modules import ioredis", () => {
  const entry = pkg.exports["./redis"];
  assert.ok(entry, "package.json exports ./redis");
  assert.ok(existsSync(join(root, entry.default)), entry.default);
  assert.ok(existsSync(join(root, entry.types)), entry.types);
  const importers = compiled(join(root, "dist/src"))
    .filter((file) => /from "ioredis"|import\("ioredis"\)|require\("ioredis"\)/.test(readFileSync(file, "utf8")))
    .map((file) => relative(root, file));
  assert.ok(importers.length > 0, "the adapter imports ioredis");
  for (const file of importers) assert.match(file, /^dist\/src\/redis\//);
});
