/**
 * Every TypeScript code block of README.md and docs/**\/*.md compiles as
 * written against the built package: the blocks become modules of one
 * TypeScript program inside the package directory, so `import ... from "wsx"`
 * resolves through package.json's `exports` (a package may import itself by
 * name) to the declarations in dist/, exactly as a user's would.
 *
 * A block that is deliberately partial (it shows a shape, not a program) is
 * preceded by `<!-- not type-checked: why -->`; the reason is required.
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { userCompilerOptions } from "../helpers/typescript.js";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const OPT_OUT = /^<!--\s*not type-checked:(.*)-->\s*$/;
const FENCE = /^```(ts|typescript)\s*$/;

interface Block {
  /** Where the block's first code line is, as file:line. */
  file: string;
  line: number;
  code: string;
}

function markdownFiles(): string[] {
  const files = [join(root, "README.md")];
  const walk = (dir: string): void => {
    if (!existsSync(dir)) return;
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith(".md")) files.push(path);
    }
  };
  walk(join(root, "docs"));
  return files;
}

/** The TypeScript blocks of one Markdown file; opted-out blocks must say why. */
function blocksOf(file: string): { blocks: Block[]; optedOut: number; problems: string[] } {
  const lines = readFileSync(file, "utf8").split("\n");
  const blocks: Block[] = [];
  const problems: string[] = [];
  let optedOut = 0;
  for (let i = 0; i < lines.length; i++) {
    if (!FENCE.test(lines[i]!)) {
      // Skip other fences whole, so a ```ts inside them is not taken for a block.
      if (lines[i]!.startsWith("```")) while (++i < lines.length && !lines[i]!.startsWith("```"));
      continue;
    }
    const start = i + 1;
    let end = start;
    while (end < lines.length && !lines[end]!.startsWith("```")) end++;
    const where = `${relative(root, file)}:${start}`;
    const marker = OPT_OUT.exec(lines[i - 1] ?? "") ?? OPT_OUT.exec(lines[i - 2] ?? "");
    if (marker !== null) {
      optedOut++;
      if (marker[1]!.trim().length < 10) problems.push(`${where}: "not type-checked" needs a reason`);
    } else {
      blocks.push({ file: relative(root, file), line: start + 1, code: lines.slice(start, end).join("\n") });
    }
    i = end;
  }
  return { blocks, optedOut, problems };
}

/** Diagnostics of all blocks compiled as one program, located in the Markdown. */
function checkBlocks(blocks: Block[], dir: string): string[] {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const files = blocks.map((block, index) => {
    const path = join(dir, `block-${index}.ts`);
    // `export {}`: every block is a module (top-level await, no names shared between blocks).
    writeFileSync(path, `${block.code}\nexport {};\n`);
    return path;
  });
  const program = ts.createProgram(files, userCompilerOptions());
  return ts.getPreEmitDiagnostics(program).map((diagnostic) => {
    const text = ts.flattenDiagnosticMessageText(diagnostic.messageText, "\n");
    const index = diagnostic.file === undefined ? -1 : files.indexOf(diagnostic.file.fileName);
    if (index < 0 || diagnostic.start === undefined) return text;
    const block = blocks[index]!;
    const { line, character } = diagnostic.file!.getLineAndCharacterOfPosition(diagnostic.start);
    return `${block.file}:${block.line + line}:${character + 1}: ${text}`;
  });
}

test("every TypeScript block of README.md and docs/ compiles against the built package", () => {
  const found = markdownFiles().map(blocksOf);
  const blocks = found.flatMap((file) => file.blocks);
  assert.deepEqual(found.flatMap((file) => file.problems), []);
  assert.ok(blocks.length >= 5, `found only ${blocks.length} blocks`);
  // Inside the package directory (dist/ is ignored by git): "wsx" resolves to the package itself.
  const dir = join(root, "dist", "doc-blocks-typecheck");
  try {
    const errors = checkBlocks(blocks, dir);
    assert.equal(errors.length, 0, `${errors.length} type errors in the documentation's code blocks:\n${errors.join("\n")}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a block that does not compile is reported at its line in the Markdown", () => {
  const dir = join(root, "dist", "doc-blocks-negative");
  try {
    const errors = checkBlocks(
      [{ file: "README.md", line: 10, code: 'import { connect } from "wsx";\n\nconst ws = await connect(42);' }],
      dir,
    );
    assert.equal(errors.length, 1, errors.join("\n"));
    assert.match(errors[0]!, /^README\.md:12:/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("error codes are closed sets: a misspelt code in a block does not compile", () => {
  const dir = join(root, "dist", "doc-blocks-codes");
  try {
    const code = [
      'import { connect, UsageError } from "wsx";',
      "",
      'const info = await (await connect("ws://127.0.0.1:8080/")).closed;',
      'if (info.error?.code === "PONG_TIMEOUT") console.log("dead peer");',
      'if (info.error instanceof UsageError && info.error.code === "INVALID_OPTIONS") console.log("typo");',
    ].join("\n");
    const errors = checkBlocks([{ file: "docs/x.md", line: 1, code }], dir);
    assert.equal(errors.length, 1, errors.join("\n"));
    assert.match(errors[0]!, /^docs\/x\.md:5:.*"INVALID_OPTIONS"/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
