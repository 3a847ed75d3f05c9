/**
 * The benchmark's wsx/ws pieces run as the runner runs them (child
 * processes speaking lib/control.ts, stopped by PID): `servers/ws.js --wsx`
 * is ws's server program on wsx/ws (echo and the broadcast loop), and the
 * socketio scenario's server, on either engine, serves the Socket.IO
 * clients of `processes/socketio-load.js`. Counts only, no timing.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { WebSocket as WsClient, type RawData } from "ws";
import { SERVER_NAMES } from "../../bench/lib/bench.js";
import { Child } from "../../bench/lib/child.js";
import { SCENARIO_NAMES } from "../../bench/scenarios/index.js";
import { deadline, delay } from "../helpers/net.js";

const BENCH = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "bench");
const T = { timeout: 60_000 };
const WAIT = 15_000;
const children: Child[] = [];

after(async () => {
  for (const child of children.splice(0)) await child.kill();
});

function start(name: string, script: string, args: string[] = []): Child {
  const child = new Child({ name, command: process.execPath, args: [join(BENCH, script), ...args], stderr: false });
  children.push(child);
  return child;
}

async function startServer(name: string, script: string, args: string[]): Promise<{ child: Child; port: number }> {
  const child = start(name, script, args);
  return { child, port: Number(await child.readLine(WAIT)) };
}

/** The next `count` messages of a ws client. */
function messages(ws: WsClient, count: number): Promise<string[]> {
  const got: string[] = [];
  return deadline(
    new Promise((resolve) =>
      ws.on("message", (data: RawData) => {
        got.push(String(data));
        if (got.length === count) resolve(got);
      }),
    ),
    WAIT,
    `${count} messages`,
  );
}

async function client(url: string): Promise<WsClient> {
  const ws = new WsClient(url);
  await deadline(once(ws, "open"), WAIT, "open");
  return ws;
}

test("the runner knows the wsx-ws server and the socketio scenario", () => {
  assert.ok(SERVER_NAMES.includes("wsx-ws"));
  assert.ok((SCENARIO_NAMES as readonly string[]).includes("socketio"));
});

test("servers/ws.js --wsx: ws's program on wsx/ws echoes and runs its broadcast loop", T, async () => {
  const { child, port } = await startServer("wsx-ws", "servers/ws.js", ["--wsx"]);
  assert.equal((await child.request<{ library: string }>("info")).library, "wsx/ws");
  const echo = await client(`ws://127.0.0.1:${port}/echo`);
  const echoed = messages(echo, 2);
  echo.send("one");
  echo.send("two");
  assert.deepEqual(await echoed, ["one", "two"]);
  const subscribers = [await client(`ws://127.0.0.1:${port}/sub`), await client(`ws://127.0.0.1:${port}/sub`)];
  const heard = subscribers.map((ws) => messages(ws, 1));
  const publisher = await client(`ws://127.0.0.1:${port}/pub`);
  publisher.send("to all");
  assert.deepEqual(await Promise.all(heard), [["to all"], ["to all"]]);
  for (const ws of [echo, publisher, ...subscribers]) ws.terminate();
});

for (const engine of ["ws", "wsx"]) {
  test(`servers/socketio.js on the ${engine} engine serves the socketio load's echo and broadcast`, T, async () => {
    const { child, port } = await startServer(`socket.io ${engine}`, "servers/socketio.js", [engine]);
    assert.equal((await child.request<{ wsxEngine: boolean }>("info")).wsxEngine, engine === "wsx");
    for (const [shape, params, least] of [
      ["echo", { connections: 3, window: 4, size: 16 }, 100],
      ["broadcast", { subscribers: 5, window: 2, size: 16 }, 50],
    ] as const) {
      const load = start("socket.io load", "processes/socketio-load.js");
      const started = await load.request<{ connected: number }>(shape, { port, ...params }, WAIT);
      assert.equal(started.connected, "connections" in params ? params.connections : params.subscribers);
      let events = 0;
      for (let i = 0; i < 400 && events < least; i++) {
        await delay(25);
        events = (await load.request<{ messages: number }>("mark")).messages;
      }
      assert.ok(events >= least, `${shape}: ${events} events`);
      await load.kill();
    }
  });
}
