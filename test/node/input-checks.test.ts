/**
 * Every argument the application passes is checked before anything is sent
 * or changed: data that is not a message, options with unknown names or
 * values of the wrong kind, sizes that are not integers, close codes and
 * reasons that cannot be sent. Each refusal is a UsageError with a code,
 * and a raw peer checks that nothing reached the wire.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  CloseFrame,
  Message,
  UsageError,
  WebSocket,
  WebSocketServer,
  connect,
  permessageDeflate,
  serve,
  type ConnectOptions,
  type ServerOptions,
} from "../../src/index.js";
import { Protocol, type ProtocolOptions } from "../../src/core/index.js";
import { LOOPBACK, OP, RawClient, clientFrame, closePayload, deadline, parseClose, type RawFrame } from "../helpers/net.js";
import { rejection, withServer } from "../helpers/wsx.js";

/** Asserts `error` is a UsageError with `code`, and that its message says `mentions`. */
function assertUsage(error: unknown, code: string, mentions?: RegExp): void {
  assert.ok(error instanceof UsageError, `expected a UsageError, got ${String(error)}`);
  assert.equal(error.code, code, error.message);
  if (mentions !== undefined) assert.match(error.message, mentions);
}

function throwsUsage(run: () => unknown, code: string, mentions?: RegExp): void {
  let caught: unknown;
  try {
    run();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught !== undefined, `expected ${code}, nothing was thrown`);
  assertUsage(caught, code, mentions);
}

/** Data frames and close frames a raw client got, as short strings. */
function describeFrames(frames: RawFrame[]): string[] {
  return frames.map((f) =>
    f.opcode === OP.CLOSE ? `close ${parseClose(f.payload).code}` : `${f.opcode === OP.TEXT ? "text" : "binary"} ${f.payload.toString("hex")}`,
  );
}

/**
 * A wsx server whose handler runs `act` on its side of the connection and
 * then sends "after" and closes; returns what a raw client received.
 */
async function wireAfter(act: (ws: WebSocket) => Promise<void>): Promise<string[]> {
  let failure: unknown;
  const server = await serve({ port: 0, host: LOOPBACK }, async (ws) => {
    try {
      await act(ws);
      await ws.send("after");
      await ws.close(1000);
    } catch (error) {
      failure = error;
      ws.terminate();
    }
  });
  const client = await RawClient.connect(server.port);
  try {
    await client.handshake();
    const frames: RawFrame[] = [];
    for (let i = 0; i < 100 && frames.at(-1)?.opcode !== OP.CLOSE; i++) frames.push(await client.readFrame(5000));
    await client.write(clientFrame(OP.CLOSE, closePayload(1000)));
    await client.waitEnded(5000);
    if (failure !== undefined) throw failure;
    return describeFrames(frames);
  } finally {
    client.destroy();
    await server.close({ timeout: 1000 });
  }
}

const AFTER = ["text " + Buffer.from("after").toString("hex"), "close 1000"];

describe("send() takes only what it can send", () => {
  const junk: Array<[string, unknown]> = [
    ["a number", 42],
    ["a plain object", { a: 1 }],
    ["null", null],
    ["undefined", undefined],
    ["true", true],
    ["a symbol", Symbol("x")],
    ["a function", () => "x"],
    ["an array of numbers", [1, 2, 3]],
    ["a bigint", 5n],
  ];

  test("a number, an object, null, undefined, a boolean...: rejects with INVALID_DATA, nothing on the wire, not counted", async () => {
    const frames = await wireAfter(async (ws) => {
      for (const [what, value] of junk) {
        assertUsage(await rejection(ws.send(value as string)), "INVALID_DATA", /send\(\) takes a string/);
        assertUsage(await rejection(ws.send(value as string, { type: "text" })), "INVALID_DATA");
        assert.equal(ws.stats.messagesOut, 0, what);
      }
      assert.equal(ws.bufferedAmount, 0);
    });
    assert.deepEqual(frames, AFTER);
  });

  test("bad send options reject (UNKNOWN_OPTION names the nearest, INVALID_OPTION), nothing on the wire", async () => {
    const frames = await wireAfter(async (ws) => {
      assertUsage(await rejection(ws.send("x", { tpye: "text" } as never)), "UNKNOWN_OPTION", /"tpye".*did you mean "type"/);
      assertUsage(await rejection(ws.send("x", { type: "json" } as never)), "INVALID_OPTION", /type must be one of "text", "binary"/);
      assertUsage(await rejection(ws.send("x", { compress: 1 } as never)), "INVALID_OPTION", /compress/);
      assertUsage(await rejection(ws.send("x", 5 as never)), "INVALID_OPTION", /options must be an object/);
    });
    assert.deepEqual(frames, AFTER);
  });

  test("sendFragmented, sendFrame, ping and pong check their data and sizes", async () => {
    const frames = await wireAfter(async (ws) => {
      assertUsage(await rejection(ws.sendFragmented(42 as never, { fragmentSize: 4 })), "INVALID_DATA", /sendFragmented\(\)/);
      for (const size of [0, -1, 1.5, NaN, Infinity, "4"]) {
        assertUsage(await rejection(ws.sendFragmented("abcdef", { fragmentSize: size as number })), "INVALID_FRAGMENT_SIZE");
      }
      assertUsage(await rejection(ws.sendFragmented("abcdef", undefined as never)), "INVALID_FRAGMENT_SIZE");
      assertUsage(await rejection(ws.sendFrame(OP.TEXT, 42 as never)), "INVALID_DATA", /sendFrame\(\)/);
      assertUsage(await rejection(ws.sendFrame(OP.TEXT, "x", "yes" as never)), "INVALID_FRAME", /fin/);
      assertUsage(await rejection(ws.sendFrame(3, "x")), "INVALID_FRAME");
      assertUsage(await rejection(ws.ping(42 as never)), "INVALID_DATA", /ping\(\)/);
      assertUsage(await rejection(ws.ping(new Uint8Array(126))), "CONTROL_TOO_LONG");
      assertUsage(await rejection(ws.ping(undefined, { timeout: -5 })), "INVALID_OPTION", /timeout/);
      assertUsage(await rejection(ws.pong({} as never)), "INVALID_DATA", /pong\(\)/);
      assert.equal(ws.stats.messagesOut, 0);
    });
    assert.deepEqual(frames, AFTER);
  });

  test("close(): codes that may not be sent, reasons over 123 bytes, a reason that is not a string: rejected, nothing sent", async () => {
    const frames = await wireAfter(async (ws) => {
      for (const code of [999, 1004, 1005.5, 1006, 1015, 2000, 5000, NaN, "1000"]) {
        assertUsage(await rejection(ws.close(code as number)), "INVALID_CLOSE_CODE");
      }
      assertUsage(await rejection(ws.close(1000, "é".repeat(62))), "CLOSE_REASON_TOO_LONG", /124 bytes, at most 123/);
      assertUsage(await rejection(ws.close(1000, 42 as never)), "INVALID_CLOSE");
      assertUsage(await rejection(ws.close(new CloseFrame(1000, "x".repeat(124)))), "CLOSE_REASON_TOO_LONG");
      assert.equal(ws.readyState, "open");
    });
    assert.deepEqual(frames, AFTER);
  });

  test("a Blob is sent as binary, in its turn (sends after it wait for it)", async () => {
    const frames = await wireAfter(async (ws) => {
      void ws.send(new Blob([Uint8Array.of(1, 2), "\u00ff"]));
      await ws.send(Uint8Array.of(9));
      assert.equal(ws.stats.messagesOut, 2);
    });
    assert.deepEqual(frames, ["binary 0102c3bf", "binary 09", ...AFTER]);
  });

  test("ArrayBuffer, typed arrays of any kind, DataView and a received Message are sent as they are", async () => {
    const frames = await wireAfter(async (ws) => {
      await ws.send(Uint8Array.of(1).buffer);
      await ws.send(Uint16Array.of(0x0201));
      await ws.send(new DataView(Uint8Array.of(0, 3, 4, 0).buffer, 1, 2));
      await ws.send(new Message("text", new TextEncoder().encode("m")));
    });
    assert.deepEqual(frames, ["binary 01", "binary 0102", "binary 0304", "text 6d", ...AFTER]);
  });

  test("receive options and the delivery and auto-answer switches are checked", async () => {
    await wireAfter(async (ws) => {
      assertUsage(await rejection(ws.receive({ timeout: -1 })), "INVALID_OPTION", /timeout/);
      assertUsage(await rejection(ws.receive({ timeout: NaN })), "INVALID_OPTION");
      assertUsage(await rejection(ws.receive({ timeuot: 5 } as never)), "UNKNOWN_OPTION", /did you mean "timeout"/);
      assertUsage(await rejection(ws.receiveFrame({ timeout: "1" as never })), "INVALID_OPTION");
      throwsUsage(() => ws.setDelivery("bytes" as never), "INVALID_OPTION");
      throwsUsage(() => {
        ws.autoPong = "yes" as never;
      }, "INVALID_OPTION");
      throwsUsage(() => {
        ws.autoClose = 0 as never;
      }, "INVALID_OPTION");
      throwsUsage(() => ws.subscribe(42 as never), "INVALID_TOPIC");
    });
  });
});

describe("options: unknown names and bad values are refused when given", () => {
  test("connect(): a typo is UNKNOWN_OPTION naming the nearest option, before any connection is made", async () => {
    await withServer("standalone", {}, async (server, accepted) => {
      const typos: Array<[Record<string, unknown>, string]> = [
        [{ maxFrameSzie: 10 }, "maxFrameSize"],
        [{ protocol: ["chat"] }, "protocols"],
        [{ timout: 100 }, "timeout"],
        [{ header: {} }, "headers"],
        [{ compresion: true }, "compression"],
      ];
      for (const [options, nearest] of typos) {
        const error = await rejection(connect(server.url("/"), options as ConnectOptions));
        assertUsage(error, "UNKNOWN_OPTION", new RegExp(`connect\\(\\) has no option ".*" \\(did you mean "${nearest}"\\?\\)`));
      }
      assertUsage(await rejection(connect(server.url("/"), { totallyDifferent: 1 } as never)), "UNKNOWN_OPTION", /no option "totallyDifferent"$/);
      assert.equal(accepted.count, 0, "no connection was attempted");
    });
  });

  test("connect(): values of the wrong kind", async () => {
    const url = `ws://${LOOPBACK}:9/`;
    const bad: Array<[ConnectOptions, string]> = [
      [{ maxFrameSize: NaN }, "INVALID_LIMIT"],
      [{ maxMessageSize: -1 }, "INVALID_LIMIT"],
      [{ maxFragments: 1.5 }, "INVALID_LIMIT"],
      [{ maxFrameSize: "1024" as never }, "INVALID_LIMIT"],
      [{ closeTimeout: NaN }, "INVALID_OPTION"],
      [{ closeTimeout: -1 }, "INVALID_OPTION"],
      [{ receiveQueue: 0 }, "INVALID_OPTION"],
      [{ receiveQueue: 2.5 }, "INVALID_OPTION"],
      [{ timeout: 0 }, "INVALID_OPTION"],
      [{ timeout: "5" as never }, "INVALID_OPTION"],
      [{ timeouts: { tcp: NaN } }, "INVALID_OPTION"],
      [{ redirect: -1 }, "INVALID_OPTION"],
      [{ family: 5 as never }, "INVALID_OPTION"],
      [{ autoPong: "no" as never }, "INVALID_OPTION"],
      [{ deliver: "bytes" as never }, "INVALID_OPTION"],
      [{ protocols: [1] as never }, "INVALID_OPTION"],
      [{ maxBackpressure: "1" as never }, "INVALID_OPTION"],
      [{ pingInterval: NaN }, "INVALID_LIVENESS_OPTION"],
      [{ compression: { levle: 1 } as never }, "UNKNOWN_OPTION"],
      [{ compression: { level: 12 } }, "INVALID_DEFLATE_OPTION"],
      [{ compression: "yes" as never }, "INVALID_OPTION"],
      [{ tls: "insecure" as never }, "INVALID_OPTION"],
    ];
    for (const [options, code] of bad) {
      assertUsage(await rejection(connect(url, options)), code, undefined);
    }
    assertUsage(await rejection(connect(url, null as never)), "INVALID_OPTION", /options must be an object/);
    assertUsage(await rejection(connect(42 as never)), "INVALID_URL", /takes a URL or a string/);
  });

  test("serve() and new WebSocketServer(): typos and bad values throw before listening", async () => {
    const typos: Array<[Record<string, unknown>, string]> = [
      [{ port: 0, maxConnection: 5 }, "maxConnections"],
      [{ port: 0, orgins: [] }, "origins"],
      [{ port: 0, authenticte: () => true }, "authenticate"],
      [{ prot: 0 }, "port"],
    ];
    for (const [options, nearest] of typos) {
      assertUsage(await rejection(serve(options as ServerOptions)), "UNKNOWN_OPTION", new RegExp(`did you mean "${nearest}"`));
      throwsUsage(() => new WebSocketServer(options as ServerOptions), "UNKNOWN_OPTION", /WebSocketServer has no option/);
    }
    const bad: Array<[ServerOptions, string]> = [
      [{ port: 70_000 }, "INVALID_OPTION"],
      [{ port: -1 }, "INVALID_OPTION"],
      [{ port: 80.5 }, "INVALID_OPTION"],
      [{ port: 0, host: 127 as never }, "INVALID_OPTION"],
      [{ port: 0, path: 5 as never }, "INVALID_OPTION"],
      [{ port: 0, authenticate: true as never }, "INVALID_OPTION"],
      [{ port: 0, maxConnections: -1 }, "INVALID_OPTION"],
      [{ port: 0, handshakeTimeout: NaN }, "INVALID_OPTION"],
      [{ port: 0, shutdownTimeout: "5" as never }, "INVALID_OPTION"],
      [{ port: 0, maxFrameSize: -1 }, "INVALID_LIMIT"],
    ];
    for (const [options, code] of bad) assertUsage(await rejection(serve(options)), code);
    throwsUsage(() => new WebSocketServer({}, "handler" as never), "INVALID_OPTION", /handler must be a function/);
  });

  test("server.publish() and server.close() check their arguments", async () => {
    const server = await serve({ port: 0, host: LOOPBACK });
    try {
      throwsUsage(() => server.publish(42 as never, "x"), "INVALID_TOPIC");
      throwsUsage(() => server.publish("t", null as never), "INVALID_DATA", /publish\(\)/);
      throwsUsage(() => server.publish("t", "x", { excldue: null } as never), "UNKNOWN_OPTION", /did you mean "exclude"/);
      assertUsage(await rejection(server.close({ code: 1006 })), "INVALID_CLOSE_CODE");
      assertUsage(await rejection(server.close({ reason: "x".repeat(124) })), "CLOSE_REASON_TOO_LONG");
      assertUsage(await rejection(server.close({ timeout: "1" as never })), "INVALID_OPTION");
      assertUsage(await rejection(server.close({ timout: 1 } as never)), "UNKNOWN_OPTION");
    } finally {
      await server.close();
    }
  });

  test("permessageDeflate(): a typo names the nearest option", () => {
    throwsUsage(() => permessageDeflate({ serverNoContextTakover: true } as never), "UNKNOWN_OPTION", /did you mean "serverNoContextTakeover"/);
  });

  test("tls options pass through to node:tls unchecked (their names are node's)", async () => {
    await withServer("tls", {}, async (server) => {
      const ws = await connect(server.url("/"), { tls: { ...server.clientOptions.tls, minVersion: "TLSv1.2", servername: "localhost" } });
      await ws.close();
    });
  });
});

describe("the core's Protocol checks its arguments", () => {
  test("constructor options", () => {
    throwsUsage(() => new Protocol({ role: "server", maxFrameSzie: 5 } as ProtocolOptions), "UNKNOWN_OPTION", /did you mean "maxFrameSize"/);
    throwsUsage(() => new Protocol({ role: "serv" } as never), "INVALID_OPTION", /role/);
    throwsUsage(() => new Protocol({} as never), "INVALID_OPTION", /role/);
    throwsUsage(() => new Protocol(undefined as never), "INVALID_OPTION", /role/);
    throwsUsage(() => new Protocol({ role: "client", deliver: "all" as never }), "INVALID_OPTION", /deliver/);
    throwsUsage(() => new Protocol({ role: "client", autoPong: 1 as never }), "INVALID_OPTION", /autoPong/);
    throwsUsage(() => new Protocol({ role: "client", maxMessageSize: NaN }), "INVALID_LIMIT");
  });

  test("methods refuse data of the wrong kind and queue nothing", () => {
    const p = new Protocol({ role: "server" });
    throwsUsage(() => p.sendText(42 as never), "INVALID_DATA", /sendText\(\) takes a string/);
    throwsUsage(() => p.sendBinary("x" as never), "INVALID_DATA", /sendBinary\(\)/);
    throwsUsage(() => p.sendMessage(1, null as never), "INVALID_DATA");
    throwsUsage(() => p.sendMessage(1, "x", { fragmentSize: NaN }), "INVALID_FRAGMENT_SIZE");
    throwsUsage(() => p.sendMessage(1, "x", { compres: false } as never), "UNKNOWN_OPTION");
    throwsUsage(() => p.sendFrame(1, {} as never, true), "INVALID_DATA");
    throwsUsage(() => p.sendFrame(1, "x", 1 as never), "INVALID_FRAME");
    throwsUsage(() => p.sendEncoded("frame" as never), "INVALID_DATA");
    throwsUsage(() => p.ping("x" as never), "INVALID_DATA");
    throwsUsage(() => p.pong([1] as never), "INVALID_DATA");
    throwsUsage(() => p.receive("bytes" as never), "INVALID_DATA", /receive\(\) takes a Uint8Array/);
    throwsUsage(() => p.close(1000, 5 as never), "INVALID_CLOSE");
    throwsUsage(() => p.close(1000.5), "INVALID_CLOSE_CODE");
    throwsUsage(() => p.close(1000, "x".repeat(124)), "CLOSE_REASON_TOO_LONG");
    assert.equal(p.outputBytes, 0);
    assert.equal(p.state, "open");
  });
});

describe("new WebSocket(url) from wsx", () => {
  test("is a clear UsageError that names connect() and wsx/web", () => {
    for (const args of [["ws://127.0.0.1:9/"], [new URL("ws://127.0.0.1:9/")], []] as unknown[][]) {
      throwsUsage(
        () => new (WebSocket as unknown as new (...a: unknown[]) => unknown)(...args),
        "USE_CONNECT",
        /connect\(url\).*"wsx\/web"/,
      );
    }
  });

  test("a connection still works after the misuse (nothing global was touched)", async () => {
    await withServer("standalone", {}, async (server) => {
      const ws = await deadline(connect(server.url("/")), 3000, "connect");
      await ws.close();
    });
  });
});
