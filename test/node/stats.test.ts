/**
 * Observability: per-connection and server counters, and the logger hook
 * (silent unless a logger is given).
 */
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { connect, serve, type Logger } from "../../src/index.js";
import { LOOPBACK, deadline, eventually, exchange, upgradeRequest } from "../helpers/net.js";
import { Accepted } from "../helpers/wsx.js";

interface Entry {
  level: string;
  fields: Record<string, unknown>;
  message: string;
}

function recordingLogger(): { logger: Logger; entries: Entry[] } {
  const entries: Entry[] = [];
  const at = (level: string) => (fields: Record<string, unknown>, message: string) => entries.push({ level, fields, message });
  return { logger: { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") }, entries };
}

describe("stats", () => {
  test("connection counters: messages and bytes in and out, both ends", async () => {
    const server = await serve({ port: 0, host: LOOPBACK }, async (ws) => {
      for await (const message of ws) await ws.send(message);
    });
    const accepted = new Accepted(server);
    try {
      const client = await connect(`ws://${LOOPBACK}:${server.port}/`);
      const { ws: peer } = await accepted.next();
      for (let i = 0; i < 10; i++) await client.send("x".repeat(100));
      for (let i = 0; i < 10; i++) await client.receive({ timeout: 2000 });
      assert.equal(client.stats.messagesOut, 10);
      assert.equal(client.stats.messagesIn, 10);
      assert.equal(peer.stats.messagesIn, 10);
      assert.equal(peer.stats.messagesOut, 10);
      // 100-byte payloads: 2-byte headers from the server, 6-byte (masked) headers from the client.
      assert.equal(client.stats.bytesOut, 10 * 106);
      assert.equal(peer.stats.bytesIn, 10 * 106);
      assert.equal(peer.stats.bytesOut, 10 * 102);
      assert.equal(client.stats.bytesIn, 10 * 102);
      assert.equal(client.stats.dropped, 0);
      await client.close(1000);
    } finally {
      await server.close();
    }
  });

  test("server counters: open and accepted connections, refusals, traffic of closed connections, closes by code", async () => {
    const server = await serve({ port: 0, host: LOOPBACK, path: "/ws" });
    const accepted = new Accepted(server);
    try {
      const a = await connect(`ws://${LOOPBACK}:${server.port}/ws`);
      const b = await connect(`ws://${LOOPBACK}:${server.port}/ws`);
      const peers = [(await accepted.next()).ws, (await accepted.next()).ws];
      await assert.rejects(connect(`ws://${LOOPBACK}:${server.port}/elsewhere`), { status: 404 });
      await a.send("one");
      await b.send("two");
      await eventually(() => server.stats.messagesIn === 2, "two messages counted");
      assert.equal(server.stats.connections, 2);
      assert.equal(server.stats.accepted, 2);
      assert.equal(server.stats.rejected, 1);
      await a.close(4000, "done");
      b.terminate();
      await deadline(Promise.all(peers.map((peer) => peer.closed)), 2000, "server sides closed");
      const stats = server.stats;
      assert.equal(stats.connections, 0);
      assert.equal(stats.messagesIn, 2, "closed connections' traffic is kept");
      assert.ok(stats.bytesIn >= 2 * 9);
      assert.deepEqual(stats.closedByCode, { 4000: 1, 1006: 1 });
    } finally {
      await server.close();
    }
  });

  test("the logger hears accepted, refused and closed connections and slow consumers", async () => {
    const { logger, entries } = recordingLogger();
    const server = await serve({ port: 0, host: LOOPBACK, path: "/", logger });
    const accepted = new Accepted(server);
    try {
      const client = await connect(`ws://${LOOPBACK}:${server.port}/`);
      const { ws: peer } = await accepted.next();
      const refused = await exchange(server.port, upgradeRequest({ path: "/nope" }));
      assert.match(refused.toString("latin1"), /^HTTP\/1\.1 404/);
      await client.close(1000);
      await deadline(peer.closed, 2000, "closed");
      const messages = entries.map((entry) => `${entry.level}: ${entry.message}`);
      assert.ok(messages.includes("debug: websocket connection accepted"), messages.join("\n"));
      assert.ok(messages.includes("info: websocket handshake refused"), messages.join("\n"));
      assert.ok(messages.includes("debug: websocket connection closed"), messages.join("\n"));
      const refusal = entries.find((entry) => entry.message === "websocket handshake refused")!;
      assert.equal(refusal.fields.status, 404);
      const closed = entries.find((entry) => entry.message === "websocket connection closed")!;
      assert.equal(closed.fields.code, 1000);
    } finally {
      await server.close();
    }
  });

  test("nothing is logged without a logger", async () => {
    const methods = ["log", "info", "warn", "error", "debug", "trace"] as const;
    const calls: string[] = [];
    const originals = methods.map((name) => console[name]);
    methods.forEach((name) => {
      console[name] = (...args: unknown[]) => void calls.push(`${name}: ${args.map(String).join(" ")}`);
    });
    try {
      const server = await serve({ port: 0, host: LOOPBACK, path: "/" });
      try {
        const client = await connect(`ws://${LOOPBACK}:${server.port}/`);
        await exchange(server.port, upgradeRequest({ path: "/nope" }));
        await exchange(server.port, "garbage\r\n\r\n");
        await client.close(1000);
      } finally {
        await server.close();
      }
    } finally {
      methods.forEach((name, i) => (console[name] = originals[i]!));
    }
    assert.deepEqual(calls, []);
  });
});
