/**
 * Timeouts name the phase that ran out, each provoked for real on the
 * loopback: DNS (a lookup hook that never answers), TCP (a listener whose
 * accept queue is full, so the kernel drops further SYNs), TLS (a TCP server
 * that never answers the ClientHello), HANDSHAKE (a server that accepts and
 * never answers the request); PROXY is in proxy.test.ts. One overall
 * `timeout` bounds all of it, `timeouts.*` bound single phases.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Socket } from "node:net";
import { connect as netConnect } from "node:net";
import { connect, ConnectTimeoutError, TimeoutError, WebSocketError, type ConnectOptions } from "../../src/index.js";
import { Daemon, programUnavailable } from "../helpers/daemon.js";
import { LOOPBACK, listenRaw, lookupAs, type RawServer } from "../helpers/net.js";
import { fixtures, rejection } from "../helpers/wsx.js";

/** A lookup that never calls back. */
const silentLookup: ConnectOptions["lookup"] = () => {};


async function timeoutOf(promise: Promise<unknown>): Promise<ConnectTimeoutError> {
  const error = await rejection(promise, 5000);
  assert.ok(error instanceof ConnectTimeoutError, String(error));
  assert.ok(error instanceof TimeoutError);
  return error;
}

describe("connect(): timeouts per phase", () => {
  let silent: RawServer;
  let held: Socket[] = [];
  before(async () => {
    silent = await listenRaw((socket) => held.push(socket));
  });
  after(async () => {
    for (const socket of held) socket.destroy();
    held = [];
    await silent.close();
  });

  test("DNS: a resolver that never answers", async () => {
    const error = await timeoutOf(connect("ws://wsx-dns.test:9/", { lookup: silentLookup, timeouts: { dns: 150 } }));
    assert.equal(error.phase, "DNS");
    assert.equal(error.code, "DNS_TIMEOUT");
    assert.equal(error.limit, 150);
    assert.match(error.message, /DNS.*wsx-dns\.test:9.*timeouts\.dns 150 ms/);
  });

  test("DNS, then the overall timeout: the phase running when it ran out is named", async () => {
    const error = await timeoutOf(connect("ws://wsx-dns.test:9/", { lookup: silentLookup, timeout: 150 }));
    assert.equal(error.phase, "DNS");
    assert.equal(error.limit, 150);
    assert.match(error.message, /\(timeout 150 ms\)/);
  });

  test("HANDSHAKE: the request is sent and nothing comes back", async () => {
    const before = held.length;
    const error = await timeoutOf(connect(`ws://${LOOPBACK}:${silent.port}/`, { timeouts: { handshake: 150 } }));
    assert.equal(error.phase, "HANDSHAKE");
    assert.equal(error.code, "HANDSHAKE_TIMEOUT");
    assert.equal(held.length, before + 1);
  });

  test("TLS: a server that never answers the ClientHello", async () => {
    const error = await timeoutOf(connect(`wss://${LOOPBACK}:${silent.port}/`, { timeouts: { tls: 150 }, tls: { ca: fixtures.cert } }));
    assert.equal(error.phase, "TLS");
    assert.equal(error.code, "TLS_TIMEOUT");
  });

  test("phases after a slow DNS answer are bounded by what is left of the overall timeout", async () => {
    const error = await timeoutOf(connect(`ws://wsx-slow.test:${silent.port}/`, { lookup: lookupAs(LOOPBACK, 50), timeout: 400 }));
    assert.equal(error.phase, "HANDSHAKE");
    assert.equal(error.limit, 400);
  });

  test("the overall timeout wins over a longer per-phase one", async () => {
    const error = await timeoutOf(connect(`ws://${LOOPBACK}:${silent.port}/`, { timeout: 150, timeouts: { handshake: 60_000 } }));
    assert.equal(error.phase, "HANDSHAKE");
    assert.equal(error.limit, 150);
  });

  test("the overall timeout covers redirects as a whole", async () => {
    const redirector = await listenRaw((socket) => {
      socket.once("data", () => socket.end(`HTTP/1.1 302 Found\r\nLocation: ws://${LOOPBACK}:${silent.port}/\r\nContent-Length: 0\r\n\r\n`));
    });
    try {
      const error = await timeoutOf(connect(`ws://${LOOPBACK}:${redirector.port}/`, { redirect: true, timeout: 200 }));
      assert.equal(error.phase, "HANDSHAKE");
      assert.equal(error.limit, 200);
    } finally {
      await redirector.close();
    }
  });

  test("bad timeout values are refused at once", async () => {
    const bad: ConnectOptions[] = [{ timeout: 0 }, { timeout: -1 }, { timeout: Number.NaN }, { timeouts: { tls: 0 } }, { timeouts: 5 as never }];
    for (const options of bad) {
      const error = await rejection(connect("ws://192.0.2.1:9/", options));
      assert.equal((error as WebSocketError).code, "INVALID_OPTION", JSON.stringify(options));
    }
  });
});

describe("connect(): TCP timeout", { skip: programUnavailable("python3", "python3") }, () => {
  test("TCP: a listener whose accept queue is full never completes the connection", async () => {
    // A listener with backlog 0 that never accepts: once one connection waits in its queue,
    // Linux drops further SYNs, so the next connect stays in the TCP phase.
    const listener = Daemon.start("python3", [
      "-u",
      "-c",
      "import socket,time\ns=socket.socket()\ns.bind(('127.0.0.1',0))\ns.listen(0)\nprint(s.getsockname()[1])\ntime.sleep(60)",
    ]);
    const filler: Socket[] = [];
    try {
      const port = Number((await listener.waitFor(/^(\d+)$/m))[1]);
      // Fill the queue (bounded): connects that complete take its places.
      for (let i = 0; i < 4; i++) {
        const socket = netConnect(port, LOOPBACK);
        socket.on("error", () => {});
        filler.push(socket);
        const done = await new Promise<boolean>((resolve) => {
          socket.once("connect", () => resolve(true));
          setTimeout(() => resolve(false), 1000);
        });
        if (!done) break;
      }
      const error = await timeoutOf(connect(`ws://${LOOPBACK}:${port}/`, { timeouts: { tcp: 150 } }));
      assert.equal(error.phase, "TCP");
      assert.equal(error.code, "TCP_TIMEOUT");
    } finally {
      for (const socket of filler) socket.destroy();
      await listener.stop();
    }
  });
});
