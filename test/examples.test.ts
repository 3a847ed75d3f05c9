/**
 * Runs every compiled seed example (dist/examples/seeds/*.js) as a child
 * process, in its default mode (it starts its own local server), and checks
 * that it exits 0 and prints what it is meant to do.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const SEEDS_DIR = fileURLToPath(new URL("../examples/seeds/", import.meta.url));
const TIMEOUT_MS = 20_000;

/** Lines each example must print; every seed of ../shared/seeds has one example. */
const EXPECTED: Record<string, RegExp[]> = {
  "xous-client.js": [
    /client: wrong password refused with HTTP 401/,
    /server: Authorization header accepted/,
    /client: connected over plain TCP \(ws\), sub-protocol test/,
    /client: connected over TLS \(wss\), sub-protocol test/,
    /client: sent 12 bytes "test message"/,
    /callback: opcode 9 \(Ping\)/,
    /callback: opcode 2 \(Binary\) fin=true 12 bytes "test message"/,
    /callback: opcode 8 \(Close\)/,
    /client: closed \(code 1000, clean true\)/,
    /xous-client: OK/,
  ],
  "embedded-websocket.js": [
    /client: opening handshake written \(\d+ bytes in 7-byte pieces\)/,
    /server: HTTP header complete after \d+ reads of <= 7 bytes/,
    /client: handshake complete after \d+ reads \(Sec-WebSocket-Accept verified\)/,
    /server: read text frame "hello"/,
    /client: read Text "hello"/,
    /client: read Binary echo of 300 bytes/,
    /server: read Close 1000 \(must reply\), writing the Close reply/,
    /client: read Close reply 1000; close handshake complete \(state closed\)/,
    /offline: 70000-byte frame streamed in \d+ payload pieces of <= 7 bytes/,
    /embedded-websocket: OK/,
  ],
  "c-websock.js": [
    /server: {3}Host: 127\.0\.0\.1:\d+ {3}\(implicit\)/,
    /server: {3}Upgrade: websocket {3}\(implicit\)/,
    /server: {3}Connection: Upgrade {3}\(implicit\)/,
    /server: {3}Sec-WebSocket-Key: \S+ {3}\(implicit\)/,
    /server: {3}Sec-WebSocket-Version: 13 {3}\(implicit\)/,
    /server: {3}X-Device-Id: dev-42 {3}\(from hndshk_hdrs\)/,
    /websock_recv -> fin=1 opcode=1 payload_len=12 offset=0 data="hello from C"/,
    /websock_recv: ping handled internally/,
    /websock_recv -> fin=0 opcode=2 payload_len=4 offset=0 data=\[0,1,2\]/,
    /websock_recv -> fin=0 opcode=2 payload_len=4 offset=3 data=\[3\]/,
    /websock_recv -> fin=1 opcode=0 payload_len=2 offset=0 data=\[8,9\]/,
    /websock_recv\(timeout=300\) -> timeout/,
    /server: {3}Host: localhost:\d+ {3}\(implicit\)/,
    /websock_recv: close handled internally/,
    /websock_open -> NULL/,
    /c-websock: OK/,
  ],
  "websocketz.js": [
    /client: 101 response carries Server: wsx/,
    /server: accepted \/ws, User-Agent "wsx", X-Demo "websocketz"/,
    /client: connected to ws:\/\/127\.0\.0\.1:\d+\/ws \(autoPong false, autoClose false\)/,
    /client: sent text "this text travels as 8-byte fragments" in 5 fragments/,
    /server: received text "this text travels as 8-byte fragments"/,
    /client: received binary "Hello, WebSocket!"/,
    /server: received binary "Hello, WebSocket!"/,
    /client: ping "still there\?", answering with a pong by hand/,
    /server: pong received/,
    /server: closing with CloseFrame\(1000, "done"\)/,
    /client: close frame 1000 "done", answering by hand/,
    /server: closed, peer answered 1000 "bye", clean true/,
    /client: connected to ws:\/\/in-process\/ws over a caller's stream/,
    /websocketz: OK/,
  ],
  "gerbil.js": [
    /server: \/old moved, redirecting to \/ws\?room=lobby/,
    /server: client offers \[chat, superchat\], selecting superchat/,
    /server: cookie "session=abc123; theme=dark", auth "gerbil:scheme", X-Client "gerbil-demo"/,
    /client: connected to wss:\/\/127\.0\.0\.1:\d+\/ws\?room=lobby, protocol superchat, max frame size 1024/,
    /client: send of 2000 bytes -> error FRAME_TOO_BIG/,
    /server: recv -> \{ data: "hello from gerbil", type: text, partial: false \}/,
    /server: recv-all -> \{ data: <3000 bytes>, type: binary, partial: false \}/,
    /client: recv -> \{ data: "partial ", type: text, partial: true \}/,
    /client: recv -> \{ data: "demo", type: text, partial: false \}/,
    /client: recv -> \{ data: <5 bytes>, type: ping, partial: false \}/,
    /server: recv -> \{ data: <5 bytes>, type: pong, partial: false \}/,
    /client: recv-all \(max 4096\) -> error RECEIVE_TOO_BIG/,
    /server: connection closed by the client with 1009 "message too big"/,
    /gerbil: OK/,
  ],
};

interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

function runExample(file: string): Promise<Outcome> {
  const env = { ...process.env };
  // Default mode: no target URL, and none of node:test's settings for its own children.
  delete env["WSX_URL"];
  delete env["NODE_TEST_CONTEXT"];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [file], { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    child.stdout.setEncoding("utf8").on("data", (text: string) => (stdout += text));
    child.stderr.setEncoding("utf8").on("data", (text: string) => (stderr += text));
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid !== undefined) process.kill(child.pid, "SIGKILL");
    }, TIMEOUT_MS);
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
}

const compiled = readdirSync(SEEDS_DIR)
  .filter((name) => name.endsWith(".js"))
  .sort();

test("every seed has a compiled example", () => {
  for (const name of Object.keys(EXPECTED)) assert.ok(compiled.includes(name), `missing ${name} in ${SEEDS_DIR}`);
});

for (const name of compiled) {
  test(`examples/seeds/${name} runs to completion`, async () => {
    const outcome = await runExample(join(SEEDS_DIR, name));
    const output = `--- stdout\n${outcome.stdout}--- stderr\n${outcome.stderr}`;
    assert.equal(outcome.timedOut, false, `killed after ${TIMEOUT_MS} ms\n${output}`);
    assert.equal(outcome.code, 0, `exit code ${outcome.code} (signal ${outcome.signal})\n${output}`);
    for (const line of EXPECTED[name] ?? []) assert.match(outcome.stdout, line, output);
  });
}
