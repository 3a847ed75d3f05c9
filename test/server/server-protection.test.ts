/**
 * What a server does against clients that cost more than they should: slow
 * requests (408), oversized heads (431), too many handshakes or connections
 * at once (503), and cross-origin browsers (403). Raw sockets check the
 * exact HTTP answers; every refusal is also seen as a "rejected" event.
 */
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import {
  HandshakeError,
  UsageError,
  WebSocketServer,
  connect,
  type ConnectionHandler,
  type ServerOptions,
  type WebSocket,
} from "../../src/index.js";
import {
  RawClient,
  deadline,
  deferred,
  delay,
  eventually,
  upgradeRequest,
  type HttpResponseInfo,
  type UpgradeRequestOptions,
} from "../helpers/net.js";
import { Accepted, rejection, type Mode, type TestServer, withServer } from "../helpers/wsx.js";

/** A server with every refusal recorded by error code. */
async function withRefusals(
  mode: Mode,
  options: ServerOptions,
  body: (server: TestServer, accepted: Accepted, refusals: string[]) => Promise<void>,
  handler?: ConnectionHandler,
): Promise<void> {
  await withServer(
    mode,
    options,
    (server, accepted) => {
      const refusals: string[] = [];
      server.wss.on("rejected", (error) => refusals.push(error.code));
      return body(server, accepted, refusals);
    },
    handler,
  );
}

/** Send a whole request on a fresh raw connection and read the answer. */
async function ask(server: TestServer, request: string | UpgradeRequestOptions = {}): Promise<HttpResponseInfo> {
  const client = await RawClient.connect(server.port, server.rawOptions);
  try {
    await client.write(typeof request === "string" ? request : upgradeRequest(request));
    return await client.readResponse(3000);
  } finally {
    client.destroy();
  }
}

/** `count` extra header fields. */
function fillers(count: number): Array<[string, string]> {
  return Array.from({ length: count }, (_, i): [string, string] => [`X-Filler-${i}`, "x"]);
}

// Timers never fire early by more than a millisecond or so; this leaves room for coarse clocks.
const EARLY = 50;

describe("slow handshakes", () => {
  for (const mode of ["standalone", "tls"] as const) {
    test(`${mode}: a request dripping one byte every 50 ms is cut off with 408 at handshakeTimeout`, async () => {
      await withRefusals(mode, { handshakeTimeout: 300 }, async (server, accepted, refusals) => {
        const client = await RawClient.connect(server.port, server.rawOptions);
        const started = Date.now();
        const request = Buffer.from(upgradeRequest(), "latin1");
        let sent = 0;
        // The slowloris: one byte at a time until the server answers (bounded by the request's length).
        const dripping = (async () => {
          for (const byte of request) {
            if (client.buffer.length > 0 || client.ended || client.closed) return;
            await client.write(Buffer.from([byte])).catch(() => undefined);
            sent++;
            await delay(50);
          }
        })();
        try {
          const response = await client.readResponse(1500);
          const elapsed = Date.now() - started;
          assert.equal(response.status, 408);
          assert.ok(elapsed >= 300 - EARLY, `408 after ${elapsed} ms, before the 300 ms handshakeTimeout`);
          await client.waitEnded();
          await dripping;
          assert.ok(sent < request.length, "the request was never complete");
          assert.deepEqual(refusals, ["HANDSHAKE_TIMEOUT"]);
          assert.equal(accepted.count, 0);
        } finally {
          client.destroy();
          await dripping;
        }
      });
    });
  }

  test("standalone: each of several silent clients gets its 408 at its own deadline, finished ones are left alone", async () => {
    await withRefusals("standalone", { handshakeTimeout: 300 }, async (server, accepted, refusals) => {
      const clients: RawClient[] = [];
      try {
        const answers: Array<Promise<{ status: number; elapsed: number }>> = [];
        for (let i = 0; i < 3; i++) {
          const client = await RawClient.connect(server.port);
          clients.push(client);
          const opened = Date.now();
          answers.push(client.readResponse(2000).then((response) => ({ status: response.status, elapsed: Date.now() - opened })));
          // One that completes its request between the silent ones is accepted, and never timed out.
          if (i === 1) assert.equal((await ask(server)).status, 101);
          await delay(100);
        }
        for (const answer of await Promise.all(answers)) {
          assert.equal(answer.status, 408);
          assert.ok(answer.elapsed >= 300 - EARLY, `408 after ${answer.elapsed} ms, before the 300 ms handshakeTimeout`);
          assert.ok(answer.elapsed < 300 + 1000, `408 after ${answer.elapsed} ms`);
        }
        assert.deepEqual(refusals, ["HANDSHAKE_TIMEOUT", "HANDSHAKE_TIMEOUT", "HANDSHAKE_TIMEOUT"]);
        assert.equal(accepted.count, 1);
      } finally {
        for (const client of clients) client.destroy();
      }
    });
  });

  test("handshakeTimeout must be a finite number of ms > 0", () => {
    for (const value of [0, -1, Number.NaN, Infinity, "10" as unknown as number]) {
      assert.throws(
        () => new WebSocketServer({ handshakeTimeout: value }),
        (error: unknown) => error instanceof UsageError && error.code === "INVALID_OPTION",
        String(value),
      );
    }
  });

  test("tls: a client that never starts TLS is dropped at handshakeTimeout", async () => {
    await withRefusals("tls", { handshakeTimeout: 300 }, async (server) => {
      const tcp = await RawClient.connect(server.port); // TCP only: no ClientHello ever comes
      try {
        await tcp.waitClosed(1500);
      } finally {
        tcp.destroy();
      }
    });
  });
});

describe("header limits", () => {
  for (const mode of ["standalone", "http"] as const) {
    test(`${mode}: maxHeaderBytes and maxHeaderCount answer 431`, async () => {
      await withRefusals(mode, { maxHeaderBytes: 1024, maxHeaderCount: 10 }, async (server, accepted, refusals) => {
        const big = await ask(server, { headers: { "X-Big": "x".repeat(2000) } });
        assert.equal(big.status, 431);
        // The standard request has 5 fields: 5 more reach the limit, 6 more pass it.
        assert.equal((await ask(server, { headers: fillers(5) })).status, 101);
        assert.equal((await ask(server, { headers: fillers(6) })).status, 431);
        assert.deepEqual(refusals, ["HEADERS_TOO_LARGE", "TOO_MANY_HEADERS"]);
        assert.equal(accepted.count, 1);
      });
    });
  }

  test("standalone: a head that outgrows maxHeaderBytes is refused as it arrives, not at handshakeTimeout", async () => {
    await withRefusals("standalone", { maxHeaderBytes: 1024, handshakeTimeout: 60_000 }, async (server, _, refusals) => {
      const client = await RawClient.connect(server.port, server.rawOptions);
      try {
        // Never finished: no empty line.
        await client.write(`GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Endless: ${"x".repeat(1100)}`);
        assert.equal((await client.readResponse(3000)).status, 431);
        await client.waitEnded();
        assert.deepEqual(refusals, ["HEADERS_TOO_LARGE"]);
      } finally {
        client.destroy();
      }
    });
  });

  test("http: a head beyond node:http's maxHeaderSize is answered 431 by node:http; wsx never sees it", async () => {
    await withRefusals("http", { maxHeaderBytes: 64 * 1024 }, async (server, accepted, refusals) => {
      const response = await ask(server, { headers: { "X-Big": "x".repeat(20_000) } });
      assert.equal(response.status, 431);
      assert.deepEqual(refusals, []);
      assert.equal(accepted.count, 0);
    });
  });
});

describe("maxPendingHandshakes", () => {
  test("standalone: beyond it a new socket gets 503 at once; a client that leaves frees its place", async () => {
    await withRefusals("standalone", { maxPendingHandshakes: 2, handshakeTimeout: 60_000 }, async (server, accepted, refusals) => {
      const idle = [await RawClient.connect(server.port), await RawClient.connect(server.port)];
      try {
        await idle[0]!.write("GET / HTTP/1.1\r\n");
        // The third socket is answered before it sends anything.
        const third = await RawClient.connect(server.port);
        try {
          const response = await third.readResponse(3000);
          assert.equal(response.status, 503);
          assert.equal(response.headers["retry-after"], "1");
          await third.waitEnded();
        } finally {
          third.destroy();
        }
        assert.deepEqual(refusals, ["TOO_MANY_HANDSHAKES"]);
        // One idle client leaves: the next client gets through (once the server has seen it go).
        idle[0]!.destroy();
        let status = 0;
        for (let attempt = 0; attempt < 50 && status !== 101; attempt++) {
          status = (await ask(server)).status;
          if (status !== 101) await delay(20);
        }
        assert.equal(status, 101);
        await accepted.next();
      } finally {
        for (const client of idle) client.destroy();
      }
    });
  });

  test("standalone: a refused client may go on sending: its bytes are read and dropped, not left to a reset", async () => {
    await withRefusals("standalone", { maxPendingHandshakes: 0 }, async (server) => {
      const client = await RawClient.connect(server.port, { allowHalfOpen: true });
      try {
        assert.equal((await client.readResponse()).status, 503);
        // More than socket buffers hold: this completes only if the server keeps reading.
        await deadline(client.write(Buffer.alloc(16 * 1024 * 1024)), 3000, "16 MiB written after the 503");
        client.end();
        await client.waitClosed();
        assert.equal(client.error, undefined);
      } finally {
        client.destroy();
      }
    });
  });

  for (const mode of ["standalone", "http"] as const) {
    test(`${mode}: handshakes waiting for authenticate count; beyond the cap they get 503`, async () => {
      const gate = deferred<void>();
      let waiting = 0;
      const options: ServerOptions = {
        maxPendingHandshakes: 1,
        authenticate: async (request) => {
          if (request.path !== "/slow") return true;
          waiting++;
          await gate.promise;
          return true;
        },
      };
      await withRefusals(mode, options, async (server, accepted, refusals) => {
        const slow = connect(server.url("/slow"), server.clientOptions);
        slow.catch(() => undefined);
        try {
          await eventually(() => waiting === 1, "authenticate is running");
          const error = await rejection(connect(server.url("/fast"), server.clientOptions));
          assert.ok(error instanceof HandshakeError, String(error));
          assert.equal(error.status, 503);
          assert.deepEqual(refusals, ["TOO_MANY_HANDSHAKES"]);
          gate.resolve();
          const first = await slow;
          await accepted.next();
          const next = await connect(server.url("/fast"), server.clientOptions);
          await accepted.next();
          await Promise.all([first.close(), next.close()]);
        } finally {
          gate.resolve();
        }
      });
    });
  }
});

describe("maxConnections", () => {
  for (const mode of ["standalone", "http"] as const) {
    test(`${mode}: beyond it handshakes get 503 with Retry-After; the count goes down as connections close`, async () => {
      await withRefusals(mode, { maxConnections: 2 }, async (server, accepted, refusals) => {
        const open: WebSocket[] = [];
        for (let i = 0; i < 2; i++) {
          open.push(await connect(server.url(), server.clientOptions));
          await accepted.next();
        }
        const response = await ask(server);
        assert.equal(response.status, 503);
        assert.equal(response.headers["retry-after"], "1");
        const error = await rejection(connect(server.url(), server.clientOptions));
        assert.equal((error as HandshakeError).status, 503);
        assert.deepEqual(refusals, ["TOO_MANY_CONNECTIONS", "TOO_MANY_CONNECTIONS"]);
        // One leaves: there is room again once the server has seen its socket close.
        await open.shift()!.close();
        await eventually(() => server.wss.clients.size === 1, "the server counted the closed connection out");
        open.push(await connect(server.url(), server.clientOptions));
        await accepted.next();
        assert.equal(server.wss.clients.size, 2);
        await Promise.all(open.map((ws) => ws.close()));
      });
    });
  }

  test("standalone: connections accepted while authenticate ran are counted before the 101", async () => {
    const options: ServerOptions = {
      maxConnections: 1,
      authenticate: async () => {
        await delay(30);
        return true;
      },
    };
    await withRefusals("standalone", options, async (server, accepted, refusals) => {
      // Both pass the early check; only one may be accepted.
      const results = await Promise.allSettled([connect(server.url(), server.clientOptions), connect(server.url(), server.clientOptions)]);
      const opened = results.filter((result) => result.status === "fulfilled");
      const refused = results.filter((result) => result.status === "rejected");
      assert.equal(opened.length, 1);
      assert.equal(refused.length, 1);
      assert.equal(((refused[0] as PromiseRejectedResult).reason as HandshakeError).status, 503);
      assert.deepEqual(refusals, ["TOO_MANY_CONNECTIONS"]);
      assert.equal(accepted.count, 1);
      await (opened[0] as PromiseFulfilledResult<WebSocket>).value.close();
    });
  });
});

describe("origins", () => {
  for (const mode of ["standalone", "http"] as const) {
    test(`${mode}: a list admits its origins (any case) and requests without Origin; others get 403`, async () => {
      const origins = ["https://app.example", "http://localhost:3000"];
      await withRefusals(mode, { origins }, async (server, accepted, refusals) => {
        const ws = await connect(server.url(), { ...server.clientOptions, origin: "https://app.example" });
        assert.equal((await accepted.next()).request.origin, "https://app.example");
        await ws.close();
        const admitted: Array<Record<string, string>> = [{ Origin: "HTTPS://App.Example" }, { Origin: "http://localhost:3000" }, {}];
        for (const headers of admitted) {
          assert.equal((await ask(server, { headers })).status, 101, JSON.stringify(headers));
          await accepted.next();
        }
        const refused = ["https://evil.example", "https://app.example.evil.example", "http://app.example", "http://localhost:3001", "null"];
        for (const origin of refused) {
          const response = await ask(server, { headers: { Origin: origin } });
          assert.equal(response.status, 403, origin);
        }
        const error = await rejection(connect(server.url(), { ...server.clientOptions, origin: "https://evil.example" }));
        assert.equal((error as HandshakeError).status, 403);
        assert.deepEqual(refusals, Array(refused.length + 1).fill("ORIGIN_NOT_ALLOWED"));
        assert.equal(accepted.count, 4);
      });
    });

    test(`${mode}: a function decides, with a null origin when there is none`, async () => {
      const asked: Array<[string | null, string]> = [];
      const origins = (origin: string | null, request: { path: string; headers: Record<string, string> }): boolean => {
        asked.push([origin, request.path]);
        return origin === null ? request.headers["x-token"] === "ok" : origin.endsWith(".trusted.example");
      };
      await withRefusals(mode, { origins }, async (server, accepted, refusals) => {
        assert.equal((await ask(server, { path: "/a", headers: { Origin: "https://app.trusted.example" } })).status, 101);
        assert.equal((await ask(server, { path: "/b", headers: { "X-Token": "ok" } })).status, 101);
        assert.equal((await ask(server, { path: "/c" })).status, 403);
        assert.equal((await ask(server, { path: "/d", headers: { Origin: "https://other.example" } })).status, 403);
        assert.deepEqual(asked, [
          ["https://app.trusted.example", "/a"],
          [null, "/b"],
          [null, "/c"],
          ["https://other.example", "/d"],
        ]);
        assert.deepEqual(refusals, ["ORIGIN_NOT_ALLOWED", "ORIGIN_NOT_ALLOWED"]);
        assert.equal(accepted.count, 2);
      });
    });
  }
});

describe("protection options", () => {
  test("origin entries that no browser would send are refused when the server is created", () => {
    for (const entry of ["https://app.example/", "https://app.example/path", "app.example", "https://app.example:443", "*", ""]) {
      assert.throws(
        () => new WebSocketServer({ origins: [entry] }),
        (error: unknown) => error instanceof UsageError && error.code === "INVALID_ORIGIN",
        entry,
      );
    }
    // These are origins as browsers send them.
    new WebSocketServer({ origins: ["https://app.example:8443", "http://127.0.0.1:3000", "null", "HTTPS://APP.EXAMPLE"] });
  });

  test("caps must be non-negative integers or Infinity", () => {
    for (const value of [-1, 1.5, Number.NaN, -Infinity]) {
      for (const name of ["maxConnections", "maxPendingHandshakes"] as const) {
        assert.throws(
          () => new WebSocketServer({ [name]: value }),
          (error: unknown) => error instanceof UsageError && error.code === "INVALID_OPTION",
          `${name}: ${value}`,
        );
      }
    }
    new WebSocketServer({ maxConnections: Infinity, maxPendingHandshakes: 0 });
  });
});
