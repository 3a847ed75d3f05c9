/**
 * Liveness: pingInterval / pongTimeout find peers that stopped answering
 * (a silent client, a half-open TCP path) and idleTimeout closes
 * connections that carry no messages. Real sockets on loopback; a small TCP
 * proxy that silently stops forwarding stands in for a dead network path.
 */
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { connect as netConnect, type Socket } from "node:net";
import { performance } from "node:perf_hooks";
import {
  CloseCode,
  TimeoutError,
  UsageError,
  WebSocketServer,
  connect,
  type CloseInfo,
  type ConnectOptions,
  type ServerOptions,
  type WebSocket,
} from "../../src/index.js";
import { Heartbeat, type HeartbeatHost } from "../../src/node/heartbeat.js";
import {
  LOOPBACK,
  OP,
  RawClient,
  clientFrame,
  closedPort,
  deadline,
  delay,
  eventually,
  listenRaw,
  parseClose,
  parseFrames,
} from "../helpers/net.js";
import { Accepted, rejection, startServer, type TestServer } from "../helpers/wsx.js";

/** A wsx server with `options` and the server side of each connection made to it; torn down afterwards. */
async function withServer(options: ServerOptions, body: (server: TestServer, accepted: Accepted) => Promise<void>): Promise<void> {
  const server = await startServer("standalone", { closeTimeout: 1000, ...options });
  try {
    await body(server, new Accepted(server.wss));
  } finally {
    await deadline(server.close(), 5000, "server.close()");
  }
}

/** A raw client that completed the opening handshake with `server`, and the server's side of it. */
async function rawClient(server: TestServer, accepted: Accepted): Promise<{ raw: RawClient; peer: WebSocket }> {
  const raw = await RawClient.connect(server.port);
  await raw.handshake();
  const { ws: peer } = await accepted.next();
  return { raw, peer };
}

interface Proxy {
  port: number;
  /** From now on swallow every byte in both directions and propagate no close: a dead path that looks open. */
  freeze(): void;
  close(): Promise<void>;
}

/** A TCP proxy on loopback to `targetPort`. */
async function listenProxy(targetPort: number): Promise<Proxy> {
  let frozen = false;
  const upstreams: Socket[] = [];
  const raw = await listenRaw((downstream) => {
    const upstream = netConnect({ host: LOOPBACK, port: targetPort });
    upstreams.push(upstream);
    upstream.on("error", () => upstream.destroy());
    downstream.on("data", (chunk: Buffer) => {
      if (!frozen) upstream.write(chunk);
    });
    upstream.on("data", (chunk: Buffer) => {
      if (!frozen) downstream.write(chunk);
    });
    downstream.on("close", () => {
      if (!frozen) upstream.destroy();
    });
    upstream.on("close", () => {
      if (!frozen) downstream.destroy();
    });
  });
  return {
    port: raw.port,
    freeze: () => {
      frozen = true;
    },
    close: async () => {
      for (const socket of upstreams) socket.destroy();
      await raw.close();
    },
  };
}

function assertTimedOut(info: CloseInfo, code: "PONG_TIMEOUT" | "IDLE_TIMEOUT"): void {
  assert.ok(info.error instanceof TimeoutError, `expected a TimeoutError, got ${String(info.error)}`);
  assert.equal((info.error as TimeoutError).code, code);
}

const collectErrors = (ws: WebSocket): Error[] => {
  const errors: Error[] = [];
  ws.on("error", (error) => errors.push(error));
  return errors;
};

describe("pingInterval and pongTimeout", () => {
  test("a live client is pinged while the server hears nothing, answers, and stays connected", async () => {
    // Eight pings take longer than two pingInterval + pongTimeout windows: unanswered pings would have ended it.
    await withServer({ pingInterval: 50, pongTimeout: 250 }, async (server, accepted) => {
      const client = await connect(server.url(), { closeTimeout: 1000 });
      try {
        const { ws: peer } = await accepted.next();
        const payloads: Uint8Array[] = [];
        client.on("ping", (payload) => payloads.push(payload));
        await eventually(() => payloads.length >= 8, "eight heartbeat pings", 150, 20);
        assert.equal(client.readyState, "open");
        assert.equal(peer.readyState, "open");
        assert.ok(payloads.every((payload) => payload.length === 0), "heartbeat pings carry no payload");
        // The application's own pings still work and are timed on their own.
        assert.ok((await deadline(peer.ping("mine"), 2000, "application ping")) >= 0);
        assert.ok((await deadline(client.ping(), 2000, "client ping")) >= 0);
      } finally {
        client.terminate();
      }
    });
  });

  test("a client that stops answering is dropped within pingInterval + pongTimeout, with PONG_TIMEOUT", async () => {
    await withServer({ pingInterval: 100, pongTimeout: 100 }, async (server, accepted) => {
      const { raw, peer } = await rawClient(server, accepted);
      try {
        const errors = collectErrors(peer);
        const info = await deadline(peer.closed, 1000, "dead client dropped (bound 200 ms)");
        assertTimedOut(info, "PONG_TIMEOUT");
        assert.equal(info.code, CloseCode.ABNORMAL);
        assert.equal(info.wasClean, false);
        assert.deepEqual(errors, [info.error]);
        // What the silent client was sent: one ping, then (best effort) a close frame saying why.
        const ping = await raw.readFrame();
        assert.deepEqual([ping.opcode, ping.payload.length, ping.masked], [OP.PING, 0, false]);
        const close = await raw.readFrame();
        assert.equal(close.opcode, OP.CLOSE);
        assert.deepEqual(parseClose(close.payload), { code: 1011, reason: "pong timeout" });
        await raw.waitClosed();
      } finally {
        raw.destroy();
      }
    });
  });

  test("a half-open path: the server detects the client is gone", async () => {
    await withServer({ pingInterval: 100, pongTimeout: 100 }, async (server, accepted) => {
      const proxy = await listenProxy(server.port);
      const client = await connect(`ws://${LOOPBACK}:${proxy.port}/`, { closeTimeout: 1000 });
      try {
        const { ws: peer } = await accepted.next();
        await client.send("through the proxy");
        assert.equal((await peer.receive({ timeout: 2000 })).text, "through the proxy");
        proxy.freeze();
        const info = await deadline(peer.closed, 1000, "server detects the dead path (bound 200 ms)");
        assertTimedOut(info, "PONG_TIMEOUT");
        assert.deepEqual([info.code, info.wasClean], [CloseCode.ABNORMAL, false]);
        // Nothing reached the client: its side still looks open, which is what half-open means.
        assert.equal(client.readyState, "open");
      } finally {
        client.terminate();
        await proxy.close();
      }
    });
  });

  test("a half-open path: a client with pingInterval detects the server is gone", async () => {
    await withServer({}, async (server, accepted) => {
      const proxy = await listenProxy(server.port);
      const options: ConnectOptions = { closeTimeout: 1000, pingInterval: 100, pongTimeout: 100 };
      const client = await connect(`ws://${LOOPBACK}:${proxy.port}/`, options);
      try {
        const { ws: peer } = await accepted.next();
        await peer.send("through the proxy");
        assert.equal((await client.receive({ timeout: 2000 })).text, "through the proxy");
        const errors = collectErrors(client);
        proxy.freeze();
        const info = await deadline(client.closed, 1000, "client detects the dead path (bound 200 ms)");
        assertTimedOut(info, "PONG_TIMEOUT");
        assert.deepEqual([info.code, info.wasClean], [CloseCode.ABNORMAL, false]);
        assert.deepEqual(errors, [info.error]);
        assert.equal(peer.readyState, "open");
        peer.terminate();
      } finally {
        client.terminate();
        await proxy.close();
      }
    });
  });

  test("a peer trickling a large frame is alive and not idle, though it never answers a ping", async () => {
    await withServer({ pingInterval: 100, pongTimeout: 100, idleTimeout: 300 }, async (server, accepted) => {
      const { raw, peer } = await rawClient(server, accepted);
      try {
        const payload = Buffer.alloc(2000, 7);
        const frame = clientFrame(OP.BINARY, payload);
        // 40 pieces 40 ms apart: 1.6 s, several times every bound, no gap near any of them.
        const pieces = 40;
        const size = Math.ceil(frame.length / pieces);
        for (let i = 0; i < pieces; i++) {
          await delay(40);
          assert.equal(peer.readyState, "open", `open before piece ${i + 1}`);
          await raw.write(frame.subarray(i * size, (i + 1) * size));
        }
        const message = await peer.receive({ timeout: 2000 });
        assert.deepEqual(Buffer.from(message.bytes), payload);
        assert.ok(!parseFrames(raw.buffer).some((sent) => sent.opcode === OP.CLOSE), "no close frame was sent");
      } finally {
        raw.destroy();
      }
    });
  });

  test("while the application leaves messages unread, silence is not held against the peer", async () => {
    await withServer({ receiveQueue: 2, pingInterval: 50, pongTimeout: 50, idleTimeout: 100 }, async (server, accepted) => {
      const { raw, peer } = await rawClient(server, accepted);
      try {
        for (let i = 0; i < 6; i++) await raw.write(clientFrame(OP.TEXT, `m${i}`));
        // Reading is paused (the queue is full) for several times every bound; then the application reads.
        await delay(500);
        assert.equal(peer.readyState, "open");
        for (let i = 0; i < 6; i++) assert.equal((await peer.receive({ timeout: 2000 })).text, `m${i}`);
        // Reading resumed: now the silent raw client is found out.
        const info = await deadline(peer.closed, 2000, "close once reading resumed");
        assert.ok(info.error instanceof TimeoutError, String(info.error));
      } finally {
        raw.destroy();
      }
    });
  });
});

describe("idleTimeout", () => {
  test("no message for idleTimeout: closed with 1001 'idle timeout' and IDLE_TIMEOUT; sending does not count", async () => {
    await withServer({ idleTimeout: 150 }, async (server, accepted) => {
      const client = await connect(server.url(), { closeTimeout: 1000 });
      try {
        const { ws: peer } = await accepted.next();
        const clientClosed = client.closed;
        // The server keeps sending: only what it receives counts.
        for (let i = 0; i < 50 && peer.readyState === "open"; i++) {
          await peer.send(`news ${i}`).catch(() => undefined);
          await delay(30);
        }
        const info = await deadline(peer.closed, 2000, "idle close");
        assertTimedOut(info, "IDLE_TIMEOUT");
        assert.deepEqual([info.code, info.wasClean], [CloseCode.GOING_AWAY, true]);
        const seen = await deadline(clientClosed, 2000, "client closed");
        assert.deepEqual([seen.code, seen.reason, seen.wasClean], [1001, "idle timeout", true]);
      } finally {
        client.terminate();
      }
    });
  });

  test("pings and pongs do not keep a connection open", async () => {
    await withServer({ idleTimeout: 200 }, async (server, accepted) => {
      const client = await connect(server.url(), { closeTimeout: 1000, pingInterval: 20, pongTimeout: 1000 });
      try {
        const { ws: peer } = await accepted.next();
        let pings = 0;
        peer.on("ping", () => pings++);
        const info = await deadline(peer.closed, 2000, "idle close despite pings");
        assertTimedOut(info, "IDLE_TIMEOUT");
        assert.ok(pings >= 3, `the client pinged throughout (${pings} pings)`);
      } finally {
        client.terminate();
      }
    });
  });

  test("messages keep a connection open; it closes once they stop", async () => {
    await withServer({ idleTimeout: 300 }, async (server, accepted) => {
      const client = await connect(server.url(), { closeTimeout: 1000 });
      try {
        const { ws: peer } = await accepted.next();
        for (let i = 0; i < 16; i++) {
          await client.send(`tick ${i}`);
          await delay(50);
        }
        assert.equal(peer.readyState, "open", "open after 800 ms of messages");
        const info = await deadline(peer.closed, 2000, "idle close after the messages stopped");
        assertTimedOut(info, "IDLE_TIMEOUT");
      } finally {
        client.terminate();
      }
    });
  });

  test("a peer that does not answer the idle close is dropped after closeTimeout", async () => {
    await withServer({ idleTimeout: 100, closeTimeout: 200 }, async (server, accepted) => {
      const { raw, peer } = await rawClient(server, accepted);
      try {
        const info = await deadline(peer.closed, 2000, "idle close against a silent peer");
        assertTimedOut(info, "IDLE_TIMEOUT");
        assert.deepEqual([info.code, info.wasClean], [CloseCode.ABNORMAL, false]);
        const close = await raw.readFrame();
        assert.equal(close.opcode, OP.CLOSE);
        assert.deepEqual(parseClose(close.payload), { code: 1001, reason: "idle timeout" });
      } finally {
        raw.destroy();
      }
    });
  });
});

describe("options off and invalid options", () => {
  for (const options of [{}, { pingInterval: 0, idleTimeout: 0, pongTimeout: 50 }] satisfies ServerOptions[]) {
    test(`${JSON.stringify(options)}: no ping is sent and a silent client stays connected`, async () => {
      await withServer(options, async (server, accepted) => {
        const { raw, peer } = await rawClient(server, accepted);
        try {
          await delay(400);
          assert.equal(raw.buffer.length, 0, "nothing was sent");
          assert.equal(peer.readyState, "open");
        } finally {
          raw.destroy();
        }
      });
    });
  }

  test("invalid values are refused with INVALID_LIVENESS_OPTION by the server and by connect()", async () => {
    const port = await closedPort();
    const invalid: Array<Pick<ConnectOptions, "pingInterval" | "pongTimeout" | "idleTimeout">> = [
      { pingInterval: -1 },
      { pingInterval: Number.NaN },
      { pingInterval: Number.POSITIVE_INFINITY },
      { pingInterval: "100" as unknown as number },
      { pingInterval: 100, pongTimeout: 0 },
      { pongTimeout: -1 },
      { idleTimeout: -5 },
      { idleTimeout: Number.POSITIVE_INFINITY },
    ];
    for (const options of invalid) {
      const what = JSON.stringify(options, (_, value: unknown) => (typeof value === "number" ? String(value) : value));
      assert.throws(
        () => new WebSocketServer(options),
        (error: Error) => error instanceof UsageError && error.code === "INVALID_LIVENESS_OPTION",
        `server ${what}`,
      );
      // Checked before connecting: nothing listens on the port, yet the error is about the options.
      const error = await rejection(connect(`ws://${LOOPBACK}:${port}/`, options));
      assert.ok(error instanceof UsageError && error.code === "INVALID_LIVENESS_OPTION", `connect ${what}: ${String(error)}`);
    }
  });
});

describe("Heartbeat", () => {
  /** A host whose peer never sends anything; records what the heartbeat asked of it, with times. */
  function silentHost(): HeartbeatHost & { calls: Array<[string, number]> } {
    const calls: Array<[string, number]> = [];
    const start = performance.now();
    const record = (what: string): void => void calls.push([what, performance.now() - start]);
    return {
      calls,
      isOpen: () => true,
      isReadingPaused: () => false,
      sendPing: () => record("ping"),
      onDead: (error) => record(error.code),
      onIdle: (error) => record(error.code),
    };
  }

  test("silence: one ping after pingInterval, dead after pongTimeout more, nothing after that", async () => {
    const host = silentHost();
    const heartbeat = new Heartbeat(host, { pingInterval: 40, pongTimeout: 60, idleTimeout: 0 });
    try {
      await eventually(() => host.calls.length >= 2, "ping and verdict", 100, 20);
      await delay(150);
      assert.deepEqual(
        host.calls.map(([what]) => what),
        ["ping", "PONG_TIMEOUT"],
      );
      // Deadlines are compared with the clock, never met early.
      assert.ok(host.calls[0]![1] >= 40, `ping at ${host.calls[0]![1]} ms`);
      assert.ok(host.calls[1]![1] >= 100, `verdict at ${host.calls[1]![1]} ms`);
    } finally {
      heartbeat.stop();
    }
  });

  test("an answered ping: the next one follows pingInterval after the answer, not pongTimeout after the ping", async () => {
    const host = silentHost();
    let pings = 0;
    // The peer answers each ping on the next turn of the event loop.
    host.sendPing = () => {
      pings++;
      setImmediate(() => heartbeat.read(0));
    };
    const heartbeat = new Heartbeat(host, { pingInterval: 20, pongTimeout: 60_000, idleTimeout: 0 });
    try {
      await eventually(() => pings >= 3, "three pings, well before pongTimeout", 100, 20);
      assert.deepEqual(host.calls, []);
    } finally {
      heartbeat.stop();
    }
  });

  test("stop() clears the timer: no ping and no verdict afterwards", async () => {
    const host = silentHost();
    const heartbeat = new Heartbeat(host, { pingInterval: 20, pongTimeout: 20, idleTimeout: 20 });
    heartbeat.stop();
    await delay(150);
    assert.deepEqual(host.calls, []);
  });
});
