/**
 * Direct reads (src/node/direct-read.ts): on plain node:net sockets, client
 * and server, wsx reads into buffers it picks (one shared 64 KiB scratch
 * buffer, or straight into a large message's buffer offered by
 * Protocol.receiveBuffer()) instead of taking 'data' events. These tests
 * check that the path is in use where it should be (and only there), and
 * that every byte still arrives where and when it should: sizes around the
 * thresholds, fragments, text checks, backpressure, bytes that came with the
 * handshake, compression, many connections at once sharing the scratch buffer.
 */
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { Socket, type Server } from "node:net";
import { duplexPair } from "node:stream";
import { CloseCode, ProtocolError, WebSocket, WebSocketServer, connect, type ConnectionHandler, type Message } from "../../src/index.js";
import { rng } from "../helpers/bytes.js";
import {
  OP,
  RawClient,
  clientFrame,
  deadline,
  deferred,
  delay,
  eventually,
  listenHttpHead,
  listenRaw,
  parseClose,
  settled,
  serverFrame,
  switchingResponse,
  tick,
  upgradeRequest,
} from "../helpers/net.js";
import { Accepted, withPair, withServer, type Mode } from "../helpers/wsx.js";

const KiB = 1024;
const MiB = 1024 * KiB;

/** The socket (or stream) a connection reads from. */
function socketOf(ws: WebSocket): Socket {
  return (ws as unknown as { socket: Socket }).socket;
}

/** Deterministic pseudo-random bytes: the same seed and size always give the same payload. */
function payload(seed: number, size: number): Buffer {
  const bytes = rng(seed * 7919 + size).bytes(size);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function sameBytes(actual: Uint8Array, expected: Uint8Array, what: string): void {
  const a = Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength);
  if (a.length !== expected.length) assert.fail(`${what}: ${a.length} bytes, expected ${expected.length}`);
  if (!a.equals(expected)) {
    let at = 0;
    while (a[at] === expected[at]) at++;
    assert.fail(`${what}: differs first at byte ${at} of ${expected.length}`);
  }
}

const echo: ConnectionHandler = async (ws) => {
  for await (const message of ws) await ws.send(message);
};

/** Text of `size` bytes or a little more, mostly 2-, 3- and 4-byte characters, so that reads split characters. */
function multiByteText(size: number): string {
  const pieces = ["é", "€", "𝄞", "a", "ж", "中文", "😀"];
  let text = "";
  let bytes = 0;
  for (let i = 0; bytes < size; i++) {
    const piece = pieces[(i * 5 + (i >> 3)) % pieces.length]!;
    text += piece;
    bytes += Buffer.byteLength(piece);
  }
  return text;
}

describe("direct reads: where they are used", () => {
  // Guards: direct reads being installed on plain TCP sockets, both the client's and the
  // accepted one, standalone and behind node:http's 'upgrade' (listenerCount would be 1 if
  // readDirectly returned false), and NOT on TLS sockets (a TLS socket read directly would
  // hand wsx ciphertext: listenerCount 0 there, and the round trip below fails).
  for (const mode of ["standalone", "http", "tls", "https"] as Mode[]) {
    test(`${mode}: the 'data' listener is ${mode === "tls" || mode === "https" ? "kept (TLS)" : "gone (direct reads)"} on both ends; a 300 KiB message round-trips`, async () => {
      await withServer(mode, { closeTimeout: 1000 }, async (server, accepted) => {
        const client = await connect(server.url("/"), { closeTimeout: 1000, ...server.clientOptions });
        try {
          const { ws: peer } = await accepted.next();
          const direct = !server.secure;
          for (const [name, ws] of [["client", client], ["server", peer]] as const) {
            const socket = socketOf(ws);
            assert.ok(socket instanceof Socket, `${name}: a node:net socket`);
            assert.equal(socket.listenerCount("data"), direct ? 0 : 1, `${name}: 'data' listeners`);
          }
          const big = payload(1, 300 * KiB);
          await client.send(big);
          const got = await peer.receive({ timeout: 3000 });
          sameBytes(got.bytes, big, "client -> server");
          await peer.send(got);
          sameBytes((await client.receive({ timeout: 3000 })).bytes, big, "server -> client");
        } finally {
          client.terminate();
        }
      });
    });
  }

  // Guards: fromStream over a stream that is not a node:net socket keeps reading 'data'
  // events (direct-read must refuse it: installing on a Duplex would lose every byte).
  test("fromStream over a duplexPair keeps its 'data' listener and moves large messages", async () => {
    const [left, right] = duplexPair();
    const a = WebSocket.fromStream(left, { role: "client" });
    const b = WebSocket.fromStream(right, { role: "server" });
    try {
      assert.equal(left.listenerCount("data"), 1);
      assert.equal(right.listenerCount("data"), 1);
      const big = payload(2, 200 * KiB + 1);
      await a.send(big);
      sameBytes((await b.receive({ timeout: 3000 })).bytes, big, "over the pair");
    } finally {
      a.terminate();
      b.terminate();
    }
  });
});

describe("direct reads: large messages byte-exact", () => {
  const SIZES = [16 * KiB - 1, 16 * KiB, 16 * KiB + 1, 64 * KiB, MiB + 3, 5 * MiB];

  // Guards: receiveBuffer's offered place and the scratch copy-out at every size around the
  // 16 KiB offer threshold and the 64 KiB scratch size, several messages back to back on one
  // connection (an offered place reused or overwritten by the next read would corrupt an
  // earlier message, which is compared only at the end), with small messages and pings in
  // between (a ping or small frame read into a large message's place would be lost or reordered).
  // No send limit on either side: over maxBackpressure a send waits while ping() goes out at
  // once, so with the default limit the sender itself may put a ping before a waiting message.
  test("sizes around the thresholds, both directions at once, interleaved with small messages and pings, order kept", async () => {
    const unlimited = { maxBackpressure: Infinity };
    await withPair({ server: unlimited, client: unlimited }, async ({ client, peer }) => {
      const run = async (sender: WebSocket, receiver: WebSocket, seed: number): Promise<void> => {
        const log: Array<{ kind: "message"; message: Message } | { kind: "ping"; payload: string }> = [];
        const expectedCount = SIZES.length * 2 * 3;
        let done: () => void = () => {};
        const all = new Promise<void>((resolve) => (done = resolve));
        receiver.on("message", (message) => {
          log.push({ kind: "message", message });
          if (log.length === expectedCount) done();
        });
        receiver.on("ping", (bytes) => {
          log.push({ kind: "ping", payload: Buffer.from(bytes).toString() });
          if (log.length === expectedCount) done();
        });
        const expected: Array<{ kind: "big"; bytes: Buffer } | { kind: "small"; text: string } | { kind: "ping"; payload: string }> = [];
        const sends: Array<Promise<unknown>> = [];
        // Twice through the sizes, the second time in reverse: a large message after a larger one too.
        const order = [...SIZES, ...[...SIZES].reverse()];
        order.forEach((size, i) => {
          const bytes = payload(seed + i, size);
          expected.push({ kind: "big", bytes }, { kind: "small", text: `small ${seed}/${i}` }, { kind: "ping", payload: `p${seed}/${i}` });
          sends.push(sender.send(bytes), sender.send(`small ${seed}/${i}`), sender.ping(`p${seed}/${i}`));
        });
        await deadline(Promise.all(sends), 10000, "sends and pongs");
        await deadline(all, 10000, `all ${expectedCount} events (have ${log.length})`);
        assert.equal(log.length, expected.length);
        expected.forEach((want, i) => {
          const got = log[i]!;
          if (want.kind === "ping") {
            assert.deepEqual(got, want, `event ${i}`);
          } else if (want.kind === "small") {
            assert.equal(got.kind, "message", `event ${i}`);
            if (got.kind === "message") assert.equal(got.message.text, want.text, `event ${i}`);
          } else {
            assert.equal(got.kind, "message", `event ${i}`);
            if (got.kind === "message") {
              assert.equal(got.message.type, "binary");
              sameBytes(got.message.bytes, want.bytes, `event ${i} (${want.bytes.length} bytes, seed ${seed})`);
            }
          }
        });
      };
      await Promise.all([run(client, peer, 100), run(peer, client, 200)]);
    });
  });

  // Guards: reads that stop anywhere in a large frame (the peer writes it in odd pieces,
  // the header split off from its payload too): partial fills of the offered place, and a
  // place offered for a frame's rest after some of it came through the scratch buffer.
  test("a large frame written in odd pieces by a raw client arrives exact", async () => {
    await withServer("standalone", { closeTimeout: 1000 }, async (server, accepted) => {
      const raw = await RawClient.connect(server.port);
      try {
        await raw.handshake();
        const { ws: peer } = await accepted.next();
        const messages = [payload(3, 700 * KiB + 17), payload(4, 40 * KiB + 1), payload(5, 16 * KiB)];
        for (const message of messages) {
          const frame = clientFrame(OP.BINARY, message);
          // 3 bytes of header first, then pieces of prime sizes.
          const cuts = [3, 1021, 16 * KiB + 7, 65521, 9973];
          let at = 0;
          for (let i = 0; at < frame.length; i++) {
            const next = Math.min(frame.length, at + cuts[i % cuts.length]!);
            await raw.write(frame.subarray(at, next));
            at = next;
            if (i % 4 === 0) await tick();
          }
        }
        for (const [i, message] of messages.entries()) sameBytes((await peer.receive({ timeout: 3000 })).bytes, message, `message ${i}`);
      } finally {
        raw.destroy();
      }
    });
  });
});

describe("direct reads: fragments and frames", () => {
  // Guards: messages collected from several large frames (each offered its own place at the
  // end of the message's buffer, which grows between fragments): a wrong offset or a place
  // kept across a buffer growth would corrupt the joined message.
  test("sendFragmented large messages arrive whole and exact, both directions", async () => {
    await withPair({}, async ({ client, peer }) => {
      const cases: Array<{ size: number; fragmentSize: number }> = [
        { size: 3 * MiB + 5, fragmentSize: 16 * KiB },
        { size: 2 * MiB + 1, fragmentSize: 16 * KiB - 1 },
        { size: MiB, fragmentSize: 100_000 },
        { size: 3 * MiB + 5, fragmentSize: MiB + 1 },
        { size: 200 * KiB, fragmentSize: 64 * KiB },
      ];
      for (const [sender, receiver, seed] of [[client, peer, 10], [peer, client, 20]] as const) {
        const sent = cases.map((c, i) => payload(seed + i, c.size));
        const sends = cases.map((c, i) => sender.sendFragmented(sent[i]!, { fragmentSize: c.fragmentSize }));
        for (const [i, bytes] of sent.entries()) {
          const message = await receiver.receive({ timeout: 5000 });
          sameBytes(message.bytes, bytes, `fragmented message ${i} (seed ${seed})`);
        }
        await deadline(Promise.all(sends), 5000, "fragmented sends");
      }
    });
  });

  // Guards: frame-by-frame delivery, where the collecting buffer is sized by the frame, not
  // the message: each large fragment must come out as its own exact payload.
  test("in frame delivery each large fragment arrives as its own exact frame", async () => {
    await withPair({}, async ({ client, peer }) => {
      const sizes = [16 * KiB, 300 * KiB + 1, 16 * KiB + 1, 70 * KiB];
      const parts = sizes.map((size, i) => payload(30 + i, size));
      const first = peer.receiveFrame({ timeout: 5000 });
      await client.sendFrame(OP.BINARY, parts[0]!, false);
      await client.sendFrame(OP.CONTINUATION, parts[1]!, false);
      await client.sendFrame(OP.CONTINUATION, parts[2]!, false);
      await client.sendFrame(OP.CONTINUATION, parts[3]!, true);
      const frames = [await first];
      for (let i = 1; i < sizes.length; i++) frames.push(await peer.receiveFrame({ timeout: 5000 }));
      frames.forEach((frame, i) => {
        assert.equal(frame.fin, i === sizes.length - 1, `frame ${i} fin`);
        assert.equal(frame.opcode, i === 0 ? OP.BINARY : OP.CONTINUATION, `frame ${i} opcode`);
        sameBytes(frame.payload, parts[i]!, `frame ${i}`);
      });
    });
  });
});

describe("direct reads: text", () => {
  // Guards: UTF-8 checking of bytes read in place, with characters split across reads and
  // across fragments (a check that restarts per read or per place would fail valid text).
  test("large multi-byte UTF-8 text arrives intact, whole and in fragments", async () => {
    await withPair({}, async ({ client, peer }) => {
      const text = multiByteText(2 * MiB + 3);
      await client.send(text);
      const whole = await peer.receive({ timeout: 5000 });
      assert.equal(whole.type, "text");
      assert.ok(whole.text === text, "whole text differs");
      // Fragment sizes that cut characters.
      await peer.sendFragmented(text, { fragmentSize: 16 * KiB + 1 });
      const joined = await client.receive({ timeout: 5000 });
      assert.ok(joined.text === text, "fragmented text differs");
    });
  });

  // Guards: invalid UTF-8 read straight into place past the first 64 KiB (and past the first
  // MiB) must still fail the connection with 1007, and so must a truncated character at the
  // very end of a large message; valid text sent before it is still delivered.
  for (const where of [100_000, MiB + 5, "truncated at the end"] as const) {
    test(`invalid UTF-8 ${typeof where === "number" ? `at byte ${where}` : where} of a large text frame closes with 1007`, async () => {
      await withServer("standalone", { closeTimeout: 1000 }, async (server, accepted) => {
        const raw = await RawClient.connect(server.port);
        try {
          await raw.handshake();
          const { ws: peer } = await accepted.next();
          const bad = Buffer.alloc(2 * MiB, 0x61);
          if (typeof where === "number") bad[where] = 0xff;
          else bad.set([0xe2, 0x82], bad.length - 2); // "€" without its last byte
          const good = Buffer.from(multiByteText(200 * KiB));
          await raw.write(Buffer.concat([clientFrame(OP.TEXT, good), clientFrame(OP.TEXT, bad)]));
          const message = await peer.receive({ timeout: 3000 });
          assert.ok(message.text === good.toString(), "the valid text before it");
          let frame = await raw.readFrame(5000);
          for (let i = 0; i < 5 && frame.opcode !== OP.CLOSE; i++) frame = await raw.readFrame(5000);
          assert.equal(frame.opcode, OP.CLOSE);
          assert.equal(parseClose(frame.payload).code, CloseCode.INVALID_PAYLOAD);
          const info = await deadline(peer.closed, 3000, "server side closed");
          assert.equal((info.error as ProtocolError).code, "INVALID_UTF8");
        } finally {
          raw.destroy();
        }
      });
    });
  }
});

describe("direct reads: backpressure", () => {
  // Guards: a full receive queue pausing a socket read directly (readStop on the handle):
  // if reads went on into an offered place or the scratch buffer while paused, the sender
  // would not be held back, or messages would be corrupted or lost once reading resumes.
  test("an unread server holds back 1 MiB messages; once read, every one is exact and in order", async () => {
    const count = 32;
    await withPair({ server: { receiveQueue: 2 }, client: { maxBackpressure: Infinity } }, async ({ client, peer }) => {
      const sent: Buffer[] = [];
      const sends: Array<Promise<void>> = [];
      for (let i = 0; i < count; i++) {
        sent.push(payload(1000 + i, MiB));
        sends.push(client.send(sent[i]!));
        await tick();
      }
      // Wait (bounded) until the sender stops making progress: the server stopped reading.
      await settled(() => client.bufferedAmount, "the sender's buffer");
      assert.ok(socketOf(peer).isPaused(), "the server's socket is paused");
      assert.ok(client.bufferedAmount > 8 * MiB, `only ${client.bufferedAmount} bytes held back: the server kept reading`);
      for (let i = 0; i < count; i++) {
        const message = await peer.receive({ timeout: 5000 });
        sameBytes(message.bytes, sent[i]!, `message ${i}`);
      }
      await deadline(Promise.all(sends), 5000, "all sends");
    });
  });

  // Guards: the application's pause() in the middle of large messages (the socket stops
  // while a place may be offered) and resume() picking up where it stopped.
  test("pause() and resume() while large messages arrive lose nothing", async () => {
    await withPair({}, async ({ client, peer }) => {
      const sent = [payload(2000, 5 * MiB), payload(2001, 3 * MiB + 1), payload(2002, 100)];
      const first = payload(1999, 64 * KiB);
      await client.send(first);
      sameBytes((await peer.receive({ timeout: 3000 })).bytes, first, "before pause");
      peer.pause();
      const sends = sent.map((bytes) => client.send(bytes));
      await delay(100);
      assert.ok(peer.isPaused);
      assert.ok(socketOf(peer).isPaused(), "the server's socket is paused");
      peer.resume();
      for (const [i, bytes] of sent.entries()) sameBytes((await peer.receive({ timeout: 5000 })).bytes, bytes, `message ${i}`);
      await deadline(Promise.all(sends), 5000, "sends");
    });
  });
});

describe("direct reads: bytes that came with the handshake", () => {
  // Guards: the server's handshake head (frames in the same write as the upgrade request,
  // and a large frame started there and finished by later reads) is handled before any
  // direct read, and no place is offered until it is: reads would otherwise land ahead of
  // the head's bytes.
  for (const split of [false, true]) {
    test(`server: frames in the upgrade request's write, then a large frame${split ? " started there and finished later" : ""}, all in order`, async () => {
      await withServer("standalone", { closeTimeout: 1000 }, async (server, accepted) => {
        const raw = await RawClient.connect(server.port);
        try {
          const big = payload(3000, 600 * KiB + 9);
          const frames = Buffer.concat([
            clientFrame(OP.TEXT, "one"),
            clientFrame(OP.BINARY, payload(3001, 20 * KiB)),
            clientFrame(OP.TEXT, "two"),
            clientFrame(OP.BINARY, big),
            clientFrame(OP.TEXT, "three"),
          ]);
          const request = Buffer.from(upgradeRequest(), "latin1");
          if (split) {
            const cut = 20 * KiB + 1000; // inside the big frame's payload
            await raw.write(Buffer.concat([request, frames.subarray(0, cut)]));
            const response = await raw.readResponse();
            assert.equal(response.status, 101);
            await raw.write(frames.subarray(cut, cut + 100 * KiB));
            await tick();
            await raw.write(frames.subarray(cut + 100 * KiB));
          } else {
            await raw.write(Buffer.concat([request, frames]));
            assert.equal((await raw.readResponse()).status, 101);
          }
          const { ws: peer } = await accepted.next();
          assert.equal(socketOf(peer).listenerCount("data"), 0);
          assert.equal((await peer.receive({ timeout: 3000 })).text, "one");
          sameBytes((await peer.receive({ timeout: 3000 })).bytes, payload(3001, 20 * KiB), "20 KiB");
          assert.equal((await peer.receive({ timeout: 3000 })).text, "two");
          sameBytes((await peer.receive({ timeout: 3000 })).bytes, big, "the large frame");
          assert.equal((await peer.receive({ timeout: 3000 })).text, "three");
        } finally {
          raw.destroy();
        }
      });
    });
  }

  // Guards: the same on the client: frames in the 101 response's write (the client's head),
  // then a large frame, delivered in order on a client reading directly.
  test("client: frames in the 101 response's write, then a large frame, all in order", async () => {
    const big = payload(4000, MiB + 3);
    const raw = await listenHttpHead((request) => {
      const key = request.headers["sec-websocket-key"]!;
      const frames = Buffer.concat([serverFrame(OP.TEXT, "a"), serverFrame(OP.BINARY, payload(4001, 17 * KiB)), serverFrame(OP.BINARY, big)]);
      request.socket.write(Buffer.concat([Buffer.from(switchingResponse(key), "latin1"), frames.subarray(0, 30 * KiB)]));
      setImmediate(() => request.socket.write(Buffer.concat([frames.subarray(30 * KiB), serverFrame(OP.TEXT, "b")])));
    });
    try {
      const client = await connect(`ws://127.0.0.1:${raw.port}/`);
      try {
        assert.equal(socketOf(client).listenerCount("data"), 0);
        assert.equal((await client.receive({ timeout: 3000 })).text, "a");
        sameBytes((await client.receive({ timeout: 3000 })).bytes, payload(4001, 17 * KiB), "17 KiB");
        sameBytes((await client.receive({ timeout: 3000 })).bytes, big, "the large frame");
        assert.equal((await client.receive({ timeout: 3000 })).text, "b");
      } finally {
        client.terminate();
      }
    } finally {
      await raw.close();
    }
  });
});

describe("direct reads: the request head", () => {
  /** The sockets a standalone server accepts, seen right after its own 'connection' listener ran. */
  function acceptedSockets(server: { wss: object }): Socket[] {
    const sockets: Socket[] = [];
    (server.wss as { listener: Server }).listener.on("connection", (socket: Socket) => sockets.push(socket));
    return sockets;
  }

  // Guards: the server reads the request head without the socket's stream (no 'data' listener
  // from the moment the socket is accepted), and the connection takes those reads over at the
  // 101 (the round trip fails if the handover loses the socket's reads).
  test("from accept on, no 'data' listener; the connection takes the reads over", async () => {
    await withServer("standalone", { closeTimeout: 1000 }, async (server, accepted) => {
      const sockets = acceptedSockets(server);
      const listeners: number[] = [];
      server.wss.on("connection", () => listeners.push(sockets[0]!.listenerCount("data")));
      const raw = await RawClient.connect(server.port);
      try {
        await eventually(() => sockets.length === 1, "the socket accepted");
        assert.equal(sockets[0]!.listenerCount("data"), 0, "'data' listeners while the head is read");
        await raw.handshake();
        const { ws: peer } = await accepted.next();
        assert.deepEqual(listeners, [0], "'data' listeners once accepted");
        const big = payload(5000, 100 * KiB);
        await raw.write(Buffer.concat([clientFrame(OP.TEXT, "small"), clientFrame(OP.BINARY, big)]));
        assert.equal((await peer.receive({ timeout: 3000 })).text, "small");
        sameBytes((await peer.receive({ timeout: 3000 })).bytes, big, "100 KiB");
      } finally {
        raw.destroy();
      }
    });
  });

  // Guards: a head that arrives in many reads (one byte each) is collected across them, and
  // frames in the read that completes it come first, in order.
  test("a head written a byte at a time, its last byte with two frames: all arrive in order", async () => {
    await withServer("standalone", { closeTimeout: 1000 }, async (server, accepted) => {
      const raw = await RawClient.connect(server.port);
      try {
        const request = Buffer.from(upgradeRequest(), "latin1");
        for (let at = 0; at < request.length - 1; at++) {
          await raw.write(request.subarray(at, at + 1));
          await delay(1); // separate reads, not one segment
        }
        await raw.write(Buffer.concat([request.subarray(-1), clientFrame(OP.TEXT, "first"), clientFrame(OP.TEXT, "second")]));
        assert.equal((await raw.readResponse()).status, 101);
        const { ws: peer } = await accepted.next();
        assert.equal((await peer.receive({ timeout: 3000 })).text, "first");
        assert.equal((await peer.receive({ timeout: 3000 })).text, "second");
      } finally {
        raw.destroy();
      }
    });
  });

  // Guards: while an async authenticate runs, reads are held (the socket is paused) and what
  // arrives meanwhile reaches the connection after the 101, in order, nothing dropped by the
  // handshake's reader.
  test("frames sent while an async authenticate runs arrive after it, in order", async () => {
    const verdict = deferred<boolean>();
    await withServer("standalone", { closeTimeout: 1000, authenticate: () => verdict.promise }, async (server, accepted) => {
      const raw = await RawClient.connect(server.port);
      try {
        await raw.write(Buffer.concat([Buffer.from(upgradeRequest(), "latin1"), clientFrame(OP.TEXT, "with the head")]));
        await delay(20);
        await raw.write(clientFrame(OP.TEXT, "while authenticating"));
        await delay(20);
        await raw.write(clientFrame(OP.BINARY, payload(5001, 40 * KiB)));
        await delay(20);
        verdict.resolve(true);
        assert.equal((await raw.readResponse()).status, 101);
        const { ws: peer } = await accepted.next();
        assert.equal((await peer.receive({ timeout: 3000 })).text, "with the head");
        assert.equal((await peer.receive({ timeout: 3000 })).text, "while authenticating");
        sameBytes((await peer.receive({ timeout: 3000 })).bytes, payload(5001, 40 * KiB), "40 KiB");
      } finally {
        raw.destroy();
      }
    });
  });

  // Guards: after a refusal the handshake's reader drops what still comes (the socket is not
  // a connection), the client gets its whole 404 and a clean end, and the server goes on.
  test("refused, with bytes still coming: a whole 404 and a clean end; the next client is accepted", async () => {
    await withServer("standalone", { closeTimeout: 1000, path: "/only" }, async (server) => {
      const raw = await RawClient.connect(server.port);
      try {
        await raw.write(Buffer.concat([Buffer.from(upgradeRequest({ path: "/elsewhere" }), "latin1"), clientFrame(OP.TEXT, "ignored")]));
        await raw.write(clientFrame(OP.BINARY, payload(5002, 70 * KiB)));
        const response = await raw.readResponse();
        assert.equal(response.status, 404);
        await raw.write(clientFrame(OP.TEXT, "still ignored")).catch(() => undefined);
        await raw.waitClosed(3000);
        assert.equal(raw.error, undefined, "no reset");
      } finally {
        raw.destroy();
      }
      const client = await connect(server.url("/only"), { closeTimeout: 1000 });
      await client.close();
    });
  });

  // Guards: input a socket's stream already holds (here, bytes read to sniff the protocol and
  // put back with unshift) is read through 'data' events: read directly, it would never come.
  test("handleStream on a socket whose stream holds the head already (unshift after sniffing) completes the handshake", async () => {
    const wss = new WebSocketServer({ handshakeTimeout: 2000, closeTimeout: 1000 });
    const raw = await listenRaw((socket) => {
      socket.once("data", (chunk: Buffer) => {
        socket.unshift(chunk);
        wss.handleStream(socket);
      });
    });
    try {
      const accepted = new Accepted(wss);
      const client = await connect(`ws://127.0.0.1:${raw.port}/`, { closeTimeout: 1000 });
      try {
        const { ws: peer } = await accepted.next();
        await client.send("after sniffing");
        assert.equal((await peer.receive({ timeout: 3000 })).text, "after sniffing");
      } finally {
        client.terminate();
      }
    } finally {
      await raw.close();
      await deadline(wss.close(), 5000, "wss.close()");
    }
  });
});

describe("direct reads: compression", () => {
  // Guards: compressed payloads read into place (the collected bytes are inflated, not
  // delivered): random (incompressible, so the frames stay large) and compressible content.
  test("permessage-deflate: large messages round-trip exact both ways", async () => {
    await withPair({ server: { compression: true }, client: { compression: true } }, async ({ client, peer }) => {
      assert.match(client.extensions, /permessage-deflate/);
      const compressible = Buffer.alloc(5 * MiB);
      for (let i = 0; i < compressible.length; i += 4096) compressible.set(payload(i, 64), i);
      const messages = [payload(5000, MiB + 3), compressible, payload(5001, 16 * KiB + 1), payload(5002, 300 * KiB)];
      for (const [sender, receiver] of [[client, peer], [peer, client]] as const) {
        const sends = messages.map((bytes) => sender.send(bytes));
        const text = multiByteText(MiB);
        sends.push(sender.send(text));
        for (const [i, bytes] of messages.entries()) sameBytes((await receiver.receive({ timeout: 5000 })).bytes, bytes, `compressed message ${i}`);
        assert.ok((await receiver.receive({ timeout: 5000 })).text === text, "compressed text");
        await deadline(Promise.all(sends), 5000, "compressed sends");
      }
    });
  });
});

describe("direct reads: many connections share the scratch buffer", () => {
  // Guards: the one scratch buffer and the per-socket places across connections read at
  // the same time: a read's bytes handed to the wrong connection, or a copy taken after the
  // next read overwrote the scratch buffer, shows up as another connection's bytes.
  test("8 connections echo small and 1 MiB messages concurrently, each gets exactly its own; a new connection works after", async () => {
    await withServer("standalone", { closeTimeout: 1000 }, async (server) => {
      const clients = await Promise.all(Array.from({ length: 8 }, () => connect(server.url("/"), { closeTimeout: 1000 })));
      try {
        await Promise.all(
          clients.map(async (ws, c) => {
            assert.equal(socketOf(ws).listenerCount("data"), 0);
            const expected: Array<string | Buffer> = [];
            const sends: Array<Promise<void>> = [];
            for (let j = 0; j < 6; j++) {
              const text = `client ${c} message ${j}`;
              const bytes = payload(6000 + c * 100 + j, MiB + c * 7 + j);
              expected.push(text, bytes);
              sends.push(ws.send(text), ws.send(bytes));
            }
            for (const [i, want] of expected.entries()) {
              const got = await ws.receive({ timeout: 10000 });
              if (typeof want === "string") assert.equal(got.text, want, `client ${c} echo ${i}`);
              else sameBytes(got.bytes, want, `client ${c} echo ${i}`);
            }
            await deadline(Promise.all(sends), 5000, "sends");
          }),
        );
        await Promise.all(clients.map((ws) => deadline(ws.close(1000), 3000, "close")));
      } finally {
        for (const ws of clients) ws.terminate();
      }
      await eventually(() => server.wss.clients.size === 0, "the server dropped the closed connections");
      const late = await connect(server.url("/"), { closeTimeout: 1000 });
      try {
        await late.send("still fine");
        assert.equal((await late.receive({ timeout: 3000 })).text, "still fine");
        const small = payload(7000, 100);
        await late.send(small);
        sameBytes((await late.receive({ timeout: 3000 })).bytes, small, "small binary after");
      } finally {
        late.terminate();
      }
    }, echo);
  });
});

describe("an idle connection keeps no protocol engine", () => {
  /** The connection's engine, or null while it has none. */
  function engineOf(ws: WebSocket): unknown {
    return (ws as unknown as { ownCore: unknown }).ownCore;
  }

  // Guards: the engine (~40 fields) is made on first use, not at accept: an accepted
  // connection that has neither read nor written holds none (memory per idle connection),
  // and the first read makes it, with the frames exact and in order; the same for a first
  // write and for a close before anything else.
  test("none until the first read, write or close; then one, and traffic is exact", async () => {
    await withServer("standalone", { closeTimeout: 1000 }, async (server, accepted) => {
      const reader = await connect(server.url("/"), { closeTimeout: 1000 });
      const writer = await connect(server.url("/"), { closeTimeout: 1000 });
      const closer = await connect(server.url("/"), { closeTimeout: 1000 });
      try {
        const peers = [(await accepted.next()).ws, (await accepted.next()).ws, (await accepted.next()).ws];
        await delay(20);
        for (const peer of peers) assert.equal(engineOf(peer), null, "no engine while idle");
        const big = payload(6000, 50 * KiB);
        await reader.send("first");
        await reader.send(big);
        assert.equal((await peers[0]!.receive({ timeout: 3000 })).text, "first");
        sameBytes((await peers[0]!.receive({ timeout: 3000 })).bytes, big, "50 KiB");
        assert.notEqual(engineOf(peers[0]!), null);
        await peers[1]!.send("from the server");
        assert.equal((await writer.receive({ timeout: 3000 })).text, "from the server");
        assert.notEqual(engineOf(peers[1]!), null);
        assert.equal(engineOf(peers[2]!), null);
        const info = await peers[2]!.close(4000, "bye");
        assert.equal(info.code, 4000);
        assert.equal((await closer.closed).code, 4000);
      } finally {
        for (const ws of [reader, writer, closer]) ws.terminate();
      }
    });
  });
});

describe("direct reads: nothing kept after a server", () => {
  // Guards: each server's head reader is known to direct-read.ts (so the connection can take
  // its sockets over) without that keeping the server alive: servers made, used and closed
  // are collected. A strong registry keeps every server a process ever made.
  test("closed servers whose sockets read directly are garbage-collected", () => {
    const index = new URL("../../src/index.js", import.meta.url).href;
    const script = `
      const { serve, connect } = await import(${JSON.stringify(index)});
      // In a function of its own, so that no local of the caller still points at the server.
      async function useServer() {
        const server = await serve({ port: 0, host: "127.0.0.1", closeTimeout: 500 }, (ws) => ws.on("message", (m) => ws.send(m)));
        const client = await connect("ws://127.0.0.1:" + server.port + "/");
        await client.send("hello");
        await client.receive();
        await client.close();
        await server.close();
        return new WeakRef(server);
      }
      const refs = [await useServer(), await useServer(), await useServer()];
      for (let i = 0; i < 20 && refs.some((r) => r.deref() !== undefined); i++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        gc();
      }
      process.stdout.write(String(refs.filter((r) => r.deref() !== undefined).length));
    `;
    const child = spawnSync(process.execPath, ["--expose-gc", "--input-type=module", "-e", script], { encoding: "utf8", timeout: 60_000 });
    assert.equal(child.status, 0, child.stderr);
    assert.equal(child.stdout, "0", "servers still reachable after close and GC");
  });
});
