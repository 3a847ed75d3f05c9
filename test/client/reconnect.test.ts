/**
 * reconnecting() against real servers: a wsx server in a child process that
 * is killed and restarted on the same port (the connection comes back,
 * onOpen runs again, queued sends go out in order), servers that refuse
 * (401/403/404: no retry unless asked), close codes the application lists,
 * give-up rules, queue overflow policies, the user's own close(), and the
 * message iterator across connections.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import {
  reconnecting,
  serve,
  ConnectionClosedError,
  HandshakeError,
  QueueOverflowError,
  UsageError,
  type DisconnectEvent,
  type ReconnectingWebSocket,
  type ReconnectEnd,
  type WebSocketServer,
} from "../../src/index.js";
import { Daemon } from "../helpers/daemon.js";
import { closedPort, deadline, deferred, LOOPBACK } from "../helpers/net.js";

const FIXTURE = fileURLToPath(new URL("./fixtures/echo-server.js", import.meta.url));
const fast = { initialDelay: 20, maxDelay: 100 };

/** The next `event` of `emitter`, within a deadline. */
function next<T>(emitter: ReconnectingWebSocket, event: "open" | "disconnect" | "close" | "attempt-failed", ms = 10_000): Promise<T> {
  return deadline(new Promise<T>((resolve) => emitter.once(event, ((...args: unknown[]) => resolve(args[0] as T)) as never)), ms, `"${event}" event`);
}

async function startEcho(port = 0): Promise<{ daemon: Daemon; port: number }> {
  const daemon = Daemon.start(process.execPath, [FIXTURE, String(port)]);
  const match = await daemon.waitFor(/listening (\d+)/);
  return { daemon, port: Number(match[1]) };
}

describe("reconnecting(): a server in a child process, killed and restarted", () => {
  const daemons: Daemon[] = [];
  after(async () => {
    for (const daemon of daemons) await daemon.stop("SIGKILL");
  });

  test("the connection comes back; onOpen runs each time; sends made meanwhile go out in order after it", async () => {
    const first = await startEcho();
    daemons.push(first.daemon);
    const opens: Array<{ attempt: number; reconnected: boolean }> = [];
    const feed = reconnecting(`ws://${LOOPBACK}:${first.port}/`, {
      reconnect: fast,
      onOpen: async (ws, info) => {
        opens.push(info);
        await ws.send("subscribe");
      },
    });
    const replies: string[] = [];
    const got = (count: number): Promise<void> =>
      deadline(
        (async () => {
          while (replies.length < count) replies.push((await feed.ws!.receive()).text.replace(/^\d+: /, (m) => (m === `${first.daemon.pid}: ` ? "1:" : "2:")));
        })(),
        10_000,
        `${count} replies`,
      );
    try {
      await next(feed, "open");
      await feed.send("a");
      await got(2);
      assert.deepEqual(replies, ["1:subscribe", "1:a"]);

      const lost = next<DisconnectEvent>(feed, "disconnect");
      await first.daemon.stop("SIGKILL");
      const disconnect = await lost;
      assert.equal(disconnect.code, 1006);
      assert.equal(disconnect.willReconnect, true);
      assert.equal(feed.ws, null);

      // Sent while the server is down: queued, in order.
      const queued = [feed.send("q1"), feed.send("q2"), feed.send("q3")];
      assert.equal(feed.queued, 3);
      const back = next(feed, "open");
      const second = await startEcho(first.port);
      daemons.push(second.daemon);
      await back;
      await Promise.all(queued);
      await got(6);
      assert.deepEqual(replies.slice(2), ["2:subscribe", "2:q1", "2:q2", "2:q3"]);
      assert.equal(opens.length, 2);
      assert.equal(opens[0]!.reconnected, false);
      assert.equal(opens[1]!.reconnected, true);
      assert.ok(opens[1]!.attempt >= 1);
    } finally {
      const end = await feed.close();
      assert.equal(end.cause, "closed");
    }
  });

  test("waits for a server that is not up yet, then connects", async () => {
    const port = await closedPort();
    const feed = reconnecting(`ws://${LOOPBACK}:${port}/`, { reconnect: fast });
    try {
      await next(feed, "attempt-failed");
      const opened = next(feed, "open");
      const server = await startEcho(port);
      daemons.push(server.daemon);
      await opened;
      await feed.send("late");
      assert.equal((await feed.ws!.receive({ timeout: 5000 })).text, `${server.daemon.pid}: late`);
    } finally {
      await feed.close();
    }
  });
});

describe("reconnecting(): when not to reconnect", () => {
  let refusing: WebSocketServer;
  let attempts = 0;
  const refusals: Record<string, number> = { "/401": 401, "/403": 403, "/429": 429 };
  before(async () => {
    refusing = await serve({ port: 0, host: LOOPBACK, path: ["/401", "/403", "/429", "/ok"], authenticate: (request) => {
      attempts++;
      const status = refusals[request.path];
      return status === undefined ? true : { status };
    } });
  });
  after(() => refusing.close());

  for (const path of ["/401", "/403", "/404"]) {
    test(`a ${path.slice(1)} refusal ends it at once: no second attempt`, async () => {
      const before = attempts;
      const feed = reconnecting(`ws://${LOOPBACK}:${refusing.port}${path}`, { reconnect: fast });
      const end = await deadline(feed.closed, 5000, "the end");
      assert.equal(end.cause, "refused");
      assert.ok(end.error instanceof HandshakeError);
      assert.equal(end.error.status, Number(path.slice(1)));
      // The 404 is the path check, before authenticate runs.
      assert.equal(attempts - before, path === "/404" ? 0 : 1);
      await assert.rejects(feed.send("x"), ConnectionClosedError);
    });
  }

  test("a 429 is retried; shouldReconnect can ask for retries after a refusal too", async () => {
    const before = attempts;
    const feed = reconnecting(`ws://${LOOPBACK}:${refusing.port}/429`, { reconnect: { ...fast, maxAttempts: 3 } });
    const end = await deadline(feed.closed, 5000, "the end");
    assert.equal(end.cause, "max-attempts");
    assert.equal(attempts - before, 3);

    const insisting = reconnecting(`ws://${LOOPBACK}:${refusing.port}/401`, { reconnect: { ...fast, shouldReconnect: () => true } });
    const failures: number[] = [];
    insisting.on("attempt-failed", (event) => failures.push(event.attempt));
    await deadline((async () => { while (failures.length < 3) await next(insisting, "attempt-failed"); })(), 5000, "three attempts");
    await insisting.close();
    assert.equal((await insisting.closed).cause, "closed");
  });

  test("maxAttempts against a port nobody listens on: gives up after that many, with the last error", async () => {
    const port = await closedPort();
    const feed = reconnecting(`ws://${LOOPBACK}:${port}/`, { reconnect: { ...fast, maxAttempts: 3 } });
    const retries: number[] = [];
    feed.on("retry", (event) => retries.push(event.attempt));
    const end = await deadline(feed.closed, 5000, "the end");
    assert.equal(end.cause, "max-attempts");
    assert.match(end.error?.message ?? "", /ECONNREFUSED/);
    assert.deepEqual(retries, [2, 3]);
  });

  test("backoff: each wait is drawn between 0 and a bound that grows by factor up to maxDelay (full jitter)", async () => {
    const port = await closedPort();
    const policy = { initialDelay: 8, factor: 2, maxDelay: 40, maxAttempts: 12 };
    const feed = reconnecting(`ws://${LOOPBACK}:${port}/`, { reconnect: policy });
    const retries: Array<{ attempt: number; delay: number }> = [];
    feed.on("retry", (event) => retries.push(event));
    assert.equal((await deadline(feed.closed, 10_000, "the end")).cause, "max-attempts");
    assert.deepEqual(
      retries.map((r) => r.attempt),
      [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
    );
    const bounds = retries.map((r) => Math.min(policy.maxDelay, policy.initialDelay * policy.factor ** (r.attempt - 2)));
    assert.deepEqual(bounds, [8, 16, 32, 40, 40, 40, 40, 40, 40, 40, 40]);
    for (const [i, { delay }] of retries.entries()) {
      assert.ok(Number.isInteger(delay) && delay >= 0 && delay <= bounds[i]!, `wait ${delay} before attempt ${retries[i]!.attempt}, bound ${bounds[i]}`);
    }
    // Jittered, not the bound itself every time (eleven uniform draws all at the top are practically impossible).
    assert.ok(retries.some((r, i) => r.delay < bounds[i]! - 1), retries.map((r) => r.delay).join(" "));
  });

  test("maxAttempts counts connections that drop before stableAfter; one that stayed up starts the count over", async () => {
    let holdMs = 0;
    let connections = 0;
    const server = await serve({ port: 0, host: LOOPBACK }, async (ws) => {
      connections++;
      if (holdMs > 0) await new Promise((resolve) => setTimeout(resolve, holdMs));
      await ws.close(1012, "restarting");
    });
    try {
      // Dropped at once: three connections, none stable, then it gives up.
      const flaky = reconnecting(`ws://${LOOPBACK}:${server.port}/`, { reconnect: { ...fast, maxAttempts: 3, stableAfter: 5000 } });
      const end = await deadline(flaky.closed, 10_000, "the end");
      assert.equal(end.cause, "max-attempts");
      assert.equal(connections, 3);

      // Up for 300 ms each, stable after 20: every drop starts the count over, so it goes past maxAttempts.
      holdMs = 300;
      connections = 0;
      const steady = reconnecting(`ws://${LOOPBACK}:${server.port}/`, { reconnect: { ...fast, maxAttempts: 2, stableAfter: 20 } });
      const attempts: number[] = [];
      steady.on("open", (_ws, { attempt }) => attempts.push(attempt));
      for (let i = 0; i < 4; i++) await next(steady, "disconnect");
      assert.equal(steady.state === "closed", false, "still reconnecting after four drops");
      assert.deepEqual(attempts.slice(0, 4), [1, 1, 1, 1]);
      await steady.close();
    } finally {
      await server.close();
    }
  });

  test("a deadline ends the attempts", async () => {
    const port = await closedPort();
    const feed = reconnecting(`ws://${LOOPBACK}:${port}/`, { reconnect: { initialDelay: 50, maxDelay: 50, deadline: 200 } });
    const end = await deadline(feed.closed, 5000, "the end");
    assert.equal(end.cause, "deadline");
  });

  test("a close code in stopOnCloseCodes ends it; another code reconnects", async () => {
    let connections = 0;
    const server = await serve({ port: 0, host: LOOPBACK }, async (ws) => {
      connections++;
      await ws.close(connections === 1 ? 4002 : 4001, connections === 1 ? "try again" : "banned");
    });
    try {
      const feed = reconnecting(`ws://${LOOPBACK}:${server.port}/`, { reconnect: { ...fast, stopOnCloseCodes: [4001] } });
      const events: DisconnectEvent[] = [];
      feed.on("disconnect", (event) => events.push(event));
      const end = await deadline(feed.closed, 5000, "the end");
      assert.deepEqual(events.map((e) => [e.code, e.willReconnect]), [[4002, true], [4001, false]]);
      assert.deepEqual([end.cause, end.code, end.reason], ["close-code", 4001, "banned"]);
      assert.equal(connections, 2);
    } finally {
      await server.close();
    }
  });

  test("after the user's own close() there is no other attempt", async () => {
    let connections = 0;
    const server = await serve({ port: 0, host: LOOPBACK }, async (ws) => {
      connections++;
      for await (const message of ws) await ws.send(message);
    });
    try {
      const feed = reconnecting(`ws://${LOOPBACK}:${server.port}/`, { reconnect: fast });
      await next(feed, "open");
      const disconnects: DisconnectEvent[] = [];
      feed.on("disconnect", (event) => disconnects.push(event));
      const end: ReconnectEnd = await feed.close(1000, "bye");
      assert.deepEqual([end.cause, end.code], ["closed", 1000]);
      assert.equal(feed.state, "closed");
      // Give a wrongly scheduled attempt every chance to happen.
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.equal(connections, 1);
      assert.deepEqual(disconnects, []);
    } finally {
      await server.close();
    }
  });

  test("an AbortSignal closes it like close()", async () => {
    const port = await closedPort();
    const controller = new AbortController();
    const feed = reconnecting(`ws://${LOOPBACK}:${port}/`, { reconnect: fast, signal: controller.signal });
    await next(feed, "attempt-failed");
    controller.abort();
    assert.equal((await deadline(feed.closed, 5000, "the end")).cause, "closed");
  });
});

describe("reconnecting(): the queue of messages sent while disconnected", () => {
  test('"reject": past the limit the new message is refused; close() rejects what waits', async () => {
    const port = await closedPort();
    const feed = reconnecting(`ws://${LOOPBACK}:${port}/`, { reconnect: fast, queue: { limit: 2 } });
    const kept = [feed.send("1"), feed.send("2")];
    await assert.rejects(feed.send("3"), (error: Error) => error instanceof QueueOverflowError && error.code === "QUEUE_FULL");
    await feed.close();
    for (const promise of kept) await assert.rejects(promise, ConnectionClosedError);
  });

  test('"drop-oldest": the oldest waiting message is dropped; the rest go out in order once connected', async () => {
    const port = await closedPort();
    const feed = reconnecting(`ws://${LOOPBACK}:${port}/`, { reconnect: fast, queue: { limit: 2, overflow: "drop-oldest" } });
    const first = feed.send("1");
    const rest = [feed.send("2"), feed.send("3")];
    await assert.rejects(first, (error: Error) => error instanceof QueueOverflowError && error.code === "QUEUE_DROPPED");
    const received: string[] = [];
    const done = deferred();
    const server = await serve({ port, host: LOOPBACK }, async (ws) => {
      for await (const message of ws) {
        received.push(message.text);
        if (received.length === 2) done.resolve();
      }
    });
    try {
      await Promise.all(rest);
      await deadline(done.promise, 5000, "two messages");
      assert.deepEqual(received, ["2", "3"]);
    } finally {
      await feed.close();
      await server.close();
    }
  });

  test("a limit of 0 keeps nothing", async () => {
    const feed = reconnecting(`ws://${LOOPBACK}:${await closedPort()}/`, { reconnect: fast, queue: { limit: 0 } });
    await assert.rejects(feed.send("x"), QueueOverflowError);
    await feed.close();
  });

  test("a URL that can never work is refused at once (bad options: see options.test.ts)", () => {
    assert.throws(() => reconnecting("ftp://127.0.0.1/"), UsageError);
  });
});

describe("reconnecting(): messages across connections", () => {
  test("for await reads every connection's messages in turn and ends with close()", async () => {
    let connections = 0;
    const server = await serve({ port: 0, host: LOOPBACK }, async (ws) => {
      connections++;
      await ws.send(`from connection ${connections}`);
      if (connections === 1) await ws.close(1012, "restarting");
    });
    const feed = reconnecting(`ws://${LOOPBACK}:${server.port}/`, { reconnect: fast });
    const texts: string[] = [];
    try {
      await deadline(
        (async () => {
          for await (const message of feed) {
            texts.push(message.text);
            if (texts.length === 2) void feed.close();
          }
        })(),
        10_000,
        "the iteration to end",
      );
      assert.deepEqual(texts, ["from connection 1", "from connection 2"]);
    } finally {
      await feed.close();
      await server.close();
    }
  });

  test('"message" listeners hear every connection', async () => {
    let connections = 0;
    const server = await serve({ port: 0, host: LOOPBACK }, async (ws) => {
      connections++;
      await ws.send(`hello ${connections}`);
      if (connections === 1) await ws.close(1012);
    });
    const feed = reconnecting(`ws://${LOOPBACK}:${server.port}/`, { reconnect: fast });
    const texts: string[] = [];
    const two = deferred();
    feed.on("message", (message) => {
      texts.push(message.text);
      if (texts.length === 2) two.resolve();
    });
    try {
      await deadline(two.promise, 10_000, "two messages");
      assert.deepEqual(texts, ["hello 1", "hello 2"]);
    } finally {
      await feed.close();
      await server.close();
    }
  });
});
