/**
 * The TypeScript blocks of the guides in docs/ that are marked to run run
 * (test/docs/code-blocks.test.ts type-checks every block of README.md and
 * docs/). A block after a `<!-- run -->` line runs as a program:
 * its fixed `127.0.0.1:PORT` addresses become a local echo server's, and it
 * must finish without throwing. After `<!-- run: proxy -->`, 127.0.0.1:3128
 * is a real tinyproxy that wants alice:s3cret, and the block must print what
 * came back through it and the proxy's 407 refusal. After `<!-- run: tls -->`,
 * it runs in a directory holding private-ca.pem, device.pem and device.key
 * (made with openssl), and 127.0.0.1:8443 is a wss echo server whose
 * certificate that CA issued and which requires a client certificate from it.
 * After `<!-- run: cookies -->`, 127.0.0.1:8080 answers /login with a 302 to
 * /app that sets a session cookie, and lets only that cookie into /app.
 * After `<!-- run: silent -->`, the address accepts TCP connections and never
 * answers, and the block must print the TLS phase's timeout.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import ts from "typescript";
import { serve, type WebSocketServer } from "../../src/index.js";
import { opensslUnavailable, TestCertificates } from "../helpers/certs.js";
import { listenRaw } from "../helpers/net.js";
import { startTinyproxy, tinyproxyUnavailable, type RunningProxy } from "../helpers/proxies.js";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const docsDir = join(root, "docs");
/** Inside the package, so "wsx" resolves to the package itself (its exports) and tough-cookie to node_modules. */
const blocksDir = join(root, "dist", "doc-blocks");

interface Block {
  name: string;
  code: string;
  /** Runs as a program: with the echo server only, or with a proxy too. */
  run: false | "echo" | "proxy" | "tls" | "cookies" | "silent";
}

function blocks(file: string): Block[] {
  const text = readFileSync(join(docsDir, file), "utf8");
  const found: Block[] = [];
  for (const match of text.matchAll(/(?:<!-- run(?:: (proxy|tls|cookies|silent))? -->\n)?```ts\n([\s\S]*?)\n```/g)) {
    const line = text.slice(0, match.index).split("\n").length;
    const run = !match[0].startsWith("<!--") ? false : ((match[1] as Exclude<Block["run"], false | "echo"> | undefined) ?? "echo");
    found.push({ name: `${file}:${line}`, code: match[2]!, run });
  }
  return found;
}

const guides = readdirSync(docsDir).filter((name) => name.endsWith(".md"));
const all = guides.flatMap(blocks);
const fileOf = (block: Block): string => join(blocksDir, `${block.name.replace(/[^a-z0-9]+/gi, "_")}.ts`);

describe("docs/: blocks marked to run", () => {
  let echo: WebSocketServer;
  let proxy: RunningProxy | undefined;
  before(async () => {
    echo = await serve({ port: 0, host: "127.0.0.1" }, async (ws) => {
      for await (const message of ws) await ws.send(message);
    });
    mkdirSync(blocksDir, { recursive: true });
  });
  after(async () => {
    await proxy?.stop();
    await echo.close();
  });

  /** Runs `code` as a program; returns what it printed. */
  async function run(block: Block, code: string, cwd?: string): Promise<string> {
    const js = ts.transpileModule(`${code}\nprocess.exit(0);\n`, {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    }).outputText;
    const file = fileOf(block).replace(/\.ts$/, ".run.mjs");
    writeFileSync(file, js);
    try {
      // Asynchronous: the echo server the block talks to lives in this process.
      return (await promisify(execFile)(process.execPath, [file], { encoding: "utf8", timeout: 20_000, cwd })).stdout;
    } catch (error) {
      assert.fail(`${block.name} failed:\n${code}\n--- stderr ---\n${(error as { stderr?: string }).stderr ?? String(error)}`);
    } finally {
      rmSync(file, { force: true });
    }
  }

  test("some blocks run", () => {
    assert.ok(all.some((block) => block.run));
  });

  for (const block of all.filter((b) => b.run === "echo")) {
    test(block.name, async () => {
      await run(block, block.code.replace(/127\.0\.0\.1:\d+/g, `127.0.0.1:${echo.port}`));
    });
  }

  for (const block of all.filter((b) => b.run === "proxy")) {
    test(`${block.name} (through tinyproxy)`, { skip: tinyproxyUnavailable() }, async () => {
      proxy ??= await startTinyproxy({ auth: { username: "alice", password: "s3cret" } });
      // 3128 is the proxy; every other address is the echo server.
      const code = block.code
        .replace(/127\.0\.0\.1:(\d+)/g, (_, port: string) => `127.0.0.1:${port === "3128" ? proxy!.port : echo.port}`);
      const printed = await run(block, code);
      assert.match(printed, /hello through the proxy/);
      assert.match(printed, /PROXY_REFUSED 407/);
      assert.match(proxy.log(), new RegExp(`CONNECT 127\\.0\\.0\\.1:${echo.port} `), "the tunnel went through tinyproxy");
    });
  }

  for (const block of all.filter((b) => b.run === "tls")) {
    test(`${block.name} (mutual TLS with a private CA)`, { skip: opensslUnavailable() }, async () => {
      const certs = new TestCertificates();
      let server: WebSocketServer | undefined;
      try {
        const ca = certs.ca("private-ca");
        const serverCert = certs.issue("server", "private-ca", ["IP:127.0.0.1"]);
        certs.issue("device", "private-ca");
        const devices: string[] = [];
        server = await serve(
          { port: 0, host: "127.0.0.1", tls: { cert: serverCert.cert, key: serverCert.key, ca, requestCert: true, rejectUnauthorized: true } },
          async (ws, request) => {
            devices.push(request.path);
            for await (const message of ws) await ws.send(message);
          },
        );
        const printed = await run(block, block.code.replace(/127\.0\.0\.1:\d+/g, `127.0.0.1:${server.port}`), certs.dir);
        assert.match(printed, /authenticated by certificate/);
        assert.deepEqual(devices, ["/device"]);
      } finally {
        await server?.close();
        certs.remove();
      }
    });
  }

  for (const block of all.filter((b) => b.run === "cookies")) {
    test(`${block.name} (a login that sets a cookie on its redirect)`, async () => {
      const server = await serve(
        {
          port: 0,
          host: "127.0.0.1",
          authenticate: (request) => {
            if (request.path === "/login") return { status: 302, headers: { "Set-Cookie": "session=abc123; Path=/; HttpOnly", Location: "/app" } };
            return request.path === "/app" && request.headers["cookie"] === "session=abc123";
          },
        },
        async (ws) => {
          await ws.send("welcome");
          for await (const _ of ws);
        },
      );
      try {
        const printed = await run(block, block.code.replace(/127\.0\.0\.1:\d+/g, `127.0.0.1:${server.port}`));
        assert.match(printed, new RegExp(`ws://127\\.0\\.0\\.1:${server.port}/app welcome`));
        assert.match(printed, /^session=abc123$/m);
      } finally {
        await server.close();
      }
    });
  }

  for (const block of all.filter((b) => b.run === "silent")) {
    test(`${block.name} (a server that never answers)`, async () => {
      const silent = await listenRaw(() => {});
      try {
        const printed = await run(block, block.code.replace(/127\.0\.0\.1:\d+/g, `127.0.0.1:${silent.port}`));
        assert.match(printed, /^TLS TLS_TIMEOUT 300$/m);
      } finally {
        await silent.close();
      }
    });
  }
});
