/**
 * The client's own options (proxy, socketPath, cookieJar, lookup, timeouts
 * per phase, tls.extraCa, and reconnecting()'s reconnect, queue and onOpen)
 * are checked like every other option: a name the entry point does not know
 * is UNKNOWN_OPTION naming the nearest one, a value of the wrong kind is
 * INVALID_OPTION, and either is refused before anything is dialed.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { UsageError, connect, reconnecting, serve, type ConnectOptions, type ReconnectingOptions } from "../../src/index.js";
import { LOOPBACK, listenRaw, type RawServer } from "../helpers/net.js";
import { rejection } from "../helpers/wsx.js";

function assertUsage(error: unknown, code: string, mentions?: RegExp): void {
  assert.ok(error instanceof UsageError, `expected a UsageError, got ${String(error)}`);
  assert.equal(error.code, code, error.message);
  if (mentions !== undefined) assert.match(error.message, mentions);
}

/** What `run` threw; something it made despite the bad options is closed at once. */
function thrown(run: () => { close(): unknown } | undefined): unknown {
  try {
    void run()?.close();
  } catch (error) {
    return error;
  }
  return undefined;
}

const jar = { getCookieString: () => "", setCookie: () => undefined };

describe("the client's options are checked before anything is dialed", () => {
  let listener: RawServer;
  let url: string;
  before(async () => {
    listener = await listenRaw((socket) => socket.destroy());
    url = `ws://${LOOPBACK}:${listener.port}/`;
  });
  after(async () => {
    assert.equal(listener.sockets.length, 0, "no connection was attempted");
    await listener.close();
  });

  test("connect(): typos in the new options name the option meant", async () => {
    const typos: Array<[Record<string, unknown>, RegExp]> = [
      [{ proxi: "http://127.0.0.1:3128" }, /connect\(\) has no option "proxi" \(did you mean "proxy"\?\)/],
      [{ socketpath: "/tmp/x.sock" }, /did you mean "socketPath"/],
      [{ cookiejar: jar }, /did you mean "cookieJar"/],
      [{ timeout: 1000, timeuots: { tls: 5 } }, /did you mean "timeouts"/],
      [{ lookpu: () => {} }, /did you mean "lookup"/],
      [{ timeouts: { handshak: 500 } }, /connect\(\) timeouts has no option "handshak" \(did you mean "handshake"\?\)/],
      [{ timeouts: { connect: 500 } }, /connect\(\) timeouts has no option "connect"/],
      [{ proxy: { url: "http://127.0.0.1:3128", auht: "a:b" } }, /connect\(\) proxy has no option "auht" \(did you mean "auth"\?\)/],
      // Options of reconnecting() are not options of connect().
      [{ reconnect: { maxAttempts: 3 } }, /connect\(\) has no option "reconnect"/],
    ];
    for (const [options, message] of typos) {
      assertUsage(await rejection(connect(url, options as ConnectOptions)), "UNKNOWN_OPTION", message);
    }
  });

  test("connect(): values of the wrong kind", async () => {
    const bad: Array<[ConnectOptions, string, RegExp]> = [
      [{ proxy: 42 as never }, "INVALID_OPTION", /proxy must be a proxy URL, an object with a url, or false, got 42/],
      [{ proxy: true as never }, "INVALID_OPTION", /proxy must be/],
      [{ proxy: { url: 5 as never } }, "INVALID_OPTION", /proxy: url must be/],
      [{ proxy: "ftp://127.0.0.1:21" }, "INVALID_PROXY", /unsupported proxy scheme ftp:/],
      [{ socketPath: "" }, "INVALID_OPTION", /socketPath must be a non-empty string/],
      [{ socketPath: 3 as never }, "INVALID_OPTION", /socketPath must be a non-empty string, got 3/],
      [{ cookieJar: {} as never }, "INVALID_OPTION", /cookieJar must be an object with getCookieString\(url\) and setCookie\(cookie, url\)/],
      [{ cookieJar: { getCookieString: () => "" } as never }, "INVALID_OPTION", /cookieJar must be/],
      [{ lookup: "dns" as never }, "INVALID_OPTION", /lookup must be a function/],
      [{ timeout: -1 }, "INVALID_OPTION", /timeout must be a number of ms > 0 \(Infinity for none\)/],
      [{ timeout: Number.NaN }, "INVALID_OPTION", /timeout must be/],
      [{ timeouts: 5 as never }, "INVALID_OPTION", /timeouts must be an object/],
      [{ timeouts: { tls: 0 } }, "INVALID_OPTION", /timeouts: tls must be a number of ms > 0/],
      [{ timeouts: { dns: "1s" as never } }, "INVALID_OPTION", /timeouts: dns must be/],
      [{ tls: { extraCa: 42 as never } }, "INVALID_OPTION", /tls\.extraCa must be PEM certificates/],
      [{ tls: { extraCa: "/etc/ssl/private-ca.pem" } }, "INVALID_OPTION", /tls\.extraCa must be PEM certificates .*got "\/etc\/ssl\/private-ca.pem"/],
      [{ tls: { extraCa: [Buffer.from("-----BEGIN CERTIFICATE-----"), 7] as never } }, "INVALID_OPTION", /tls\.extraCa must be/],
    ];
    for (const [options, code, message] of bad) {
      assertUsage(await rejection(connect(url, options)), code, message);
    }
  });

  test("connect(): Infinity means no bound", async () => {
    // Accepted by the checks: the connection is attempted (and refused by this listener, which hangs up).
    const error = await rejection(connect(`ws://${LOOPBACK}:1/`, { timeout: Infinity, timeouts: { dns: Infinity } }));
    assert.ok(!(error instanceof UsageError), String(error));
  });

  test("reconnecting(): connect()'s options and its own, checked at once", () => {
    const cases: Array<[Record<string, unknown>, string, RegExp]> = [
      [{ reconect: {} }, "UNKNOWN_OPTION", /reconnecting\(\) has no option "reconect" \(did you mean "reconnect"\?\)/],
      [{ proxi: false }, "UNKNOWN_OPTION", /reconnecting\(\) has no option "proxi" \(did you mean "proxy"\?\)/],
      [{ onopen: () => {} }, "UNKNOWN_OPTION", /did you mean "onOpen"/],
      [{ reconnect: { maxAttempt: 3 } }, "UNKNOWN_OPTION", /reconnecting\(\) reconnect has no option "maxAttempt" \(did you mean "maxAttempts"\?\)/],
      [{ queue: { limt: 3 } }, "UNKNOWN_OPTION", /reconnecting\(\) queue has no option "limt" \(did you mean "limit"\?\)/],
      [{ reconnect: 5 }, "INVALID_OPTION", /reconnect must be an object/],
      [{ reconnect: { initialDelay: -1 } }, "INVALID_OPTION", /initialDelay must be a number of ms from 0 to 2147483647/],
      [{ reconnect: { maxDelay: 2 ** 31 } }, "INVALID_OPTION", /maxDelay must be/],
      [{ reconnect: { factor: 0.5 } }, "INVALID_OPTION", /factor must be a finite number >= 1/],
      [{ reconnect: { maxAttempts: 0 } }, "INVALID_OPTION", /maxAttempts must be an integer >= 1 \(Infinity for none\)/],
      [{ reconnect: { maxAttempts: 2.5 } }, "INVALID_OPTION", /maxAttempts must be/],
      [{ reconnect: { deadline: 0 } }, "INVALID_OPTION", /deadline must be/],
      [{ reconnect: { stopOnCloseCodes: [4001, 99] } }, "INVALID_OPTION", /stopOnCloseCodes must be an array of close code/],
      [{ reconnect: { shouldReconnect: true } }, "INVALID_OPTION", /shouldReconnect must be a function/],
      [{ queue: { limit: -1 } }, "INVALID_OPTION", /limit must be a non-negative integer/],
      [{ queue: { overflow: "drop-newest" } }, "INVALID_OPTION", /overflow must be one of "reject", "drop-oldest"/],
      [{ onOpen: "subscribe" }, "INVALID_OPTION", /onOpen must be a function/],
      [{ timeouts: { tpc: 5 } }, "UNKNOWN_OPTION", /reconnecting\(\) timeouts has no option "tpc"/],
      [{ cookieJar: [] }, "INVALID_OPTION", /cookieJar must be/],
    ];
    for (const [options, code, message] of cases) {
      assertUsage(
        thrown(() => reconnecting(url, options as ReconnectingOptions)),
        code,
        message,
      );
    }
    assertUsage(thrown(() => reconnecting(url, null as never)), "INVALID_OPTION", /reconnecting\(\) options must be an object/);
  });
});

describe("serve({ socketPath }) is checked like its other options", () => {
  test("a typo or a bad path is refused before listening", async () => {
    assertUsage(await rejection(serve({ socketpath: "/tmp/wsx-never.sock" } as never)), "UNKNOWN_OPTION", /did you mean "socketPath"/);
    assertUsage(await rejection(serve({ socketPath: "" })), "INVALID_OPTION", /socketPath must be a non-empty string/);
    assertUsage(await rejection(serve({ socketPath: "/tmp/wsx-never.sock", port: 0 })), "INVALID_OPTION", /cannot be combined with port or host/);
  });
});
