/**
 * The `wsx` command as a process: every command's --help, usage errors
 * (exit 2, one line, no stack trace), and the exit codes that say how a
 * connection went: refused with an HTTP status (4, the status printed),
 * unreachable (3), closed normally (0) or abnormally (1).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { serve, type WebSocketServer } from "../../src/index.js";
import { closedPort } from "../helpers/net.js";
import { runWsx, type Finished } from "../helpers/process.js";

/** A failure must be exactly one line on stderr, naming the command, without a stack trace. */
function assertOneLineError(result: Finished, command: string): void {
  const lines = result.stderr.split("\n").filter((line) => line !== "");
  assert.equal(lines.length, 1, `one line on stderr, got:\n${result.stderr}`);
  assert.match(lines[0]!, new RegExp(`^wsx${command === "" ? "" : ` ${command}`}: `), lines[0]);
  assert.doesNotMatch(result.stderr, /\n\s+at /, "no stack trace");
}

// Two processes at a time: twenty node processes started at once on a loaded
// 2-core machine took longer than the helper's 15 s bound each.
describe("wsx --help", { concurrency: 2 }, () => {
  test("wsx --help lists the commands", async () => {
    const result = await runWsx(["--help"]);
    assert.equal(result.code, 0);
    assert.match(result.stdout, /^Usage: wsx COMMAND/);
    for (const command of ["connect", "serve", "bench"]) assert.match(result.stdout, new RegExp(`\\n  ${command} `));
    assert.equal(result.stderr, "");
  });

  for (const command of ["connect", "serve", "bench"]) {
    test(`wsx ${command} --help shows its usage, options and exit codes`, async () => {
      const result = await runWsx([command, "--help"]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, new RegExp(`^Usage: wsx ${command} `));
      assert.match(result.stdout, /\nExit codes:\n {2}0 .*\n {2}1 .*\n {2}2 .*\n {2}3 .*\n {2}4 /);
      assert.equal(result.stderr, "");
      assert.deepEqual((await runWsx(["help", command])).stdout, result.stdout, "wsx help COMMAND is the same");
    });
  }

  test("wsx --version prints package.json's version", async () => {
    const result = await runWsx(["--version"]);
    assert.equal(result.code, 0);
    assert.match(result.stdout, /^\d+\.\d+\.\d+/);
  });
});

describe("usage errors: exit 2 and one line", { concurrency: 2 }, () => {
  const cases: Array<{ args: string[]; message: RegExp }> = [
    { args: [], message: /missing command/ },
    { args: ["frobnicate"], message: /unknown command 'frobnicate'/ },
    { args: ["connect"], message: /missing URL/ },
    { args: ["connect", "--nope", "ws://127.0.0.1:1"], message: /Unknown option '--nope'/ },
    { args: ["connect", "ws://127.0.0.1:1", "ws://127.0.0.1:2"], message: /unexpected argument 'ws:\/\/127\.0\.0\.1:2'/ },
    { args: ["connect", "--count", "0", "ws://127.0.0.1:1"], message: /--count must be a whole number from 1/ },
    { args: ["connect", "--wait", "soon", "ws://127.0.0.1:1"], message: /--wait must be a number of seconds/ },
    { args: ["connect", "--timeout", "1e10", "ws://127.0.0.1:1"], message: /--timeout must be a number of seconds above 0\.001 up to 2147483/ },
    { args: ["connect", "--binary", "octal", "ws://127.0.0.1:1"], message: /--binary must be one of hex, base64/ },
    { args: ["connect", "-H", "no colon", "ws://127.0.0.1:1"], message: /--header must look like 'Name: value'/ },
    { args: ["connect", "--auth", "nopassword", "ws://127.0.0.1:1"], message: /--auth must look like user:password/ },
    { args: ["connect", "--max-message-size", "huge", "ws://127.0.0.1:1"], message: /--max-message-size must be a size/ },
    { args: ["connect", "--ca", "/nonexistent/ca.pem", "wss://127.0.0.1:1"], message: /--ca: cannot read \/nonexistent\/ca\.pem \(ENOENT\)/ },
    { args: ["connect", "ftp://127.0.0.1:1"], message: /unsupported scheme ftp:/ },
    { args: ["connect", "-x"], message: /argument missing/ },
    { args: ["serve", "--port", "70000"], message: /--port must be a whole number from 0 to 65535/ },
    { args: ["serve", "--tls-cert", "cert.pem"], message: /--tls-cert and --tls-key go together/ },
    { args: ["serve", "--static", "/nonexistent/dir"], message: /--static: no such directory/ },
    { args: ["serve", "--path", "nope"], message: /--path must start with "\/"/ },
    { args: ["serve", "extra"], message: /unexpected argument 'extra'/ },
    { args: ["bench"], message: /missing URL/ },
    { args: ["bench", "-c", "0", "ws://127.0.0.1:1"], message: /--connections must be a whole number from 1/ },
    { args: ["bench", "--size", "lots", "ws://127.0.0.1:1"], message: /--size must be a size in bytes/ },
    { args: ["bench", "--duration=0", "ws://127.0.0.1:1"], message: /--duration must be a number of seconds above/ },
  ];
  for (const { args, message } of cases) {
    test(`wsx ${args.join(" ")}`.trimEnd(), async () => {
      const result = await runWsx(args);
      assert.equal(result.code, 2, `exit code\n${result.stderr}`);
      assertOneLineError(result, args.length === 0 || args[0] === "frobnicate" ? "" : args[0]!);
      assert.match(result.stderr, message);
      assert.equal(result.stdout, "");
    });
  }
});

describe("wsx connect exit codes", () => {
  let server: WebSocketServer;
  before(async () => {
    server = await serve(
      {
        port: 0,
        host: "127.0.0.1",
        authenticate: (request) => (request.path === "/private" ? { status: 401, headers: { "WWW-Authenticate": "Basic" } } : true),
      },
      async (ws, request) => {
        const [, action, code] = request.path.split("/");
        if (action === "close") await ws.close(Number(code), "server says bye");
        if (action === "drop") ws.terminate();
        if (action === "echo") for await (const message of ws) await ws.send(message);
      },
    );
  });
  after(() => server.close());
  const url = (path: string): string => `ws://127.0.0.1:${server.port}${path}`;

  test("a handshake refused with 401: exit 4, the status in one line (and in --json)", async () => {
    const result = await runWsx(["connect", "-x", "hi", url("/private")]);
    assert.equal(result.code, 4, result.stderr);
    assertOneLineError(result, "connect");
    assert.match(result.stderr, /handshake refused with HTTP 401/);
    const json = await runWsx(["connect", "--json", "-x", "hi", url("/private")]);
    assert.equal(json.code, 4);
    const record = JSON.parse(json.stdout.trim()) as { event: string; status: number };
    assert.equal(record.event, "error");
    assert.equal(record.status, 401);
  });

  test("nothing listening: exit 3 and the reason in one line", async () => {
    const result = await runWsx(["connect", "-x", "hi", `ws://127.0.0.1:${await closedPort()}/`]);
    assert.equal(result.code, 3, result.stderr);
    assertOneLineError(result, "connect");
    assert.match(result.stderr, /ECONNREFUSED/);
  });

  test("closed normally: exit 0 when wsx closes, and when the server closes with 1000", async () => {
    const mine = await runWsx(["connect", "-x", "hi", "-n", "1", "--wait", "10", url("/echo")]);
    assert.equal(mine.code, 0, mine.stderr);
    assert.match(mine.stderr, /\* closed 1000 \(clean\)/);
    const theirs = await runWsx(["connect", "--wait", "10", "-x", "hi", url("/close/1000")]);
    assert.equal(theirs.code, 0, theirs.stderr);
    assert.match(theirs.stderr, /\* closed 1000 "server says bye" \(clean\) by the server/);
  });

  test("closed abnormally: exit 1 when the server closes with 1011 or drops the connection", async () => {
    const error = await runWsx(["connect", "--wait", "10", "-x", "hi", url("/close/1011")]);
    assert.equal(error.code, 1, error.stderr);
    assert.match(error.stderr, /closed 1011 "server says bye" \(clean\) by the server/);
    const dropped = await runWsx(["connect", "--wait", "10", "-x", "hi", url("/drop")]);
    assert.equal(dropped.code, 1, dropped.stderr);
    assert.match(dropped.stderr, /closed 1006 \(not clean/);
    assert.doesNotMatch(dropped.stderr, /\n\s+at /);
  });
});
