/**
 * TLS on the client: `extraCa` adds a CA to Node's built-in roots (or to
 * `ca`), and client certificates (mutual TLS) against a wsx wss server that
 * requires them. The client CA and certificate are made with openssl here.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { rootCertificates } from "node:tls";
import { connect, serve, WebSocketError, type WebSocketServer } from "../../src/index.js";
import { opensslUnavailable, TestCertificates, type Issued } from "../helpers/certs.js";
import { LOOPBACK } from "../helpers/net.js";
import { fixtures, rejection, startServer, type TestServer } from "../helpers/wsx.js";

describe("tls.extraCa", () => {
  let server: TestServer;
  before(async () => {
    server = await startServer("tls", {}, async (ws) => {
      for await (const message of ws) await ws.send(message);
    });
  });
  after(() => server.close());

  test("a CA given in extraCa is trusted on top of the built-in roots", async () => {
    assert.ok(rootCertificates.length > 50, "Node ships its root store");
    const tls = { extraCa: fixtures.cert };
    for (let i = 0; i < 2; i++) {
      // Twice with the same options object: the second connection reuses the secure context.
      const ws = await connect(server.url("/"), { tls });
      await ws.send("trusted");
      assert.equal((await ws.receive({ timeout: 3000 })).text, "trusted");
      await ws.close();
    }
  });

  test("extraCa adds to ca when both are given", async () => {
    const ws = await connect(server.url("/"), { tls: { ca: rootCertificates[0]!, extraCa: [fixtures.cert] } });
    await ws.close();
    const error = await rejection(connect(server.url("/"), { tls: { ca: rootCertificates[0]! } }));
    assert.match(error.message, /SELF_SIGNED/);
  });

  test("without it the server's certificate is not trusted", async () => {
    const error = await rejection(connect(server.url("/")));
    assert.equal((error as WebSocketError).code, "CONNECT_FAILED");
    assert.match(error.message, /SELF_SIGNED/);
  });
});

describe("mutual TLS against a wsx server that requires client certificates", { skip: opensslUnavailable() }, () => {
  let certs: TestCertificates;
  let client: Issued;
  let stranger: Issued;
  let server: WebSocketServer;
  const subjects: string[] = [];

  before(async () => {
    certs = new TestCertificates();
    const clientCa = certs.ca("client-ca");
    certs.ca("other-ca");
    client = certs.issue("device-42", "client-ca");
    stranger = certs.issue("stranger", "other-ca");
    server = await serve(
      {
        port: 0,
        host: LOOPBACK,
        tls: { ...fixtures, requestCert: true, rejectUnauthorized: true, ca: clientCa },
      },
      async (ws, request) => {
        subjects.push(request.headers["x-device"] ?? "");
        for await (const message of ws) await ws.send(message);
      },
    );
  });
  after(async () => {
    await server?.close();
    certs?.remove();
  });

  test("a certificate the server's CA issued opens the connection", async () => {
    const ws = await connect(`wss://${LOOPBACK}:${server.port}/`, { tls: { ca: fixtures.cert, cert: client.cert, key: client.key }, headers: { "X-Device": "42" } });
    await ws.send("mutual");
    assert.equal((await ws.receive({ timeout: 3000 })).text, "mutual");
    await ws.close();
    assert.deepEqual(subjects, ["42"]);
  });

  test("no certificate, or one from another CA: refused, and the handler never runs", async () => {
    for (const tls of [{ ca: fixtures.cert }, { ca: fixtures.cert, cert: stranger.cert, key: stranger.key }]) {
      const error = await rejection(connect(`wss://${LOOPBACK}:${server.port}/`, { tls }));
      assert.ok(error instanceof WebSocketError, String(error));
      assert.match(error.message, /CERTIFICATE|closed/i);
    }
    assert.equal(subjects.length, 1);
  });
});
