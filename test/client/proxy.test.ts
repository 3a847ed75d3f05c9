/**
 * connect() through real proxies started on loopback ports: tinyproxy
 * (HTTP CONNECT, basic auth, refused ports, redirects), squid (an https:
 * proxy, so TLS to the proxy and TLS to the server inside it; ACL refusals;
 * unreachable servers) and microsocks (SOCKS5 through the `socks` package).
 * A raw listener stands in where only a broken proxy will do: one that hangs
 * up, one that never answers, one that answers 502.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { connect, ConnectTimeoutError, ProxyError, WebSocketError, type ConnectOptions } from "../../src/index.js";
import { closedPort, LOOPBACK, listenRaw, lookupAs, type RawServer } from "../helpers/net.js";
import {
  microsocksUnavailable,
  squidUnavailable,
  startMicrosocks,
  startSquid,
  startTinyproxy,
  tinyproxyUnavailable,
  type RunningProxy,
} from "../helpers/proxies.js";
import { fixtures, rejection, startServer, type TestServer } from "../helpers/wsx.js";

/** Connect, send one message, expect it echoed, close. */
async function echoes(url: string, options: ConnectOptions): Promise<void> {
  const ws = await connect(url, { timeout: 10_000, ...options });
  try {
    await ws.send("through the proxy");
    assert.equal((await ws.receive({ timeout: 5000 })).text, "through the proxy");
  } finally {
    await ws.close();
  }
}

const echo = async (ws: import("../../src/index.js").WebSocket): Promise<void> => {
  for await (const message of ws) await ws.send(message);
};

/** Run `body` with these environment variables set (and the proxy ones cleared), then restore them. */
async function withEnv(vars: Record<string, string>, body: () => Promise<void>): Promise<void> {
  const names = ["http_proxy", "https_proxy", "all_proxy", "no_proxy"].flatMap((name) => [name, name.toUpperCase()]);
  const saved = new Map(names.map((name) => [name, process.env[name]]));
  for (const name of names) delete process.env[name];
  Object.assign(process.env, vars);
  try {
    await body();
  } finally {
    for (const [name, value] of saved) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
}

/** The CONNECT requests tinyproxy logged for `port`. */
function tunnelsTo(proxy: RunningProxy, port: number): number {
  return proxy.log().split("\n").filter((line) => line.includes(`CONNECT ${LOOPBACK}:${port} `)).length;
}

/** A proxy (made by `start`) and two echo servers, ws: and wss:, for one describe block. */
function proxyAndEchoServers(start: () => Promise<RunningProxy>): { proxy: RunningProxy; server: TestServer; tlsServer: TestServer } {
  const s = {} as { proxy: RunningProxy; server: TestServer; tlsServer: TestServer };
  before(async () => {
    s.proxy = await start();
    s.server = await startServer("standalone", {}, echo);
    s.tlsServer = await startServer("tls", {}, echo);
  });
  after(async () => {
    await s.proxy?.stop();
    await s.server?.close();
    await s.tlsServer?.close();
  });
  return s;
}

describe("connect() through tinyproxy", { skip: tinyproxyUnavailable() }, () => {
  const s = proxyAndEchoServers(() => startTinyproxy());

  test("ws:// through the proxy option: the proxy opens the tunnel, messages flow", async () => {
    const before = tunnelsTo(s.proxy, s.server.port);
    await echoes(s.server.url("/"), { proxy: s.proxy.url });
    assert.equal(tunnelsTo(s.proxy, s.server.port), before + 1, s.proxy.log());
  });

  test("the proxy option also takes a URL object or settings with a url", async () => {
    const before = tunnelsTo(s.proxy, s.server.port);
    await echoes(s.server.url("/"), { proxy: new URL(s.proxy.url) });
    await echoes(s.server.url("/"), { proxy: { url: s.proxy.url } });
    assert.equal(tunnelsTo(s.proxy, s.server.port), before + 2);
  });

  test("wss:// through the proxy: TLS with the server inside the tunnel, its certificate checked", async () => {
    const before = tunnelsTo(s.proxy, s.tlsServer.port);
    await echoes(s.tlsServer.url("/"), { proxy: s.proxy.url, tls: { ca: fixtures.cert } });
    assert.equal(tunnelsTo(s.proxy, s.tlsServer.port), before + 1);
    const error = await rejection(connect(s.tlsServer.url("/"), { proxy: s.proxy.url }), 10_000);
    assert.equal((error as WebSocketError).code, "CONNECT_FAILED");
    assert.match(error.message, /SELF_SIGNED/);
  });

  test("HTTP_PROXY applies to ws://, HTTPS_PROXY to wss://", async () => {
    await withEnv({ HTTP_PROXY: s.proxy.url }, async () => {
      const before = tunnelsTo(s.proxy, s.server.port);
      await echoes(s.server.url("/"), {});
      assert.equal(tunnelsTo(s.proxy, s.server.port), before + 1);
      // Not for wss:
      const tlsBefore = tunnelsTo(s.proxy, s.tlsServer.port);
      await echoes(s.tlsServer.url("/"), { tls: { ca: fixtures.cert } });
      assert.equal(tunnelsTo(s.proxy, s.tlsServer.port), tlsBefore);
    });
    await withEnv({ https_proxy: s.proxy.url }, async () => {
      const before = tunnelsTo(s.proxy, s.tlsServer.port);
      await echoes(s.tlsServer.url("/"), { tls: { ca: fixtures.cert } });
      assert.equal(tunnelsTo(s.proxy, s.tlsServer.port), before + 1);
    });
  });

  test("ALL_PROXY is the fallback; NO_PROXY and proxy: false go direct", async () => {
    await withEnv({ ALL_PROXY: s.proxy.url }, async () => {
      const before = tunnelsTo(s.proxy, s.server.port);
      await echoes(s.server.url("/"), {});
      assert.equal(tunnelsTo(s.proxy, s.server.port), before + 1);
      await echoes(s.server.url("/"), { proxy: false });
      assert.equal(tunnelsTo(s.proxy, s.server.port), before + 1);
    });
    for (const noProxy of [LOOPBACK, `${LOOPBACK}:${s.server.port}`, "127.0.0.0/8", "*"]) {
      await withEnv({ http_proxy: s.proxy.url, no_proxy: noProxy }, async () => {
        const before = tunnelsTo(s.proxy, s.server.port);
        await echoes(s.server.url("/"), {});
        assert.equal(tunnelsTo(s.proxy, s.server.port), before, `NO_PROXY=${noProxy}`);
      });
    }
    // A NO_PROXY entry for another port leaves the proxy on.
    await withEnv({ http_proxy: s.proxy.url, no_proxy: `${LOOPBACK}:${s.server.port + 1}` }, async () => {
      const before = tunnelsTo(s.proxy, s.server.port);
      await echoes(s.server.url("/"), {});
      assert.equal(tunnelsTo(s.proxy, s.server.port), before + 1);
    });
  });

  test("a redirect through the proxy keeps going through it", async () => {
    const redirector = await startServer("standalone", {
      authenticate: () => ({ status: 302, headers: { Location: s.server.url("/after-redirect") } }),
    });
    try {
      const first = tunnelsTo(s.proxy, redirector.port);
      const second = tunnelsTo(s.proxy, s.server.port);
      const ws = await connect(redirector.url("/"), { proxy: s.proxy.url, redirect: true, timeout: 10_000 });
      assert.equal(ws.url, s.server.url("/after-redirect"));
      await ws.close();
      assert.equal(tunnelsTo(s.proxy, redirector.port), first + 1);
      assert.equal(tunnelsTo(s.proxy, s.server.port), second + 1);
    } finally {
      await redirector.close();
    }
  });

  test("a server the proxy cannot reach: ProxyError with the proxy's status", async () => {
    const port = await closedPort();
    const error = await rejection(connect(`ws://${LOOPBACK}:${port}/`, { proxy: s.proxy.url }), 10_000);
    assert.ok(error instanceof ProxyError, String(error));
    assert.equal(error.code, "PROXY_REFUSED");
    assert.equal(error.status, 500);
    assert.equal(error.statusText, "Unable to connect");
    assert.equal(error.proxy, s.proxy.url);
  });
});

describe("connect() through tinyproxy with basic auth", { skip: tinyproxyUnavailable() }, () => {
  const auth = { username: "alice", password: "s3cret" };
  let proxy: RunningProxy;
  let server: TestServer;
  before(async () => {
    proxy = await startTinyproxy({ auth });
    server = await startServer("standalone", {}, echo);
  });
  after(async () => {
    await proxy?.stop();
    await server?.close();
  });

  test("without credentials: ProxyError 407 with the proxy's reason and headers", async () => {
    const error = await rejection(connect(server.url("/"), { proxy: proxy.url }), 10_000);
    assert.ok(error instanceof ProxyError, String(error));
    assert.equal(error.code, "PROXY_REFUSED");
    assert.equal(error.status, 407);
    assert.equal(error.statusText, "Proxy Authentication Required");
    assert.match(error.headers["proxy-authenticate"] ?? "", /^Basic/);
    assert.match(error.message, /407 Proxy Authentication Required/);
  });

  test("wrong credentials: refused too (tinyproxy answers 401 Unauthorized to them)", async () => {
    const url = new URL(proxy.url);
    url.username = "alice";
    url.password = "wrong";
    const error = await rejection(connect(server.url("/"), { proxy: url }), 10_000);
    assert.ok(error instanceof ProxyError, String(error));
    assert.equal(error.code, "PROXY_REFUSED");
    assert.equal(error.status, 401);
  });

  test("credentials in the proxy URL, percent-encoded, or in the auth setting: the tunnel opens", async () => {
    const url = new URL(proxy.url);
    url.username = "alice";
    url.password = "s3cret";
    await echoes(server.url("/"), { proxy: url.href });
    await echoes(server.url("/"), { proxy: { url: proxy.url, auth: "alice:s3cret" } });
    await echoes(server.url("/"), { proxy: { url: proxy.url, auth } });
    // The error never shows the credentials.
    const error = await rejection(connect(server.url("/"), { proxy: `http://alice:wrong@${LOOPBACK}:${proxy.port}` }), 10_000);
    assert.doesNotMatch(error.message, /wrong/);
    assert.equal((error as ProxyError).proxy, proxy.url);
  });

  test("credentials from HTTP_PROXY's userinfo", async () => {
    await withEnv({ HTTP_PROXY: `http://alice:s3cret@${LOOPBACK}:${proxy.port}` }, () => echoes(server.url("/"), {}));
  });
});

describe("connect() through tinyproxy refusing a port", { skip: tinyproxyUnavailable() }, () => {
  test("CONNECT to a port it does not allow: ProxyError 403", async () => {
    const proxy = await startTinyproxy({ connectPorts: [443] });
    const server = await startServer("standalone", {}, echo);
    try {
      const error = await rejection(connect(server.url("/"), { proxy: proxy.url }), 10_000);
      assert.ok(error instanceof ProxyError, String(error));
      assert.equal(error.status, 403);
      assert.equal(error.code, "PROXY_REFUSED");
    } finally {
      await proxy.stop();
      await server.close();
    }
  });
});

describe("connect() through squid", { skip: squidUnavailable() }, () => {
  const s = proxyAndEchoServers(() => startSquid({ tls: true, deniedDomains: ["denied.test"] }));

  test("an https: proxy: TLS to the proxy, then TLS to the server inside the tunnel", async () => {
    await echoes(s.tlsServer.url("/"), { proxy: { url: s.proxy.url, tls: { ca: fixtures.cert } }, tls: { ca: fixtures.cert } });
  });

  test("ws:// through an https: proxy", async () => {
    await echoes(s.server.url("/"), { proxy: { url: s.proxy.url, tls: { ca: fixtures.cert } } });
  });

  test("an https: proxy whose certificate is not trusted fails naming the proxy", async () => {
    const error = await rejection(connect(s.server.url("/"), { proxy: s.proxy.url }), 10_000);
    assert.ok(error instanceof ProxyError, String(error));
    assert.equal(error.code, "PROXY_FAILED");
    assert.match(error.message, /SELF_SIGNED/);
  });

  test("a plain http: squid tunnels wss:// as well", async () => {
    await echoes(s.tlsServer.url("/"), { proxy: `http://${LOOPBACK}:${s.proxy.httpPort}`, tls: { ca: fixtures.cert } });
  });

  test("a denied destination: ProxyError 403 Forbidden", async () => {
    const error = await rejection(connect(`ws://denied.test:${s.server.port}/`, { proxy: `http://${LOOPBACK}:${s.proxy.httpPort}` }), 10_000);
    assert.ok(error instanceof ProxyError, String(error));
    assert.equal(error.status, 403);
    assert.equal(error.statusText, "Forbidden");
  });

  test("a server squid cannot reach: ProxyError 503", async () => {
    const port = await closedPort();
    const error = await rejection(connect(`ws://${LOOPBACK}:${port}/`, { proxy: `http://${LOOPBACK}:${s.proxy.httpPort}` }), 10_000);
    assert.ok(error instanceof ProxyError, String(error));
    assert.equal(error.status, 503);
  });
});

describe("connect() through a SOCKS5 proxy (microsocks)", { skip: microsocksUnavailable() }, () => {
  const auth = { username: "bob", password: "hunter2" };
  let open: RunningProxy;
  let locked: RunningProxy;
  let server: TestServer;
  let tlsServer: TestServer;
  before(async () => {
    open = await startMicrosocks();
    locked = await startMicrosocks({ auth });
    server = await startServer("standalone", {}, echo);
    tlsServer = await startServer("tls", {}, echo);
  });
  after(async () => {
    await open?.stop();
    await locked?.stop();
    await server?.close();
    await tlsServer?.close();
  });

  test("socks5:// carries ws:// and wss://", async () => {
    await echoes(server.url("/"), { proxy: open.url });
    await echoes(tlsServer.url("/"), { proxy: open.url, tls: { ca: fixtures.cert } });
  });

  test("socks5:// resolves names here (the lookup option is used); socks5h:// lets the proxy do it", async () => {
    const lookup = lookupAs();
    await echoes(`ws://wsx-socks.test:${server.port}/`, { proxy: open.url, lookup });
    assert.deepEqual(lookup.asked, ["wsx-socks.test"]);
    lookup.asked.length = 0;
    await echoes(`ws://localhost:${server.port}/`, { proxy: open.url.replace("socks5:", "socks5h:"), lookup });
    assert.deepEqual(lookup.asked, []);
  });

  test("with a password: the right one opens the tunnel, a wrong one is a ProxyError", async () => {
    await echoes(server.url("/"), { proxy: { url: locked.url, auth } });
    await echoes(server.url("/"), { proxy: `socks5://bob:hunter2@${LOOPBACK}:${locked.port}` });
    const error = await rejection(connect(server.url("/"), { proxy: `socks5://bob:nope@${LOOPBACK}:${locked.port}` }), 10_000);
    assert.ok(error instanceof ProxyError, String(error));
    assert.equal(error.code, "PROXY_FAILED");
    assert.match(error.message, /auth/i);
  });

  test("a server the SOCKS proxy cannot reach is a ProxyError", async () => {
    const port = await closedPort();
    const error = await rejection(connect(`ws://${LOOPBACK}:${port}/`, { proxy: open.url }), 10_000);
    assert.ok(error instanceof ProxyError, String(error));
    assert.equal(error.code, "PROXY_FAILED");
  });
});

describe("connect(): broken proxies", () => {
  let raw: RawServer;
  let mode: "hang-up" | "silent" | "502" | "garbage" | "endless" = "hang-up";
  before(async () => {
    raw = await listenRaw((socket) => {
      socket.once("data", () => {
        if (mode === "hang-up") socket.destroy();
        else if (mode === "502") socket.end("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
        else if (mode === "garbage") socket.write("SSH-2.0-OpenSSH_9.2\r\n\r\n");
        else if (mode === "endless") socket.write(`HTTP/1.1 200 OK\r\n${"X-Filler: 0123456789abcdef0123456789abcdef\r\n".repeat(8192)}`);
      });
    });
  });
  after(() => raw.close());

  test("a proxy that closes the connection: ProxyError PROXY_CLOSED", async () => {
    mode = "hang-up";
    const error = await rejection(connect("ws://192.0.2.1:9/", { proxy: `http://${LOOPBACK}:${raw.port}` }));
    assert.ok(error instanceof ProxyError, String(error));
    assert.equal(error.code, "PROXY_CLOSED");
    assert.equal(error.status, 0);
  });

  test("a proxy answering 502: ProxyError with status 502 and its reason", async () => {
    mode = "502";
    const error = await rejection(connect("ws://192.0.2.1:9/", { proxy: `http://${LOOPBACK}:${raw.port}` }));
    assert.ok(error instanceof ProxyError, String(error));
    assert.equal(error.status, 502);
    assert.equal(error.statusText, "Bad Gateway");
  });

  test("a proxy answering something that is not HTTP, or a head past the limits: ProxyError PROXY_FAILED", async () => {
    for (const [what, message] of [["garbage", /not a valid HTTP answer/], ["endless", /not a valid HTTP answer.*header fields/]] as const) {
      mode = what;
      const error = await rejection(connect("ws://192.0.2.1:9/", { proxy: `http://${LOOPBACK}:${raw.port}`, timeout: 5000 }));
      assert.ok(error instanceof ProxyError, `${what}: ${String(error)}`);
      assert.equal(error.code, "PROXY_FAILED");
      assert.match(error.message, message);
    }
  });

  test("a proxy that never answers CONNECT: ConnectTimeoutError in phase PROXY", async () => {
    mode = "silent";
    const error = await rejection(connect("ws://192.0.2.1:9/", { proxy: `http://${LOOPBACK}:${raw.port}`, timeouts: { proxy: 200 } }));
    assert.ok(error instanceof ConnectTimeoutError, String(error));
    assert.equal(error.phase, "PROXY");
    assert.equal(error.code, "PROXY_TIMEOUT");
    assert.equal(error.limit, 200);
  });

  test("a proxy nobody listens on: CONNECT_FAILED naming the proxy", async () => {
    const port = await closedPort();
    const error = await rejection(connect("ws://192.0.2.1:9/", { proxy: `http://${LOOPBACK}:${port}` }));
    assert.equal((error as WebSocketError).code, "CONNECT_FAILED");
    assert.match(error.message, new RegExp(`proxy http://${LOOPBACK}:${port}.*ECONNREFUSED`));
  });

  test("bad proxy options are refused before anything is dialed", async () => {
    for (const proxy of ["not a url", "ftp://127.0.0.1:21", "socks4://127.0.0.1:1080", { url: "" }]) {
      const error = await rejection(connect("ws://192.0.2.1:9/", { proxy: proxy as ConnectOptions["proxy"] }));
      assert.equal((error as WebSocketError).code, "INVALID_PROXY", String(proxy));
    }
    // Not a proxy at all: the option table's INVALID_OPTION (see options.test.ts).
    assert.equal(((await rejection(connect("ws://192.0.2.1:9/", { proxy: 42 as never }))) as WebSocketError).code, "INVALID_OPTION");
  });
});
