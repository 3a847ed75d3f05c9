/**
 * Unix domain sockets at both ends: serve({ socketPath }) listens on one,
 * connect() reaches it through a ws+unix: URL (the form `ws` accepts) or the
 * socketPath option; wss over a Unix socket too; redirects stay on the socket.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, serve, UsageError, WebSocketError, type WebSocketServer } from "../../src/index.js";
import { fixtures, rejection } from "../helpers/wsx.js";

describe("Unix domain sockets", () => {
  let dir: string;
  let socketPath: string;
  let server: WebSocketServer;
  const seen: Array<{ path: string; host: string | undefined }> = [];
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "wsx-unix-"));
    socketPath = join(dir, "wsx.sock");
    server = await serve({ socketPath }, async (ws, request) => {
      seen.push({ path: request.path + (request.query ? `?${request.query}` : ""), host: request.headers["host"] });
      for await (const message of ws) await ws.send(`${request.path}: ${message.text}`);
    });
  });
  after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("serve({ socketPath }) listens on the socket file", () => {
    assert.ok(existsSync(socketPath));
  });

  test("ws+unix:///path/to.sock:/request/path reaches the server with that request path", async () => {
    const ws = await connect(`ws+unix://${socketPath}:/chat?room=1`);
    await ws.send("hi");
    assert.equal((await ws.receive({ timeout: 3000 })).text, "/chat: hi");
    assert.equal(ws.url, `ws+unix://${socketPath}:/chat?room=1`);
    await ws.close();
    assert.deepEqual(seen.at(-1), { path: "/chat?room=1", host: "localhost" });
  });

  test("without a request path the request goes to /", async () => {
    const ws = await connect(`ws+unix://${socketPath}`);
    await ws.send("root");
    assert.equal((await ws.receive({ timeout: 3000 })).text, "/: root");
    await ws.close();
  });

  test("the socketPath option: the URL gives the Host header and the path", async () => {
    const ws = await connect("ws://api.internal/feed", { socketPath });
    await ws.send("x");
    assert.equal((await ws.receive({ timeout: 3000 })).text, "/feed: x");
    await ws.close();
    assert.deepEqual(seen.at(-1), { path: "/feed", host: "api.internal" });
  });

  test("no proxy is used for a Unix socket, whatever the environment says", async () => {
    const saved = process.env["HTTP_PROXY"];
    process.env["HTTP_PROXY"] = "http://127.0.0.1:9";
    try {
      const ws = await connect(`ws+unix://${socketPath}:/direct`);
      await ws.close();
    } finally {
      if (saved === undefined) delete process.env["HTTP_PROXY"];
      else process.env["HTTP_PROXY"] = saved;
    }
  });

  test("a socket that does not exist: CONNECT_FAILED naming it", async () => {
    const missing = join(dir, "missing.sock");
    const error = await rejection(connect(`ws+unix://${missing}:/`));
    assert.equal((error as WebSocketError).code, "CONNECT_FAILED");
    assert.match(error.message, new RegExp(`unix:${missing}.*ENOENT`));
  });

  test("bad forms are refused", async () => {
    assert.equal(((await rejection(connect("ws+unix://"))) as WebSocketError).code, "INVALID_URL");
    const both = await rejection(connect(`ws+unix://${socketPath}:/`, { socketPath }));
    assert.ok(both instanceof UsageError);
    await assert.rejects(serve({ socketPath, port: 0 }), UsageError);
  });

  test("a relative redirect stays on the socket", async () => {
    const redirectPath = join(dir, "redirect.sock");
    const redirector = await serve({
      socketPath: redirectPath,
      authenticate: (request) => request.path === "/old" ? { status: 301, headers: { Location: "/new" } } : true,
    }, async (ws, request) => {
      await ws.send(request.path);
    });
    try {
      const ws = await connect(`ws+unix://${redirectPath}:/old`, { redirect: true });
      assert.equal((await ws.receive({ timeout: 3000 })).text, "/new");
      assert.equal(ws.url, `ws+unix://${redirectPath}:/new`);
      await ws.close();
    } finally {
      await redirector.close();
    }
    assert.equal(existsSync(redirectPath), false, "the socket file is removed on close");
  });

  test("wss+unix: TLS over the Unix socket", async () => {
    const tlsPath = join(dir, "tls.sock");
    const tlsServer = await serve({ socketPath: tlsPath, tls: { ...fixtures } }, async (ws) => {
      for await (const message of ws) await ws.send(message);
    });
    try {
      const ws = await connect(`wss+unix://${tlsPath}:/secure`, { tls: { ca: fixtures.cert } });
      await ws.send("sealed");
      assert.equal((await ws.receive({ timeout: 3000 })).text, "sealed");
      await ws.close();
    } finally {
      await tlsServer.close();
    }
  });
});
