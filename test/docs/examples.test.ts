/**
 * Every `@example` in the public API's TSDoc, and every block of README.md
 * or docs/*.md marked `<!-- runnable -->`, runs as a program: imports of "wsx", "wsx/core",
 * "wsx/web" and "wsx/ws" point at the build, fixed ports become ephemeral ones
 * (a local echo server stands in for "the server" the examples talk to),
 * and the program must finish without throwing.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";
import ts from "typescript";
import { serve, type WebSocketServer } from "../../src/index.js";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const distIndex = pathToFileURL(join(root, "dist/src/index.js")).href;
const distCore = pathToFileURL(join(root, "dist/src/core/index.js")).href;
const distWs = pathToFileURL(join(root, "dist/src/ws/index.js")).href;
const distWeb = pathToFileURL(join(root, "dist/src/web/index.js")).href;

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sourceFiles(path));
    else if (entry.name.endsWith(".ts")) out.push(path);
  }
  return out;
}

/** The code of each ```ts fence inside an @example tag. */
function examples(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const found: string[] = [];
  const pattern = /@example\s*\n\s*\*\s*```ts\n([\s\S]*?)\n\s*\*\s*```/g;
  for (const match of text.matchAll(pattern)) {
    found.push(match[1]!.split("\n").map((line) => line.replace(/^\s*\* ?/, "")).join("\n"));
  }
  return found;
}

/** README.md and the guides in docs/. */
function markdownFiles(): string[] {
  const docs = join(root, "docs");
  const guides = existsSync(docs) ? readdirSync(docs).filter((name) => name.endsWith(".md")).map((name) => `docs/${name}`) : [];
  return ["README.md", ...guides];
}

/** The code of each ```ts fence in `file` that follows a `<!-- runnable -->` line. */
function runnableBlocks(file: string): string[] {
  const text = readFileSync(join(root, file), "utf8");
  return [...text.matchAll(/<!-- runnable -->\s*\n```ts\n([\s\S]*?)\n```/g)].map((match) => match[1]!);
}

const runnable = markdownFiles().flatMap((file) => runnableBlocks(file).map((code, index) => ({ name: `${file} runnable #${index + 1}`, code })));

const all = [
  ...sourceFiles(join(root, "src")).flatMap((file) =>
    examples(file).map((code, index) => ({ name: `${file.slice(root.length)} #${index + 1}`, code })),
  ),
  ...runnable,
];

describe("TSDoc examples run", () => {
  let echo: WebSocketServer;
  let dir: string;
  before(async () => {
    echo = await serve({ port: 0, host: "127.0.0.1", selectProtocol: (offered) => offered[0] }, async (ws) => {
      for await (const message of ws) await ws.send(message);
    });
    dir = mkdtempSync(join(tmpdir(), "wsx-doc-"));
  });
  after(async () => {
    await echo.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("there are examples to run", () => {
    assert.ok(all.length >= 4, `found ${all.length}`);
    assert.ok(runnable.length >= 1, "the README or docs/ mark runnable blocks");
  });

  for (const example of all) {
    test(example.name, async () => {
      const usesNode = /\b(connect|serve|WebSocketServer)\b/.test(example.code);
      let code = example.code
        .replace(/from "wsx\/core"/g, `from "${distCore}"`)
        .replace(/from "wsx\/ws"/g, `from "${distWs}"`)
        .replace(/from "wsx\/web"/g, `from "${distWeb}"`)
        .replace(/from "wsx"/g, `from "${distIndex}"`)
        .replace(/127\.0\.0\.1:\d+/g, `127.0.0.1:${echo.port}`)
        .replace(/port: \d+/g, "port: 0");
      // wsx/ws examples import their own WebSocketServer.
      if (usesNode && !code.includes(distIndex) && !code.includes(distWs)) code = `import { connect, serve, WebSocketServer } from "${distIndex}";\n${code}`;
      const js = ts.transpileModule(`${code}\nprocess.exit(0);\n`, {
        compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
      }).outputText;
      const file = join(dir, `${example.name.replace(/[^a-z0-9]+/gi, "_")}.mjs`);
      writeFileSync(file, js);
      // Asynchronous: the echo server the example talks to lives in this process.
      try {
        await promisify(execFile)(process.execPath, [file], { encoding: "utf8", timeout: 20_000 });
      } catch (error) {
        assert.fail(`example failed:\n${code}\n--- stderr ---\n${(error as { stderr?: string }).stderr ?? String(error)}`);
      }
    });
  }
});
