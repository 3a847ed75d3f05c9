/**
 * Compiler options of a TypeScript user's project, for tests that
 * type-check code as a user would write it against wsx (documentation
 * blocks, the packed tarball): strict, Node's types from this repository,
 * no output, and the module settings given.
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const root = fileURLToPath(new URL("../../../", import.meta.url));

export function userCompilerOptions(
  module: ts.ModuleKind = ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind = ts.ModuleResolutionKind.NodeNext,
): ts.CompilerOptions {
  return {
    target: ts.ScriptTarget.ES2022,
    module,
    moduleResolution,
    lib: ["lib.es2022.d.ts"],
    types: ["node"],
    typeRoots: [join(root, "node_modules/@types")],
    strict: true,
    noEmit: true,
    // @types/node is most of the work and not ours to check.
    skipLibCheck: true,
  };
}
