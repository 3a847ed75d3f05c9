/**
 * `npm start` (scripts/start.mjs): with dist/ current it starts the demo at
 * once, without a TypeScript build, answers the page on a plain GET, and
 * passes SIGTERM on to the demo; dist-fresh.mjs decides when a build is
 * needed (an output missing, or a source newer than the outputs).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { exchange, parseResponse, RawClient } from "../helpers/net.js";
import { Child, ROOT } from "../helpers/process.js";

interface DistFresh {
  needsBuild(root?: string): boolean;
}

test("needsBuild: outputs missing, older than a source, or current", async () => {
  const { needsBuild } = (await import(pathToFileURL(join(ROOT, "scripts/dist-fresh.mjs")).href)) as DistFresh;
  const root = mkdtempSync(join(tmpdir(), "wsx-fresh-"));
  try {
    const file = (path: string, seconds: number): void => {
      mkdirSync(join(root, path, ".."), { recursive: true });
      writeFileSync(join(root, path), "");
      utimesSync(join(root, path), seconds, seconds);
    };
    file("src/index.ts", 1000);
    file("examples/chat/server.ts", 1000);
    file("tsconfig.json", 1000);
    assert.equal(needsBuild(root), true, "no dist/ at all");
    file("dist/src/index.js", 2000);
    file("dist/src/cli/main.js", 2000);
    assert.equal(needsBuild(root), true, "the demo is not built");
    file("dist/examples/chat/server.js", 2000);
    assert.equal(needsBuild(root), false, "every output newer than every source");
    file("examples/chat/public/app.js", 3000);
    assert.equal(needsBuild(root), false, "the page's files are not compiled");
    file("src/cli/connect.ts", 3000);
    assert.equal(needsBuild(root), true, "a source edited after the build");
    file("dist/src/index.js", 4000);
    file("dist/src/cli/main.js", 4000);
    file("dist/examples/chat/server.js", 4000);
    file("tsconfig.json", 5000);
    assert.equal(needsBuild(root), true, "tsconfig.json changed");
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("npm start with dist/ current: the demo starts without a build, serves the page, stops on SIGTERM", async () => {
  const start = Child.node(join(ROOT, "scripts/start.mjs"), [], { env: { PORT: "0" } });
  try {
    const match = await start.waitFor(/wsx chat demo on http:\/\/127\.0\.0\.1:(\d+)\//, "the demo's URL");
    assert.doesNotMatch(start.stdout, /building/, "no build when dist/ is current");
    const port = Number(match[1]);
    const page = parseResponse(await exchange(port, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"));
    assert.equal(page.status, 200);
    assert.match(page.headers["content-type"] ?? "", /^text\/html/);
    assert.match(page.body, /<title>wsx chat<\/title>/);
    const finished = await start.stop("SIGTERM");
    assert.equal(finished.code, 0, start.output());
    // The demo itself is gone too: nothing listens on its port any more.
    await assert.rejects(RawClient.connect(port), /ECONNREFUSED/);
  } finally {
    await start.stop("SIGKILL");
  }
});
