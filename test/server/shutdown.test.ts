/**
 * Graceful shutdown over loopback: `close()` standalone and attached to
 * node:http, with clients that answer the close, raw ones that never do,
 * handshakes in progress, and TLS clients that never get past TLS.
 */
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import {
  CloseCode,
  HandshakeError,
  UsageError,
  WebSocketError,
  WebSocketServer,
  connect,
  type ServerOptions,
  type WebSocket,
} from "../../src/index.js";
import {
  LOOPBACK,
  OP,
  RawClient,
  deadline,
  deferred,
  eventually,
  exchange,
  parseClose,
  parseResponse,
  upgradeRequest,
} from "../helpers/net.js";
import { rejection, withServer } from "../helpers/wsx.js";

/** Milliseconds since `start`. */
function since(start: number): number {
  return Date.now() - start;
}

// Timers never fire early by more than a millisecond or so; this leaves room for coarse clocks.
const EARLY = 50;

for (const mode of ["standalone", "http"] as const) {
  describe(`shutdown: ${mode}`, () => {
    test("clients that answer get 1001 'server shutting down', cleanly, without waiting for the timeout", async () => {
      // A timeout far beyond the deadline below: close() must end when the clients have answered.
      await withServer(mode, { shutdownTimeout: 30_000 }, async (server, accepted) => {
        const clients: WebSocket[] = [];
        for (let i = 0; i < 3; i++) {
          clients.push(await connect(server.url(), server.clientOptions));
          await accepted.next();
        }
        let closeEvents = 0;
        server.wss.on("close", () => closeEvents++);
        await deadline(server.wss.close(), 5000, "close() with clients that answer");
        assert.equal(server.wss.clients.size, 0);
        assert.equal(closeEvents, 1);
        for (const ws of clients) {
          const info = await deadline(ws.closed, 2000, "client closed");
          assert.equal(info.code, CloseCode.GOING_AWAY);
          assert.equal(info.reason, "server shutting down");
          assert.equal(info.wasClean, true);
        }
      });
    });

    test("a client that never answers is destroyed at the timeout, and close() waits for its socket", async () => {
      // closeTimeout far away: only the shutdown deadline can end this connection.
      await withServer(mode, { closeTimeout: 60_000 }, async (server, accepted) => {
        const raw = await RawClient.connect(server.port, { ...server.rawOptions, allowHalfOpen: true });
        try {
          await raw.handshake();
          const { ws: peer } = await accepted.next();
          const started = Date.now();
          const closing = server.wss.close({ timeout: 300 });
          const frame = await raw.readFrame();
          assert.equal(frame.opcode, OP.CLOSE);
          assert.deepEqual(parseClose(frame.payload), { code: 1001, reason: "server shutting down" });
          // The client stays silent.
          await deadline(closing, 3000, "close() after its timeout");
          assert.ok(since(started) >= 300 - EARLY, `close() resolved after ${since(started)} ms, before its 300 ms timeout`);
          assert.equal(peer.readyState, "closed", "close() resolved before the connection's socket closed");
          const info = await peer.closed;
          assert.equal(info.wasClean, false);
          assert.equal(info.code, CloseCode.ABNORMAL);
          assert.equal(server.wss.clients.size, 0);
          await raw.waitEnded();
        } finally {
          raw.destroy();
        }
      });
    });

    test("a handshake in progress gets 503, and a refused client that never hangs up is waited for, then destroyed", async () => {
      const gate = deferred<void>();
      let asked = false;
      const options: ServerOptions = {
        authenticate: async () => {
          asked = true;
          await gate.promise;
          return true;
        },
      };
      await withServer(mode, options, async (server, accepted) => {
        const codes: string[] = [];
        server.wss.on("rejected", (error) => codes.push(error.code));
        // Half-open: this client does not close its side when the server ends its own.
        const raw = await RawClient.connect(server.port, { ...server.rawOptions, allowHalfOpen: true });
        try {
          // Standalone: half a request, still being read. Attached: a whole one, waiting for authenticate.
          if (mode === "standalone") await raw.write("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n");
          else {
            await raw.write(upgradeRequest());
            await eventually(() => asked, "authenticate was called");
          }
          const started = Date.now();
          const closing = server.wss.close({ timeout: 300 });
          const response = await raw.readResponse();
          assert.equal(response.status, 503);
          assert.deepEqual(codes, ["SERVER_CLOSING"]);
          await deadline(closing, 3000, "close() with a refused client");
          assert.ok(since(started) >= 300 - EARLY, `close() resolved after ${since(started)} ms, while the refused socket was open`);
          await raw.waitEnded();
          gate.resolve();
          assert.equal(accepted.count, 0);
        } finally {
          gate.resolve();
          raw.destroy();
        }
      });
    });

    test("a second close() returns the same promise; 'close' is emitted once", async () => {
      await withServer(mode, {}, async (server, accepted) => {
        const ws = await connect(server.url(), server.clientOptions);
        await accepted.next();
        let closeEvents = 0;
        server.wss.on("close", () => closeEvents++);
        const first = server.wss.close();
        const second = server.wss.close({ timeout: 1, code: 4000 });
        assert.equal(second, first);
        await deadline(first, 3000, "close()");
        assert.equal(server.wss.close(), first);
        assert.equal(closeEvents, 1);
        // The second call's options were ignored.
        assert.equal((await ws.closed).code, CloseCode.GOING_AWAY);
      });
    });

    test("close() takes the close code and reason to send, and Infinity for no deadline", async () => {
      await withServer(mode, {}, async (server, accepted) => {
        const ws = await connect(server.url(), server.clientOptions);
        await accepted.next();
        const closing = server.wss.close({ code: CloseCode.SERVICE_RESTART, reason: "restarting", timeout: Infinity });
        await deadline(closing, 3000, "close()");
        const info = await ws.closed;
        assert.equal(info.code, 1012);
        assert.equal(info.reason, "restarting");
        assert.equal(info.wasClean, true);
      });
    });
  });
}

describe("shutdown: details", () => {
  test("attached to node:http, the HTTP server keeps serving after wss.close() and upgrades get 503", async () => {
    await withServer("http", {}, async (server, accepted) => {
      const ws = await connect(server.url(), server.clientOptions);
      await accepted.next();
      const codes: string[] = [];
      server.wss.on("rejected", (error) => codes.push(error.code));
      await deadline(server.wss.close(), 3000, "close()");
      assert.equal((await ws.closed).code, CloseCode.GOING_AWAY);
      assert.equal(server.http?.listening, true, "wsx must not close the application's server");
      // Plain HTTP still works...
      // (HTTP/1.0: a body without chunked encoding, ended by the close.)
      const plain = parseResponse(await exchange(server.port, "GET /page HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"));
      assert.equal(plain.status, 200);
      assert.equal(plain.body, "plain http\n");
      // ...and upgrades are refused.
      const raw = await RawClient.connect(server.port);
      try {
        await raw.write(upgradeRequest());
        assert.equal((await raw.readResponse()).status, 503);
      } finally {
        raw.destroy();
      }
      const error = await rejection(connect(server.url(), server.clientOptions));
      assert.equal((error as HandshakeError).status, 503);
      assert.deepEqual(codes, ["SERVER_CLOSING", "SERVER_CLOSING"]);
      assert.equal(accepted.count, 1);
    });
  });

  test("tls: a client that never starts TLS does not hold close() beyond its timeout", async () => {
    // handshakeTimeout (which also bounds TLS) far away: only the shutdown deadline can end it.
    await withServer("tls", { handshakeTimeout: 60_000 }, async (server) => {
      const tcp = await RawClient.connect(server.port); // plain TCP to the TLS port, then silence
      try {
        const started = Date.now();
        await deadline(server.wss.close({ timeout: 200 }), 3000, "close() with a silent TLS client");
        assert.ok(since(started) >= 200 - EARLY, `close() resolved after ${since(started)} ms, while the TCP socket was open`);
        await tcp.waitClosed();
      } finally {
        tcp.destroy();
      }
    });
  });

  test("close() with a code or timeout it cannot use rejects and leaves the server running", async () => {
    await withServer("standalone", {}, async (server, accepted) => {
      for (const options of [{ code: 1005 }, { code: 1000, reason: "x".repeat(124) }, { timeout: -1 }, { timeout: Number.NaN }]) {
        const error = await rejection(server.wss.close(options));
        assert.ok(error instanceof UsageError, `${JSON.stringify(options)}: ${String(error)}`);
      }
      const ws = await connect(server.url(), server.clientOptions);
      await accepted.next();
      await deadline(server.wss.close(), 3000, "close()");
      assert.equal((await ws.closed).code, CloseCode.GOING_AWAY);
    });
    // A bad default is reported when the server is created, not when it is shutting down.
    assert.throws(
      () => new WebSocketServer({ shutdownTimeout: -1 }),
      (error: unknown) => error instanceof UsageError && error.code === "INVALID_OPTION",
    );
  });

  test("close() with nothing open resolves; listen() after close() is refused", async () => {
    const idle = new WebSocketServer({ port: 0, host: LOOPBACK });
    let closed = false;
    idle.on("close", () => (closed = true));
    await deadline(idle.close(), 1000, "close() of a server that never listened");
    assert.equal(closed, true);
    const error = await rejection(idle.listen());
    assert.ok(error instanceof UsageError, String(error));
    assert.equal(error.code, "SERVER_CLOSED");

    const listening = await new WebSocketServer({ port: 0, host: LOOPBACK }).listen();
    const port = listening.port;
    await deadline(listening.close(), 1000, "close() of an idle listener");
    const refused = await rejection(connect(`ws://${LOOPBACK}:${port}/`));
    assert.equal((refused as WebSocketError).code, "CONNECT_FAILED");
  });
});
