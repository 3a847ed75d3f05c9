/**
 * Scale-out end to end: three wsx servers in separate processes
 * (fixtures/node-server.ts) share topics through a real redis-server on a
 * loopback port; wsx clients subscribe and publish on each of them through
 * the fixture's small text protocol.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { connect, type Message, type WebSocket } from "../../src/index.js";
import { deadline } from "../helpers/net.js";
import { RedisServer, redisUnavailable } from "./redis-server.js";
import { until, waitForSubscribers } from "./nodes.js";

const FIXTURE = fileURLToPath(new URL("./fixtures/node-server.js", import.meta.url));
const START_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 10_000;

/** A wsx server node in its own process. */
class NodeProcess {
  port = 0;
  nodeId = "";
  private stdout = "";
  private stderr = "";
  private constructor(private readonly child: ChildProcess) {}

  static async start(redisUrl: string): Promise<NodeProcess> {
    assert.ok(existsSync(FIXTURE), `${FIXTURE} is missing: build with \`npx tsc -p tsconfig.json\` first`);
    const env = { ...process.env };
    delete env["NODE_TEST_CONTEXT"];
    const child = spawn(process.execPath, [FIXTURE, redisUrl], { env, stdio: ["ignore", "pipe", "pipe"] });
    const node = new NodeProcess(child);
    child.stderr!.setEncoding("utf8").on("data", (text: string) => (node.stderr += text));
    const listening = new Promise<void>((resolve, reject) => {
      child.stdout!.setEncoding("utf8").on("data", (text: string) => {
        node.stdout += text;
        const match = /listening (\d+) ([0-9a-f]+)/.exec(node.stdout);
        if (match !== null) {
          node.port = Number(match[1]);
          node.nodeId = match[2]!;
          resolve();
        }
      });
      child.once("error", reject);
      child.once("exit", (code, signal) => reject(new Error(`node exited (code ${code}, signal ${signal}) before listening:\n${node.output()}`)));
    });
    try {
      await deadline(listening, START_TIMEOUT_MS, "a wsx node to listen");
    } catch (error) {
      await node.stop();
      throw error;
    }
    return node;
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}`;
  }

  output(): string {
    return `--- stdout\n${this.stdout}--- stderr\n${this.stderr}`;
  }

  /** SIGTERM by PID (the node closes its server and adapter), SIGKILL if it lingers. */
  async stop(): Promise<void> {
    const child = this.child;
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    process.kill(child.pid, "SIGTERM");
    try {
      await deadline(exited, STOP_TIMEOUT_MS, "a wsx node to stop");
    } catch {
      process.kill(child.pid, "SIGKILL");
      await exited;
    }
  }
}

/** A wsx client of one node, recording every message it receives. */
class Client {
  readonly received: Message[] = [];
  private constructor(readonly ws: WebSocket) {
    ws.on("message", (message) => this.received.push(message));
  }

  static async open(node: NodeProcess): Promise<Client> {
    return new Client(await connect(node.url));
  }

  /** Messages of `topic`-tagged texts: everything but the fixture's acknowledgements. */
  texts(): string[] {
    return this.received.filter((m) => m.type === "text" && !m.text.startsWith("ok:")).map((m) => m.text);
  }

  private async command(text: string): Promise<void> {
    const count = this.received.length;
    await this.ws.send(text);
    await until(() => this.received.slice(count).some((m) => m.type === "text" && m.text === `ok:${text}`), `ok:${text}`);
  }

  subscribe(topic: string): Promise<void> {
    return this.command(`sub:${topic}`);
  }

  unsubscribe(topic: string): Promise<void> {
    return this.command(`unsub:${topic}`);
  }

  publish(topic: string, data: string): Promise<void> {
    return this.ws.send(`pub:${topic}:${data}`);
  }

  publishBinary(topic: string, payload: Uint8Array): Promise<void> {
    const name = Buffer.from(topic);
    return this.ws.send(Buffer.concat([Buffer.from([name.length]), name, payload]));
  }

  close(): Promise<unknown> {
    return this.ws.close();
  }
}

const numbered = (count: number, label: string): string[] => Array.from({ length: count }, (_, i) => `${label}${i}`);

describe("three wsx servers in separate processes share topics through Redis", { skip: redisUnavailable() }, () => {
  let redis: RedisServer;
  let admin: Redis;
  let nodes: NodeProcess[] = [];
  const clients: Client[] = [];
  const client = async (node: NodeProcess): Promise<Client> => {
    const made = await Client.open(node);
    clients.push(made);
    return made;
  };

  before(async () => {
    redis = await RedisServer.start();
    admin = new Redis(redis.url);
    nodes = await Promise.all([0, 1, 2].map(() => NodeProcess.start(redis.url)));
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await Promise.all(nodes.map((n) => n.stop()));
    admin.disconnect();
    await redis.stop();
  });

  test("every subscriber on every node gets each publish exactly once, in order (the publisher's node included)", async () => {
    const [a, b, c] = nodes as [NodeProcess, NodeProcess, NodeProcess];
    const subscribers = await Promise.all([a, a, b, b, c, c].map(client));
    for (const s of subscribers) await s.subscribe("feed");
    await waitForSubscribers(admin, "wsx:feed", 3); // one Redis subscription per node, not per client

    // The publisher is itself a subscriber on node a: it gets its own messages once (locally, not again via Redis).
    const publisher = subscribers[0]!;
    const sent = [...numbered(200, "n"), "end"];
    for (const text of sent) await publisher.publish("feed", text);
    for (const s of subscribers) await until(() => s.texts().includes("end"), "the end marker on every subscriber", 500);
    for (const [i, s] of subscribers.entries()) assert.deepEqual(s.texts(), sent, `subscriber ${i}`);
  });

  test("publishes from every node at once: each node's publishes arrive complete and in their order everywhere", async () => {
    const [a, b, c] = nodes as [NodeProcess, NodeProcess, NodeProcess];
    const subscribers = await Promise.all([a, b, c].map(client));
    for (const s of subscribers) await s.subscribe("mixed");
    const publishers = await Promise.all([a, b, c].map(client));
    await waitForSubscribers(admin, "wsx:mixed", 3);

    const labels = ["a", "b", "c"];
    await Promise.all(
      publishers.map(async (p, i) => {
        for (const text of numbered(100, `${labels[i]}-`)) await p.publish("mixed", text);
      }),
    );
    for (const s of subscribers) await until(() => s.texts().length >= 300, "300 messages on every subscriber", 500);
    for (const [i, s] of subscribers.entries()) {
      const got = s.texts();
      assert.equal(got.length, 300, `subscriber ${i} got no duplicates`);
      for (const label of labels) {
        assert.deepEqual(
          got.filter((text) => text.startsWith(`${label}-`)),
          numbered(100, `${label}-`),
          `subscriber ${i}, publisher ${label}`,
        );
      }
    }
  });

  test("unsubscribing stops delivery, and a node's last unsubscribe leaves the Redis channel", async () => {
    const [a, b, c] = nodes as [NodeProcess, NodeProcess, NodeProcess];
    const [b1, b2, c1] = await Promise.all([b, b, c].map(client));
    const publisher = await client(a);
    for (const s of [b1, b2, c1]) await s.subscribe("news");
    await b1.subscribe("marker");
    await waitForSubscribers(admin, "wsx:news", 2);
    await waitForSubscribers(admin, "wsx:marker", 1);

    await b1.unsubscribe("news");
    await publisher.publish("news", "after b1 left");
    // Same node, same Redis connection, later publish: once b1 has the marker it would have had the news.
    await publisher.publish("marker", "marker");
    await until(() => b1.texts().includes("marker"), "the marker on b1");
    await until(() => b2.texts().includes("after b1 left") && c1.texts().includes("after b1 left"), "the news on b2 and c1");
    assert.deepEqual(b1.texts(), ["marker"]);

    await c1.unsubscribe("news");
    await waitForSubscribers(admin, "wsx:news", 1); // node c listens no more
    await publisher.publish("news", "only b2");
    await until(() => b2.texts().includes("only b2"), "b2 still gets the news");
    assert.deepEqual(c1.texts(), ["after b1 left"]);
  });

  test("binary and text payloads cross nodes intact, with their type", async () => {
    const [a, b, c] = nodes as [NodeProcess, NodeProcess, NodeProcess];
    const subscribers = await Promise.all([b, c].map(client));
    for (const s of subscribers) await s.subscribe("bytes");
    const publisher = await client(a);
    await waitForSubscribers(admin, "wsx:bytes", 2);

    const everyByte = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const large = Buffer.alloc(200_000, 0x5a);
    await publisher.publishBinary("bytes", everyByte);
    await publisher.publishBinary("bytes", large);
    await publisher.publish("bytes", "ünïcödé ✓ 🎉");
    for (const s of subscribers) {
      await until(() => s.received.length >= 4, "three messages after the acknowledgement");
      const [, first, second, third] = s.received;
      assert.equal(first!.type, "binary");
      assert.ok(Buffer.from(first!.bytes).equals(everyByte));
      assert.equal(second!.type, "binary");
      assert.ok(Buffer.from(second!.bytes).equals(large));
      assert.equal(third!.type, "text");
      assert.equal(third!.text, "ünïcödé ✓ 🎉");
      assert.equal(s.received.length, 4);
    }
  });
});

describe("wsx servers in separate processes when Redis restarts", { skip: redisUnavailable() }, () => {
  test("they reconnect and resubscribe, and publishes flow again, never twice nor out of order", async () => {
    const redis = await RedisServer.start();
    const watcher = new Redis(redis.url);
    const nodes: NodeProcess[] = [];
    const clients: Client[] = [];
    try {
      nodes.push(...(await Promise.all([0, 1].map(() => NodeProcess.start(redis.url)))));
      const [a, b] = nodes as [NodeProcess, NodeProcess];
      const subscriber = await Client.open(b);
      const publisher = await Client.open(a);
      clients.push(subscriber, publisher);
      await subscriber.subscribe("live");
      await waitForSubscribers(watcher, "wsx:live", 1);
      const before = numbered(20, "before");
      for (const text of before) await publisher.publish("live", text);
      await until(() => subscriber.texts().length >= before.length, "messages before the restart");
      assert.deepEqual(subscriber.texts(), before);

      await redis.stop();
      const during = numbered(5, "during");
      for (const text of during) await publisher.publish("live", text);
      await redis.startAgain();

      // Generous bounds: ioredis' reconnection backoff grows while Redis is down.
      await waitForSubscribers(watcher, "wsx:live", 1, 1000);
      const afterRestart = numbered(50, "after");
      for (const text of afterRestart) await publisher.publish("live", text);
      await until(() => subscriber.texts().includes("after49"), "messages after the restart", 1000);

      const got = subscriber.texts();
      assert.deepEqual(got.slice(0, before.length), before);
      assert.deepEqual(got.slice(-afterRestart.length), afterRestart);
      const middle = got.slice(before.length, -afterRestart.length);
      assert.deepEqual(middle, during.filter((text) => middle.includes(text)), "what arrived of `during` arrived once, in order");
    } finally {
      await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
      await Promise.all(nodes.map((n) => n.stop()));
      watcher.disconnect();
      await redis.stop();
    }
  });
});
