/**
 * `wsx serve` as a process: static files beside the WebSocket endpoint on
 * one port (and nothing outside the directory, whatever the request path
 * says), --broadcast on pub/sub, --path refusals in the log, HTTPS, the
 * stats printed on Ctrl-C, and a port already in use.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { get as httpsGet } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { connect, type Message, type WebSocket } from "../../src/index.js";
import { deadline, eventually, exchange, parseResponse } from "../helpers/net.js";
import { fixtures } from "../helpers/wsx.js";
import { runWsx, startWsxServe, type ServeProcess } from "../helpers/process.js";

const CERT = fileURLToPath(new URL("../../../test/fixtures/cert.pem", import.meta.url));
const KEY = fileURLToPath(new URL("../../../test/fixtures/key.pem", import.meta.url));

/** GET `target` exactly as written (no URL normalisation on the way), answer parsed. */
async function rawGet(port: number, target: string, method = "GET"): Promise<ReturnType<typeof parseResponse>> {
  const bytes = await exchange(port, `${method} ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
  return parseResponse(bytes);
}

describe("wsx serve --static DIR --echo", () => {
  let dir: string;
  let server: ServeProcess;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "wsx-static-"));
    const root = join(dir, "public");
    mkdirSync(join(root, "sub"), { recursive: true });
    writeFileSync(join(root, "index.html"), "<!doctype html><title>root page</title>");
    writeFileSync(join(root, "notes.txt"), "plain notes");
    writeFileSync(join(root, "app.js"), "console.log(1);");
    writeFileSync(join(root, "sub", "index.html"), "<p>sub page</p>");
    writeFileSync(join(root, ".env"), "SECRET=1");
    writeFileSync(join(dir, "outside.txt"), "must never be served");
    symlinkSync(join(dir, "outside.txt"), join(root, "link.txt"));
    server = await startWsxServe(["--echo", "--static", root]);
  });
  after(async () => {
    await server.child.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("files are served with their types; a directory answers its index.html", async () => {
    const index = await rawGet(server.port, "/");
    assert.equal(index.status, 200);
    assert.equal(index.headers["content-type"], "text/html; charset=utf-8");
    assert.equal(index.body, "<!doctype html><title>root page</title>");
    const notes = await rawGet(server.port, "/notes.txt");
    assert.equal(notes.headers["content-type"], "text/plain; charset=utf-8");
    assert.equal(notes.body, "plain notes");
    assert.equal((await rawGet(server.port, "/app.js")).headers["content-type"], "text/javascript; charset=utf-8");
    assert.equal((await rawGet(server.port, "/sub/")).body, "<p>sub page</p>");
    const redirect = await rawGet(server.port, "/sub?x=1");
    assert.equal(redirect.status, 301);
    assert.equal(redirect.headers["location"], "/sub/?x=1");
    const head = await rawGet(server.port, "/notes.txt", "HEAD");
    assert.equal(head.status, 200);
    assert.equal(head.headers["content-length"], "11");
    assert.equal((await rawGet(server.port, "/notes.txt", "POST")).status, 405);
    assert.equal((await rawGet(server.port, "/missing.html")).status, 404);
    await server.child.waitFor(/127\.0\.0\.1:\d+ GET \/notes\.txt 200/, "HTTP requests in the log");
  });

  test("nothing outside the directory, and no dotfiles, whatever the path", async () => {
    const attempts = [
      "/../outside.txt",
      "/sub/../../outside.txt",
      "/%2e%2e/outside.txt",
      "/%2E%2E%2Foutside.txt",
      "/sub/..%2f..%2foutside.txt",
      "/..%5coutside.txt",
      "/%5c..%5coutside.txt",
      "/notes.txt%00.html",
      "/%",
      "/.env",
      "/%2eenv",
      "/link.txt",
      "//etc/passwd",
      "/../../../../../../etc/passwd",
    ];
    for (const target of attempts) {
      const response = await rawGet(server.port, target);
      assert.ok(response.status === 404 || response.status === 400, `${target}: ${response.status}`);
      assert.doesNotMatch(response.body, /must never be served|SECRET|root:/, target);
    }
  });

  test("the WebSocket endpoint shares the port", async () => {
    const ws = await connect(server.url());
    await ws.send("on the same port");
    assert.equal((await ws.receive({ timeout: 5000 })).text, "on the same port");
    await ws.close();
  });
});

describe("wsx serve --broadcast", () => {
  let server: ServeProcess;
  const sockets: WebSocket[] = [];
  before(async () => {
    server = await startWsxServe(["--broadcast", "--path", "/room"]);
  });
  after(async () => {
    for (const ws of sockets) ws.terminate();
    await server.child.stop();
  });

  test("a message reaches every other client, not its sender", async () => {
    for (let i = 0; i < 3; i++) sockets.push(await connect(server.url("/room")));
    const [a, b, c] = sockets as [WebSocket, WebSocket, WebSocket];
    const fromA: Message[] = [];
    a.on("message", (message) => fromA.push(message));
    await eventually(() => (server.child.stdout.match(/\+ #/g) ?? []).length === 3, "three connections in the log");
    await a.send("hello all");
    assert.equal((await b.receive({ timeout: 5000 })).text, "hello all");
    assert.equal((await c.receive({ timeout: 5000 })).text, "hello all");
    await c.send(new Uint8Array([1, 2, 3]));
    const binary = await b.receive({ timeout: 5000 });
    assert.equal(binary.type, "binary");
    assert.deepEqual([...binary.bytes], [1, 2, 3]);
    await eventually(() => fromA.length === 1, "a gets c's message");
    assert.deepEqual([...fromA[0]!.bytes], [1, 2, 3], "a got c's message only, not its own");
    // Without --echo or --verbose, broadcast does not print messages.
    assert.doesNotMatch(server.child.stdout, /< #/);
  });

  test("--path: another path is refused with 404, in wsx connect's exit code and the server's log", async () => {
    const result = await runWsx(["connect", "-x", "hi", server.url("/elsewhere")]);
    assert.equal(result.code, 4, result.stderr);
    assert.match(result.stderr, /HTTP 404/);
    await server.child.waitFor(/! 127\.0\.0\.1 refused with HTTP 404 /, "the refusal in the log");
  });
});

describe("wsx serve: TLS, printing, stats, errors", () => {
  test("--tls-cert/--tls-key serve https:// files and wss:// on one port", async () => {
    const dir = mkdtempSync(join(tmpdir(), "wsx-static-"));
    writeFileSync(join(dir, "index.html"), "secure page");
    const server = await startWsxServe(["--echo", "--static", dir, "--tls-cert", CERT, "--tls-key", KEY]);
    try {
      assert.match(server.child.stdout, /listening on wss:\/\/127\.0\.0\.1:\d+\/ and https:\/\/127\.0\.0\.1:\d+\//);
      const body = await deadline(
        new Promise<string>((resolve, reject) => {
          httpsGet({ host: "127.0.0.1", port: server.port, path: "/", ca: fixtures.cert }, (response) => {
            let text = "";
            response.setEncoding("utf8").on("data", (chunk: string) => (text += chunk));
            response.on("end", () => resolve(text));
          }).on("error", reject);
        }),
        5000,
        "https GET",
      );
      assert.equal(body, "secure page");
      const ws = await connect(server.url(), { tls: { ca: fixtures.cert } });
      await ws.send("tls echo");
      assert.equal((await ws.receive({ timeout: 5000 })).text, "tls echo");
      await ws.close();
    } finally {
      await server.child.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("without --echo/--broadcast messages are printed; SIGINT closes with 1001 and prints the stats", async () => {
    const server = await startWsxServe(["--json"]);
    const ws = await connect(server.url());
    await ws.send("printed");
    await ws.send(new Uint8Array([0xca, 0xfe]));
    await server.child.waitFor(/"data":"cafe"/, "the binary message in the log");
    const finished = await server.child.stop("SIGINT");
    assert.equal(finished.code, 0, finished.stderr);
    assert.equal((await ws.closed).code, 1001);
    const events = finished.stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    assert.deepEqual(
      events.map((e) => e["event"]),
      ["listening", "connection", "message", "message", "close", "stats"],
    );
    assert.deepEqual(events[2], { event: "message", id: 1, type: "text", size: 7, data: "printed" });
    const stats = events[5]!;
    assert.equal(stats["accepted"], 1);
    assert.equal(stats["messagesIn"], 2);
    assert.equal(stats["messagesOut"], 0);
    assert.deepEqual(stats["closedByCode"], { 1001: 1 });
  });

  test("each connection is logged with its peer, subprotocol and extensions, each close with its code", async () => {
    const server = await startWsxServe(["--echo", "--compress", "-s", "chat"]);
    try {
      const ws = await connect(server.url("/room"), { protocols: ["chat"], compression: true });
      const opened = await server.child.waitFor(/^\+ #1 (127\.0\.0\.1:\d+) \/room \(subprotocol chat; extensions (permessage-deflate[^)]*)\)$/m, "the connection line");
      assert.equal(opened[2], ws.extensions);
      await ws.close(4001, "done");
      await server.child.waitFor(new RegExp(`^- #1 ${opened[1]!.replace(/\./g, "\\.")} closed 4001 "done" \\(clean\\)$`, "m"), "the close line");
      const plain = await connect(server.url());
      await server.child.waitFor(/^\+ #2 127\.0\.0\.1:\d+ \/ \(subprotocol none; extensions none\)$/m, "a connection without either");
      await plain.close();
      await server.child.waitFor(/^- #2 127\.0\.0\.1:\d+ closed 1005 \(clean\)$/m, "its close line (1005: a close frame without a code)");
    } finally {
      await server.child.stop();
    }
  });

  test("a port in use: exit 3 and one line", async () => {
    const first = await startWsxServe(["--echo"]);
    try {
      const result = await runWsx(["serve", "--port", String(first.port)]);
      assert.equal(result.code, 3, result.stderr);
      assert.equal(result.stderr, `wsx serve: cannot listen on 127.0.0.1:${first.port}: EADDRINUSE\n`);
    } finally {
      await first.child.stop();
    }
  });
});
