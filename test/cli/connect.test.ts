/**
 * `wsx connect` through pipes, as scripts use it: against `wsx serve --echo`
 * (plain, TLS, compressed), lines piped in or given with -x, output as
 * marked lines or JSON; and against in-process wsx servers for what an echo
 * cannot show: binary as hex or base64, the headers and credentials sent,
 * limits.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { serve, type ServerRequest, type WebSocketServer } from "../../src/index.js";
import { runWsx, startWsxServe, type ServeProcess } from "../helpers/process.js";
import { startTinyproxy, tinyproxyUnavailable, type RunningProxy } from "../helpers/proxies.js";

const CERT = fileURLToPath(new URL("../../../test/fixtures/cert.pem", import.meta.url));
const KEY = fileURLToPath(new URL("../../../test/fixtures/key.pem", import.meta.url));

interface JsonRecord {
  event: string;
  direction?: string;
  type?: string;
  data?: string;
  encoding?: string;
  size?: number;
  code?: number;
  reason?: string;
  wasClean?: boolean;
  initiator?: string;
  protocol?: string | null;
  extensions?: string;
  rtt?: number;
}

function records(stdout: string): JsonRecord[] {
  return stdout
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as JsonRecord);
}

describe("wsx connect against wsx serve --echo", () => {
  let echo: ServeProcess;
  before(async () => {
    echo = await startWsxServe(["--echo", "-s", "chat", "--compress"]);
  });
  after(() => echo.child.stop());

  test("echo hi | wsx connect URL: sent, echoed, closed with 1000 (marked lines, no colour in a pipe)", async () => {
    const result = await runWsx(["connect", "-n", "1", "--wait", "10", echo.url()], { input: "hi\n" });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, "> hi\n< hi\n");
    assert.match(result.stderr, /^\* connected to ws:\/\/127\.0\.0\.1:\d+\/\n\* closed 1000 \(clean\)\n$/);
    assert.doesNotMatch(result.stdout + result.stderr, /\u001b\[/, "no escape codes when not on a terminal");
  });

  test("piped lines with --json: one object a line, in order, each line one message (empty lines too)", async () => {
    const lines = ["first", "", "ünïcødé ✓", '{"a":1}', "last"];
    const result = await runWsx(["connect", "--json", "-n", String(lines.length), "--wait", "10", echo.url("/json")], { input: `${lines.join("\n")}\n` });
    assert.equal(result.code, 0, result.stderr);
    const events = records(result.stdout);
    assert.deepEqual(events[0], { event: "open", url: echo.url("/json"), protocol: null, extensions: "" });
    const sent = events.filter((e) => e.event === "message" && e.direction === "out").map((e) => e.data);
    const received = events.filter((e) => e.event === "message" && e.direction === "in").map((e) => e.data);
    assert.deepEqual(sent, lines);
    assert.deepEqual(received, lines);
    assert.ok(events.filter((e) => e.event === "message").every((e) => e.type === "text" && e.size === Buffer.byteLength(e.data!)));
    assert.deepEqual(events.at(-1), { event: "close", code: 1000, reason: "", wasClean: true, initiator: "client" });
    assert.equal(result.stderr, "", "nothing but JSON is printed with --json");
  });

  test("-x MSG (repeatable) sends and exits; -s offers a subprotocol; --compress negotiates permessage-deflate", async () => {
    const result = await runWsx(["connect", "--json", "-x", "one", "-x", "two", "-n", "2", "--wait", "10", "-s", "other,chat", "--compress", echo.url()]);
    assert.equal(result.code, 0, result.stderr);
    const events = records(result.stdout);
    assert.equal(events[0]!.protocol, "chat");
    assert.match(events[0]!.extensions!, /^permessage-deflate/);
    const messages = events.filter((e) => e.event === "message");
    assert.deepEqual(messages.filter((e) => e.direction === "out").map((e) => e.data), ["one", "two"]);
    assert.deepEqual(messages.filter((e) => e.direction === "in").map((e) => e.data), ["one", "two"]);
    assert.ok(messages.findIndex((e) => e.direction === "out") < messages.findIndex((e) => e.direction === "in"), "a message is shown before its echo");
    // The server logs the connection with the peer, subprotocol and extensions, and its close code.
    await echo.child.waitFor(/\+ #\d+ 127\.0\.0\.1:\d+ \/ \(subprotocol chat; extensions permessage-deflate[^)]*\)/, "the connection in the server's log");
    await echo.child.waitFor(/- #\d+ 127\.0\.0\.1:\d+ closed 1000 \(clean\)/, "the close in the server's log");
  });

  test("--wait: without -n, the connection stays open that long for replies, then closes with 1000", async () => {
    const ok = await runWsx(["connect", "--json", "--wait", "0.5", "-x", "ping me", echo.url()]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.deepEqual(
      records(ok.stdout).map((e) => `${e.event}:${e.direction ?? ""}`),
      ["open:", "message:out", "message:in", "close:"],
    );
  });

  test("--max-message-size: a larger echo fails the connection (1009 to the server) and exits 1", async () => {
    const result = await runWsx(["connect", "--json", "--max-message-size", "16", "--wait", "10", "-x", "x".repeat(100), echo.url("/limited")]);
    assert.equal(result.code, 1, result.stdout + result.stderr);
    const close = records(result.stdout).at(-1)! as JsonRecord & { error?: string };
    assert.equal(close.event, "close");
    assert.equal(close.wasClean, false);
    assert.equal(close.initiator, "client");
    assert.match(close.error ?? "", /larger than maxMessageSize/);
    await echo.child.waitFor(/- #\d+ \S+ closed 1009 /, "the server's log: wsx closed with 1009");
  });

  test("--max-frame-size: an echo in one frame larger than that fails the connection (1009 to the server) and exits 1", async () => {
    const result = await runWsx(["connect", "--json", "--max-frame-size", "64", "--wait", "10", "-x", "y".repeat(200), echo.url("/frames")]);
    assert.equal(result.code, 1, result.stdout + result.stderr);
    const close = records(result.stdout).at(-1)! as JsonRecord & { error?: string };
    assert.equal(close.event, "close");
    assert.equal(close.initiator, "client");
    assert.match(close.error ?? "", /larger than maxFrameSize/);
    const id = (await echo.child.waitFor(/^\+ #(\d+) \S+ \/frames /m, "the connection in the server's log"))[1]!;
    await echo.child.waitFor(new RegExp(`^- #${id} \\S+ closed 1009 `, "m"), "the server's log: wsx closed with 1009");
  });
});

describe("wsx connect over TLS to wsx serve --tls-cert/--tls-key", () => {
  let secure: ServeProcess;
  before(async () => {
    secure = await startWsxServe(["--echo", "--tls-cert", CERT, "--tls-key", KEY]);
  });
  after(() => secure.child.stop());

  test("--ca trusts the certificate; without it exit 3; --insecure skips the check", async () => {
    assert.match(secure.url(), /^wss:/);
    const trusted = await runWsx(["connect", "--ca", CERT, "-x", "over tls", "-n", "1", "--wait", "10", secure.url()]);
    assert.equal(trusted.code, 0, trusted.stderr);
    assert.equal(trusted.stdout, "> over tls\n< over tls\n");
    const untrusted = await runWsx(["connect", "-x", "hi", secure.url()]);
    assert.equal(untrusted.code, 3, untrusted.stderr);
    assert.match(untrusted.stderr, /^wsx connect: could not connect to 127\.0\.0\.1:\d+: \S*(SELF_SIGNED|CERT)\S*\n$/);
    const insecure = await runWsx(["connect", "-k", "-x", "hi", "-n", "1", "--wait", "10", secure.url()]);
    assert.equal(insecure.code, 0, insecure.stderr);
  });
});

describe("wsx connect against in-process servers", () => {
  let server: WebSocketServer;
  let lastRequest: ServerRequest | undefined;
  before(async () => {
    server = await serve({ port: 0, host: "127.0.0.1" }, async (ws, request) => {
      lastRequest = request;
      if (request.path === "/binary") {
        await ws.send(new Uint8Array([0, 1, 2, 0xfe, 0xff]));
        await ws.send("and \u001b[31mred\u001b[0m text");
      }
      if (request.path === "/ping") await ws.ping("are you there");
      for await (const message of ws) await ws.send(message);
    });
  });
  after(() => server.close());
  const url = (path: string): string => `ws://127.0.0.1:${server.port}${path}`;

  test("binary messages: hex by default, base64 with --binary base64; control characters made visible", async () => {
    const hex = await runWsx(["connect", "-n", "2", "--wait", "10", url("/binary")], { input: "" });
    assert.equal(hex.code, 0, hex.stderr);
    assert.equal(hex.stdout, "< [binary 5 bytes] 000102feff\n< and \\u001b[31mred\\u001b[0m text\n");
    const base64 = await runWsx(["connect", "--json", "--binary", "base64", "-n", "2", "--wait", "10", url("/binary")], { input: "" });
    const messages = records(base64.stdout).filter((e) => e.event === "message");
    assert.deepEqual(messages[0], { event: "message", direction: "in", type: "binary", size: 5, encoding: "base64", data: "AAEC/v8=" });
    assert.equal(messages[1]!.data, "and \u001b[31mred\u001b[0m text", "JSON carries the text as it is");
  });

  test("a ping from the server is shown and answered", async () => {
    const result = await runWsx(["connect", "--json", "-x", "after the ping", "-n", "1", "--wait", "10", url("/ping")]);
    assert.equal(result.code, 0, result.stderr);
    const ping = records(result.stdout).find((e) => e.event === "ping")!;
    assert.equal(Buffer.from(ping.data!, "hex").toString(), "are you there");
  });

  test("-H, --auth, --cookie and --origin reach the server", async () => {
    const result = await runWsx([
      "connect",
      "-H",
      "X-Demo: one",
      "-H",
      "X-Other:two",
      "--auth",
      "ada:s3cret",
      "--cookie",
      "a=1",
      "--cookie",
      "b=2",
      "--origin",
      "https://app.example",
      "-x",
      "hi",
      "-n",
      "1",
      "--wait",
      "10",
      url("/headers"),
    ]);
    assert.equal(result.code, 0, result.stderr);
    const headers = lastRequest!.headers;
    assert.equal(headers["x-demo"], "one");
    assert.equal(headers["x-other"], "two");
    assert.equal(headers["authorization"], `Basic ${Buffer.from("ada:s3cret").toString("base64")}`);
    assert.equal(headers["cookie"], "a=1; b=2");
    assert.equal(headers["origin"], "https://app.example");
  });

  test("a URL without a scheme is taken as ws://", async () => {
    const result = await runWsx(["connect", "-x", "bare", "-n", "1", "--wait", "10", `127.0.0.1:${server.port}/bare`]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(lastRequest!.path, "/bare");
  });
});

describe("wsx connect through a real proxy (tinyproxy)", { skip: tinyproxyUnavailable() }, () => {
  let echo: ServeProcess;
  let proxy: RunningProxy;
  before(async () => {
    echo = await startWsxServe(["--echo"]);
    proxy = await startTinyproxy({ auth: { username: "alice", password: "s3cret" } });
  });
  after(async () => {
    await proxy.stop();
    await echo.child.stop();
  });
  const tunnels = (): number => proxy.log().split("\n").filter((line) => line.includes(`CONNECT 127.0.0.1:${echo.port} `)).length;
  const withCredentials = (): string => proxy.url.replace("http://", "http://alice:s3cret@");

  test("--proxy URL with user:password@: the connection goes through the proxy's tunnel", async () => {
    const before = tunnels();
    const result = await runWsx(["connect", "--json", "--proxy", withCredentials(), "-x", "via proxy", "-n", "1", echo.url("/")]);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.deepEqual(
      records(result.stdout).filter((r) => r.event === "message").map((r) => `${r.direction}:${r.data}`),
      ["out:via proxy", "in:via proxy"],
    );
    assert.equal(tunnels(), before + 1, proxy.log());
  });

  test("a proxy that refuses (407 without credentials): exit 3 and one line", async () => {
    const result = await runWsx(["connect", "--proxy", proxy.url, "-x", "hi", echo.url("/")]);
    assert.equal(result.code, 3, result.stdout + result.stderr);
    assert.match(result.stderr, /^wsx connect: .*407.*\n$/);
  });

  test("HTTP_PROXY from the environment is used; --no-proxy connects directly", async () => {
    const env = { HTTP_PROXY: proxy.url, http_proxy: proxy.url };
    const viaEnv = await runWsx(["connect", "-x", "hi", echo.url("/")], { env });
    assert.equal(viaEnv.code, 3, `the environment's proxy (no credentials) refused: ${viaEnv.stderr}`);
    const before = tunnels();
    const direct = await runWsx(["connect", "--no-proxy", "-x", "hi", "-n", "1", echo.url("/")], { env });
    assert.equal(direct.code, 0, direct.stdout + direct.stderr);
    assert.equal(direct.stdout, "> hi\n< hi\n");
    assert.equal(tunnels(), before, "no tunnel for --no-proxy");
  });

  test("--proxy with --no-proxy is a usage error", async () => {
    const result = await runWsx(["connect", "--proxy", proxy.url, "--no-proxy", echo.url("/")]);
    assert.equal(result.code, 2);
    assert.equal(result.stderr, "wsx connect: --proxy and --no-proxy exclude each other\n");
  });
});
