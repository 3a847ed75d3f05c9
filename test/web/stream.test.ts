/**
 * WebSocketStream backpressure, both ways, over real sockets: a reader that
 * stops makes wsx stop reading the socket, so TCP pushes back on the server
 * and what is held stays bounded; a writer facing a peer that does not read
 * waits instead of buffering. Nothing is lost once reading resumes.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { WebSocket as Connection } from "../../src/index.js";
import { WebSocketStream } from "../../src/web/index.js";
import { deadline, eventually } from "../helpers/net.js";
import { withServer } from "../helpers/wsx.js";

/** Poll (bounded) until `read()` gives the same value `times` times in a row: the activity has stalled. */
async function stalled(read: () => number, what: string): Promise<number> {
  let previous = -1;
  let same = 0;
  await eventually(
    () => {
      const now = read();
      same = now === previous ? same + 1 : 0;
      previous = now;
      return same >= 5;
    },
    what,
    200,
    40,
  );
  return previous;
}

const KiB = 1024;

describe("WebSocketStream backpressure", () => {
  test("a reader that stops: the socket stops being read, the server's sends wait, memory stays bounded", { timeout: 60_000 }, async (t) => {
    const size = 256 * KiB;
    const total = 400; // 100 MiB if nothing pushed back
    let written = 0;
    let server: Connection | undefined;
    await withServer("standalone", {}, async (wsx) => {
      const wss = new WebSocketStream(wsx.url(), { receiveQueue: 8 });
      const { readable } = await wss.opened;
      const reader = readable.getReader();
      const first = await reader.read();
      assert.equal((first.value as Uint8Array).length, size);
      // The reader stops here. The server keeps sending; its sends resolve only as the socket takes them.
      const stuck = await stalled(() => written, "the server's sends stall");
      const bufferedAtServer = server!.bufferedAmount;
      const held = stuck * size - bufferedAtServer;
      t.diagnostic(`stopped reader: server wrote ${stuck}/${total} messages, ${(held / 1024 / KiB).toFixed(1)} MiB in flight, ${(bufferedAtServer / 1024 / KiB).toFixed(1)} MiB waiting at the server`);
      assert.ok(stuck < total / 2, `the server wrote only ${stuck} of ${total} messages while nobody read`);
      assert.ok(bufferedAtServer > 0, "the server holds what the socket would not take");
      // What left the server and was not read sits in the client (8 messages + the stream's 1) and the kernels.
      assert.ok(held < 40 * 1024 * KiB, `${(held / 1024 / KiB).toFixed(1)} MiB in flight with a stopped reader`);
      // Reading again: every message arrives, in order.
      let count = 1;
      for (;;) {
        const { value, done } = await deadline(reader.read(), 10_000, `message ${count}`);
        if (done) break;
        const bytes = value as Uint8Array;
        assert.equal(bytes[0], count % 256, `message ${count} in order`);
        count++;
      }
      assert.equal(count, total);
      assert.deepEqual(await wss.closed, { closeCode: 1000, reason: "all sent" });
    }, async (ws) => {
      server = ws;
      for (let i = 0; i < total; i++) {
        await ws.send(new Uint8Array(size).fill(i % 256));
        written++;
      }
      await ws.close(1000, "all sent");
    });
  });

  test("a writer facing a peer that does not read waits; its writes complete once the peer reads", { timeout: 60_000 }, async (t) => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let received = 0;
    await withServer("standalone", { receiveQueue: 1, maxMessageSize: 2 * 1024 * KiB }, async (wsx) => {
      const wss = new WebSocketStream(wsx.url());
      const { writable } = await wss.opened;
      const writer = writable.getWriter();
      const total = 64; // 64 MiB
      let accepted = 0;
      const writes: Array<Promise<void>> = [];
      const writing = (async () => {
        for (let i = 0; i < total; i++) {
          await writer.ready;
          writes.push(writer.write(new Uint8Array(1024 * KiB).fill(i)));
          accepted++;
        }
      })();
      const stuck = await stalled(() => accepted, "the writer stops being ready");
      t.diagnostic(`peer not reading: the writer took ${stuck}/${total} MiB before waiting`);
      assert.ok(stuck < total / 2, `the writer took ${stuck} of ${total} MiB while the peer did not read`);
      release();
      await deadline(writing, 30_000, "all writes accepted");
      await deadline(Promise.all(writes), 30_000, "all writes done");
      await writer.close();
      await eventually(() => received === total, "the server got every message");
    }, async (ws) => {
      await released;
      for await (const message of ws) {
        assert.equal(message.bytes[0], received % 256);
        received++;
      }
    });
  });
});
