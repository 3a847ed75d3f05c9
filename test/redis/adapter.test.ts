/**
 * The Redis adapter against a real redis-server on a loopback port, with
 * recording hubs standing in for servers (several adapters in this process
 * are several nodes to Redis: each has its own connections and node id).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { redisAdapter } from "../../src/redis/index.js";
import { UsageError } from "../../src/index.js";
import { tick } from "../helpers/net.js";
import { RedisServer, redisUnavailable } from "./redis-server.js";
import { RecordingHub, TestNode, subscribersOf, until, waitForSubscribers } from "./nodes.js";

const numbered = (count: number, label = "m"): string[] => Array.from({ length: count }, (_, i) => `${label}${i}`);

describe("redis adapter (real redis-server)", { skip: redisUnavailable() }, () => {
  let redis: RedisServer;
  let admin: Redis;
  const nodes: TestNode[] = [];
  const node = (options: ConstructorParameters<typeof TestNode>[0] = {}): TestNode => {
    const made = new TestNode({ url: redis.url, ...options });
    nodes.push(made);
    return made;
  };

  before(async () => {
    redis = await RedisServer.start();
    admin = new Redis(redis.url);
  });
  after(async () => {
    await Promise.all(nodes.map((n) => n.close()));
    await admin.quit();
    await redis.stop();
  });

  test("each publish reaches every other node exactly once, in order, and is skipped by its own node", async () => {
    const [a, b, c] = [node(), node(), node()];
    for (const n of [a, b, c]) n.subscribe("order");
    await waitForSubscribers(admin, "wsx:order", 3);

    const sent = numbered(200);
    for (const text of sent) a.publishText("order", text);
    a.publishText("order", "end");
    await until(() => b.hub.texts("order").includes("end") && c.hub.texts("order").includes("end"), "the end marker on b and c");
    await until(() => a.adapter.stats.ownSkipped === 201, "a skips its own 201 publishes");

    assert.deepEqual(b.hub.texts("order"), [...sent, "end"]);
    assert.deepEqual(c.hub.texts("order"), [...sent, "end"]);
    assert.equal(a.hub.deliveries.length, 0, "a delivered its own publishes locally already");
    assert.equal(a.adapter.stats.published, 201);
    assert.equal(b.adapter.stats.delivered, 201);
    for (const n of [a, b, c]) assert.deepEqual(n.errors, []);
  });

  test("binary and text payloads arrive byte for byte, with their type", async () => {
    const [a, b] = [node(), node()];
    b.subscribe("bytes");
    await waitForSubscribers(admin, "wsx:bytes", 1);

    const everyByte = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const notUtf8 = Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0x00, 0x80]);
    const large = Buffer.alloc(1 << 20, 0xa5);
    const text = Buffer.from("héllo wörld 🎉", "utf8");
    a.adapter.publish("bytes", everyByte, true);
    a.adapter.publish("bytes", notUtf8, true);
    a.adapter.publish("bytes", new Uint8Array(0), true);
    a.adapter.publish("bytes", large, true);
    a.adapter.publish("bytes", text, false);
    a.adapter.publish("bytes", new Uint8Array(0), false);
    await until(() => b.hub.deliveries.length === 6, "six deliveries");

    const got = b.hub.deliveries;
    assert.deepEqual(
      got.map((d) => d.binary),
      [true, true, true, true, false, false],
    );
    assert.ok(got[0]!.payload.equals(everyByte));
    assert.ok(got[1]!.payload.equals(notUtf8));
    assert.equal(got[2]!.payload.length, 0);
    assert.ok(got[3]!.payload.equals(large));
    assert.equal(got[4]!.payload.toString("utf8"), "héllo wörld 🎉");
    assert.equal(got[5]!.payload.length, 0);
  });

  test("a node that unsubscribes stops receiving; the others go on", async () => {
    const [a, b, c] = [node(), node(), node()];
    b.subscribe("unsub");
    c.subscribe("unsub");
    await waitForSubscribers(admin, "wsx:unsub", 2);
    a.publishText("unsub", "first");
    await until(() => b.hub.texts("unsub").length === 1 && c.hub.texts("unsub").length === 1, "first on b and c");

    b.unsubscribe("unsub");
    await waitForSubscribers(admin, "wsx:unsub", 1);
    a.publishText("unsub", "second");
    a.publishText("unsub", "third");
    await until(() => c.hub.texts("unsub").length === 3, "second and third on c");
    // Redis dropped b's subscription before "second" was published, so nothing more is on its way to b.
    assert.deepEqual(b.hub.texts("unsub"), ["first"]);
    assert.deepEqual(c.hub.texts("unsub"), ["first", "second", "third"]);

    b.subscribe("unsub");
    await waitForSubscribers(admin, "wsx:unsub", 2);
    a.publishText("unsub", "fourth");
    await until(() => b.hub.texts("unsub").length === 2, "fourth on b after subscribing again");
    assert.deepEqual(b.hub.texts("unsub"), ["first", "fourth"]);
  });

  test("topics are separate channels, and another prefix is another namespace", async () => {
    const a = node();
    const b = node();
    const other = node({ prefix: "app2:" });
    b.subscribe("x");
    other.subscribe("x");
    await waitForSubscribers(admin, "wsx:x", 1);
    await waitForSubscribers(admin, "app2:x", 1);
    a.publishText("y", "not for x");
    a.publishText("x", "for x");
    await until(() => b.hub.deliveries.length === 1, "one delivery on b");
    await waitForSubscribers(admin, "wsx:y", 0);
    assert.deepEqual(b.hub.texts("x"), ["for x"]);
    assert.equal(other.hub.deliveries.length, 0, "prefix app2: does not see wsx: traffic");
  });

  test("malformed messages on a channel are ignored, counted and reported", async () => {
    const [a, b] = [node(), node()];
    b.subscribe("junk");
    await waitForSubscribers(admin, "wsx:junk", 1);
    await admin.publish("wsx:junk", Buffer.from([1, 0, 1, 2])); // shorter than the header
    await admin.publish("wsx:junk", Buffer.from([9, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0x41])); // unknown version
    await admin.publish("wsx:junk", Buffer.from([1, 0x80, 1, 2, 3, 4, 5, 6, 7, 8, 0x41])); // unknown flag
    await admin.publish("wsx:junk", "plain text from someone else");
    a.publishText("junk", "valid");
    await until(() => b.hub.deliveries.length === 1, "the valid message");

    assert.deepEqual(b.hub.texts("junk"), ["valid"]);
    assert.equal(b.adapter.stats.malformed, 4);
    assert.deepEqual(
      b.errors.map((e) => e.code),
      ["REDIS_MALFORMED_MESSAGE", "REDIS_MALFORMED_MESSAGE", "REDIS_MALFORMED_MESSAGE", "REDIS_MALFORMED_MESSAGE"],
    );
    assert.match(b.errors[0]!.message, /shorter than the 10-byte header/);
    assert.match(b.errors[1]!.message, /unknown format version 9/);
    assert.match(b.errors[2]!.message, /unknown flags 0x80/);
  });

  test("an onError hook that throws does not stop delivery", async () => {
    const a = node();
    const b = redisAdapter({
      url: redis.url,
      onError: () => {
        throw new Error("hook failure");
      },
    });
    const hub = new RecordingHub();
    b.attach(hub);
    try {
      hub.topics.add("hook");
      b.subscribe("hook");
      await waitForSubscribers(admin, "wsx:hook", 1);
      await admin.publish("wsx:hook", Buffer.from([0]));
      a.publishText("hook", "still delivered");
      await until(() => hub.deliveries.length === 1, "delivery after a throwing hook");
      assert.equal(b.stats.malformed, 1);
    } finally {
      await b.close();
    }
  });

  test("given connections are used, not quit; the adapter's own are quit on close", async () => {
    const connectedClients = async (): Promise<number> => String(await admin.client("LIST")).trim().split("\n").length;
    const baseline = await connectedClients();

    const owned = new TestNode({ url: redis.url });
    owned.subscribe("own");
    await until(async () => (await connectedClients()) === baseline + 2, "two connections for the owned adapter");

    // lazyConnect: the adapter connects them itself.
    const publisher = new Redis(redis.url, { lazyConnect: true });
    const subscriber = new Redis(redis.url, { lazyConnect: true });
    const borrowing = new TestNode({ publisher, subscriber });
    borrowing.subscribe("own");
    await waitForSubscribers(admin, "wsx:own", 2);
    borrowing.publishText("own", "via given clients");
    await until(() => owned.hub.deliveries.length === 1, "delivery from the borrowing node");

    await borrowing.close();
    assert.equal(publisher.status, "ready");
    assert.equal(subscriber.status, "ready");
    await waitForSubscribers(admin, "wsx:own", 1); // the borrowed subscriber left the adapter's channels
    assert.equal(await publisher.ping(), "PONG");

    await owned.close();
    await until(async () => (await connectedClients()) === baseline + 2, "only the two given connections remain");
    await waitForSubscribers(admin, "wsx:own", 0);
    await Promise.all([publisher.quit(), subscriber.quit()]);
  });

  test("publishes made while the publisher connects go out in publish order", async () => {
    const b = node();
    b.subscribe("early");
    await waitForSubscribers(admin, "wsx:early", 1);
    // Spread over event-loop turns, so that they span connecting, the handshake and ready.
    const a = node();
    const sent = numbered(300, "e");
    for (const text of sent) {
      a.publishText("early", text);
      await tick();
    }
    await until(() => b.hub.deliveries.length >= sent.length, "every early publish");
    assert.deepEqual(b.hub.texts("early"), sent);
    assert.equal(a.adapter.stats.publishesDropped, 0);
  });

  test("with maxQueuedBytes 0, publishes made while not connected are dropped, counted and reported once", async () => {
    const b = node();
    b.subscribe("drop");
    await waitForSubscribers(admin, "wsx:drop", 1);
    const a = node({ maxQueuedBytes: 0 });
    for (const text of numbered(10, "lost")) a.publishText("drop", text); // before the connection can be ready
    assert.equal(a.adapter.stats.publishesDropped, 10);
    assert.deepEqual(
      a.errors.map((e) => e.code),
      ["REDIS_PUBLISH_DROPPED"],
    );
    // Once connected, publishes flow.
    await until(() => {
      a.publishText("drop", "probe");
      return b.hub.deliveries.length > 0;
    }, "a probe once a is connected");
    const sent = numbered(20, "kept");
    for (const text of sent) a.publishText("drop", text);
    await until(() => b.hub.texts("drop").includes("kept19"), "the kept publishes");
    assert.deepEqual(
      b.hub.texts("drop").filter((text) => text !== "probe"),
      sent,
    );
  });

  test("subscribe/unsubscribe churn while the subscriber connects leaves Redis with exactly the node's topics", async () => {
    // Rounds of different lengths, so that some end while the connection is still connecting or in its handshake.
    const rounds = 40;
    const churned: TestNode[] = [];
    for (let round = 0; round < rounds; round++) {
      const b = node();
      churned.push(b);
      for (let i = 0; i < round; i++) {
        b.subscribe(`churn${round}`);
        await tick();
        b.unsubscribe(`churn${round}`);
        if (i % 2 === 1) await tick();
      }
      b.subscribe(`kept${round}`);
    }
    for (let round = 0; round < rounds; round++) await waitForSubscribers(admin, `wsx:kept${round}`, 1);
    const a = node();
    for (let round = 0; round < rounds; round++) {
      assert.equal(await subscribersOf(admin, `wsx:churn${round}`), 0, `round ${round}`);
      a.publishText(`churn${round}`, "nobody listens");
      a.publishText(`kept${round}`, "marker");
    }
    await until(() => churned.every((b) => b.hub.deliveries.length > 0), "the markers");
    for (const b of churned) assert.deepEqual(b.hub.deliveries.map((d) => d.payload.toString()), ["marker"]);
  });

  test("after close, publish, subscribe and close again are harmless no-ops", async () => {
    const a = node();
    await a.close();
    a.publishText("closed", "nothing");
    a.subscribe("closed");
    a.unsubscribe("closed");
    await a.close();
    assert.equal(await subscribersOf(admin, "wsx:closed"), 0);
    assert.equal(a.adapter.stats.published, 0);
    assert.throws(() => a.adapter.attach(a.hub), (error: unknown) => error instanceof UsageError);
  });

  test("when Redis restarts, nodes reconnect and resubscribe; nothing is delivered twice or out of order", async () => {
    // Its own redis-server, so the restart does not disturb the other tests' connections.
    const restarting = await RedisServer.start();
    const watcher = new Redis(restarting.url);
    const a = new TestNode({ url: restarting.url });
    const b = new TestNode({ url: restarting.url });
    try {
      b.subscribe("live");
      await waitForSubscribers(watcher, "wsx:live", 1);
      const before = numbered(20, "before");
      for (const text of before) a.publishText("live", text);
      await until(() => b.hub.deliveries.length >= before.length, "messages before the restart");
      assert.deepEqual(b.hub.texts("live"), before);

      await restarting.stop();
      // Published while Redis is down: queued by ioredis, sent on reconnection;
      // b gets them only if it has resubscribed by then (at most once).
      const during = numbered(5, "during");
      for (const text of during) a.publishText("live", text);
      await restarting.startAgain();

      // Generous bounds: ioredis' reconnection backoff grows while Redis is down.
      await waitForSubscribers(watcher, "wsx:live", 1, 1000); // b subscribed again on its own
      const afterRestart = numbered(50, "after");
      for (const text of afterRestart) a.publishText("live", text);
      await until(() => b.hub.texts("live").includes("after49"), "messages after the restart", 1000);

      const got = b.hub.texts("live");
      assert.deepEqual(got.slice(0, before.length), before);
      assert.deepEqual(got.slice(-afterRestart.length), afterRestart);
      const middle = got.slice(before.length, -afterRestart.length);
      // Whatever of `during` made it, arrived once and in order.
      assert.deepEqual(middle, during.filter((text) => middle.includes(text)));
      assert.equal(a.adapter.stats.publishFailures, 0);
      assert.equal(a.adapter.stats.publishesDropped, 0);
    } finally {
      await Promise.all([a.close(), b.close()]);
      watcher.disconnect();
      await restarting.stop();
    }
  });
});

describe("redis adapter options", () => {
  test("misuse is refused with a UsageError", () => {
    const fake = {} as Redis;
    const other = {} as Redis;
    const refused = (code: string) => (error: unknown) => error instanceof UsageError && error.code === code;
    assert.throws(() => redisAdapter({ publisher: fake }), refused("REDIS_CLIENTS"));
    assert.throws(() => redisAdapter({ subscriber: fake }), refused("REDIS_CLIENTS"));
    assert.throws(() => redisAdapter({ publisher: fake, subscriber: fake }), refused("REDIS_CLIENTS"));
    assert.throws(() => redisAdapter({ publisher: fake, subscriber: other, url: "redis://127.0.0.1:1" }), refused("REDIS_CLIENTS"));
    assert.throws(() => redisAdapter({ maxQueuedBytes: -1 }), refused("INVALID_OPTION"));
    assert.throws(() => redisAdapter({ maxQueuedBytes: "5" as never }), refused("INVALID_OPTION"));
    assert.throws(() => redisAdapter({ prefx: "app:" } as never), (error: unknown) => refused("UNKNOWN_OPTION")(error) && /did you mean "prefix"/.test(String(error)));
    assert.throws(() => redisAdapter({ prefix: 5 } as never), refused("INVALID_OPTION"));
    // Nothing connects before attach: an unattached adapter can be dropped or closed freely.
    const idle = redisAdapter({ url: "redis://127.0.0.1:1" });
    assert.match(idle.nodeId, /^[0-9a-f]{16}$/);
    assert.notEqual(idle.nodeId, redisAdapter().nodeId);
    return idle.close();
  });
});
