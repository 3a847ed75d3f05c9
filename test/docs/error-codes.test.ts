/**
 * docs/errors.md lists exactly the codes wsx can raise. The codes come from
 * the type `ErrorCode` (every error class's constructor takes only its own
 * union, so the compiler keeps every code raised in src/ inside it), read
 * with the TypeScript checker; each must also appear in src/ outside the
 * type declarations, so a code nothing raises any more is not documented.
 */
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const ERRORS_SOURCE = join(root, "src/core/errors.ts");

/** The string literals that make up `ErrorCode`. */
function typedCodes(): string[] {
  const program = ts.createProgram([ERRORS_SOURCE], { strict: true, noEmit: true, types: [], skipLibCheck: true });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(ERRORS_SOURCE)!;
  const alias = source.statements.find(
    (statement): statement is ts.TypeAliasDeclaration => ts.isTypeAliasDeclaration(statement) && statement.name.text === "ErrorCode",
  );
  assert.ok(alias, "src/core/errors.ts declares type ErrorCode");
  const type = checker.getTypeFromTypeNode(alias.type);
  assert.ok(type.isUnion(), "ErrorCode is a union");
  return type.types.map((member) => {
    assert.ok(member.isStringLiteral(), `ErrorCode member ${checker.typeToString(member)} is a string literal (a closed set)`);
    return member.value;
  });
}

/** Codes in the first column of docs/errors.md's tables. */
function documentedCodes(): string[] {
  const text = readFileSync(join(root, "docs/errors.md"), "utf8");
  return [...text.matchAll(/^\| `([A-Z][A-Z0-9_]*)` \|/gm)].map((match) => match[1]!);
}

/** Every .ts file of src/, without the type declarations that list the codes. */
function raisingSources(): string {
  const texts: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith(".ts")) texts.push(readFileSync(path, "utf8").replace(/^export type \w+ =[^;]*;$/gm, ""));
    }
  };
  walk(join(root, "src"));
  return texts.join("\n");
}

const codes = typedCodes();

test("docs/errors.md documents exactly the codes of ErrorCode", () => {
  const typed = new Set(codes);
  const documented = new Set(documentedCodes());
  assert.ok(typed.size >= 50, `ErrorCode has ${typed.size} members`);
  const undocumented = [...typed].filter((code) => !documented.has(code)).sort();
  const unknown = [...documented].filter((code) => !typed.has(code)).sort();
  assert.deepEqual({ undocumented, unknown }, { undocumented: [], unknown: [] });
});

test("every code of ErrorCode is raised somewhere in src/", () => {
  const sources = raisingSources();
  // Protocol violations are raised by name from the VIOLATIONS table, and their names appear where they are detected.
  const unused = codes.filter((code) => !sources.includes(`"${code}"`));
  assert.deepEqual(unused, []);
});

test("the README's Errors section links to the full list", () => {
  const readme = readFileSync(join(root, "README.md"), "utf8");
  const section = /^## Errors\n([\s\S]*?)(?=^## )/m.exec(readme);
  assert.ok(section, "README.md has an Errors section");
  assert.match(section[1]!, /\(docs\/errors\.md\)/);
});
