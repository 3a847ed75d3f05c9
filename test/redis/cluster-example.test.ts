/**
 * examples/cluster.ts runs: a node:cluster primary with two workers on one
 * port, sharing topics through a real redis-server, checks itself (a client
 * on one worker publishes, a client on another receives) and stops.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { RedisServer, redisUnavailable } from "./redis-server.js";

const EXAMPLE = fileURLToPath(new URL("../../examples/cluster.js", import.meta.url));
const TIMEOUT_MS = 30_000;

describe("examples/cluster.js", { skip: redisUnavailable() }, () => {
  let redis: RedisServer;
  before(async () => {
    redis = await RedisServer.start();
  });
  after(() => redis.stop());

  test("two workers on one port: a publish on one worker reaches a client of the other", async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, PORT: "0", HOST: "127.0.0.1", REDIS_URL: redis.url, WSX_WORKERS: "2", WSX_CLUSTER_CHECK: "1" };
    delete env["NODE_TEST_CONTEXT"];
    const child = spawn(process.execPath, [EXAMPLE], { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (text: string) => (stdout += text));
    child.stderr.setEncoding("utf8").on("data", (text: string) => (stderr += text));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      // The primary's pid; its workers exit with it (they lose their IPC channel).
      if (child.pid !== undefined) process.kill(child.pid, "SIGKILL");
    }, TIMEOUT_MS);
    const code = await new Promise<number | null>((resolve) => child.once("close", (exitCode) => resolve(exitCode)));
    clearTimeout(timer);
    const output = `--- stdout\n${stdout}--- stderr\n${stderr}`;
    assert.equal(timedOut, false, `killed after ${TIMEOUT_MS} ms\n${output}`);
    assert.equal(code, 0, output);
    assert.match(stdout, /client 1 on worker \d+, client 2 on worker \d+/, output);
    assert.match(stdout, /client 2 received "\[worker \d+\] hello #\d+ across workers" published on another worker/, output);
    assert.match(stdout, /cluster example: OK/, output);
  });
});
