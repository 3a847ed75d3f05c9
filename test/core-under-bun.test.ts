/**
 * wsx/core is runtime-agnostic: it runs its own self-check under Bun
 * (test/bun/core-under-bun.ts, straight from the TypeScript sources), and its
 * sources never reach for Node: no `node:` or package imports, no Buffer,
 * process, require or timers.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

// Compiled to dist/test/, so the repository root is two levels up.
const root = fileURLToPath(new URL("../../", import.meta.url));
const bun = join(root, "node_modules", ".bin", "bun");
const TIMEOUT = 60_000;

function run(command: string, args: string[]): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: root, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NO_COLOR: "1" } });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (text: string) => (stdout += text));
    child.stderr.setEncoding("utf8").on("data", (text: string) => (stderr += text));
    const timer = setTimeout(() => {
      if (child.exitCode === null && child.pid !== undefined) process.kill(child.pid, "SIGKILL");
    }, TIMEOUT);
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

test("the core passes its self-check under bun", { timeout: TIMEOUT + 10_000 }, async () => {
  assert.ok(existsSync(bun), `${bun} is missing: the bun devDependency is not installed (npm ci)`);
  const result = await run(bun, ["test/bun/core-under-bun.ts"]);
  const output = `--- stdout\n${result.stdout}--- stderr\n${result.stderr}`;
  assert.equal(result.signal, null, `bun was killed (timeout ${TIMEOUT} ms?)\n${output}`);
  assert.equal(result.code, 0, output);
  assert.match(result.stdout, /^core ok under bun \d+\.\d+\.\d+\b/m, output);
});

// ---------------------------------------------------------------- no Node in src/core

/** Globals that belong to Node (or to a host with timers), not to a sans-IO core. */
const FORBIDDEN_GLOBALS = new Set([
  "Buffer",
  "process",
  "require",
  "module",
  "global",
  "__dirname",
  "__filename",
  "NodeJS",
  "setTimeout",
  "setInterval",
  "setImmediate",
  "clearTimeout",
  "clearInterval",
  "clearImmediate",
]);

/**
 * Node dependencies in one source file, found on its syntax tree, so comments
 * that mention `Buffer` or `node:crypto` do not count and code cannot hide.
 */
function nodeDependencies(fileName: string, text: string): string[] {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const found: string[] = [];
  const where = (node: ts.Node): string => {
    const { line } = source.getLineAndCharacterOfPosition(node.getStart(source));
    return `${fileName}:${line + 1}`;
  };
  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier !== undefined) {
      const specifier = (node.moduleSpecifier as ts.StringLiteral).text;
      // Only the core's own files: no node: modules, no packages, nothing outside src/core.
      if (!specifier.startsWith("./")) found.push(`${where(node)} imports ${JSON.stringify(specifier)}`);
    } else if (ts.isImportEqualsDeclaration(node)) {
      found.push(`${where(node)} uses import = require`);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      found.push(`${where(node)} uses a dynamic import()`);
    } else if (ts.isImportTypeNode(node)) {
      found.push(`${where(node)} uses an import("...") type`);
    } else if ((ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) && /^node:/.test(node.text)) {
      found.push(`${where(node)} names ${JSON.stringify(node.text)}`);
    } else if (ts.isIdentifier(node) && FORBIDDEN_GLOBALS.has(node.text)) {
      found.push(`${where(node)} uses ${node.text}`);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

function sourcesUnder(dir: string): string[] {
  const files: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) files.push(...sourcesUnder(path));
    else if (/\.[cm]?tsx?$/.test(entry.name)) files.push(path);
  }
  return files;
}

test("the check itself finds Node dependencies and ignores comments", () => {
  const sample = [
    "// Buffer, process and node:fs in a comment are fine",
    "/** so is `Buffer.allocUnsafe` here */",
    'import { readFileSync } from "node:fs";',
    'export * from "../node/index.js";',
    'import { ok } from "./ok.js";',
    "const a = Buffer.from('x');",
    "const b = globalThis.process?.env;",
    "setTimeout(() => {}, 1);",
    'const c = await import("crypto");',
    "const d: ArrayBuffer = new ArrayBuffer(1);",
  ].join("\n");
  assert.deepEqual(nodeDependencies("sample.ts", sample), [
    'sample.ts:3 imports "node:fs"',
    'sample.ts:3 names "node:fs"',
    'sample.ts:4 imports "../node/index.js"',
    "sample.ts:6 uses Buffer",
    "sample.ts:7 uses process",
    "sample.ts:8 uses setTimeout",
    "sample.ts:9 uses a dynamic import()",
  ]);
});

test("src/core uses no node: modules, Buffer, process or timers", () => {
  const coreDir = join(root, "src", "core");
  const files = sourcesUnder(coreDir);
  assert.ok(files.some((file) => file.endsWith("index.ts")) && files.length >= 5, `no sources found in ${coreDir}`);
  const found = files.flatMap((file) => nodeDependencies(file.slice(root.length), readFileSync(file, "utf8")));
  assert.deepEqual(found, [], `src/core must stay runtime-agnostic:\n${found.join("\n")}`);
});
