/**
 * The package as a user gets it: `npm pack`, the tarball installed into a
 * scratch project in a temporary directory (offline: the tarball has no
 * dependencies; TypeScript and the optional ioredis peer come from this
 * repository's node_modules), then every entry point of package.json's
 * `exports` imported at run time and type-checked under each
 * `moduleResolution` a TypeScript user may have. The entry points are read
 * from package.json, so a new one is covered as soon as it is exported.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { userCompilerOptions } from "../helpers/typescript.js";

const root = fileURLToPath(new URL("../../../", import.meta.url));

interface PackageJson {
  name: string;
  license: string;
  scripts: Record<string, string>;
  exports: Record<string, { types: string; default: string }>;
  typesVersions?: Record<string, Record<string, string[]>>;
  bin?: string | Record<string, string>;
}

const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as PackageJson;
/** "wsx", "wsx/core", ...: every specifier a user can import, with the declarations `exports` gives it. */
const entries = Object.entries(pkg.exports).map(([subpath, target]) => ({
  specifier: subpath === "." ? pkg.name : `${pkg.name}/${subpath.slice(2)}`,
  types: target.types,
}));
const specifiers = entries.map((entry) => entry.specifier);

/** The moduleResolution settings a user may have, with the module setting each goes with. */
const SETTINGS: Array<{ name: string; module: ts.ModuleKind; moduleResolution: ts.ModuleResolutionKind }> = [
  { name: "node16", module: ts.ModuleKind.Node16, moduleResolution: ts.ModuleResolutionKind.Node16 },
  { name: "nodenext", module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext },
  { name: "bundler", module: ts.ModuleKind.ESNext, moduleResolution: ts.ModuleResolutionKind.Bundler },
  // The older "node" (node10) resolution ignores `exports`: subpaths resolve through `typesVersions`.
  { name: "node (node10)", module: ts.ModuleKind.ESNext, moduleResolution: ts.ModuleResolutionKind.Node10 },
];

/** Run a program quietly, without this test runner's context leaking into a nested node. */
function run(command: string, args: string[], cwd: string): string {
  const env = { ...process.env };
  delete env["NODE_TEST_CONTEXT"];
  return execFileSync(command, args, { cwd, env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 120_000 });
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? filesUnder(path) : [path];
  });
}

describe("npm pack: the tarball installed in a scratch project", () => {
  let scratch: string;
  let installed: string;

  before(() => {
    scratch = mkdtempSync(join(tmpdir(), "wsx-pack-"));
    // The build is already there (npm test builds first); prepack would rebuild it under the running tests.
    const packed = JSON.parse(run("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", scratch], root)) as Array<{ filename: string }>;
    const tarball = join(scratch, packed[0]!.filename);
    const project = join(scratch, "project");
    mkdirSync(project);
    writeFileSync(join(project, "package.json"), JSON.stringify({ name: "scratch", private: true, type: "module" }));
    run("npm", ["install", "--offline", "--ignore-scripts", "--no-audit", "--no-fund", "--no-package-lock", tarball], project);
    installed = join(project, "node_modules", pkg.name);
    // The optional peer that wsx/redis loads, from this repository (its own dependencies resolve from there).
    symlinkSync(join(root, "node_modules/ioredis"), join(project, "node_modules/ioredis"), "dir");
  });

  after(() => rmSync(scratch, { recursive: true, force: true }));

  test("package.json builds before packing and runs nothing on the consumer's machine", () => {
    for (const script of ["preinstall", "install", "postinstall", "prepare"]) {
      assert.equal(pkg.scripts[script], undefined, `scripts.${script} would run when the package is installed`);
    }
    assert.match(pkg.scripts["prepack"] ?? "", /build|tsc/);
  });

  test("the LICENSE file is in the tarball and is the license package.json names", () => {
    const license = readFileSync(join(installed, "LICENSE"), "utf8");
    assert.match(license, new RegExp(`^${pkg.license} License`));
  });

  test("every source map resolves to sources in the package", () => {
    const maps = filesUnder(installed).filter((file) => file.endsWith(".map"));
    assert.ok(maps.length > 10, `found ${maps.length} source maps`);
    const unresolved: string[] = [];
    for (const map of maps) {
      const parsed = JSON.parse(readFileSync(map, "utf8")) as { sources: string[]; sourceRoot?: string; sourcesContent?: string[] };
      parsed.sources.forEach((source, index) => {
        if (parsed.sourcesContent?.[index] != null) return;
        const path = resolve(dirname(map), parsed.sourceRoot ?? "", source);
        if (!path.startsWith(installed) || !existsSync(path)) unresolved.push(`${map.slice(installed.length)} -> ${source}`);
      });
    }
    assert.deepEqual(unresolved.slice(0, 5), [], `${unresolved.length} sources do not resolve`);
  });

  test("every bin is in the tarball and starts with a #! line", () => {
    const bins = typeof pkg.bin === "string" ? [pkg.bin] : Object.values(pkg.bin ?? {});
    for (const bin of bins) assert.match(readFileSync(join(installed, bin), "utf8"), /^#!/, bin);
  });

  test(`every entry point (${specifiers.join(", ")}) imports at run time`, () => {
    const program = specifiers.map((specifier) => `if (Object.keys(await import(${JSON.stringify(specifier)})).length === 0) throw new Error("${specifier} exports nothing");`);
    run(process.execPath, ["--input-type=module", "-e", program.join("\n")], join(scratch, "project"));
  });

  // Declaration files parsed once for all settings (@types/node is most of the work).
  const parsed = new Map<string, ts.SourceFile | undefined>();
  function cachingHost(options: ts.CompilerOptions): ts.CompilerHost {
    const host = ts.createCompilerHost(options);
    const getSourceFile = host.getSourceFile.bind(host);
    host.getSourceFile = (fileName, language, onError) => {
      if (!fileName.endsWith(".d.ts")) return getSourceFile(fileName, language, onError);
      if (!parsed.has(fileName)) parsed.set(fileName, getSourceFile(fileName, language, onError));
      return parsed.get(fileName);
    };
    return host;
  }

  for (const setting of SETTINGS) {
    test(`every entry point type-checks with moduleResolution ${setting.name}`, () => {
      const dir = join(scratch, "project", `check-${setting.name.replace(/\W+/g, "-")}`);
      mkdirSync(dir, { recursive: true });
      const file = join(dir, "index.ts");
      const imports = specifiers.map((specifier, index) => `import * as entry${index} from ${JSON.stringify(specifier)};`);
      const uses = specifiers.map((_, index) => `console.log(Object.keys(entry${index}).length);`);
      writeFileSync(file, [...imports, ...uses, "export {};", ""].join("\n"));
      const options = userCompilerOptions(setting.module, setting.moduleResolution);
      const program = ts.createProgram([file], options, cachingHost(options));
      const errors = ts.getPreEmitDiagnostics(program).map((diagnostic) => {
        const text = ts.flattenDiagnosticMessageText(diagnostic.messageText, "\n");
        return diagnostic.file ? `${diagnostic.file.fileName.slice(scratch.length)}: ${text}` : text;
      });
      assert.deepEqual(errors, []);
      // skipLibCheck keeps @types/node out of the work; the package's declarations must still import only what resolves.
      const checker = program.getTypeChecker();
      const unresolved: string[] = [];
      for (const source of program.getSourceFiles()) {
        if (!source.fileName.startsWith(installed)) continue;
        for (const statement of source.statements) {
          if (!(ts.isImportDeclaration(statement) || ts.isExportDeclaration(statement)) || statement.moduleSpecifier === undefined) continue;
          if (checker.getSymbolAtLocation(statement.moduleSpecifier) === undefined) {
            unresolved.push(`${source.fileName.slice(installed.length)}: ${(statement.moduleSpecifier as ts.StringLiteral).text}`);
          }
        }
      }
      assert.deepEqual(unresolved, []);
      // Each specifier resolved to the declarations its `exports` entry names, in the installed package.
      for (const { specifier, types } of entries) {
        const resolved = ts.resolveModuleName(specifier, file, options, ts.sys).resolvedModule;
        assert.equal(resolved?.resolvedFileName, join(installed, types), specifier);
      }
    });
  }
});
