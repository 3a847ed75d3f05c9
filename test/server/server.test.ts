/**
 * The server over real loopback sockets, run four ways with the same
 * expectations: `serve()` over TCP and TLS, and `handleUpgrade` attached to
 * node:http and node:https. Raw clients check exact HTTP answers.
 */
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  CloseCode,
  HandshakeError,
  type AuthResult,
  WebSocketError,
  connect,
  type ConnectionHandler,
  type ServerRequest,
  type WebSocket,
} from "../../src/index.js";
import {
  OP,
  RawClient,
  acceptFor,
  clientFrame,
  deadline,
  deferred,
  delay,
  eventually,
  parseClose,
  randomKey,
  tick,
  upgradeRequest,
} from "../helpers/net.js";
import { Accepted, MODES, rejection, startServer, type TestServer, withServer } from "../helpers/wsx.js";

/** Send `request` on a raw connection and read the HTTP response. */
async function rawExchange(server: TestServer, request: string | Uint8Array): Promise<Awaited<ReturnType<RawClient["readResponse"]>>> {
  const client = await RawClient.connect(server.port, server.rawOptions);
  try {
    await client.write(request);
    return await client.readResponse(3000);
  } finally {
    client.destroy();
  }
}

for (const mode of MODES) {
  describe(`server: ${mode}`, () => {
    let server: TestServer;
    let accepted: Accepted;
    const handled: ServerRequest[] = [];
    const errors: Error[] = [];
    const rejected: HandshakeError[] = [];

    const handler: ConnectionHandler = async (ws, request) => {
      handled.push(request);
      if (request.path === "/ws/throw") throw new Error("handler failed at once");
      if (request.path === "/ws/reject") {
        await tick();
        throw new Error("handler failed later");
      }
      if (request.path === "/ws/echo") for await (const message of ws) await ws.send(message);
    };

    before(async () => {
      server = await startServer(
        mode,
        {
          path: (path) => path.startsWith("/ws"),
          protocols: ["chat.v2", "chat.v1"],
          authenticate: async (request): Promise<AuthResult> => {
            const verdict = new URLSearchParams(request.query).get("auth");
            if (verdict === "deny") return false;
            if (verdict === "reject") return { status: 403, headers: { "X-Why": "nope" }, body: "go away" };
            if (verdict === "throw") throw new Error("authenticate exploded");
            if (verdict === "bad-headers") return { status: 403, headers: { "Content-Length": "0" } };
            if (verdict === "slow") {
              await delay(30);
              request.locals["user"] = "slow-user";
              return true;
            }
            request.locals["user"] = request.headers["x-user"] ?? "anonymous";
            return undefined;
          },
          headers: (request) => ({ "X-Path": request.path, "Set-Cookie": ["a=1", "b=2"] }),
        },
        handler,
      );
      accepted = new Accepted(server.wss);
      server.wss.on("error", (error) => errors.push(error));
      server.wss.on("rejected", (error) => rejected.push(error));
    });
    after(() => deadline(server.close(), 5000, "server.close()"));

    test("accepts on a matching path and describes the request", async () => {
      const ws = await connect(server.url("/ws/chat?room=7"), { ...server.clientOptions, origin: "https://app.example", headers: { "X-User": "ann" } });
      try {
        const { ws: peer, request } = await accepted.next();
        assert.equal(request.method, "GET");
        assert.equal(request.path, "/ws/chat");
        assert.equal(request.query, "room=7");
        assert.equal(request.origin, "https://app.example");
        assert.equal(request.secure, server.secure);
        assert.equal(request.remoteAddress, "127.0.0.1");
        assert.equal(typeof request.remotePort, "number");
        assert.equal(request.headers["host"], `127.0.0.1:${server.port}`);
        assert.equal(request.locals["user"], "ann");
        assert.ok(server.wss.clients.has(peer));
        await peer.send("welcome");
        assert.equal((await ws.receive({ timeout: 2000 })).text, "welcome");
      } finally {
        await ws.close();
      }
    });

    test("other paths get 404", async () => {
      const error = await rejection(connect(server.url("/elsewhere"), server.clientOptions));
      assert.ok(error instanceof HandshakeError, String(error));
      assert.equal((error as HandshakeError).status, 404);
      const response = await rawExchange(server, upgradeRequest({ path: "/nope?x=1" }));
      assert.equal(response.status, 404);
      assert.equal(rejected.at(-1)?.status, 404);
    });

    test("the protocols option picks the server's preference among those offered", async () => {
      const cases: Array<[string[], string | null]> = [
        [["chat.v1", "chat.v2"], "chat.v2"],
        [["x", "chat.v1"], "chat.v1"],
        [["x", "y"], null],
        [[], null],
      ];
      for (const [offered, expected] of cases) {
        const ws = await connect(server.url("/ws/p"), { ...server.clientOptions, protocols: offered });
        const { ws: peer } = await accepted.next();
        assert.equal(ws.protocol, expected, `offered ${offered.join(",")}`);
        assert.equal(peer.protocol, expected);
        await ws.close();
      }
      // No Sec-WebSocket-Protocol header at all when none was chosen.
      const key = randomKey();
      const client = await RawClient.connect(server.port, server.rawOptions);
      try {
        await client.write(upgradeRequest({ path: "/ws/p", key, headers: { "Sec-WebSocket-Protocol": "x" } }));
        const response = await client.readResponse();
        assert.equal(response.status, 101);
        assert.equal(response.headers["sec-websocket-protocol"], undefined);
        assert.equal(response.headers["sec-websocket-accept"], acceptFor(key));
      } finally {
        client.destroy();
      }
      await accepted.next();
    });

    test("authenticate returning false answers 401", async () => {
      const error = await rejection(connect(server.url("/ws/a?auth=deny"), server.clientOptions));
      assert.ok(error instanceof HandshakeError, String(error));
      assert.equal((error as HandshakeError).status, 401);
      assert.equal(rejected.at(-1)?.status, 401);
    });

    test("a Rejection from authenticate sets status, headers and body", async () => {
      const response = await rawExchange(server, upgradeRequest({ path: "/ws/a?auth=reject" }));
      assert.equal(response.status, 403);
      assert.equal(response.headers["x-why"], "nope");
      assert.equal(response.body, "go away");
      const error = await rejection(connect(server.url("/ws/a?auth=reject"), server.clientOptions));
      assert.equal((error as HandshakeError).status, 403);
    });

    test("a Rejection with headers wsx cannot send answers 500 instead of crashing", async () => {
      const before = errors.length;
      const response = await rawExchange(server, upgradeRequest({ path: "/ws/a?auth=bad-headers" }));
      assert.equal(response.status, 500);
      assert.equal(errors.length, before + 1);
    });

    test("an async authenticate passes request.locals to the handler", async () => {
      const ws = await connect(server.url("/ws/slow?auth=slow"), server.clientOptions);
      try {
        const { request } = await accepted.next();
        assert.equal(request.locals["user"], "slow-user");
        assert.equal(handled.at(-1), request);
        assert.equal(handled.at(-1)?.locals["user"], "slow-user");
      } finally {
        await ws.close();
      }
    });

    test("a throwing authenticate answers 500 and reports the error", async () => {
      const before = errors.length;
      const error = await rejection(connect(server.url("/ws/a?auth=throw"), server.clientOptions));
      assert.ok(error instanceof HandshakeError, String(error));
      assert.equal((error as HandshakeError).status, 500);
      assert.equal(errors.length, before + 1);
      assert.equal(errors.at(-1)?.message, "authenticate exploded");
    });

    test("per-request response headers are sent with the 101", async () => {
      const key = randomKey();
      const client = await RawClient.connect(server.port, server.rawOptions);
      try {
        await client.write(upgradeRequest({ path: "/ws/headers", key }));
        const response = await client.readResponse();
        assert.equal(response.status, 101);
        assert.equal(response.headers["sec-websocket-accept"], acceptFor(key));
        assert.equal(response.headers["x-path"], "/ws/headers");
        assert.deepEqual(
          response.rawHeaders.filter(([name]) => name.toLowerCase() === "set-cookie").map(([, value]) => value),
          ["a=1", "b=2"],
        );
      } finally {
        client.destroy();
      }
      await accepted.next();
    });

    test("a handler that throws closes the connection with 1011", async () => {
      for (const path of ["/ws/throw", "/ws/reject"]) {
        const before = errors.length;
        const ws = await connect(server.url(path), server.clientOptions);
        await accepted.next();
        const info = await deadline(ws.closed, 3000, "client closed");
        assert.equal(info.code, CloseCode.INTERNAL_ERROR, path);
        assert.equal(info.code, 1011);
        assert.equal(info.wasClean, true);
        assert.equal(errors.length, before + 1);
      }
    });

    test("an echo handler echoes (the handler runs per connection)", async () => {
      const ws = await connect(server.url("/ws/echo"), server.clientOptions);
      try {
        await accepted.next();
        await ws.send("one");
        await ws.send(new Uint8Array([9]));
        const first = await ws.receive({ timeout: 2000 });
        const second = await ws.receive({ timeout: 2000 });
        assert.equal(first.text, "one");
        assert.equal(second.type, "binary");
        assert.deepEqual([...second.bytes], [9]);
      } finally {
        await ws.close();
      }
    });

    test("a handshake sent one byte at a time works", async () => {
      const key = randomKey();
      const client = await RawClient.connect(server.port, server.rawOptions);
      try {
        const bytes = Buffer.from(upgradeRequest({ path: "/ws/slowly", key }), "latin1");
        for (const byte of bytes) {
          await client.write(Buffer.from([byte]));
          await tick();
        }
        const response = await client.readResponse();
        assert.equal(response.status, 101);
        assert.equal(response.headers["sec-websocket-accept"], acceptFor(key));
        const { ws: peer } = await accepted.next();
        for (const byte of clientFrame(OP.TEXT, "byte by byte")) await client.write(Buffer.from([byte]));
        assert.equal((await peer.receive({ timeout: 2000 })).text, "byte by byte");
      } finally {
        client.destroy();
      }
    });

    test("frames sent in the same packet as the request are processed", async () => {
      const client = await RawClient.connect(server.port, server.rawOptions);
      try {
        await client.write(
          Buffer.concat([
            Buffer.from(upgradeRequest({ path: "/ws/eager" }), "latin1"),
            clientFrame(OP.TEXT, "early"),
            clientFrame(OP.BINARY, new Uint8Array([1, 2, 3])),
            clientFrame(OP.PING, "p"),
          ]),
        );
        const response = await client.readResponse();
        assert.equal(response.status, 101);
        const { ws: peer } = await accepted.next();
        assert.equal((await peer.receive({ timeout: 2000 })).text, "early");
        assert.deepEqual([...(await peer.receive({ timeout: 2000 })).bytes], [1, 2, 3]);
        const pong = await client.readFrame();
        assert.equal(pong.opcode, OP.PONG);
        assert.equal(pong.payload.toString(), "p");
      } finally {
        client.destroy();
      }
    });

    test("POST is refused with 405 and Allow: GET", async () => {
      const response = await rawExchange(server, upgradeRequest({ method: "POST", path: "/ws/x" }));
      assert.equal(response.status, 405);
      assert.equal(response.headers["allow"], "GET");
    });

    test("version 8 is refused with 426 and Sec-WebSocket-Version: 13", async () => {
      const response = await rawExchange(server, upgradeRequest({ path: "/ws/x", version: "8" }));
      assert.equal(response.status, 426);
      assert.equal(response.headers["sec-websocket-version"], "13");
    });

    test("a missing or short Sec-WebSocket-Key is refused with 400", async () => {
      const missing = await rawExchange(server, upgradeRequest({ path: "/ws/x", omit: ["sec-websocket-key"] }));
      assert.equal(missing.status, 400);
      const short = await rawExchange(server, upgradeRequest({ path: "/ws/x", key: Buffer.alloc(8).toString("base64") }));
      assert.equal(short.status, 400);
    });

    test("too many header fields are refused with 431", async () => {
      const headers: Array<[string, string]> = [];
      for (let i = 0; i < 150; i++) headers.push([`X-Filler-${i}`, "x"]);
      const response = await rawExchange(server, upgradeRequest({ path: "/ws/x", headers }));
      assert.equal(response.status, 431);
    });

    test("selectProtocol chooses among the offered protocols", async () => {
      const calls: string[][] = [];
      await withServer(
        mode,
        {
          protocols: ["ignored"],
          selectProtocol: (offered, request) => {
            calls.push(offered);
            if (request.path === "/bad") return "never-offered";
            return offered.includes("ignored") ? null : offered[1];
          },
        },
        async (other, seen) => {
          const ws = await connect(other.url("/"), { ...other.clientOptions, protocols: ["p1", "p2", "p3"] });
          assert.equal(ws.protocol, "p2");
          assert.deepEqual(calls.at(-1), ["p1", "p2", "p3"]);
          await seen.next();
          await ws.close();
          // It overrides the protocols option.
          const none = await connect(other.url("/"), { ...other.clientOptions, protocols: ["ignored"] });
          assert.equal(none.protocol, null);
          await seen.next();
          await none.close();
          // Not called when nothing is offered.
          const count = calls.length;
          const plain = await connect(other.url("/"), other.clientOptions);
          assert.equal(calls.length, count);
          await seen.next();
          await plain.close();
          // Choosing something that was not offered is a server bug: 500.
          const error = await rejection(connect(other.url("/bad"), { ...other.clientOptions, protocols: ["p1"] }));
          assert.equal((error as HandshakeError).status, 500);
        },
      );
    });

    test("fixed response headers are sent with every 101", async () => {
      await withServer(mode, { headers: { "X-Served-By": "wsx-test" } }, async (other, seen) => {
        for (let i = 0; i < 2; i++) {
          const client = await RawClient.connect(other.port, other.rawOptions);
          try {
            await client.write(upgradeRequest());
            const response = await client.readResponse();
            assert.equal(response.status, 101);
            assert.equal(response.headers["x-served-by"], "wsx-test");
            await seen.next();
          } finally {
            client.destroy();
          }
        }
      });
    });

    test("an authenticate slower than handshakeTimeout gets 408 and is never accepted", async () => {
      const gate = deferred<void>();
      let asked = 0;
      const calls: unknown[] = [];
      await withServer(
        mode,
        {
          handshakeTimeout: 200,
          authenticate: async () => {
            asked++;
            await gate.promise;
            return true;
          },
        },
        async (other, seen) => {
          // Half-open, so the server's socket stays usable after its 408.
          const client = await RawClient.connect(other.port, { ...other.rawOptions, allowHalfOpen: true });
          try {
            await client.write(upgradeRequest());
            const response = await client.readResponse(3000);
            assert.equal(response.status, 408);
            assert.equal(asked, 1);
            gate.resolve();
            await tick();
            await tick();
            assert.equal(seen.count, 0);
            assert.equal(calls.length, 0);
            assert.equal(other.wss.clients.size, 0);
            // Nothing follows the 408 on the wire.
            await client.waitEnded();
            assert.equal(client.buffer.length, 0);
          } finally {
            client.destroy();
          }
        },
        (ws) => void calls.push(ws),
      );
    });

    test("server.close() during an unfinished handshake refuses it with 503 and resolves", async () => {
      const gate = deferred<void>();
      let asked = false;
      await withServer(
        mode,
        {
          authenticate: async () => {
            asked = true;
            await gate.promise;
            return true;
          },
        },
        async (other, seen) => {
          const pending = connect(other.url("/"), other.clientOptions);
          pending.catch(() => {});
          await eventually(() => asked, "authenticate was called");
          const closing = other.wss.close();
          gate.resolve();
          const error = await rejection(pending);
          assert.ok(error instanceof HandshakeError, String(error));
          assert.equal((error as HandshakeError).status, 503);
          await deadline(closing, 3000, "server.close()");
          assert.equal(seen.count, 0);
          assert.equal(other.wss.clients.size, 0);
        },
      );
    });

    test("server.close() does not wait for handshakes in progress: they get 503", async () => {
      const gate = deferred<void>();
      let asked = false;
      // Default handshakeTimeout (10 s): close() must not wait for it.
      await withServer(
        mode,
        {
          authenticate: async (request) => {
            if (request.path !== "/gated") return true;
            asked = true;
            await gate.promise;
            return true;
          },
        },
        async (other, seen) => {
          // One handshake waiting for authenticate...
          const pending = connect(other.url("/gated"), other.clientOptions);
          pending.catch(() => {});
          await eventually(() => asked, "authenticate was called");
          // ...and, on the standalone listener, one with half a request.
          const idle = mode === "standalone" || mode === "tls" ? await RawClient.connect(other.port, other.rawOptions) : null;
          try {
            if (idle !== null) await idle.write("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n");
            // A connection opened later and accepted: the server has taken in the earlier ones.
            const probe = await connect(other.url("/probe"), other.clientOptions);
            await seen.next();
            await deadline(other.wss.close(), 3000, "server.close() with handshakes in progress");
            assert.equal((await deadline(probe.closed, 2000, "probe closed")).code, 1001);
            const error = await rejection(pending);
            assert.equal((error as HandshakeError).status, 503);
            if (idle !== null) assert.equal((await idle.readResponse()).status, 503);
            gate.resolve();
            await tick();
            assert.equal(seen.count, 1);
          } finally {
            gate.resolve();
            idle?.destroy();
          }
        },
      );
    });

    test("server.close() sends 1001 to open clients and resolves", async () => {
      await withServer(mode, {}, async (other, seen) => {
        const clients: WebSocket[] = [];
        for (let i = 0; i < 3; i++) {
          clients.push(await connect(other.url("/"), other.clientOptions));
          await seen.next();
        }
        assert.equal(other.wss.clients.size, 3);
        await deadline(other.wss.close(), 3000, "server.close()");
        assert.equal(other.wss.clients.size, 0);
        for (const ws of clients) {
          const info = await deadline(ws.closed, 2000, "client closed");
          assert.equal(info.code, CloseCode.GOING_AWAY);
          assert.equal(info.reason, "server shutting down");
          assert.equal(info.wasClean, true);
        }
        // No new connections once closed.
        const error = await rejection(connect(other.url("/"), other.clientOptions));
        assert.ok(error instanceof WebSocketError, String(error));
        if (mode === "http" || mode === "https") assert.equal((error as HandshakeError).status, 503);
        else assert.equal((error as WebSocketError).code, "CONNECT_FAILED");
      });
    });
  });
}

/** Requests only the standalone listener parses itself (node:http answers these on its own in the attached modes). */
for (const mode of ["standalone", "tls"] as const) {
  describe(`server: ${mode} raw HTTP`, () => {
    let server: TestServer;
    let accepted: Accepted;
    before(async () => {
      // Long enough that a loaded machine never answers a slow raw client 408 before its bytes arrive.
      server = await startServer(mode, { handshakeTimeout: 1000 });
      accepted = new Accepted(server.wss);
    });
    after(() => deadline(server.close(), 5000, "server.close()"));

    test("a plain GET without Upgrade gets 400", async () => {
      const response = await rawExchange(server, `GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
      assert.equal(response.status, 400);
    });

    test("garbage bytes get 400", async () => {
      const response = await rawExchange(server, Buffer.from([0x16, 0x03, 0x01, 0x00, 0xff, 0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x01]));
      assert.equal(response.status, 400);
      const noise = await rawExchange(server, "HELLO THERE\r\n\r\n");
      assert.equal(noise.status, 400);
    });

    test("an oversized header block gets 431", async () => {
      const response = await rawExchange(server, upgradeRequest({ headers: { "X-Big": "x".repeat(20_000) } }));
      assert.equal(response.status, 431);
    });

    test("an unfinished request gets 408 after handshakeTimeout", async () => {
      const client = await RawClient.connect(server.port, server.rawOptions);
      try {
        await client.write("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n");
        const response = await client.readResponse(3000);
        assert.equal(response.status, 408);
        await client.waitEnded();
      } finally {
        client.destroy();
      }
    });

    test("a request completed after its 408 is not accepted", async () => {
      const key = randomKey();
      const text = upgradeRequest({ key });
      const client = await RawClient.connect(server.port, { ...server.rawOptions, allowHalfOpen: true });
      try {
        await client.write(text.slice(0, 40));
        const response = await client.readResponse(3000);
        assert.equal(response.status, 408);
        await client.waitEnded();
        // Finish the request anyway, then hang up.
        await client.write(text.slice(40));
        client.end();
        await client.waitClosed();
        await tick();
        assert.equal(accepted.count, 0);
        assert.equal(server.wss.clients.size, 0);
        assert.equal(client.buffer.length, 0, "nothing may follow the 408");
      } finally {
        client.destroy();
      }
    });

    test("a protocol error after the handshake closes with 1002", async () => {
      const client = await RawClient.connect(server.port, server.rawOptions);
      try {
        await client.handshake();
        const { ws: peer } = await accepted.next();
        // An unknown opcode.
        await client.write(clientFrame(0x3, "?"));
        const frame = await client.readFrame();
        assert.equal(frame.opcode, OP.CLOSE);
        assert.equal(parseClose(frame.payload).code, 1002);
        const info = await deadline(peer.closed, 2000, "server side closed");
        assert.equal((info.error as WebSocketError | undefined)?.code, "UNKNOWN_OPCODE");
      } finally {
        client.destroy();
      }
    });
  });
}
