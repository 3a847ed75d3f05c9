/**
 * permessage-deflate between two wsx endpoints over real sockets: a few
 * parameter sets, and how the size limits meet compression when both ends
 * use the same limits (incompressible data grows a little when deflated).
 */
import { afterEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { connect, serve, type ConnectOptions, type ServerOptions, type WebSocket } from "../../src/index.js";
import { Inbox, assertBytes } from "../helpers/interop.js";
import { deadline } from "../helpers/net.js";

const T = { timeout: 15_000 };
const KiB = 1024;

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function wsxPair(server: ServerOptions, client: ConnectOptions): Promise<{ client: WebSocket; server: WebSocket }> {
  const accepted = new Inbox<WebSocket>();
  const wss = await serve({ host: "127.0.0.1", port: 0, ...server }, (ws) => {
    cleanups.push(() => ws.terminate());
    accepted.push(ws);
  });
  cleanups.push(() => wss.close());
  const ws = await connect(`ws://127.0.0.1:${wss.port}/`, client);
  cleanups.push(() => ws.terminate());
  return { client: ws, server: await deadline(accepted.next(), 3000, "server connection") };
}

function text(bytes: number, seed: number): string {
  let out = "";
  for (let i = 0; out.length < bytes; i++) out += `{"seq":${seed + i},"kind":"update","value":${(i * 7919) % 1000}},`;
  return out.slice(0, bytes);
}

describe("permessage-deflate: wsx <-> wsx", () => {
  const SETS: Array<[name: string, server: ServerOptions["compression"], client: ConnectOptions["compression"], agreed: string]> = [
    ["defaults", true, true, "permessage-deflate"],
    ["server without context takeover", { serverNoContextTakeover: true }, true, "permessage-deflate; server_no_context_takeover"],
    ["client without context takeover", true, { clientNoContextTakeover: true }, "permessage-deflate; client_no_context_takeover"],
    ["client asks for a 2^9 server window", true, { serverMaxWindowBits: 9 }, "permessage-deflate; server_max_window_bits=9"],
    ["server limits the client to 2^8", { clientMaxWindowBits: 8 }, true, "permessage-deflate; client_max_window_bits=8"],
  ];
  for (const [name, serverCompression, clientCompression, agreed] of SETS) {
    test(`${name}: ${agreed}`, T, async () => {
      const pair = await wsxPair({ compression: serverCompression }, { compression: clientCompression });
      assert.equal(pair.client.extensions, agreed);
      assert.equal(pair.server.extensions, agreed);
      const messages = [text(64 * KiB, 1), "", "small", text(4 * KiB, 2), text(4 * KiB, 2), randomBytes(100 * KiB), text(64 * KiB, 1)];
      for (const [from, to] of [
        [pair.client, pair.server],
        [pair.server, pair.client],
      ] as const) {
        for (const message of messages) void from.send(message);
        for (const [i, message] of messages.entries()) {
          const got = await to.receive({ timeout: 5000 });
          if (typeof message === "string") assert.equal(got.text, message, `message ${i}`);
          else assertBytes(got.bytes, message, `message ${i}`);
        }
      }
    });
  }
});

describe("permessage-deflate: limits shared by two wsx endpoints", () => {
  const LIMIT = 16 * KiB;

  test(
    "an incompressible message of exactly maxFrameSize reaches a peer with the same maxFrameSize",
    T,
    async () => {
      const pair = await wsxPair({ compression: true, maxFrameSize: LIMIT }, { compression: true, maxFrameSize: LIMIT });
      const payload = randomBytes(LIMIT);
      await pair.client.send(payload);
      const got = await pair.server.receive({ timeout: 5000 });
      assertBytes(got.bytes, payload, "message at the server");
    },
  );

  test(
    "an incompressible message of exactly maxMessageSize reaches a peer with that maxMessageSize",
    T,
    async () => {
      const pair = await wsxPair({ compression: true, maxMessageSize: LIMIT }, { compression: true });
      const payload = randomBytes(LIMIT);
      await pair.client.send(payload);
      const got = await pair.server.receive({ timeout: 5000 });
      assertBytes(got.bytes, payload, "message at the server");
    },
  );

  test("the same messages a little under the limits arrive", T, async () => {
    const pair = await wsxPair({ compression: true, maxFrameSize: LIMIT, maxMessageSize: 4 * LIMIT }, { compression: true, maxFrameSize: LIMIT });
    for (const payload of [randomBytes(LIMIT - 256), randomBytes(4 * LIMIT - 1024), Buffer.from(text(4 * LIMIT, 3))]) {
      await pair.client.send(payload);
      assertBytes((await pair.server.receive({ timeout: 5000 })).bytes, payload, `${payload.length} bytes at the server`);
    }
  });
});
